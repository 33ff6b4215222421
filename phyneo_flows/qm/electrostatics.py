"""The electrostatic interaction of two unperturbed HF monomer densities (SAPT0's E_elst,10), with PySCF.

A diagnostic for the long-range check (``fitting.longrange_check``): when the model's multipole electrostatics
and SAPT's disagree at long range, this tells a basis-set difference between the SAPT reference and the monomer
properties (compute it in both bases) from an error of the multipole model (compare it in the properties'
basis). E = V_nn(A, B) + tr(D_A V_B) + tr(D_B V_A) + tr(D_A J[D_B]), each monomer's RHF density in its own
(monomer-centred) basis; psi4's SAPT0 uses the dimer-centred basis, which at the far contacts this is meant for
changes E_elst by 0.4 % (tests/qm/test_electrostatics.py, against psi4's value).

``jun-cc-pvdz`` is not in PySCF's library; ``qm.pyscf_engine.build_mole`` reads it from psi4's basis folder.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from phyneo_flows.errors import EngineNotFoundError, InputError
from phyneo_flows.qm.models import QMMolecule
from phyneo_flows.qm.pyscf_engine import build_mole
from phyneo_flows.units import HARTREE_TO_KJ_MOL


def hf_electrostatics_kj_mol(symbols_a: Sequence[str], positions_a_nm: np.ndarray, symbols_b: Sequence[str],
                             positions_b_nm: np.ndarray, basis: str, charge_a: int = 0,
                             charge_b: int = 0) -> float:
    """E_elst,10 (kJ/mol) of monomers A and B: RHF densities in ``basis``, nuclei and electrons of each in the
    field of the other."""
    try:
        from pyscf import scf
    except ImportError as e:  # pragma: no cover - PySCF is a dependency
        raise EngineNotFoundError("PySCF is not installed", fix="pip install pyscf") from e

    ma, mb = (build_mole(QMMolecule(symbols=list(sym), coordinates_nm=np.asarray(pos), charge=charge), basis)
              for sym, pos, charge in ((symbols_a, positions_a_nm, charge_a), (symbols_b, positions_b_nm, charge_b)))
    runs = [scf.RHF(m).run() for m in (ma, mb)]
    for name, run in zip(("A", "B"), runs, strict=True):
        if not run.converged:
            raise InputError(f"the RHF of monomer {name} did not converge in {basis}", field="basis",
                             fix="check the geometry and charge, or use a smaller basis")
    da, db = (r.make_rdm1() for r in runs)
    mab = ma + mb
    na, n = ma.nao, ma.nao + mb.nao
    dens_a, dens_b = np.zeros((n, n)), np.zeros((n, n))
    dens_a[:na, :na], dens_b[na:, na:] = da, db

    def nuclear_potential(charges, coords):
        v = np.zeros((n, n))
        for z, c in zip(charges, coords, strict=True):
            with mab.with_rinv_origin(c):
                v -= z * mab.intor("int1e_rinv")
        return v

    j_b = scf.hf.get_jk(mab, dens_b, with_k=False)[0]
    za, zb = ma.atom_charges(), mb.atom_charges()
    ra, rb = ma.atom_coords(), mb.atom_coords()
    e_nn = float(np.sum(za[:, None] * zb[None, :] / np.linalg.norm(ra[:, None] - rb[None, :], axis=-1)))
    e = (e_nn + np.einsum("ij,ji", dens_a, nuclear_potential(zb, rb))
         + np.einsum("ij,ji", dens_b, nuclear_potential(za, ra)) + np.einsum("ij,ji", dens_a, j_b))
    return float(e) * HARTREE_TO_KJ_MOL
