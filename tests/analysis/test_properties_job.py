"""The properties stage on a synthetic H5MD trajectory whose answers are known by construction, then
``phyneo query --property density --json`` reading it back."""

from __future__ import annotations

import json

import numpy as np
import pytest
from jobflow import run_locally
from scipy import constants

from phyneo_flows.analysis.jobs import PropertiesMaker
from phyneo_flows.md.trajectory import export_h5md, write_segment
from phyneo_flows.settings import get_settings
from phyneo_flows.store import get_store

N_CAT, N_AN = 24, 24
D_CAT, D_AN = 2.0e-3, 1.0e-3  # nm^2/ps
V0 = 27.0  # nm^3 after equilibration
DT = 0.1  # ps between frames
N_FRAMES = 1500
T = 298.15
SPECIES = [
    {"name": "Li+", "count": N_CAT, "n_atoms": 1, "charge": 1, "atom_masses_amu": [6.94]},
    {"name": "X-", "count": N_AN, "n_atoms": 2, "charge": -1, "atom_masses_amu": [12.0, 16.0]},
]


def synthetic_trajectory(path, seed=1):
    """Independent random walks (cations, rigid anion dimers) and a volume relaxing to V0 then fluctuating."""
    rng = np.random.default_rng(seed)
    walk = lambda n, d: np.cumsum(rng.normal(0, np.sqrt(2 * d * DT), (N_FRAMES, n, 3)), axis=0)  # noqa: E731
    cat = walk(N_CAT, D_CAT)
    an = walk(N_AN, D_AN) + rng.uniform(0, 3, (1, N_AN, 3))
    bond = np.array([0.12, 0.0, 0.0])
    pos = np.concatenate([cat, np.stack([an, an + bond], axis=2).reshape(N_FRAMES, 2 * N_AN, 3)], axis=1)
    t = np.arange(N_FRAMES) * DT
    volume = V0 * (1 + 0.15 * np.exp(-t / 5.0)) + rng.normal(0, 0.05, N_FRAMES)
    edge = np.cbrt(volume)
    boxes = np.einsum("t,ij->tij", edge, np.eye(3))
    steps = np.arange(N_FRAMES) * 100
    ptensor = rng.normal(0, 200.0, (N_FRAMES, 3, 3))
    ptensor = 0.5 * (ptensor + ptensor.transpose(0, 2, 1))
    zeros = np.zeros(N_FRAMES)
    write_segment(path.parent / "segments", 0, {"step": steps, "time": t, "position": pos, "box": boxes},
                  {"step": steps, "time": t, "volume": volume, "pressure_tensor": ptensor, "potential_energy": zeros,
                   "kinetic_energy": zeros, "temperature": zeros + T, "conserved_energy": zeros},
                  {"bonded": zeros})
    return export_h5md(path.parent / "segments", path), t, volume


def md_document(trajectory):
    return {"formulation": "dmc", "stage": "md", "generation": 0, "input_hash": "synthetic-md",
            "trajectory": str(trajectory), "species": SPECIES, "config": {"temperature_k": T}}


@pytest.mark.slow
def test_properties_of_a_known_trajectory_then_query(tmp_path, phyneo):
    trajectory, t, volume = synthetic_trajectory(tmp_path / "run" / "trajectory.h5")
    store = get_store(get_settings())
    job = PropertiesMaker(n_bootstrap=10).make(md_document(trajectory))
    run_locally(job, store=store, log=False, ensure_success=True)
    doc = store.query_one({"uuid": job.uuid}, load=True)["output"]
    props = {p["name"]: p for p in doc["properties"]}

    mass_g = (N_CAT * 6.94 + N_AN * 28.0) / constants.Avogadro
    rho_true = mass_g / (V0 * 1e-21)  # g/cm^3 of the relaxed box
    rho = props["density"]
    assert rho["details"]["t0_index"] > 0  # the relaxation at the start was detected and dropped
    assert rho["value"] == pytest.approx(rho_true, abs=4 * rho["uncertainty"] + 1e-4)
    assert rho["experiment"]["value"] == 1.063 and "Xu" in rho["experiment"]["source"]  # DMC, 298.2 K

    for name, d in (("Li+", D_CAT), ("X-", D_AN)):  # 1 nm^2/ps = 1000 x 1e-9 m^2/s
        p = props[f"diffusion_{name}"]
        assert p["unit"] == "1e-9 m^2/s"
        assert p["value"] == pytest.approx(d * 1e3, rel=0.2)

    # Nernst-Einstein in SI from the true D: sigma = e^2 / (V kB T) sum N D
    v_m3 = V0 * 1e-27
    sigma_true = constants.e**2 / (v_m3 * constants.k * T) * (N_CAT * D_CAT + N_AN * D_AN) * 1e-6 * 10  # mS/cm
    assert props["conductivity_ne"]["value"] == pytest.approx(sigma_true, rel=0.2)
    eh = props["conductivity"]  # uncorrelated ions: Einstein-Helfand agrees with Nernst-Einstein (Haven 1)
    assert eh["value"] == pytest.approx(sigma_true, abs=4 * eh["uncertainty"] + 0.1 * sigma_true)
    assert "viscosity" in props or "viscosity" in doc["skipped"]
    assert doc["stage"] == "properties" and doc["formulation"] == "dmc" and doc["generation"] == 0

    rows = json.loads(phyneo("query", "--formulation", "dmc", "--property", "density", "--json").stdout)
    assert len(rows) == 1
    row = rows[0]
    assert row["job_id"] == job.uuid and row["unit"] == "g/cm^3"
    assert row["value"] == pytest.approx(rho["value"]) and row["uncertainty"] == pytest.approx(rho["uncertainty"])
    assert row["method"].startswith("mean after equilibration")
    assert set(row["experiment"]) >= {"value", "unit", "source"}
    assert json.loads(phyneo("query", "--formulation", "nothing", "--property", "density", "--json").stdout) == []
    by_species = json.loads(phyneo("query", "--species", "Li+", "--property", "diffusion_Li+", "--json").stdout)
    assert [r["unit"] for r in by_species] == ["1e-9 m^2/s"]
    assert json.loads(phyneo("query", "--generation", "1", "--property", "density", "--json").stdout) == []
    table = phyneo("query", "--formulation", "dmc", "--property", "density").stdout
    assert "1.063" in table

    # the same trajectory again: the stored document is reused
    again = PropertiesMaker(n_bootstrap=10).make(md_document(trajectory))
    run_locally(again, store=store, log=False, ensure_success=True)
    assert store.query_one({"uuid": again.uuid})["output"]["reused_from"] == job.uuid
