"""Packed simulation boxes: packmol places whole molecules in a cubic box at the estimated density."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from phyneo_flows.chem.molecule import DEFAULT_SEED, MoleculeTemplate, build_molecule
from phyneo_flows.errors import BoxPackingError, EngineNotFoundError
from phyneo_flows.formulation import Composition, Formulation, compose

PACKMOL_TOLERANCE_A = 2.0
MIN_INTERMOLECULAR_A = 1.7


@dataclass
class PackedBox:
    """A cubic periodic box of whole molecules. Positions in nm, unwrapped per molecule."""

    formulation: str
    composition: Composition
    templates: dict[str, MoleculeTemplate]
    molecule_species: list[str]
    positions_nm: np.ndarray
    box_nm: float
    seed: int
    packmol_version: str = ""
    symbols: list[str] = field(init=False)
    atom_types: list[str] = field(init=False)
    masses_amu: np.ndarray = field(init=False)
    molecule_index: np.ndarray = field(init=False)
    bonds: list[tuple[int, int]] = field(init=False)

    def __post_init__(self) -> None:
        self.symbols, self.atom_types, masses, index, self.bonds = [], [], [], [], []
        offset = 0
        for k, name in enumerate(self.molecule_species):
            t = self.templates[name]
            self.symbols += t.symbols
            self.atom_types += t.atom_types
            masses.append(t.masses_amu)
            index += [k] * t.n_atoms
            self.bonds += [(i + offset, j + offset) for i, j in t.bonds]
            offset += t.n_atoms
        self.masses_amu = np.concatenate(masses)
        self.molecule_index = np.array(index, dtype=int)

    @property
    def n_atoms(self) -> int:
        return len(self.symbols)

    @property
    def density_g_cm3(self) -> float:
        return float(self.masses_amu.sum() / 6.02214076e23 / (self.box_nm * 1e-7) ** 3)

    def min_intermolecular_distance_nm(self) -> float:
        """The smallest distance between atoms of different molecules, minimum image."""
        wrapped = np.mod(self.positions_nm, self.box_nm)
        tree = cKDTree(wrapped, boxsize=self.box_nm)
        pairs = tree.query_pairs(0.3, output_type="ndarray")
        pairs = pairs[self.molecule_index[pairs[:, 0]] != self.molecule_index[pairs[:, 1]]]
        if len(pairs) == 0:
            return 0.3
        d = wrapped[pairs[:, 0]] - wrapped[pairs[:, 1]]
        d -= self.box_nm * np.round(d / self.box_nm)
        return float(np.sqrt((d * d).sum(axis=1)).min())

    def pdb_text(self) -> str:
        """PDB with CRYST1, one residue per molecule and CONECT records for every bond."""
        a = self.box_nm * 10.0
        lines = [f"REMARK   1 phyneo-flows box of {self.formulation}",
                 f"CRYST1{a:9.3f}{a:9.3f}{a:9.3f}{90:7.2f}{90:7.2f}{90:7.2f} P 1           1"]
        serial = 0
        for k, name in enumerate(self.molecule_species):
            t = self.templates[name]
            res = t.residue_name
            for j in range(t.n_atoms):
                x, y, z = self.positions_nm[serial] * 10.0
                serial += 1
                atom_name = f"{t.symbols[j]}{j + 1}"[:4]
                lines.append(
                    f"HETATM{serial % 100000:5d} {atom_name:<4s} {res:>3s} A{(k + 1) % 10000:4d}    "
                    f"{x:8.3f}{y:8.3f}{z:8.3f}{1.0:6.2f}{0.0:6.2f}          {t.symbols[j]:>2s}")
        neighbours: dict[int, list[int]] = {}
        for i, j in self.bonds:
            neighbours.setdefault(i, []).append(j)
            neighbours.setdefault(j, []).append(i)
        for i in sorted(neighbours):
            nb = neighbours[i]
            for start in range(0, len(nb), 4):
                lines.append("CONECT" + f"{(i + 1) % 100000:5d}"
                             + "".join(f"{(n + 1) % 100000:5d}" for n in nb[start:start + 4]))
        lines.append("END")
        return "\n".join(lines) + "\n"

    def write_pdb(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(self.pdb_text())
        return path

    def to_ase(self):
        """An ``ase.Atoms`` (positions in Angstrom, as ASE wants) with types and molecule indices."""
        from ase import Atoms

        atoms = Atoms(symbols=self.symbols, positions=self.positions_nm * 10.0,
                      cell=[self.box_nm * 10.0] * 3, pbc=True)
        atoms.set_array("mol_index", self.molecule_index)
        atoms.set_array("atom_type", np.array(self.atom_types, dtype=object))
        return atoms


def packmol_executable(path: str | None = None) -> str:
    exe = path or shutil.which("packmol")
    if not exe:
        raise EngineNotFoundError("packmol is not installed", field="packmol",
                                  fix="run `make setup` (apt-get install packmol) or set PHYNEO_PACKMOL")
    return exe


def _packmol_input(composition: Composition, templates: dict[str, MoleculeTemplate], box_a: float,
                   seed: int) -> str:
    margin = PACKMOL_TOLERANCE_A / 2.0
    lines = [f"tolerance {PACKMOL_TOLERANCE_A}", "filetype xyz", "output packed.xyz",
             f"seed {seed % 2**31}", "nloop0 400", "movebadrandom"]
    for c in composition.counts:
        lines += [f"structure {_file_name(c.species)}.xyz", f"  number {c.count}",
                  f"  inside box {margin:.3f} {margin:.3f} {margin:.3f} "
                  f"{box_a - margin:.3f} {box_a - margin:.3f} {box_a - margin:.3f}", "end structure"]
    return "\n".join(lines) + "\n"


def _file_name(species: str) -> str:
    return "mol_" + "".join(c if c.isalnum() else f"_{ord(c):x}" for c in species)


def _xyz(t: MoleculeTemplate) -> str:
    rows = [f"{s} {x:.5f} {y:.5f} {z:.5f}" for s, (x, y, z) in zip(t.symbols, t.positions_nm * 10.0,
                                                                   strict=True)]
    return f"{t.n_atoms}\n{t.name}\n" + "\n".join(rows) + "\n"


def build_box(formulation: Formulation, *, n_atoms: int | None = None, n_molecules: int | None = None,
              seed: int = DEFAULT_SEED, packmol: str | None = None, timeout_s: float = 600.0) -> PackedBox:
    """Counts from the formulation, a conformer per species, and packmol into a cubic box.

    Raises ``BoxPackingError`` when packmol cannot place every molecule at least 2 Å from every other.
    """
    composition = compose(formulation, n_atoms=n_atoms, n_molecules=n_molecules)
    templates = {c.species: build_molecule(c.species, seed=seed) for c in composition.counts}
    exe = packmol_executable(packmol)
    box_a = composition.box_length_nm * 10.0
    with tempfile.TemporaryDirectory(prefix="phyneo-packmol-") as tmp:
        work = Path(tmp)
        for name, t in templates.items():
            (work / f"{_file_name(name)}.xyz").write_text(_xyz(t))
        inp = _packmol_input(composition, templates, box_a, seed)
        (work / "box.inp").write_text(inp)
        try:  # packmol seeks in its standard input: it must be a file, not a pipe
            with open(work / "box.inp") as stdin:
                proc = subprocess.run([exe], stdin=stdin, cwd=work, capture_output=True, text=True,
                                      timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired as err:
            raise BoxPackingError(f"packmol did not finish in {timeout_s:.0f} s", field="density",
                                  fix="lower the density or the system size") from err
        out = proc.stdout + proc.stderr
        if proc.returncode != 0 or "Success!" not in out or not (work / "packed.xyz").exists():
            said = [line.strip().rstrip(":") for line in out.splitlines()
                    if "ERROR" in line or "WITHOUT PERFECT PACKING" in line or "Fortran runtime" in line][:2]
            raise BoxPackingError(
                f"packmol could not pack {composition.n_molecules} molecules into a "
                f"{composition.box_length_nm:.2f} nm box at {composition.density_g_cm3:.3f} g/cm3 "
                f"(packmol: {' '.join(said) or 'exit code ' + str(proc.returncode)})",
                field="density", fix="lower the density (or leave it to the estimate) or raise the size")
        coords = np.loadtxt(work / "packed.xyz", skiprows=2, usecols=(1, 2, 3)) * 0.1
        version = next((line.split("Version")[-1].strip() for line in out.splitlines()
                        if "Version" in line), "")
    species_order = [c.species for c in composition.counts for _ in range(c.count)]
    box = PackedBox(formulation=formulation.name, composition=composition, templates=templates,
                    molecule_species=species_order, positions_nm=coords.reshape(-1, 3),
                    box_nm=composition.box_length_nm, seed=seed, packmol_version=version)
    closest = box.min_intermolecular_distance_nm() * 10.0
    if closest < MIN_INTERMOLECULAR_A:
        raise BoxPackingError(f"packmol left atoms of different molecules {closest:.2f} Å apart",
                              field="density", fix="lower the density or raise the system size")
    return box
