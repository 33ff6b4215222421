"""``phyneo qm properties MOLECULE``: monomer properties of one molecule, by hand.

A plain function with typer-annotated parameters; the lead registers it on the ``qm`` sub-app.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from phyneo_flows.errors import EngineError


def load_molecule(spec: str, charge: int | None = None, multiplicity: int = 1):
    """(QMMolecule, bonds or None, atom types or None) from an xyz path, a species name or a SMILES."""
    from phyneo_flows.qm.models import QMMolecule

    if spec.lower().endswith(".xyz") or Path(spec).is_file():
        return QMMolecule.from_xyz(Path(spec), charge=charge or 0, multiplicity=multiplicity), None, None
    from phyneo_flows.chem import build_molecule

    template = build_molecule(spec)
    molecule = QMMolecule(symbols=template.symbols, coordinates_nm=template.positions_nm,
                          charge=template.formal_charge if charge is None else charge,
                          multiplicity=multiplicity, name=template.name or None)
    return molecule, list(template.bonds), list(template.atom_types)


def properties(
    molecule: Annotated[str, typer.Argument(help="xyz file (Angstrom), species name (EC, Li+) or SMILES")],
    method: Annotated[str, typer.Option("--method", help="hf (beside SAPT0) or a functional")] = "hf",
    basis: Annotated[str, typer.Option("--basis", help="basis with diffuse functions")] = "aug-cc-pvdz",
    charge: Annotated[int | None, typer.Option("--charge", help="total charge (xyz default 0)")] = None,
    multiplicity: Annotated[int, typer.Option("--multiplicity", help="2S+1")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
) -> None:
    """MBIS charges, dipoles, quadrupoles (local frames), polarisabilities and C6/C8/C10 of MOLECULE."""
    from phyneo_flows.qm.properties import compute_properties

    mol, bonds, types = load_molecule(molecule, charge, multiplicity)
    result = compute_properties(mol, method=method, basis=basis, bonds=bonds, atom_types=types)
    if not hasattr(result, "atoms"):
        raise EngineError(f"PySCF failed: {result.message}", field="molecule",
                          fix="check the charge and multiplicity, or try another --method/--basis")
    if as_json:
        typer.echo(json.dumps(result.to_cli_json(), indent=2))
        return
    typer.echo(f"{method.upper()}/{basis} (PySCF {result.version}); units: charge e, dipole e nm, "
               f"volume bohr^3, alpha nm^3, C6 kJ/mol nm^6")
    typer.echo(f"{'atom':<6}{'type':<10}{'frame':<11}{'charge':>9}{'|dipole|':>10}{'vol':>8}{'alpha':>11}"
               f"{'C6':>11}")
    for i, atom in enumerate(result.atoms):
        dip = sum(d * d for d in atom.dipole) ** 0.5
        typer.echo(f"{atom.element + str(i):<6}{atom.atom_type:<10}{atom.frame.axis_name:<11}{atom.charge:9.4f}"
                   f"{dip:10.5f}{atom.volume_bohr3:8.2f}{atom.polarizability:11.3e}{atom.c6:11.3e}")
    iso = sum(result.molecular_polarizability[k][k] for k in range(3)) / 3
    typer.echo(f"molecular polarisability (isotropic) {iso:.5e} nm^3")
