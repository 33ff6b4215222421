"""Energy minimisation over a jitted energy and gradient (box held fixed).

``method="fire"`` (default): FIRE (Bitzek et al., Phys. Rev. Lett. 97, 170201 (2006)) with every atom's
move capped at ``max_step_nm``, which cannot leap into a polarisation catastrophe the way a line search
can; ``method="lbfgs"``: scipy's L-BFGS-B, faster on smooth potentials.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from pydantic import BaseModel
from scipy.optimize import minimize as scipy_minimize

from phyneo_flows.md.potential import Potential, total_energy


class MinimizationResult(BaseModel):
    """Outcome of :func:`minimize` (kJ/mol, kJ/mol/nm)."""

    initial_energy_kj_mol: float
    final_energy_kj_mol: float
    max_force_kj_mol_nm: float
    iterations: int
    converged: bool
    message: str


def minimize(
    potential: Potential,
    positions,
    box,
    *,
    max_force_kj_mol_nm: float = 10.0,
    max_iterations: int = 1000,
    aux=None,
    method: str = "fire",
    max_step_nm: float = 0.01,
) -> tuple[np.ndarray, MinimizationResult]:
    """Minimise the potential energy over positions (nm) in a fixed box (3x3 nm).

    Stops when the largest force component is below ``max_force_kj_mol_nm`` or after ``max_iterations``.
    The auxiliary state (neighbour list) is refreshed at every evaluation and reallocated on overflow.
    Returns (positions, result).
    """
    pos0 = np.asarray(positions, dtype=float)
    box = jnp.asarray(np.asarray(box, dtype=float))
    shape = pos0.shape
    state = {"aux": potential.init_aux(jnp.asarray(pos0), box) if aux is None else aux}

    @jax.jit
    def value_grad(x, aux):
        pos = x.reshape(shape)
        aux = potential.update_aux(aux, pos, box)
        e, g = jax.value_and_grad(lambda p: total_energy(potential.energy(p, box, aux)))(pos)
        return e, g.reshape(-1), aux

    def fun(x):
        e, g, aux = value_grad(jnp.asarray(x), state["aux"])
        if potential.needs_realloc(aux):
            aux = potential.init_aux(jnp.asarray(x).reshape(shape), box)
            e, g, aux = value_grad(jnp.asarray(x), aux)
        state["aux"] = aux
        return float(e), np.asarray(g, dtype=float)

    e0, _ = fun(pos0.reshape(-1))
    tol = max_force_kj_mol_nm
    if method == "fire":
        x, it = _fire(fun, pos0.reshape(-1), tol, max_iterations, max_step_nm)
        e, g = fun(x)
        fmax = float(np.max(np.abs(g)))
        return x.reshape(shape), MinimizationResult(
            initial_energy_kj_mol=e0,
            final_energy_kj_mol=e,
            max_force_kj_mol_nm=fmax,
            iterations=it,
            converged=fmax < tol,
            message="FIRE",
        )

    def callback(intermediate_result):
        _, g = fun(intermediate_result.x)
        if np.max(np.abs(g)) < tol:
            raise StopIteration

    res = scipy_minimize(
        fun,
        pos0.reshape(-1),
        jac=True,
        method="L-BFGS-B",
        callback=callback,
        options={"maxiter": max_iterations, "gtol": tol * 1e-3, "ftol": 1e-14},
    )
    x = res.x
    e, g = fun(x)
    fmax = float(np.max(np.abs(g)))
    return x.reshape(shape), MinimizationResult(
        initial_energy_kj_mol=e0,
        final_energy_kj_mol=e,
        max_force_kj_mol_nm=fmax,
        iterations=int(res.nit),
        converged=fmax < tol,
        message=str(res.message),
    )


def _fire(fun, x, tol: float, max_iterations: int, max_step: float) -> tuple[np.ndarray, int]:
    """FIRE with unit masses; the time step is in units where a step moves atoms at most ``max_step``."""
    dt, dt_max, alpha0 = 0.1, 1.0, 0.1
    alpha, n_pos = alpha0, 0
    v = np.zeros_like(x)
    e, g = fun(x)
    f = -g
    for it in range(1, max_iterations + 1):
        if np.max(np.abs(f)) < tol:
            return x, it - 1
        power = float(f @ v)
        if power > 0:
            fn, vn = np.linalg.norm(f), np.linalg.norm(v)
            v = (1 - alpha) * v + alpha * f / fn * vn
            n_pos += 1
            if n_pos > 5:
                dt, alpha = min(dt * 1.1, dt_max), alpha * 0.99
        else:
            v[:] = 0.0
            dt, alpha, n_pos = dt * 0.5, alpha0, 0
        v = v + dt * f
        step = (dt * v).reshape(-1, 3)
        longest = float(np.max(np.linalg.norm(step, axis=1)))
        scale = 1.0 if longest <= max_step else max_step / longest
        x_new = x + scale * step.reshape(-1)
        e_new, g_new = fun(x_new)
        if not np.isfinite(e_new):
            v[:] = 0.0
            dt *= 0.5
            continue
        x, f = x_new, -g_new
    return x, max_iterations
