"""Every term of the JAX model against its OpenMM twin (Reference platform, float64 on both sides)."""

from __future__ import annotations

import math

import numpy as np
from pydantic import BaseModel

from phyneo_flows.ff.model import TERMS, FFSettings, ForceField, as_box
from phyneo_flows.ff.openmm_twin import build_openmm_system, group_energies_forces
from phyneo_flows.ff.params import ForceFieldParams


class TermPair(BaseModel):
    jax: float
    openmm: float


class Comparison(BaseModel):
    """Per-term energies (kJ/mol) from both sides and the RMS relative force difference."""

    terms: dict[str, TermPair]
    forces_rms_rel: float
    n_atoms: int
    periodic: bool
    settings: dict
    pme_grid: list[int] | None = None

    def term_errors(self) -> dict[str, float]:
        """|dE| / max(|E_openmm|, 1e-3 sum |E|) per term (the acceptance measure; pass at <= 1e-5)."""
        scale = 1e-3 * sum(abs(t.openmm) for t in self.terms.values())
        return {k: abs(t.jax - t.openmm) / max(abs(t.openmm), scale, 1e-300) for k, t in self.terms.items()}

    def table(self) -> str:
        err = self.term_errors()
        lines = [f"{'term':24s} {'JAX':>18s} {'OpenMM':>18s} {'rel err':>10s}"]
        for k, t in self.terms.items():
            lines.append(f"{k:24s} {t.jax:18.8f} {t.openmm:18.8f} {err[k]:10.2e}")
        lines.append(f"forces RMS relative difference: {self.forces_rms_rel:.2e}")
        return "\n".join(lines)


def pme_grid_for(box: np.ndarray, spacing: float) -> list[int]:
    """Grid points per box vector at most ``spacing`` nm apart."""
    return [int(math.ceil(float(np.linalg.norm(v)) / spacing)) for v in np.asarray(box)]


def compare(
    params: ForceFieldParams,
    molecule_names: list[str],
    positions: np.ndarray,
    box=None,
    settings: FFSettings | None = None,
    pme_spacing: float | None = None,
    pme_grid: list[int] | None = None,
) -> Comparison:
    """Compare all terms and the total forces; ``box`` None: isolated, no cutoff on either side.

    Under PBC both sides use the same PME grid: ``pme_grid``, else points ``pme_spacing`` apart, else the
    grid of ``settings``."""
    settings = settings or FFSettings()
    box = as_box(box)
    positions = np.asarray(positions, dtype=float)
    grid = None
    if box is not None:
        if pme_grid is not None:
            grid = list(pme_grid)
        elif pme_spacing is not None:
            grid = pme_grid_for(box, pme_spacing)
        else:
            grid = list(settings.grid(box))
        settings = settings.model_copy(update={"pme_grid": tuple(grid)})
    ff = ForceField(params, molecule_names, settings)
    res = ff.compute(positions, box, forces=True)
    common = dict(
        cutoff=settings.cutoff,
        switch_distance=settings.r_switch(),
        alpha=settings.alpha(),
        pme_grid=grid,
        polarization=settings.polarization,
        induced_epsilon=settings.induced_tolerance,
    )
    full = build_openmm_system(ff.system, box, polarizable=True, long_range_correction=True, **common)
    bare = build_openmm_system(ff.system, box, polarizable=False, long_range_correction=False, **common)
    e_full, f_full = group_energies_forces(full, positions)
    e_bare, _ = group_energies_forces(bare, positions)
    omm = {
        "electrostatics": e_bare["multipoles"],
        "polarization": e_full["multipoles"] - e_bare["multipoles"],
        "dispersion": e_bare["dispersion"],
        "dispersion_lrc": e_full["dispersion"] - e_bare["dispersion"],
        **{k: e_full[k] for k in e_full if k.startswith("slater_")},
        "bonded": e_full["bonded"],
    }
    terms = {k: TermPair(jax=res["terms"][k], openmm=omm[k]) for k in TERMS}
    df = res["forces"] - f_full
    rms = float(np.sqrt(np.mean(np.sum(df**2, 1))) / np.sqrt(np.mean(np.sum(f_full**2, 1))))
    return Comparison(
        terms=terms,
        forces_rms_rel=rms,
        n_atoms=len(positions),
        periodic=box is not None,
        settings=settings.model_dump() | {"alpha_used": settings.alpha()},
        pme_grid=grid,
    )
