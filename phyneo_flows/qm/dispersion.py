"""Dispersion coefficients C6, C8, C10 per atom.

Molecules: the DFT-D4 model (Caldeweyher et al., J. Chem. Phys. 150, 154122 (2019)) through the
``libdftd4`` that ships with ``pyscf-dispersion`` (its C API ``dftd4_get_properties``), with the
molecule's total charge passed to its charge model. Atom i's C6 is the diagonal C6_ii of D4's
Casimir-Polder matrix; C8 and C10 follow Grimme's recursion (D3, J. Chem. Phys. 132, 154104 (2010)):

    C8_ii = 3 C6_ii Q_i,  Q_i = 1/2 sqrt(Z_i) <r^4>_i / <r^2>_i,   C10_ii = 49/40 C8_ii^2 / C6_ii.

Bare monatomic ions (Li+, Na+, ...): D4 gives nonsense for them (alpha(Li+) = 113 bohr^3), so their
alpha, C6 come from a sum over the states of a time-dependent HF (RPA) calculation of the free ion,
``C6 = 3/2 sum_nm f_n f_m / (w_n w_m (w_n + w_m))``, and <r^4>/<r^2> from the ion's own density.

All numbers here are atomic units (hartree bohr^n); ``to_kj_mol_nm`` converts.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence

import numpy as np

from phyneo_flows.units import BOHR_TO_NM, HARTREE_TO_KJ_MOL

# <r^4>/<r^2> of free atoms (PBE0/def2-QZVP, Grimme 2010, as tabulated in dftd4's r4r2 module), Z=1..36
R4_OVER_R2 = (
    8.0589, 3.4698,
    29.0974, 14.8517, 11.8799, 7.8715, 5.5588, 4.7566, 3.8025, 3.1036,
    26.1552, 17.2304, 17.7210, 12.7442, 9.5361, 8.1652, 6.7463, 5.6004,
    29.2012, 22.3934, 19.0598, 16.8590, 15.4023, 12.5589, 13.4788, 12.2309, 11.2809, 10.5569, 10.1428,
    9.4907, 13.4606, 10.8544, 8.9386, 8.1350, 7.1251, 6.1971,
)


def dftd4_properties(atomic_numbers: Sequence[int], positions_bohr: np.ndarray,
                     charge: float = 0.0) -> dict[str, np.ndarray]:
    """D4 coordination numbers, charges, the C6 matrix (hartree bohr^6) and polarisabilities (bohr^3)."""
    from pyscf.dispersion import dftd4 as d4

    lib = d4.libdftd4
    numbers = np.ascontiguousarray(atomic_numbers, dtype=np.int32)
    pos = np.ascontiguousarray(positions_bohr, dtype=np.double).reshape(-1, 3)
    n = len(numbers)
    total = np.array([float(charge)])
    err = lib.dftd4_new_error()
    structure = model = None
    try:
        structure = lib.dftd4_new_structure(err, ctypes.c_int(n), numbers.ctypes.data_as(ctypes.c_void_p),
                                            pos.ctypes.data_as(ctypes.c_void_p),
                                            total.ctypes.data_as(ctypes.c_void_p), None, None)
        d4.error_check(err)
        model = lib.dftd4_new_d4_model(err, structure)
        d4.error_check(err)
        cn, q, c6, alpha = np.zeros(n), np.zeros(n), np.zeros((n, n)), np.zeros(n)
        lib.dftd4_get_properties(err, structure, model, *(a.ctypes.data_as(ctypes.c_void_p)
                                                          for a in (cn, q, c6, alpha)))
        d4.error_check(err)
    finally:
        if model:
            lib.dftd4_delete_model(ctypes.byref(model))
        if structure:
            lib.dftd4_delete_structure(ctypes.byref(structure))
        lib.dftd4_delete_error(ctypes.byref(err))
    return {"cn": cn, "charges": q, "c6": c6, "alpha": alpha}


def q_factor(z: int, r4_over_r2: float | None = None) -> float:
    """Grimme's Q = 1/2 sqrt(Z) <r^4>/<r^2> (tabulated free-atom ratio unless given)."""
    ratio = R4_OVER_R2[z - 1] if r4_over_r2 is None else r4_over_r2
    return 0.5 * np.sqrt(z) * ratio


def higher_order(c6: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """C8 = 3 C6 Q and C10 = 49/40 C8^2 / C6 per atom (atomic units)."""
    c8 = 3.0 * c6 * q
    c10 = 49.0 / 40.0 * c8**2 / c6
    return c8, c10


# Even-tempered basis sets (l, count, smallest exponent, ratio) for free-ion response: tight enough
# for the core that is polarised and diffuse enough for the tail.
ION_BASIS: dict[str, list[tuple[int, int, float, float]]] = {
    "Li": [(0, 14, 0.05, 2.5), (1, 10, 0.06, 2.5), (2, 7, 0.1, 2.5), (3, 4, 0.3, 2.5)],
    "Na": [(0, 18, 0.03, 2.5), (1, 14, 0.03, 2.5), (2, 8, 0.08, 2.5), (3, 5, 0.2, 2.5)],
    "K": [(0, 20, 0.02, 2.5), (1, 16, 0.02, 2.5), (2, 9, 0.05, 2.5), (3, 5, 0.15, 2.5)],
}


def occ_vir_dipoles(mf) -> np.ndarray:
    """Dipole integrals <i|r|a> (bohr) between occupied and virtual orbitals of a closed-shell RHF, origin at
    the centre of nuclear charge, shape (3, nocc * nvir) (occupied index slowest)."""
    mol = mf.mol
    with mol.with_common_orig(nuclear_charge_centre(mol)):
        dip = mol.intor_symmetric("int1e_r", comp=3)
    occ = mf.mo_coeff[:, mf.mo_occ > 0]
    vir = mf.mo_coeff[:, mf.mo_occ == 0]
    return np.einsum("xpq,pi,qa->xia", dip, occ, vir).reshape(3, -1)


def rpa_response(mf) -> tuple[np.ndarray, np.ndarray]:
    """Excitation energies w_n (hartree) and isotropic dipole strengths G_n (bohr^2 hartree) of the
    full singlet RPA (TDHF) spectrum of a closed-shell RHF, so that alpha(iu) = sum_n G_n / (w_n^2 + u^2).

    Uses (A - B)^1/2 (A + B) (A - B)^1/2 Z = w^2 Z with the dipole integrals of the occupied-virtual
    pairs; G_n carries the closed-shell factor 4 (two spins, and the 2 of second-order response).
    """
    from pyscf import tdscf

    td = tdscf.TDHF(mf)
    a, b = td.get_ab()
    nocc, nvir = a.shape[:2]
    size = nocc * nvir
    apb = (a + b).reshape(size, size)
    amb = (a - b).reshape(size, size)
    evals, evecs = np.linalg.eigh(amb)
    sqrt_amb = (evecs * np.sqrt(evals)) @ evecs.T
    w2, z = np.linalg.eigh(sqrt_amb @ apb @ sqrt_amb)
    d = occ_vir_dipoles(mf)
    proj = d @ sqrt_amb @ z  # (3, nstates)
    strengths = 4.0 * (proj**2).sum(axis=0) / 3.0
    return np.sqrt(w2), strengths


def free_ion_dispersion(symbol: str, charge: int, basis: object | None = None) -> dict[str, float]:
    """alpha (bohr^3), C6 (hartree bohr^6) and <r^4>/<r^2> of a closed-shell free atomic ion.

    HF density and RPA (TDHF) response over all excitations, in an even-tempered basis
    (``ION_BASIS``) unless ``basis`` is given: alpha = sum G_n / w_n^2,
    C6 = 3/2 sum_nm G_n G_m / (w_n w_m (w_n + w_m)).
    """
    from pyscf import gto, scf

    if basis is None:
        if symbol not in ION_BASIS:
            raise ValueError(f"no free-ion basis for {symbol}")
        basis = {symbol: gto.etbs(ION_BASIS[symbol])}
    mol = gto.M(atom=[[symbol, (0.0, 0.0, 0.0)]], basis=basis, charge=charge, spin=0, verbose=0)
    mf = scf.RHF(mol)
    mf.conv_tol = 1e-11
    mf.kernel()
    w, g = rpa_response(mf)
    alpha = float(np.sum(g / w**2))
    c6 = float(1.5 * np.sum(np.outer(g, g) / (np.outer(w, w) * (w[:, None] + w[None, :]))))
    from phyneo_flows.qm.mbis import density_on_grid, make_grid

    grids = make_grid(mol, 150, 302)
    rho = density_on_grid(mol, mf.make_rdm1(), grids.coords)
    r = np.linalg.norm(grids.coords - mol.atom_coords()[0], axis=1)
    r2 = float(np.sum(grids.weights * rho * r**2))
    r4 = float(np.sum(grids.weights * rho * r**4))
    return {"alpha": alpha, "c6": c6, "r4_over_r2": r4 / r2}


def uncoupled_response(mf, per_axis: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Orbital-energy differences w_ia (hartree) and isotropic strengths G_ia (bohr^2 hartree) of the
    uncoupled HF response of a closed-shell RHF: alpha(iu) = sum_ia G_ia / (w_ia^2 + u^2), G = 4/3 w |<i|r|a>|^2.
    ``per_axis``: G of shape (3, n), alpha_xx, alpha_yy, alpha_zz in the molecule's Cartesian axes (4 w x_ia^2).

    This is the response behind SAPT0's E(20)disp, whose R^-6 asymptote is the Casimir-Polder C6 of these
    polarisabilities (Jeziorski, Moszynski, Szalewicz, Chem. Rev. 94, 1887 (1994)).
    """
    occ = mf.mo_occ > 0
    d = occ_vir_dipoles(mf)
    w = (mf.mo_energy[~occ][None, :] - mf.mo_energy[occ][:, None]).ravel()
    if per_axis:
        return w, 4.0 * w * d**2
    return w, 4.0 * w * (d**2).sum(axis=0) / 3.0


def casimir_polder_c6(w: np.ndarray, g: np.ndarray, points: int = 40) -> float:
    """C6 = 3/pi int_0^inf alpha(iu)^2 du for alpha(iu) = sum G / (w^2 + u^2) (atomic units), by
    Gauss-Legendre quadrature on u = u0 (1 + t) / (1 - t) (u0 = 0.5 hartree); exact to ~1e-8 relative for
    molecular spectra, without the (n x n) double sum of the closed form."""
    u, weights = imaginary_frequencies(points)
    return float(3.0 / np.pi * np.sum(weights * sum_over_states(w, g, u) ** 2))


def imaginary_frequencies(points: int = 40, u0: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes u (hartree) and weights for int_0^inf du, mapped by u = u0 (1 + t) / (1 - t)."""
    t, wt = np.polynomial.legendre.leggauss(points)
    return u0 * (1 + t) / (1 - t), wt * 2 * u0 / (1 - t) ** 2


def sum_over_states(w: np.ndarray, g: np.ndarray, u: np.ndarray) -> np.ndarray:
    """alpha(iu) = sum_n G_n / (w_n^2 + u^2) at each u."""
    return np.array([np.sum(g / (w**2 + x * x)) for x in u])


def occ_vir_quadrupoles(mf, centre_bohr: np.ndarray) -> np.ndarray:
    """The five real Racah-normalised quadrupole operators r^2 C_2m about ``centre_bohr`` between occupied and
    virtual orbitals of a closed-shell RHF (bohr^2), shape (5, nocc * nvir): (3 z^2 - r^2) / 2, sqrt(3) xz,
    sqrt(3) yz, sqrt(3) (x^2 - y^2) / 2, sqrt(3) xy (so that sum_m (r^2 C_2m)^2 = r^4)."""
    mol = mf.mol
    with mol.with_common_orig(np.asarray(centre_bohr, dtype=float)):
        rr = mol.intor_symmetric("int1e_rr", comp=9).reshape(3, 3, mol.nao, mol.nao)
    r3 = np.sqrt(3.0)
    ops = np.stack([rr[2, 2] - 0.5 * (rr[0, 0] + rr[1, 1]), r3 * rr[0, 2], r3 * rr[1, 2],
                    0.5 * r3 * (rr[0, 0] - rr[1, 1]), r3 * rr[0, 1]])
    occ = mf.mo_coeff[:, mf.mo_occ > 0]
    vir = mf.mo_coeff[:, mf.mo_occ == 0]
    return np.einsum("xpq,pi,qa->xia", ops, occ, vir).reshape(5, -1)


def isotropic_c8(mf, centre_bohr: np.ndarray, points: int = 40) -> float:
    """Isotropic C8 (hartree bohr^8) of two copies of a closed-shell molecule from its uncoupled HF response,
    multipoles about ``centre_bohr``: C8 = 15/pi int alpha_1(iu) alpha_2(iu) du with the isotropic dipole and
    quadrupole polarisabilities alpha_l(iu) = 4/(2l+1) sum_ia w |<i|r^l C_l|a>|^2 / (w^2 + u^2). Averaged over
    the orientations of both molecules only the isotropic parts survive, so this is the R^-8 coefficient of the
    orientation-averaged SAPT0 E(20)disp, R the distance between the two centres (the dipole-quadrupole and
    dipole-octupole cross polarisabilities have no rank-0 part). Checked against psi4's SAPT0 dispersion of a
    neon dimer (tests/qm/test_uncoupled_dispersion.py)."""
    w, g1 = uncoupled_response(mf)
    g2 = 4.0 * w * (occ_vir_quadrupoles(mf, centre_bohr) ** 2).sum(axis=0) / 5.0
    u, weights = imaginary_frequencies(points)
    return float(15.0 / np.pi * np.sum(weights * sum_over_states(w, g1, u) * sum_over_states(w, g2, u)))


def displacement_c8(c6_atoms: np.ndarray, symbols: Sequence[str], positions_nm: np.ndarray) -> float:
    """The R^-8 coefficient (hartree bohr^8) that atomic C6 (hartree bohr^6, geometric-mean pairs) alone give two
    copies of a molecule averaged over both orientations, R between their centres of nuclear charge (the origin
    of ``isotropic_c8``): over directions <|R + d|^-6> = R^-6 (1 + 5 d^2 / R^2 + ...), and
    <|d_j - d_i|^2> = d_i^2 + d_j^2, so 5 sum_ij sqrt(C6_i C6_j) (d_i^2 + d_j^2)."""
    from phyneo_flows.qm.models import ATOMIC_NUMBER

    z = np.array([ATOMIC_NUMBER[s] for s in symbols], dtype=float)
    x = np.asarray(positions_nm, dtype=float) / BOHR_TO_NM
    d2 = ((x - z @ x / z.sum()) ** 2).sum(axis=1)
    root = np.sqrt(np.asarray(c6_atoms, dtype=float))
    return float(10.0 * root.sum() * (root * d2).sum())


def basis_for_pyscf(basis: str, symbols: Sequence[str], psi4_basis_dir: str | None = None):
    """A basis PySCF can use: its own library name, else psi4's library file (``jun-cc-pvdz`` and the other
    calendar sets PySCF lacks), parsed per element."""
    from pyscf import gto
    from pyscf.gto.basis import parse_gaussian

    try:
        for el in set(symbols):
            gto.basis.load(basis, el)
        return basis
    except Exception:  # noqa: BLE001 - PySCF raises a bare exception type for unknown names
        pass
    from pathlib import Path

    from phyneo_flows.errors import InputError
    from phyneo_flows.qm.psi4 import DEFAULT_BASIS_DIR, basis_file_name

    path = Path(psi4_basis_dir or DEFAULT_BASIS_DIR) / basis_file_name(basis)
    if not path.exists():
        raise InputError(f"basis {basis!r} is neither in PySCF's library nor in psi4's ({path})", field="basis",
                         fix="name a basis set that PySCF or psi4 ships")
    return {el: parse_gaussian.load(str(path), el) for el in set(symbols)}


def uncoupled_rhf(symbols: Sequence[str], positions_nm: np.ndarray, charge: int, basis: str):
    """The converged RHF (density fitting, closed shells only) whose orbitals give the uncoupled response of
    SAPT0 in ``basis``."""
    from pyscf import gto, scf

    from phyneo_flows.errors import EngineError

    atoms = [[s, tuple(np.asarray(x, dtype=float) / BOHR_TO_NM)] for s, x in zip(symbols, positions_nm, strict=True)]
    mol = gto.M(atom=atoms, unit="Bohr", basis=basis_for_pyscf(basis, symbols), charge=charge, spin=0, verbose=0)
    mf = scf.RHF(mol).density_fit()
    mf.conv_tol = 1e-9
    mf.max_cycle = 200
    mf.kernel()
    if not mf.converged:
        raise EngineError(f"RHF/{basis} of {''.join(symbols)} did not converge in {mf.max_cycle} cycles",
                          field="basis", fix="check the geometry and charge of the molecule")
    return mf


def nuclear_charge_centre(mol) -> np.ndarray:
    """The centre of nuclear charge (bohr): the origin of the multipole operators here."""
    z = mol.atom_charges()
    return np.einsum("i,ix->x", z, mol.atom_coords()) / z.sum()


def uncoupled_c6_c8(symbols: Sequence[str], positions_nm: np.ndarray, charge: int, basis: str
                    ) -> tuple[float, float]:
    """Molecular C6 (hartree bohr^6) and isotropic C8 (hartree bohr^8, multipoles about the centre of nuclear
    charge: ``isotropic_c8``) of the uncoupled HF response in ``basis``, from one RHF."""
    mf = uncoupled_rhf(symbols, positions_nm, charge, basis)
    return casimir_polder_c6(*uncoupled_response(mf)), isotropic_c8(mf, nuclear_charge_centre(mf.mol))


def molecular_c6(c6_atoms: np.ndarray) -> float:
    """Molecular C6 of atoms combined by the geometric mean rule, sum_ij sqrt(C6_i C6_j)."""
    root = np.sqrt(np.asarray(c6_atoms, dtype=float))
    return float(root.sum() ** 2)


def to_kj_mol_nm(cn: np.ndarray, n: int) -> np.ndarray:
    """A C_n coefficient from hartree bohr^n to kJ/mol nm^n."""
    return np.asarray(cn) * HARTREE_TO_KJ_MOL * BOHR_TO_NM**n
