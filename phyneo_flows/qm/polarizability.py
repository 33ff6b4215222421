"""Molecular polarisability: the QM tensor (coupled-perturbed SCF) and the force field's Thole model.

The induced-dipole model follows OpenMM's ``AmoebaMultipoleForce`` (mutual polarisation) exactly:
each atom i has an isotropic polarisability alpha_i and a Thole parameter a_i (AMOEBA default 0.39);
every intramolecular pair is coupled (u-scale 1). For a pair at distance r,
``u^3 = (r / (alpha_i alpha_j)^(1/6))^3``, ``a = min(a_i, a_j)``, and the dipole field tensor is

    T_ij = 3 lambda5 r r^T / r^5 - lambda3 I / r^3,
    lambda3 = 1 - exp(-a u^3),  lambda5 = 1 - (1 + a u^3) exp(-a u^3).

Induced dipoles solve ``mu_i = alpha_i (E_i + sum_j T_ij mu_j)``; the molecular polarisability is the
sum of the blocks of ``(diag(1/alpha) - T)^-1``. Lengths and polarisabilities only need to be
consistent (nm and nm^3 in the force field, bohr and bohr^3 for QM numbers).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from phyneo_flows.errors import InputError

AMOEBA_THOLE = 0.39


def _relay_matrix(positions: np.ndarray, alphas: np.ndarray, tholes: np.ndarray) -> np.ndarray:
    """The (3n, 3n) matrix ``diag(1/alpha) - T`` of the polarisable atoms."""
    n = len(alphas)
    rij = positions[None, :, :] - positions[:, None, :]
    r = np.linalg.norm(rij, axis=2)
    np.fill_diagonal(r, 1.0)
    damp = np.outer(alphas, alphas) ** (1.0 / 6.0)
    a = np.minimum(tholes[:, None], tholes[None, :])
    au3 = a * (r / damp) ** 3
    expo = np.exp(-au3)
    lam3 = 1.0 - expo
    lam5 = 1.0 - (1.0 + au3) * expo
    t = (3.0 * lam5 / r**5)[:, :, None, None] * rij[:, :, :, None] * rij[:, :, None, :]
    t -= (lam3 / r**3)[:, :, None, None] * np.eye(3)[None, None]
    idx = np.arange(n)
    t[idx, idx] = 0.0
    matrix = -t.transpose(0, 2, 1, 3).reshape(3 * n, 3 * n)
    matrix[np.arange(3 * n), np.arange(3 * n)] += np.repeat(1.0 / alphas, 3)
    return matrix


def _prepare(positions: np.ndarray, alphas: Sequence[float], tholes: float | Sequence[float]):
    pos = np.asarray(positions, dtype=float).reshape(-1, 3)
    alpha = np.asarray(alphas, dtype=float)
    thole = np.broadcast_to(np.asarray(tholes, dtype=float), alpha.shape).copy()
    if alpha.shape != (len(pos),):
        raise InputError(f"{len(alpha)} polarisabilities for {len(pos)} atoms", field="alphas")
    if np.any(alpha < 0):
        raise InputError("polarisabilities must be >= 0", field="alphas")
    active = alpha > 0
    return pos, alpha, thole, active


def induced_dipoles(positions: np.ndarray, alphas: Sequence[float], field: np.ndarray,
                    tholes: float | Sequence[float] = AMOEBA_THOLE) -> np.ndarray:
    """Mutual induced dipoles (n, 3) of atoms in an external ``field`` ((3,) uniform or (n, 3)).

    Units: positions L, alphas L^3, field charge/L^2 -> dipoles charge*L (OpenMM: nm, nm^3, e/nm^2).
    """
    pos, alpha, thole, active = _prepare(positions, alphas, tholes)
    efield = np.broadcast_to(np.asarray(field, dtype=float), pos.shape)
    mu = np.zeros_like(pos)
    if active.any():
        matrix = _relay_matrix(pos[active], alpha[active], thole[active])
        mu[active] = np.linalg.solve(matrix, efield[active].reshape(-1)).reshape(-1, 3)
    return mu


def thole_polarizability(positions: np.ndarray, alphas: Sequence[float],
                         tholes: float | Sequence[float] = AMOEBA_THOLE) -> np.ndarray:
    """The (3, 3) molecular polarisability of the Thole-coupled atoms (units of ``alphas``)."""
    pos, alpha, thole, active = _prepare(positions, alphas, tholes)
    if not active.any():
        return np.zeros((3, 3))
    inv = np.linalg.inv(_relay_matrix(pos[active], alpha[active], thole[active]))
    k = int(active.sum())
    return inv.reshape(k, 3, k, 3).sum(axis=(0, 2))


def isotropic(tensor: np.ndarray) -> float:
    """Trace / 3 of a polarisability tensor."""
    return float(np.trace(np.asarray(tensor)) / 3.0)


def principal(tensor: np.ndarray) -> np.ndarray:
    """Sorted eigenvalues of the symmetrised tensor."""
    t = np.asarray(tensor, dtype=float)
    return np.sort(np.linalg.eigvalsh(0.5 * (t + t.T)))


def fit_atomic_polarizabilities(
    targets: Sequence[tuple[np.ndarray, Sequence[str], np.ndarray]],
    guess: dict[str, float],
    *,
    tholes: float | dict[str, float] = AMOEBA_THOLE,
    isotropic_weight: float = 10.0,
    prior_weight: float = 0.0,
) -> dict[str, float]:
    """Isotropic atomic polarisabilities per atom type that reproduce molecular tensors.

    ``targets``: (positions (n, 3), atom types (n,), reference tensor (3, 3)) per molecule, in one
    consistent unit system (e.g. bohr, bohr^3). ``guess``: a starting value per type (also fixes the
    unit). Least squares on the tensor elements relative to each molecule's isotropic value, the
    isotropic value itself weighted ``isotropic_weight`` times. With ``prior_weight`` > 0 each type is
    also pulled towards its ``guess`` (residual ``prior_weight * ln(alpha / guess)``): with fewer data
    than types the partition is otherwise arbitrary. Returns {type: alpha}.
    """
    from scipy.optimize import least_squares

    types = sorted({t for _, tt, _ in targets for t in tt})
    missing = [t for t in types if t not in guess]
    if missing:
        raise InputError(f"no starting polarisability for types {missing}", field="guess")

    def thole_of(tt: Sequence[str]) -> np.ndarray:
        if isinstance(tholes, dict):
            return np.array([tholes.get(t, AMOEBA_THOLE) for t in tt])
        return np.full(len(tt), float(tholes))

    index = {t: k for k, t in enumerate(types)}
    x0 = np.log([guess[t] for t in types])

    def residuals(log_alpha: np.ndarray) -> np.ndarray:
        values = np.exp(log_alpha)
        out = []
        for pos, tt, ref in targets:
            model = thole_polarizability(pos, [values[index[t]] for t in tt], thole_of(tt))
            scale = isotropic(ref)
            out.append(isotropic_weight * (isotropic(model) - scale) / scale)
            out.extend(((model - ref) / scale)[np.triu_indices(3)])
        out.extend(prior_weight * (log_alpha - x0))
        return np.array(out)

    fit = least_squares(residuals, x0, method="trf", x_scale=1.0, xtol=1e-12, ftol=1e-12)
    return {t: float(np.exp(fit.x[index[t]])) for t in types}


def qm_polarizability(mf) -> np.ndarray:
    """Static dipole polarisability tensor (3, 3) in bohr^3 of a converged PySCF SCF object (coupled-
    perturbed HF/KS through ``pyscf-properties``)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pyscf.prop.polarizability.rhf import Polarizability as RPolar
        from pyscf.prop.polarizability.uhf import Polarizability as UPolar
    is_unrestricted = np.asarray(mf.mo_coeff).ndim == 3
    solver = UPolar(mf) if is_unrestricted else RPolar(mf)
    solver.verbose = 0
    solver.max_cycle_cphf = 60
    tensor = np.asarray(solver.polarizability())
    return 0.5 * (tensor + tensor.T)
