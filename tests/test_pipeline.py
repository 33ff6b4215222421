"""The pipeline as far as it goes today: box -> sampling -> SAPT with real psi4 runs."""

import json

import pytest

TINY = """name: tiny
box: {atoms: 120}
sampling: {poses_per_pair: 1, cutoff_nm: 0.35, scan_contacts_a: [2.5, 4.0]}
sapt: {method: sapt0, basis: sto-3g, max_dimers_per_pair: 2}
"""


@pytest.mark.slow
def test_dmc_through_sapt_then_a_rerun_returns_at_once(tmp_path, phyneo):
    profile = tmp_path / "tiny.yaml"
    profile.write_text(TINY)
    phyneo("run", "workflows/dmc.yaml", "--profile", str(profile))
    records = json.loads(phyneo("query", "--stage", "sapt", "--json").stdout)
    assert len(records) == 1 and records[0]["output"]["pair_type"] == "DMC-DMC"
    results = records[0]["output"]["results"]
    assert len(results) == 2 and records[0]["output"]["failures"] == []
    near, far = sorted(results, key=lambda r: r["closest_contact_a"])
    for r in results:  # SAPT0 total = sum of its components (psi4's own bookkeeping, in kJ/mol)
        assert r["total"] == pytest.approx(r["electrostatics"] + r["exchange"] + r["induction"] + r["dispersion"],
                                           abs=1e-6)
    assert near["exchange"] > far["exchange"] > 0  # exchange repulsion decays with distance
    again = phyneo("run", "workflows/dmc.yaml", "--profile", str(profile))
    assert "already in the database" in again.stdout
