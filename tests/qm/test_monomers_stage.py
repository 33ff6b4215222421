"""The pipeline's monomer-properties stage: real PySCF (water, HF/STO-3G: seconds), stored, reused, and read by
the fit the same way as a committed properties file."""

from __future__ import annotations

import numpy as np
from jobflow import run_locally

from phyneo_flows.fitting.monomer_params import params_from_fixtures
from phyneo_flows.formulation import Formulation
from phyneo_flows.qm.properties import compute_properties
from phyneo_flows.qm.stage_jobs import MonomersStageMaker
from phyneo_flows.settings import get_settings
from phyneo_flows.store import get_store

WATER_LIPF6 = {"name": "li-water", "solvents": [{"species": "O", "fraction": 1, "density": "0.997 g/cm3"}],
               "salts": [{"cation": "Li+", "anion": "PF6-", "concentration": "0.5 mol/L"}]}


def test_monomers_stage_computes_each_molecule_once_and_feeds_the_fit(monkeypatch):
    data = Formulation.model_validate(WATER_LIPF6).model_dump(mode="json")
    maker = MonomersStageMaker(method="hf", basis="sto-3g", skip=("PF6-",))  # PF6-: from a file elsewhere
    store = get_store(get_settings())
    first = maker.make(data)
    run_locally(first, store=store, log=False, ensure_success=True)
    store.connect()
    doc = store.query_one({"uuid": first.uuid}, load=True)["output"]
    assert set(doc["monomers"]) == {"O"} and doc["free_ions"] == ["Li+"] and not doc["failures"]
    water = doc["monomers"]["O"]
    # the same numbers as the engine called directly on the template
    from phyneo_flows.chem import build_molecule
    from phyneo_flows.qm.models import QMMolecule

    t = build_molecule("O")
    direct = compute_properties(QMMolecule(symbols=t.symbols, coordinates_nm=t.positions_nm), method="hf",
                                basis="sto-3g", bonds=[tuple(b) for b in t.bonds], atom_types=list(t.atom_types))
    charges = [a["charge"] for a in water["properties"]["atoms"]]
    assert np.allclose(charges, [a.charge for a in direct.atoms], atol=1e-6) and abs(sum(charges)) < 1e-3
    # the fit reads it as it reads fixtures/qm/pyscf/properties_*.json
    params = params_from_fixtures({"O": water}, ions=("Li+",))
    assert set(params.molecules) == {"O", "Li+"}
    assert params.provenance["properties"]["O"]["computed"] == "pipeline monomers stage"
    # a rerun (another job, same inputs) reads the stored document: no engine call
    import phyneo_flows.qm.properties as props

    monkeypatch.setattr(props, "compute_properties", lambda *a, **k: (_ for _ in ()).throw(AssertionError("rerun")))
    second = maker.make(data)
    run_locally(second, store=store, log=False, ensure_success=True)
    store.connect()
    again = store.query_one({"uuid": second.uuid}, load=True)["output"]
    assert again["reused_from"] == first.uuid and again["monomers"]["O"] == water
