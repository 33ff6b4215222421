"""``phyneo ff ...``: compare the JAX model with its OpenMM twin, export the twin as XML."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import typer

from phyneo_flows.errors import InputError

app = typer.Typer(help="The physics force field (JAX) and its OpenMM twin.", no_args_is_help=True)


def load_system(
    path: Path, params, n_atoms: int, seed: int
) -> tuple[list[str], np.ndarray, np.ndarray | None]:
    """(molecule names, positions nm, box or None) from a PDB with CONECT or a formulation YAML."""
    from phyneo_flows.ff.topology import match_molecules

    if not path.exists():
        raise InputError(
            f"{path} does not exist", field="SYSTEM", fix="give a PDB file or a formulation YAML"
        )
    if path.suffix.lower() in (".yaml", ".yml"):
        from phyneo_flows.chem import build_box
        from phyneo_flows.formulation import load_formulation

        box = build_box(load_formulation(path), n_atoms=n_atoms, seed=seed)
        names = list(box.molecule_species)
        return names, np.asarray(box.positions_nm), np.eye(3) * float(box.box_nm)
    if path.suffix.lower() == ".pdb":
        from openmm.app import PDBFile

        pdb = PDBFile(str(path))
        top = pdb.topology
        symbols = [a.element.symbol for a in top.atoms()]
        bonds = [(b[0].index, b[1].index) for b in top.bonds()]
        pos = np.asarray([[v.x, v.y, v.z] for v in pdb.getPositions()])  # OpenMM gives nm
        vecs = top.getPeriodicBoxVectors()
        box = None if vecs is None else np.asarray([[v.x, v.y, v.z] for v in vecs])
        return match_molecules(params, symbols, bonds), pos, box
    raise InputError(f"cannot read {path.name}", field="SYSTEM", fix="give a .pdb (with CONECT) or a .yaml")


@app.command("compare")
def compare_cmd(
    system: Path = typer.Argument(..., help="PDB with CONECT records, or a formulation YAML to pack"),
    params: Path = typer.Option(..., "--params", help="parameter file (phyneo-ff JSON) or its folder"),
    json_out: bool = typer.Option(False, "--json", help="print JSON instead of the table"),
    isolated: bool = typer.Option(False, "--isolated", help="ignore the box: direct sum, no cutoff"),
    cutoff: float = typer.Option(1.0, help="cutoff, nm"),
    alpha: float | None = typer.Option(None, help="Ewald alpha, 1/nm"),
    pme_spacing: float = typer.Option(0.04, help="OpenMM PME grid spacing, nm"),
    n_atoms: int = typer.Option(1000, help="atoms to pack when SYSTEM is a formulation"),
    seed: int = typer.Option(1, help="packing seed when SYSTEM is a formulation"),
) -> None:
    """Every energy term from the JAX model and from the OpenMM twin (Reference platform, float64)."""
    from phyneo_flows.ff.compare import compare
    from phyneo_flows.ff.model import FFSettings
    from phyneo_flows.ff.params import load_params

    p = load_params(params)
    names, pos, box = load_system(system, p, n_atoms, seed)
    if isolated:
        box = None
    if box is not None:
        cutoff = min(cutoff, 0.5 * float(np.min(np.linalg.norm(box, axis=1))) - 0.101)
    res = compare(p, names, pos, box, FFSettings(cutoff=cutoff, ewald_alpha=alpha), pme_spacing=pme_spacing)
    if json_out:
        typer.echo(
            json.dumps(
                {
                    "terms": {k: v.model_dump() for k, v in res.terms.items()},
                    "forces_rms_rel": res.forces_rms_rel,
                    "n_atoms": res.n_atoms,
                    "pme_grid": res.pme_grid,
                    "settings": res.settings,
                },
                indent=1,
            )
        )
    else:
        typer.echo(res.table())


@app.command("export")
def export_cmd(
    system: Path = typer.Argument(..., help="PDB with CONECT records, or a formulation YAML to pack"),
    params: Path = typer.Option(..., "--params", help="parameter file"),
    out: Path = typer.Option(..., "--out", help="OpenMM XML file to write"),
    cutoff: float = typer.Option(1.0, help="cutoff, nm"),
    pme_spacing: float = typer.Option(0.04, help="PME grid spacing, nm"),
    n_atoms: int = typer.Option(1000, help="atoms to pack when SYSTEM is a formulation"),
    seed: int = typer.Option(1, help="packing seed"),
) -> None:
    """Write the OpenMM twin of SYSTEM as OpenMM XML."""
    from phyneo_flows.ff.compare import pme_grid_for
    from phyneo_flows.ff.model import FFSettings
    from phyneo_flows.ff.openmm_twin import build_openmm_system, openmm_xml
    from phyneo_flows.ff.params import load_params
    from phyneo_flows.ff.topology import build_system

    p = load_params(params)
    names, _, box = load_system(system, p, n_atoms, seed)
    st = FFSettings(cutoff=cutoff)
    grid = pme_grid_for(box, pme_spacing) if box is not None else None
    omm = build_openmm_system(
        build_system(p, names),
        box,
        cutoff=cutoff,
        switch_distance=st.r_switch(),
        alpha=st.alpha(),
        pme_grid=grid,
    )
    out.write_text(openmm_xml(omm))
    typer.echo(str(out))
