"""The QM half of the pipeline: box -> sampling -> SAPT with real psi4 runs (water: small and quick)."""

import json

import pytest

from phyneo_flows.settings import get_settings
from phyneo_flows.store import connected, get_store

TINY = """name: tiny
box: {atoms: 60}
sampling: {poses_per_pair: 1, cutoff_nm: 0.35, scan_contacts_a: [1.8, 3.0]}
sapt: {method: sapt0, basis: jun-cc-pvdz, max_dimers_per_pair: 2}
"""
WATER = """name: water
temperature: 298.15 K
solvents:
  - {species: "O", fraction: 1, density: 0.997 g/cm3}
"""


@pytest.mark.slow
def test_water_through_sapt_then_a_rerun_returns_at_once(tmp_path, phyneo):
    profile = tmp_path / "tiny.yaml"
    profile.write_text(TINY)
    formulation = tmp_path / "water.yaml"
    formulation.write_text(WATER)
    refused = phyneo("run", str(formulation), "--profile", str(profile), check=False)  # no MD parameters for water
    assert refused.returncode == 2 and "--until sapt" in refused.stderr
    phyneo("run", str(formulation), "--profile", str(profile), "--until", "sapt")
    records = json.loads(phyneo("query", "--stage", "sapt", "--json").stdout)
    assert len(records) == 1 and records[0]["output"]["pair_type"] == "O-O"
    store = connected(get_store(get_settings()))  # the same embedded database, arrays loaded
    output = store.query_one({"uuid": records[0]["uuid"]}, load=True)["output"]
    results = output["results"]
    assert len(results) == 2 and output["failures"] == []
    near, far = sorted(results, key=lambda r: r["closest_contact_a"])
    for r in results:  # SAPT0 total = sum of its components (psi4's own bookkeeping, in kJ/mol)
        assert r["total"] == pytest.approx(r["electrostatics"] + r["exchange"] + r["induction"] + r["dispersion"],
                                           abs=1e-6)
    assert near["exchange"] > far["exchange"] > 0  # exchange repulsion decays with distance
    again = phyneo("run", str(formulation), "--profile", str(profile), "--until", "sapt")
    assert "already in the database" in again.stdout
