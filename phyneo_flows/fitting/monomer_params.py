"""Force-field parameters of molecules from their QM monomer properties (the long range needs no fit).

``MonomerProperties`` (``phyneo_flows.qm.properties``) -> ``MoleculeParams`` of ``phyneo_flows.ff.params``:

- charges, local dipoles and quadrupoles (MBIS, symmetry-averaged) with the frames they were taken in;
  the quadrupole is converted from the Buckingham ``Theta`` that ``compute_properties`` emits to OpenMM's
  ``Theta / 3`` that the parameter file stores (both e nm^2, traceless);
- Thole-fitted atomic polarisabilities (nm^3) with the Thole ``a`` they were fitted with (0.39);
- C6/C8/C10 (kJ/mol nm^n);
- Slater-ISA ``B`` and ``A`` start values by element (``phyneo_flows.ff.literature``) that the short-range
  fit (``shortrange.py``) replaces; bonded terms from ``ff.literature.generic_bonded``.

A bare ion (Li+, Na+) needs no SCF: its values come from ``qm.properties.FREE_IONS`` (free-ion RPA).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from phyneo_flows.errors import InputError
from phyneo_flows.ff.literature import ELEMENT, generic_bonded
from phyneo_flows.ff.params import (
    SLATER_COMPONENTS,
    ForceFieldParams,
    Frame,
    MoleculeParams,
    TypeParams,
    value,
)
from phyneo_flows.qm.properties import FREE_IONS, MonomerProperties
from phyneo_flows.units import BOHR_TO_NM

THOLE = 0.39  # the Thole a of compute_properties' polarisability fit
# start values of the Slater A of each component relative to A_exchange (signs live in SLATER_SIGNS)
A_START_FRACTION = {"exchange": 1.0, "electrostatics": 0.5, "induction": 0.3, "dispersion": 0.2, "dhf": 0.2}
SRC_B_START = "start value by element (ff.literature, Van Vleet et al. 2016 magnitudes); replaced by the SAPT fit"
SRC_A_START = "start value by element (ff.literature); replaced by the SAPT fit"
SRC_BONDED = "ff.literature.generic_bonded at the species-stage conformer"


def load_properties_fixture(path: str | Path | dict) -> tuple[str, MonomerProperties, np.ndarray]:
    """(species, properties, positions nm) from a ``fixtures/qm/pyscf/properties_*.json`` file, or from the
    same JSON as a dict (an entry of the pipeline's ``MonomersDocument.monomers``)."""
    if isinstance(path, dict):
        doc, p = path, f"monomer properties of {path.get('species')!r}"
    else:
        p = Path(path)
        if not p.exists():
            raise InputError(f"no properties file at {p}", field="properties",
                             fix="make it with fixtures/qm/pyscf/make_fixtures.py SPECIES")
        doc = json.loads(p.read_text())
    try:
        props = MonomerProperties.model_validate(doc["properties"])
        return doc["species"], props, np.asarray(doc["positions_nm"], dtype=float)
    except (KeyError, ValueError) as exc:
        raise InputError(f"{p} is not a monomer-properties file ({exc})", field="properties",
                         fix="regenerate it with fixtures/qm/pyscf/make_fixtures.py") from exc


def _source(props: MonomerProperties, what: str) -> str:
    return f"{what}, {props.method}/{props.basis} ({props.engine} {props.version}, phyneo_flows.qm.properties)"


def _openmm_quadrupole(theta: np.ndarray) -> np.ndarray:
    """Buckingham Theta (traceless) -> OpenMM's Theta/3, made exactly symmetric and traceless."""
    q = 0.5 * (theta + theta.T) / 3.0
    return q - np.eye(3) * np.trace(q) / 3.0


def _slater_start(element: str) -> dict[str, float]:
    if element not in ELEMENT:
        raise InputError(f"no Slater start values for element {element}", field="symbols",
                         fix="add the element to phyneo_flows.ff.literature.ELEMENT")
    b, a_ex = ELEMENT[element][3], ELEMENT[element][4]
    return {"B": b, **{f"A_{c}": a_ex * A_START_FRACTION[c] for c in SLATER_COMPONENTS}}


def _slater_values(element: str, atom_type: str, start: Mapping[str, Mapping[str, float]] | None) -> dict:
    vals = _slater_start(element)
    src = {k: SRC_A_START for k in vals} | {"B": SRC_B_START}
    if start and atom_type in start:
        for k, v in start[atom_type].items():
            vals[k] = float(v)
            src[k] = "given start value"
    return {k: value(v, k, src[k]) for k, v in vals.items()}


def molecule_params_from_properties(
    props: MonomerProperties,
    *,
    smiles: str,
    symbols: list[str],
    positions_nm: np.ndarray,
    bonds: list[tuple[int, int]] | None = None,
    slater_start: Mapping[str, Mapping[str, float]] | None = None,
) -> MoleculeParams:
    """The parameters of one molecule; atom order is that of ``props`` (the species template's).

    Charges are shifted equally per atom so that they sum to the formal charge exactly (MBIS on a grid
    misses it by ~1e-4 e). ``slater_start`` ({atom_type: {"B": .., "A_exchange": ..}}) overrides start values.
    """
    atoms = props.atoms
    if [a.element for a in atoms] != list(symbols):
        raise InputError("the properties' atoms are not in the template's order", field="properties",
                         fix="recompute the properties on the species template")
    types_in_order = [a.atom_type for a in atoms]
    shift = (props.charge - sum(a.charge for a in atoms)) / len(atoms)
    types: dict[str, TypeParams] = {}
    for a in atoms:
        if a.atom_type in types:
            continue
        theta = np.asarray(a.quadrupole, dtype=float)
        vals = {
            "charge": value(a.charge + shift, "charge", _source(props, "MBIS charge")),
            "dipole": value(np.asarray(a.dipole, dtype=float), "dipole", _source(props, "MBIS dipole, local frame")),
            "quadrupole": value(_openmm_quadrupole(theta), "quadrupole",
                                _source(props, "MBIS quadrupole, local frame, Theta/3")),
            "polarizability": value(a.polarizability, "polarizability",
                                    _source(props, "Thole-fitted atomic polarisability (CPHF tensor)")),
            "thole": value(THOLE, "thole", "Thole a of the polarisability fit (qm.properties)"),
            "C6": value(a.c6, "C6", _source(props, "D4 atomic C6 (free-ion RPA for bare ions)")),
            "C8": value(a.c8, "C8", _source(props, "C8 from C6 and <r4>/<r2> (qm.dispersion.higher_order)")),
            "C10": value(a.c10, "C10", _source(props, "C10 from C6 and C8 (qm.dispersion.higher_order)")),
            **_slater_values(a.element, a.atom_type, slater_start),
        }
        types[a.atom_type] = TypeParams(**vals)
    bond_list = [tuple(map(int, b)) for b in (bonds if bonds is not None else props.bonds)]
    frames = [Frame(axis=a.frame.axis_name, z=a.frame.z, x=a.frame.x, y=a.frame.y) for a in atoms]
    bonded = generic_bonded(list(symbols), bond_list, np.asarray(positions_nm, dtype=float))
    for term in (*bonded.bonds, *bonded.angles, *bonded.torsions):
        for v in term.__dict__.values():
            if hasattr(v, "source"):
                v.source = SRC_BONDED
    return MoleculeParams(smiles=smiles, symbols=list(symbols), atom_types=types_in_order, bonds=bond_list,
                          frames=frames, types=types, bonded=bonded)


def free_ion_params(species: str, slater_start: Mapping[str, Mapping[str, float]] | None = None) -> MoleculeParams:
    """Parameters of a bare monatomic ion (Li+, Na+) from ``FREE_IONS`` (no SCF needed)."""
    from phyneo_flows.chem import build_molecule
    from phyneo_flows.qm.dispersion import higher_order, q_factor, to_kj_mol_nm

    tpl = build_molecule(species)
    if len(tpl.symbols) != 1:
        raise InputError(f"{species} is not a monatomic ion", field="species",
                         fix="compute its monomer properties with qm.properties.compute_properties")
    key = (tpl.symbols[0], tpl.formal_charge)
    if key not in FREE_IONS:
        raise InputError(f"no free-ion values for {species}", field="species",
                         fix="add them to qm.properties.FREE_IONS with qm.dispersion.free_ion_dispersion")
    ion = FREE_IONS[key]
    z = {"Li": 3, "Na": 11}[key[0]]
    c6 = np.array([ion["c6"]])
    c8, c10 = higher_order(c6, np.array([q_factor(z, ion["r4_over_r2"])]))
    src = "free-ion HF + full RPA (qm.properties.FREE_IONS)"
    t = tpl.atom_types[0]
    vals = {
        "charge": value(float(tpl.formal_charge), "charge", "formal charge"),
        "dipole": value([0.0, 0.0, 0.0], "dipole", "spherical ion"),
        "quadrupole": value(np.zeros((3, 3)), "quadrupole", "spherical ion"),
        "polarizability": value(ion["alpha"] * BOHR_TO_NM**3, "polarizability", src),
        "thole": value(THOLE, "thole", "Thole a of the polarisability fit (qm.properties)"),
        "C6": value(float(to_kj_mol_nm(c6, 6)[0]), "C6", src),
        "C8": value(float(to_kj_mol_nm(c8, 8)[0]), "C8", src + ", C8 via qm.dispersion.higher_order"),
        "C10": value(float(to_kj_mol_nm(c10, 10)[0]), "C10", src + ", C10 via qm.dispersion.higher_order"),
        **_slater_values(tpl.symbols[0], t, slater_start),
    }
    return MoleculeParams(smiles=tpl.smiles, symbols=list(tpl.symbols), atom_types=[t], bonds=[],
                          frames=[Frame(axis="NoAxisType")], types={t: TypeParams(**vals)})


def params_from_fixtures(
    property_files: Mapping[str, str | Path | dict],
    ions: tuple[str, ...] = (),
    description: str = "long range from QM monomer properties; Slater A/B at start values",
) -> ForceFieldParams:
    """A parameter set from properties files ({species: path}) and bare ions built from ``FREE_IONS``."""
    from phyneo_flows.chem import build_molecule

    molecules: dict[str, MoleculeParams] = {}
    provenance: dict[str, object] = {"generator": "phyneo_flows.fitting.monomer_params", "properties": {}}
    for species, path in property_files.items():
        name, props, pos = load_properties_fixture(path)
        tpl = build_molecule(species)
        if list(tpl.symbols) != [a.element for a in props.atoms]:
            raise InputError(f"{path}: atoms differ from the {species} template", field="properties",
                             fix="recompute the properties on the current species template")
        molecules[species] = molecule_params_from_properties(props, smiles=tpl.smiles, symbols=list(tpl.symbols),
                                                             positions_nm=pos, bonds=[tuple(b) for b in tpl.bonds])
        origin = {"file": str(path)} if not isinstance(path, dict) else {"computed": "pipeline monomers stage"}
        provenance["properties"][species] = origin | {"method": props.method, "basis": props.basis}
    for ion in ions:
        molecules[ion] = free_ion_params(ion)
        provenance["properties"][ion] = {"source": "qm.properties.FREE_IONS"}
    return ForceFieldParams(description=description, provenance=provenance, molecules=molecules)


#: Molecular C6 (hartree bohr^6) of the uncoupled HF response, by (SMILES, charge, basis): what
#: ``qm.dispersion.uncoupled_c6_c8`` gives on the species template conformer (``chem.build_molecule``), with
#: PySCF 2.14 (RHF, density fitting) and psi4's jun-cc-pVDZ file. A molecule missing here is computed when it is
#: first fitted (seconds to a minute). Remake: ``python -m phyneo_flows.fitting.monomer_params SPECIES ...``.
UNCOUPLED_C6_AU: dict[tuple[str, int, str], float] = {
    ("COC(=O)OC", 0, "jun-cc-pvdz"): 1007.5172037656728,  # DMC
    ("O=C1OCCO1", 0, "jun-cc-pvdz"): 879.0148074507379,  # EC
    ("F[P-](F)(F)(F)(F)F", -1, "jun-cc-pvdz"): 392.855687410777,  # PF6-
}

#: Isotropic molecular C8 (hartree bohr^8) of the uncoupled HF response about the centre of nuclear charge, by
#: (SMILES, charge, basis): ``qm.dispersion.uncoupled_c6_c8`` on the template conformer (as for C6 above).
UNCOUPLED_C8_AU: dict[tuple[str, int, str], float] = {
    ("COC(=O)OC", 0, "jun-cc-pvdz"): 145847.4408657689,  # DMC
    ("O=C1OCCO1", 0, "jun-cc-pvdz"): 81126.17375922884,  # EC
    ("F[P-](F)(F)(F)(F)F", -1, "jun-cc-pvdz"): 34955.642919013735,  # PF6-
}

SAPT_LEVEL_KEY = "sapt_level_dispersion"


def uncoupled_c6_c8_of(tpl, basis: str) -> tuple[float, float]:
    """Molecular uncoupled-HF C6 (hartree bohr^6) and isotropic C8 (hartree bohr^8, about the centre of nuclear
    charge) of the species template ``tpl`` (``chem.build_molecule``) in ``basis``: the tables, else computed
    (one RHF for both) and added to them."""
    from phyneo_flows.qm.dispersion import uncoupled_c6_c8

    key = (tpl.smiles, int(tpl.formal_charge), basis.lower())
    if key not in UNCOUPLED_C6_AU or key not in UNCOUPLED_C8_AU:
        UNCOUPLED_C6_AU[key], UNCOUPLED_C8_AU[key] = uncoupled_c6_c8(
            list(tpl.symbols), tpl.positions_nm, int(tpl.formal_charge), basis)
    return UNCOUPLED_C6_AU[key], UNCOUPLED_C8_AU[key]


def sapt_level_dispersion(params: ForceFieldParams, basis: str, molecules: list[str] | None = None
                          ) -> ForceFieldParams:
    """The parameters with C6, C8 and C10 of each polyatomic molecule scaled to the dispersion of the SAPT level.

    SAPT0's E(20)disp is the dispersion of uncoupled HF response in the SAPT basis; its R^-6 asymptote is the
    Casimir-Polder C6 of those polarisabilities (``qm.dispersion.uncoupled_c6_c8``; psi4's water dimer at 12 and
    16 Å reproduces it, tests/qm/test_uncoupled_dispersion.py). The monomer properties' D4 C6 is near the true
    one and in a basis with diffuse functions on every atom; against SAPT0/jun-cc-pVDZ (no diffuse H, no
    diffuse d) it was 41 % too strong for DMC-DMC at closest contacts of 5 Å and more, beyond the reach of the
    Slater terms, and the liquid came out over-bound and 6.7 % too dense. The factor
    s = C6_mol(uncoupled HF, basis) / C6_mol(params) multiplies C6, C8 and C10 of every atom (the D4 atom
    partition and the C8/C10 recursion are kept), so the long range and the SAPT the short range is fitted
    to are one level. Bare ions keep their free-ion RPA values. ``molecules`` (default all) limits the
    scaling; a molecule already scaled (``provenance[SAPT_LEVEL_KEY]``) is left alone. The factors go to
    ``provenance[SAPT_LEVEL_KEY]``.

    C8 and C10 then get a factor s8 and s8^2 of their own (session 16), so that the isotropic molecular C8 is
    SAPT0's too: two molecules averaged over orientations have R^-8 coefficient (sum_i sqrt(C8_i))^2 plus what
    the atoms' C6 give through their distance from the centre (``qm.dispersion.displacement_c8``), and
    s8 = (C8_mol(uncoupled HF, basis) - displacement) / (sum_i sqrt(C8_i))^2 (``qm.dispersion.isotropic_c8``,
    checked against psi4's neon dimer). jun-cc-pVDZ has no diffuse d functions, so its quadrupole response is
    small: s8 is 0.20 for EC and 0.26 for DMC, where the D4 C8 had left the model's dispersion 11-14 % above
    SAPT0's at 5 A and 20-40 % at 3-3.5 A (the C8/C10 share of it, which the Slater terms could not take up).
    """
    from phyneo_flows.chem import build_molecule
    from phyneo_flows.qm.dispersion import displacement_c8, molecular_c6, to_kj_mol_nm

    done = dict(params.provenance.get(SAPT_LEVEL_KEY, {}))
    names = list(params.molecules) if molecules is None else list(molecules)
    new = dict(params.molecules)
    for name in names:
        mol = params.molecule(name)
        if len(mol.symbols) == 1 or name in done:
            continue
        tpl = build_molecule(name)
        if list(tpl.symbols) != list(mol.symbols):
            raise InputError(f"{name}: the parameters' atoms {mol.symbols} are not the template's {tpl.symbols}",
                             field="molecules", fix="rebuild the parameters from the species template")
        c6_sapt, c8_sapt = uncoupled_c6_c8_of(tpl, basis)
        c6_atoms = mol.type_array("C6") / float(to_kj_mol_nm(1.0, 6))
        c6_model = molecular_c6(c6_atoms)
        factor = c6_sapt / c6_model
        displacement = displacement_c8(factor * c6_atoms, tpl.symbols, tpl.positions_nm)
        c8_atomic = float(factor * np.sqrt(mol.type_array("C8") / float(to_kj_mol_nm(1.0, 8))).sum() ** 2)
        s8 = max(float((c8_sapt - displacement) / c8_atomic), 0.0)
        scale = {"C6": factor, "C8": factor * s8, "C10": factor * s8**2}
        types = {}
        for t, tp in mol.types.items():
            scaled = {k: value(float(getattr(tp, k).value) * f, k,
                               f"{getattr(tp, k).source}; x {f:.4f} to the uncoupled-HF/{basis} C6 and C8 of SAPT0 "
                               "(fitting.monomer_params.sapt_level_dispersion)")
                      for k, f in scale.items()}
            types[t] = tp.model_copy(update=scaled)
        new[name] = mol.model_copy(update={"types": types})
        done[name] = {"basis": basis.lower(), "factor": factor, "c6_monomer_au": c6_model,
                      "c6_uncoupled_hf_au": c6_sapt, "c8_factor": s8, "c8_uncoupled_hf_au": c8_sapt,
                      "c8_displacement_au": displacement, "c8_atomic_au": c8_atomic}
    if not done:
        return params
    return params.model_copy(update={"molecules": new, "provenance": {**params.provenance, SAPT_LEVEL_KEY: done}})


if __name__ == "__main__":  # the tables above
    import sys

    from phyneo_flows.chem import build_molecule

    rows = {sp: build_molecule(sp) for sp in sys.argv[1:]}
    values = {sp: uncoupled_c6_c8_of(t, "jun-cc-pvdz") for sp, t in rows.items()}
    for k, table in enumerate(("UNCOUPLED_C6_AU", "UNCOUPLED_C8_AU")):
        print(f"{table}:")
        for sp, t in rows.items():
            print(f'    ("{t.smiles}", {int(t.formal_charge)}, "jun-cc-pvdz"): {values[sp][k]!r},  # {sp}')
