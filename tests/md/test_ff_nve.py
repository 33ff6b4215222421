"""Energy conservation of the hybrid force field (PME, mutual polarisation) under NVE at the default 1 fs
step: the drift of the total energy below 0.01 kT per degree of freedom per ns (the issue's criterion).

The box is small so that the slow tier can afford a run long enough for the slope to rise above the
fluctuations: two Li+/PF6- pairs, one EC and one DMC (38 atoms) in 2.1 nm. ``benchmarks/md.py
--nve-steps`` measures the same on the ~1,300-atom box (see docs/performance.md for the figure).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from phyneo_flows.units import BOLTZMANN_KJ_MOL_K

pytestmark = pytest.mark.slow

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "ff" / "lipf6_ec_dmc"
DRIFT_LIMIT = 0.01  # kT per degree of freedom per ns
EQUILIBRATION_CHUNKS = 4
"""NVT before NVE. With 0.5 ps only (until session 4) the box was still relaxing (the thermostat at 298 K held it
at 409 K, NVE rose to 436-490 K) and the total energy drifted by -0.060 kT/dof/ns over 6 ps; from that same
state over 3 ps: -0.023 at 1 fs and -0.0052 at 0.5 fs (E rms 0.057 and 0.013 kJ/mol), i.e. the drift scaled as
dt^2 like the shadow-energy offset of a relaxing system, not as the jumps of a discontinuous force."""


def _box():
    from phyneo_flows.chem import build_molecule

    rng = np.random.default_rng(3)
    names = ["EC", "Li+", "PF6-", "DMC", "Li+", "PF6-"]
    length = 2.1
    centres, pos = [], []
    for k, name in enumerate(names):
        x = np.asarray(build_molecule(name).positions_nm)
        while True:
            c = rng.uniform(0, length, 3)
            if all(np.linalg.norm((c - o) - length * np.round((c - o) / length)) > 0.6 for o in centres):
                break
        centres.append(c)
        q, _ = np.linalg.qr(np.random.default_rng(k).normal(size=(3, 3)))
        pos.append((x - x.mean(0)) @ (q * np.sign(np.linalg.det(q))).T + c)
    return names, np.concatenate(pos), np.eye(3) * length


@pytest.mark.xfail(strict=True, reason=(
    "measured (session 4, 2 busy CPU cores): after 0.5 ps at 0.5 fs + 4 ps at 1 fs of NVT, 6 ps of NVE at 1 fs "
    "drift -0.101 kT/dof/ns (T 272 K, E rms 0.085 kJ/mol); with 0.5 ps of NVT only: -0.060 (T 490 K). From one "
    "relaxing state, 3 ps: -0.023 at 1 fs, -0.0052 at 0.5 fs: the drift scales as dt^2; from another, direct "
    "polarisation -0.066 and mutual -0.062 (not the induced-dipole solver); with the FF's default Ewald "
    "accuracy (alpha rc 3.62, 0.04 nm grid; this test uses 3.15 and 0.07) -0.029, tighter (4.05, 0.03 nm) "
    "-0.026, at 0.6 nm and alpha rc 2.1 -0.96: real-space truncation matters, but a -0.025 floor remains. "
    "Cause of the floor not found yet "
    "(not the neighbour-list overflow fixed this session: no overflow in these runs); the 0.01 criterion is "
    "not met at the default 1 fs step. Session 7 (induced dipoles warm-started from the last step, planar-centre "
    "and cis terms in the bonded set): -0.029 kT/dof/ns (T 266 K, E rms 0.05 kJ/mol)"))
def test_hybrid_force_field_nve_drift_at_1fs():
    from phyneo_flows.ff.model import FFSettings, ForceField
    from phyneo_flows.ff.params import load_params
    from phyneo_flows.md.backend import JaxBackend
    from phyneo_flows.md.ff_potential import atom_masses, force_field_potential
    from phyneo_flows.md.integrators import MDConfig

    names, pos, box = _box()
    ff = ForceField(load_params(FIXTURE), names, FFSettings(cutoff=0.9, ewald_alpha=3.5, pme_spacing=0.07))
    pot = force_field_potential(ff, box)
    masses = atom_masses(ff)
    nvt = JaxBackend(
        pot, masses, pos, box,
        MDConfig(ensemble="nvt", timestep_ps=0.0005, temperature_k=298.15, report_interval=100,
                 frames_per_chunk=10, tau_t_ps=0.05),
        molecules=ff.system.mol,
    )
    nvt.chunk()  # 0.5 ps at 0.5 fs from the placed molecules
    nvt.timestep_ps = 0.001
    for _ in range(EQUILIBRATION_CHUNKS):  # 1 ps each at 1 fs: the ion pairs form and the box relaxes
        nvt.chunk()
    nve = JaxBackend(
        pot, masses, np.asarray(nvt.state.positions), box,
        MDConfig(ensemble="nve", timestep_ps=0.001, report_interval=20, frames_per_chunk=50),
        molecules=ff.system.mol,
        velocities=np.asarray(nvt.state.velocities),
    )
    chunks = [nve.chunk() for _ in range(6)]  # 6 ps
    t = np.concatenate([c["observables"]["time"] for c in chunks])
    e = np.concatenate([c["observables"]["conserved_energy"] for c in chunks])
    temp = np.concatenate([c["observables"]["temperature"] for c in chunks])
    assert np.all(np.isfinite(e))
    assert 150 < temp.mean() < 500
    nf = 3 * len(masses) - 3
    kt = BOLTZMANN_KJ_MOL_K * temp.mean()
    slope, _ = np.polyfit(t, e, 1)  # kJ/mol/ps
    drift = slope * 1000 / (kt * nf)
    print(f"NVE drift {drift:.4g} kT/dof/ns, T {temp.mean():.1f} K, E rms {np.std(e):.3g} kJ/mol")
    assert abs(drift) < DRIFT_LIMIT
