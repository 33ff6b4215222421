"""Cost of a SAPT0/jun-cc-pVDZ ethylene carbonate dimer through the psi4 harness and through psi4 directly.

Both run in this process, on the same input file: "direct" times ``psi4 -n THREADS input.dat output.dat``
alone; "harness" times ``Psi4Harness.compute`` end to end. The time spent outside psi4 is the harness's
wall time minus the wall time of its own psi4 subprocess (measured around ``subprocess.run``), so psi4's
own run-to-run noise does not enter it. Target: under 2 s (median).

    nice -n 5 .venv/bin/python benchmarks/qm.py --repeats 5 [--threads 2] [--basis jun-cc-pvdz]

On a shared, oversubscribed machine run it with ``OMP_WAIT_POLICY=PASSIVE`` and ``--threads 1``: psi4's
spinning OpenMP threads otherwise slow it several-fold. The harness's own work (write the input, read
the output, remove the scratch folder) hardly depends on the basis, so ``--basis sto-3g`` measures nearly
the same overhead in a fraction of the time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from rdkit import Chem
from rdkit.Chem import AllChem

from phyneo_flows.qm.models import Dimer, QMMolecule
from phyneo_flows.qm.psi4 import Psi4Harness, SaptInput, write_sapt_input
from phyneo_flows.units import ANGSTROM_TO_NM


def ec_dimer(separation_angstrom: float = 4.2) -> Dimer:
    """Two ethylene carbonate molecules (RDKit ETKDG + MMFF), stacked antiparallel along the ring normal."""
    mol = Chem.AddHs(Chem.MolFromSmiles("O=C1OCCO1"))
    AllChem.EmbedMolecule(mol, randomSeed=7)
    AllChem.MMFFOptimizeMolecule(mol)
    xyz = mol.GetConformer().GetPositions()
    xyz -= xyz.mean(axis=0)
    ring = [a.GetIdx() for a in mol.GetAtoms() if a.IsInRing()]
    _, _, vt = np.linalg.svd(xyz[ring] - xyz[ring].mean(axis=0))
    frame = vt  # rows: in-plane x, in-plane y, normal
    local = xyz @ frame.T
    other = local * np.array([-1.0, -1.0, 1.0]) + np.array([0.0, 0.0, separation_angstrom])
    symbols = [a.GetSymbol() for a in mol.GetAtoms()]
    return Dimer(monomer_a=QMMolecule(symbols=symbols, coordinates_nm=local * ANGSTROM_TO_NM, name="EC"),
                 monomer_b=QMMolecule(symbols=symbols, coordinates_nm=other * ANGSTROM_TO_NM, name="EC"))


def run_direct(sapt_input: SaptInput, harness: Psi4Harness) -> float:
    """Wall time of psi4 alone on the input file the harness would write."""
    scratch = Path(tempfile.mkdtemp(prefix="bench-psi4-"))
    try:
        text = write_sapt_input(sapt_input, sapt_input.psi4_options, harness.memory_mb)
        (scratch / "input.dat").write_text(text)
        start = time.perf_counter()
        subprocess.run([harness.executable, "-n", str(harness.threads), "input.dat", "output.dat"],
                       cwd=scratch, check=True, capture_output=True,
                       env={**os.environ, "PSI_SCRATCH": str(scratch)})
        return time.perf_counter() - start
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--basis", default="jun-cc-pvdz")
    args = parser.parse_args()

    harness = Psi4Harness(threads=args.threads)
    sapt_input = SaptInput(dimer=ec_dimer(), basis=args.basis)
    harness.version()
    inside: list[float] = []
    real_run = subprocess.run

    def timed_run(*a, **k):
        start = time.perf_counter()
        try:
            return real_run(*a, **k)
        finally:
            inside.append(time.perf_counter() - start)

    direct, through, outside = [], [], []
    for _ in range(args.repeats):
        direct.append(run_direct(sapt_input, harness))
        inside.clear()
        subprocess.run = timed_run
        try:
            start = time.perf_counter()
            result = harness.compute(sapt_input)
            through.append(time.perf_counter() - start)
        finally:
            subprocess.run = real_run
        outside.append(through[-1] - sum(inside))
        print(f"direct {direct[-1]:8.2f} s   harness {through[-1]:8.2f} s   outside psi4 {outside[-1]:6.3f} s"
              f"   total {getattr(result, 'total', result)}")
    print(f"SAPT0/{args.basis} EC dimer, {args.threads} threads, {args.repeats} repeats (medians):")
    print(f"  psi4 directly      {statistics.median(direct):8.2f} s")
    ratio = statistics.median(through) / statistics.median(direct)
    print(f"  through harness    {statistics.median(through):8.2f} s  (ratio {ratio:.3f})")
    print(f"  outside psi4       {statistics.median(outside):8.3f} s  (target < 2 s)")


if __name__ == "__main__":
    main()
