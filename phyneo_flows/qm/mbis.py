"""Minimal Basis Iterative Stockholder (MBIS) partitioning of a PySCF density on PySCF's DFT grid.

MBIS (Verstraelen et al., J. Chem. Theory Comput. 12, 3894 (2016)) writes each pro-atom as a sum of
Slater-type shells ``rho0_Ai(r) = N_Ai / (8 pi s_Ai^3) exp(-|r - R_A| / s_Ai)`` and iterates the
stockholder weights ``w_A = rho0_A / rho0`` until the shell populations ``N_Ai`` and widths ``s_Ai``
are self-consistent.

Everything in this module is in atomic units (bohr, e); conversion to nm happens in the properties
driver. Sign conventions follow psi4's ``oeprop(..., 'MBIS_CHARGES')``: the charge includes the
nucleus, the atomic dipole is the electronic one ``-int w_A rho (r - R_A)``, the raw second moment is
``-int w_A rho (r - R_A)_i (r - R_A)_j``. The traceless quadrupole is Buckingham's
``Theta_ij = -1/2 int w_A rho (3 r_i r_j - r^2 delta_ij)`` (electrons only; the nucleus sits at the
expansion centre and adds nothing).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from phyneo_flows.errors import EngineError

# Shells per element row, as psi4 and HORTON use them (H-He 1, Li-Ne 2, Na-Ar 3, K-Kr 4).
_ROW_SHELLS = ((2, 1), (10, 2), (18, 3), (36, 4), (54, 5))
# Alkali metals are treated as bare cations: one shell (two shells never converge for Li+/Na+).
_ONE_SHELL_CATIONS = frozenset({3, 11, 19, 37, 55})
_SHELL_CAPACITY = (2, 8, 8, 18, 18)


def default_shells(z: int) -> int:
    """The number of MBIS shells of element ``z`` (alkali metals: 1)."""
    if z in _ONE_SHELL_CATIONS:
        return 1
    for last, n in _ROW_SHELLS:
        if z <= last:
            return n
    raise ValueError(f"no MBIS shell count for Z={z}")


@dataclass(frozen=True)
class MBISResult:
    """MBIS atomic moments (atomic units) and the converged pro-atom parameters.

    charges (natom,) e; dipoles (natom, 3) e bohr; second_moments (natom, 3, 3) raw electronic second
    moments e bohr^2; quadrupoles (natom, 3, 3) traceless Buckingham quadrupoles e bohr^2;
    volumes (natom,) <r^3> bohr^3; radial_moments {n: (natom,)} <r^n> of the atomic density for n=2,3,4
    in bohr^n (electron count weighted, i.e. int w_A rho r^n); populations/widths per shell (e, bohr).
    """

    charges: np.ndarray
    dipoles: np.ndarray
    second_moments: np.ndarray
    quadrupoles: np.ndarray
    volumes: np.ndarray
    radial_moments: dict[int, np.ndarray]
    populations: list[np.ndarray]
    widths: list[np.ndarray]
    iterations: int


def _initial_shells(z: int, nshell: int) -> tuple[np.ndarray, np.ndarray]:
    """Hydrogen-like guess: filled inner shells, the rest in the outermost; widths n / (2 Z_eff)."""
    pops, widths = [], []
    left = float(z)
    for k in range(nshell):
        zeff = max(left, 1.0)
        n = left if k == nshell - 1 else min(_SHELL_CAPACITY[k], left)
        pops.append(max(n, 0.1))
        widths.append((k + 1) / (2.0 * zeff))
        left -= n
    return np.array(pops), np.array(widths)


def density_on_grid(mol, dm: np.ndarray, coords: np.ndarray, block: int = 20000) -> np.ndarray:
    """Electron density (e/bohr^3) of the AO density matrix ``dm`` (spin-summed) at ``coords`` (bohr)."""
    from pyscf.dft import numint

    dm = np.asarray(dm)
    if dm.ndim == 3:
        dm = dm[0] + dm[1]
    rho = np.empty(len(coords))
    for start in range(0, len(coords), block):
        ao = numint.eval_ao(mol, coords[start:start + block], deriv=0)
        rho[start:start + block] = numint.eval_rho(mol, ao, dm, xctype="LDA")
    return rho


def make_grid(mol, radial: int = 99, angular: int = 350):
    """A PySCF Becke grid with ``radial`` x ``angular`` points per atom (psi4's MBIS default 75x302)."""
    from pyscf.dft import gen_grid

    grids = gen_grid.Grids(mol)
    grids.atom_grid = (radial, angular)
    grids.prune = None
    grids.build(with_non0tab=False)
    return grids


def mbis_partition(
    mol,
    dm: np.ndarray,
    *,
    grids=None,
    shells: dict[int, int] | None = None,
    max_iter: int = 1000,
    tol: float = 1e-9,
) -> MBISResult:
    """MBIS-partition the density ``dm`` of PySCF molecule ``mol``.

    ``shells`` maps an element's Z to its shell count (default ``default_shells``). Iterates until the
    largest change of a shell population is below ``tol`` e; raises ``EngineError`` if it does not.
    """
    if grids is None:
        grids = make_grid(mol)
    coords, weights = np.asarray(grids.coords), np.asarray(grids.weights)
    rho = density_on_grid(mol, dm, coords)
    keep = rho * weights != 0.0
    coords, weights, rho = coords[keep], weights[keep], rho[keep]
    wrho = weights * rho

    charges_z = mol.atom_charges()
    centres = mol.atom_coords()  # bohr
    natm = mol.natm
    shell_map = shells or {}
    nsh = [shell_map.get(int(z), default_shells(int(z))) for z in charges_z]
    owner = np.repeat(np.arange(natm), nsh)
    pops = np.concatenate([_initial_shells(int(z), n)[0] for z, n in zip(charges_z, nsh, strict=True)])
    widths = np.concatenate([_initial_shells(int(z), n)[1] for z, n in zip(charges_z, nsh, strict=True)])
    # the guess carries the neutral electron count; rescale to the real one
    pops *= mol.nelectron / pops.sum()

    dist = np.linalg.norm(coords[None, :, :] - centres[:, None, :], axis=2)  # (natm, npts)
    dshell = dist[owner]  # (nshell_total, npts)
    tiny = 1e-300
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007  (the count is reported)
        pro = pops[:, None] / (8.0 * np.pi * widths[:, None] ** 3) * np.exp(-dshell / widths[:, None])
        total = pro.sum(axis=0)
        ratio = np.where(total > tiny, wrho / np.maximum(total, tiny), 0.0)
        share = pro * ratio[None, :]  # w_shell * rho * weight
        new_pops = share.sum(axis=1)
        new_widths = (share * dshell).sum(axis=1) / (3.0 * new_pops)
        change = np.max(np.abs(new_pops - pops))
        pops, widths = new_pops, new_widths
        if change < tol:
            break
    else:
        raise EngineError(
            f"MBIS did not converge in {max_iter} iterations (last population change {change:.2e} e)",
            field="mbis", fix="raise max_iter, or give the offending element fewer shells")

    pro = pops[:, None] / (8.0 * np.pi * widths[:, None] ** 3) * np.exp(-dshell / widths[:, None])
    total = pro.sum(axis=0)
    ratio = np.where(total > tiny, wrho / np.maximum(total, tiny), 0.0)
    atom_pro = np.zeros((natm, len(wrho)))
    np.add.at(atom_pro, owner, pro)
    wa = atom_pro * ratio[None, :]  # (natm, npts): w_A rho weight

    electrons = wa.sum(axis=1)
    charges = charges_z - electrons
    rel = coords[None, :, :] - centres[:, None, :]  # (natm, npts, 3)
    dipoles = -np.einsum("ap,api->ai", wa, rel)
    second = -np.einsum("ap,api,apj->aij", wa, rel, rel)
    r2 = np.einsum("aij->a", second * np.eye(3)[None])  # -int w rho r^2
    quad = 0.5 * (3.0 * second - r2[:, None, None] * np.eye(3)[None])
    radial = {n: np.einsum("ap,ap->a", wa, dist ** n) for n in (2, 3, 4)}
    split = np.cumsum(nsh)[:-1]
    return MBISResult(
        charges=charges,
        dipoles=dipoles,
        second_moments=second,
        quadrupoles=quad,
        volumes=radial[3],
        radial_moments=radial,
        populations=np.split(pops, split),
        widths=np.split(widths, split),
        iterations=it,
    )


def save_density(path, mol, dm: np.ndarray) -> None:
    """Write a PySCF molecule (atoms in bohr, basis name, charge, spin) and its AO density matrix to an
    ``.npz`` file (the density as float32: enough for moments to 1e-6 au), for fixtures."""
    basis = mol.basis if isinstance(mol.basis, str) else ""
    if not basis:
        raise ValueError("save_density needs a basis given by name")
    np.savez_compressed(path, symbols=np.array([mol.atom_symbol(i) for i in range(mol.natm)]),
                        coords_bohr=mol.atom_coords(), basis=np.array(basis), charge=mol.charge,
                        spin=mol.spin, dm=np.asarray(dm, dtype=np.float32))


def load_density(path):
    """The PySCF ``Mole`` and AO density matrix written by ``save_density``."""
    from pyscf import gto

    data = np.load(path)
    atoms = [[str(s), tuple(xyz)] for s, xyz in zip(data["symbols"], data["coords_bohr"], strict=True)]
    mol = gto.M(atom=atoms, basis=str(data["basis"]), charge=int(data["charge"]), spin=int(data["spin"]),
                unit="Bohr", verbose=0)
    return mol, np.asarray(data["dm"], dtype=float)
