"""The one thing every MD back end integrates: a potential over positions and a box.

A :class:`Potential` wraps a pure JAX energy ``energy_fn(positions_nm, box_nm) -> kJ/mol`` (a scalar, or a
dict of terms that are summed), optionally with an auxiliary state ``aux`` (a pytree: a neighbour list, the
last induced dipoles) that the energy reads and that is refreshed each step inside ``jit``. Forces
(kJ/mol/nm) and the virial W = -dE/d(strain) (3x3, kJ/mol) come from one reverse-mode pass over
E(r (1 + e), h (1 + e)) at e = 0, so any energy that handles periodic images through the box gives a
correct pressure tensor.

Boxes are 3x3 matrices whose rows are the box vectors (nm), as in :mod:`phyneo_flows.ff.model`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from phyneo_flows.ff.neighbors import minimum_image  # noqa: E402


def _no_aux(positions, box):
    return None


def _keep_aux(aux, positions, box):
    return aux


def _never(aux) -> bool:
    return False


def _ignore_terms(aux, terms):
    return aux


@dataclass(frozen=True)
class Potential:
    """A pure energy with an optional auxiliary state.

    ``energy(positions, box, aux) -> dict`` of terms in kJ/mol (jit-able);
    ``init_aux(positions, box) -> aux`` (plain Python, may size arrays);
    ``update_aux(aux, positions, box) -> aux`` (jit-able, same shapes);
    ``needs_realloc(aux) -> bool`` (host side: True when ``aux`` overflowed and must be rebuilt by
    ``init_aux``);
    ``grow_aux(overflowed_aux, positions, box) -> aux`` (host side, optional: a larger one than the one that
    overflowed, e.g. a neighbour list sized from the pair count it saw; default ``init_aux``);
    ``absorb(aux, terms) -> aux`` (jit-able, same shapes): what an evaluation hands on to the next step, read
    from its diagnostic terms (keys starting with '_'), e.g. the induced dipoles as the next solve's start.
    """

    energy: Callable[[Any, Any, Any], dict]
    init_aux: Callable[[Any, Any], Any] = _no_aux
    update_aux: Callable[[Any, Any, Any], Any] = _keep_aux
    needs_realloc: Callable[[Any], bool] = _never
    grow_aux: Callable[[Any, Any, Any], Any] | None = None
    absorb: Callable[[Any, dict], Any] = _ignore_terms
    name: str = "potential"
    extra: dict = field(default_factory=dict)


def from_energy_fn(energy_fn: Callable, name: str = "potential") -> Potential:
    """A :class:`Potential` from ``energy_fn(positions_nm, box_nm)`` returning kJ/mol (scalar or dict)."""

    def energy(positions, box, aux):
        out = energy_fn(positions, box)
        if isinstance(out, dict):
            return dict(out)
        return {"potential": out}

    return Potential(energy=energy, name=name)


def total_energy(terms: dict):
    """Sum of the terms of an energy dict (keys starting with '_' are diagnostics, not energy)."""
    return sum(v for k, v in terms.items() if not k.startswith("_"))


def evaluate(potential: Potential, positions, box, aux):
    """Energy terms, total (kJ/mol), forces (N, 3; kJ/mol/nm) and virial W = -dE/de (3x3; kJ/mol).

    jit-able. The strain e acts on positions and box alike: r -> r (1 + e), h -> h (1 + e).
    """
    return evaluate_carry(potential, positions, box, aux)[:4]


def evaluate_carry(potential: Potential, positions, box, aux):
    """:func:`evaluate` and the auxiliary state for the next step (``potential.absorb``); jit-able."""

    def strained(pos, eps):
        deform = jnp.eye(3) + eps
        terms = potential.energy(pos @ deform, box @ deform, aux)
        return total_energy(terms), terms

    (total, terms), (g_pos, g_eps) = jax.value_and_grad(strained, argnums=(0, 1), has_aux=True)(
        positions, jnp.zeros((3, 3), positions.dtype)
    )
    carried = potential.absorb(aux, terms)
    terms = {k: v for k, v in terms.items() if not k.startswith("_")}
    return terms, total, -g_pos, -g_eps, carried


def lennard_jones(
    sigma_nm: float,
    epsilon_kj_mol: float,
    cutoff_nm: float,
    *,
    shift: str = "force",
    tail_correction: bool = False,
) -> Callable:
    """An all-pairs, minimum-image Lennard-Jones energy ``f(positions_nm, box_nm) -> kJ/mol``.

    ``shift`` = "force" (energy and force go to zero at the cutoff: smooth, energy-conserving),
    "energy" (energy shifted) or "none" (plain truncation). ``tail_correction`` adds the analytic
    long-range correction of the full potential beyond the cutoff, 8 pi N^2 eps sigma^3 / (3 V)
    [(sigma/rc)^9 / 3 - (sigma/rc)^3], which depends on the volume and so acts on the barostat.
    For tests and validation (argon: sigma 0.3405 nm, epsilon 0.99774 kJ/mol, 39.948 amu).
    """
    s6 = sigma_nm**6
    rc = cutoff_nm

    def pair(r2):
        inv6 = s6 / r2**3
        return 4 * epsilon_kj_mol * (inv6 * inv6 - inv6)

    e_rc = float(pair(rc * rc))
    de_rc = float(jax.grad(lambda r: pair(r * r))(rc))

    def energy(positions, box):
        n = positions.shape[0]
        d = minimum_image(positions[None, :, :] - positions[:, None, :], box)
        r2 = jnp.sum(d * d, -1)
        mask = (jnp.arange(n)[:, None] < jnp.arange(n)[None, :]) & (r2 < rc * rc)
        r2s = jnp.where(mask, r2, 1.0)
        e = pair(r2s)
        if shift in ("energy", "force"):
            e = e - e_rc
        if shift == "force":
            e = e - (jnp.sqrt(r2s) - rc) * de_rc
        total = jnp.sum(jnp.where(mask, e, 0.0))
        if tail_correction:
            vol = jnp.abs(jnp.linalg.det(box))
            sr3 = (sigma_nm / rc) ** 3
            total = total + 8 * np.pi * n * n * epsilon_kj_mol * sigma_nm**3 / (3 * vol) * (sr3**3 / 3 - sr3)
        return total

    return energy


def cubic_lattice(n_side: int, spacing_nm: float) -> np.ndarray:
    """Positions (n_side**3, 3) of a simple cubic lattice (nm), offset by half a spacing."""
    g = (np.arange(n_side) + 0.5) * spacing_nm
    return np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)
