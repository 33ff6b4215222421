"""Monomer properties from one SCF density: MBIS multipoles in local frames, polarisabilities, C6/C8/C10.

The level should match the SAPT reference the force field is fitted to: HF (coupled-perturbed HF
polarisability) beside SAPT0, the SAPT(DFT) functional beside SAPT(DFT); the basis needs diffuse
functions (default aug-cc-pVDZ), or polarisabilities come out far too low.

Output units (OpenMM's): charge e, dipole e nm, quadrupole e nm^2 (traceless Buckingham
``Theta = 1/2 int rho (3 r r - r^2 I)``; OpenMM's ``AmoebaMultipoleForce`` takes Theta / 3), volume
bohr^3, polarisability nm^3, C6 kJ/mol nm^6, C8 kJ/mol nm^8, C10 kJ/mol nm^10. Dipoles and
quadrupoles are given in each atom's local frame (``frames``) and averaged over symmetry-equivalent
atoms; the lab-frame MBIS moments are kept beside them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel

from phyneo_flows.errors import EngineError, InputError
from phyneo_flows.qm.dispersion import (
    dftd4_properties,
    higher_order,
    molecular_c6,
    q_factor,
    to_kj_mol_nm,
)
from phyneo_flows.qm.frames import (
    average_equivalent,
    bonds_from_geometry,
    choose_frames,
    symmetry_classes,
    to_local,
)
from phyneo_flows.qm.harness import QMFailure, register_harness
from phyneo_flows.qm.mbis import make_grid, mbis_partition
from phyneo_flows.qm.models import QMInput, QMMolecule, QMResult
from phyneo_flows.qm.polarizability import (
    fit_atomic_polarizabilities,
    isotropic,
    principal,
    qm_polarizability,
    thole_polarizability,
)
from phyneo_flows.qm.pyscf_engine import build_mole, check_method, run_scf
from phyneo_flows.units import BOHR_TO_NM

DEFAULT_PROPERTY_METHOD = "hf"
DEFAULT_PROPERTY_BASIS = "aug-cc-pvdz"

UNITS = {
    "charge": "e", "dipole": "e nm (local frame)", "quadrupole": "e nm^2 (local frame, traceless, "
    "Theta = 1/2 int rho (3rr - r^2 I); OpenMM AmoebaMultipoleForce takes Theta/3)",
    "volume_bohr3": "bohr^3 (MBIS <r^3>)", "polarizability": "nm^3", "c6": "kJ/mol nm^6",
    "c8": "kJ/mol nm^8", "c10": "kJ/mol nm^10", "molecular_polarizability": "nm^3",
    "molecular_dipole": "e nm", "lab_charges": "e (MBIS, before symmetry averaging)",
    "lab_dipoles": "e nm (lab frame, before averaging)", "lab_quadrupoles": "e nm^2 (lab frame)",
}

# Free-ion alpha (bohr^3), C6 (hartree bohr^6), <r^4>/<r^2> (bohr^2) from
# ``dispersion.free_ion_dispersion`` (HF + full RPA, even-tempered basis); see fixtures/qm/pyscf/README.md.
FREE_IONS: dict[tuple[str, int], dict[str, float]] = {
    ("Li", 1): {"alpha": 0.18946287682577606, "c6": 0.07664316352587636, "r4_over_r2": 1.181745084079006},
    ("Na", 1): {"alpha": 0.9451831021097988, "c6": 1.518426039378901, "r4_over_r2": 1.7970674254028316},
}


class FrameDoc(BaseModel):
    """An OpenMM AMOEBA local frame: axis type (0-5) and its defining atoms (-1 when unused)."""

    axis_type: int
    axis_name: str
    z: int
    x: int
    y: int


class AtomProperties(BaseModel):
    """One atom's properties (units in ``MonomerProperties.units``)."""

    element: str
    atom_type: str
    charge: float
    dipole: list[float]
    quadrupole: list[list[float]]
    volume_bohr3: float
    polarizability: float
    c6: float
    c8: float
    c10: float
    frame: FrameDoc


class MonomerProperties(QMResult):
    """The monomer properties of one molecule, ready for the force field."""

    method: str
    basis: str
    engine: str = "pyscf"
    input_hash: str = ""
    charge: int
    multiplicity: int
    atoms: list[AtomProperties]
    molecular_polarizability: list[list[float]]
    molecular_dipole: list[float]
    model_polarizability: list[list[float]]
    molecular_c6: float
    lab_charges: list[float]
    lab_dipoles: list[list[float]]
    lab_quadrupoles: list[list[list[float]]]
    bonds: list[tuple[int, int]]
    units: dict[str, str] = UNITS

    def to_cli_json(self) -> dict[str, Any]:
        """The dictionary ``phyneo qm properties --json`` prints."""
        return {
            "method": self.method, "basis": self.basis, "engine": self.engine, "version": self.version,
            "atoms": [a.model_dump() for a in self.atoms],
            "molecular_polarizability": self.molecular_polarizability,
            "model_polarizability": self.model_polarizability,
            "molecular_dipole": self.molecular_dipole,
            "molecular_c6": self.molecular_c6,
            "units": self.units,
        }


def default_atom_types(symbols: Sequence[str], classes: Sequence[int]) -> list[str]:
    """``<element><k>`` names, one per symmetry class, k counted per element in order of appearance."""
    names: dict[int, str] = {}
    counts: dict[str, int] = {}
    out = []
    for s, c in zip(symbols, classes, strict=True):
        if c not in names:
            counts[s] = counts.get(s, 0) + 1
            names[c] = f"{s}{counts[s]}"
        out.append(names[c])
    return out


def _dispersion(molecule: QMMolecule, classes: Sequence[int]
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """C6, C8, C10 and D4 polarisabilities per atom (atomic units), averaged over equivalent atoms."""
    z = molecule.atomic_numbers
    key = (molecule.symbols[0], molecule.charge)
    if molecule.n_atoms == 1 and molecule.charge != 0:
        if key not in FREE_IONS:
            raise InputError(f"no free-ion dispersion values for {key[0]}{key[1]:+d}", field="molecule",
                             fix=f"add them to FREE_IONS with dispersion.free_ion_dispersion('{key[0]}', "
                                 f"{key[1]})")
        ion = FREE_IONS[key]
        c6 = np.array([ion["c6"]])
        alpha = np.array([ion["alpha"]])
        q = np.array([q_factor(z[0], ion["r4_over_r2"])])
    else:
        d4 = dftd4_properties(z, molecule.coordinates_angstrom / (BOHR_TO_NM * 10.0), molecule.charge)
        c6 = average_equivalent(np.diag(d4["c6"]), classes)
        alpha = average_equivalent(d4["alpha"], classes)
        q = np.array([q_factor(zi) for zi in z])
    c8, c10 = higher_order(c6, q)
    return c6, c8, c10, alpha


def compute_properties(
    molecule: QMMolecule,
    *,
    method: str = DEFAULT_PROPERTY_METHOD,
    basis: str = DEFAULT_PROPERTY_BASIS,
    bonds: Sequence[tuple[int, int]] | None = None,
    atom_types: Sequence[str] | None = None,
    grid: tuple[int, int] = (75, 302),
    thole: float = 0.39,
    prior_weight: float = 0.05,
) -> MonomerProperties | QMFailure:
    """All monomer properties of ``molecule`` from one SCF; an unconverged SCF is a ``QMFailure``.

    ``bonds`` (atom index pairs) and ``atom_types`` come from the species library when known; else
    bonds are perceived from the geometry and types from graph symmetry. ``prior_weight`` pulls the fitted
    atomic polarisabilities towards D4's (see ``fit_atomic_polarizabilities``).
    """
    import pyscf

    check_method(method)
    mol = build_mole(molecule, basis)
    start = time.perf_counter()
    outcome = run_scf(mol, method, conv_tol=1e-10)
    if not outcome.converged:
        return QMFailure(engine="pyscf", message="SCF did not converge; " + " | ".join(outcome.log),
                         input_hash="", attempts=outcome.attempts, error_type="SCFConvergenceError")
    mf = outcome.mf
    z = molecule.atomic_numbers
    pos_nm = np.asarray(molecule.coordinates_nm)
    bond_list = [tuple(map(int, b)) for b in (bonds if bonds is not None
                                               else bonds_from_geometry(molecule.symbols, pos_nm,
                                                                        molecule.charge))]
    classes = symmetry_classes(z, bond_list)
    types = list(atom_types) if atom_types is not None else default_atom_types(molecule.symbols, classes)
    if len(types) != molecule.n_atoms:
        raise InputError(f"{len(types)} atom types for {molecule.n_atoms} atoms", field="atom_types")
    frames = choose_frames(z, bond_list, classes)

    try:
        parts = mbis_partition(mol, mf.make_rdm1(), grids=make_grid(mol, *grid))
    except EngineError as exc:
        return QMFailure(engine="pyscf", message=str(exc), input_hash="", error_type="MBISError")

    dip_local, quad_local = to_local(frames, pos_nm, parts.dipoles * BOHR_TO_NM,
                                     parts.quadrupoles * BOHR_TO_NM**2)
    charges = average_equivalent(parts.charges, classes)
    dip_local = average_equivalent(dip_local, classes)
    quad_local = average_equivalent(quad_local, classes)
    volumes = average_equivalent(parts.volumes, classes)

    c6, c8, c10, alpha_d4 = _dispersion(molecule, classes)
    alpha_qm = qm_polarizability(mf)  # bohr^3
    pos_bohr = pos_nm / BOHR_TO_NM
    if molecule.n_atoms == 1 and molecule.charge != 0:
        # a bare ion: orbital basis sets lack the tight functions its core response needs (Li+ in
        # aug-cc-pVDZ: 0.05 instead of 0.19 bohr^3), so the free-ion RPA value is used
        atom_alpha = alpha_d4
    elif molecule.n_atoms == 1:
        atom_alpha = np.array([isotropic(alpha_qm)])
    else:
        # D4's atomic polarisabilities are the prior that keeps the partition among types physical
        guess = {t: max(float(a), 0.1) for t, a in zip(types, alpha_d4, strict=True)}
        fitted = fit_atomic_polarizabilities([(pos_bohr, types, alpha_qm)], guess, tholes=thole,
                                             prior_weight=prior_weight)
        atom_alpha = np.array([fitted[t] for t in types])
    model = thole_polarizability(pos_bohr, atom_alpha, thole)
    dipole_au = np.asarray(mf.dip_moment(unit="au", verbose=0))
    atoms = [
        AtomProperties(
            element=molecule.symbols[i], atom_type=types[i], charge=float(charges[i]),
            dipole=dip_local[i].tolist(), quadrupole=quad_local[i].tolist(),
            volume_bohr3=float(volumes[i]), polarizability=float(atom_alpha[i] * BOHR_TO_NM**3),
            c6=float(to_kj_mol_nm(c6[i], 6)), c8=float(to_kj_mol_nm(c8[i], 8)),
            c10=float(to_kj_mol_nm(c10[i], 10)),
            frame=FrameDoc(axis_type=frames[i].axis_type, axis_name=frames[i].name, z=frames[i].z,
                           x=frames[i].x, y=frames[i].y))
        for i in range(molecule.n_atoms)
    ]
    return MonomerProperties(
        method=method, basis=basis, version=str(pyscf.__version__), charge=molecule.charge,
        multiplicity=molecule.multiplicity, atoms=atoms,
        molecular_polarizability=(alpha_qm * BOHR_TO_NM**3).tolist(),
        molecular_dipole=(dipole_au * BOHR_TO_NM).tolist(),
        model_polarizability=(model * BOHR_TO_NM**3).tolist(),
        molecular_c6=float(to_kj_mol_nm(molecular_c6(c6), 6)),
        lab_charges=parts.charges.tolist(),
        lab_dipoles=(parts.dipoles * BOHR_TO_NM).tolist(),
        lab_quadrupoles=(parts.quadrupoles * BOHR_TO_NM**2).tolist(),
        bonds=bond_list, wall_time_s=time.perf_counter() - start)


def polarizability_agreement(props: MonomerProperties) -> dict[str, float]:
    """Relative deviation of the Thole model from the QM tensor: isotropic and worst principal value."""
    qm = np.asarray(props.molecular_polarizability)
    model = np.asarray(props.model_polarizability)
    iso = abs(isotropic(model) / isotropic(qm) - 1.0)
    worst = float(np.max(np.abs(principal(model) / principal(qm) - 1.0)))
    return {"isotropic": iso, "principal": worst}


class PropertiesInput(QMInput):
    """What ``PropertiesHarness`` computes: one molecule's monomer properties at ``method``/``basis``.
    ``bonds`` and ``atom_types`` (optional) take part in the cache key."""

    task: Literal["properties"] = "properties"
    method: str = DEFAULT_PROPERTY_METHOD
    basis: str = DEFAULT_PROPERTY_BASIS
    molecule: QMMolecule
    bonds: list[tuple[int, int]] | None = None
    atom_types: list[str] | None = None

    def molecules(self) -> list[QMMolecule]:
        return [self.molecule]

    def hash_fields(self) -> dict[str, Any]:
        fields = super().hash_fields()
        fields["bonds"] = sorted([sorted(b) for b in self.bonds]) if self.bonds is not None else None
        fields["atom_types"] = self.atom_types
        return fields


class PropertiesHarness:
    """The monomer-properties calculation as a harness, so ``QMCache`` can store and reuse it."""

    name = "pyscf-properties"

    def found(self) -> bool:
        import importlib.util

        return importlib.util.find_spec("pyscf") is not None

    def version(self) -> str:
        import pyscf

        return str(pyscf.__version__)

    def compute(self, input: PropertiesInput) -> MonomerProperties | QMFailure:
        key = input.input_hash(self.name, self.version())
        result = compute_properties(input.molecule, method=input.method, basis=input.basis,
                                    bonds=input.bonds, atom_types=input.atom_types)
        return result.model_copy(update={"input_hash": key})


register_harness("pyscf-properties", PropertiesHarness)
