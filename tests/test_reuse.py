"""A rerun reads finished stages from the database instead of recomputing them."""

import numpy as np
from jobflow import run_locally

from phyneo_flows.chem.jobs import BoxMaker
from phyneo_flows.formulation import load_formulation
from phyneo_flows.settings import get_settings
from phyneo_flows.store import get_store


def test_second_box_job_with_the_same_inputs_is_read_from_the_store(monkeypatch):
    store = get_store(get_settings())
    data = load_formulation("workflows/dmc.yaml").model_dump(mode="json")
    first = BoxMaker(n_atoms=120).make(data)
    run_locally(first, store=store, log=False)

    import phyneo_flows.chem.jobs as jobs

    def no_packing(*args, **kwargs):
        raise AssertionError("the box was packed again")

    monkeypatch.setattr(jobs, "build_box", no_packing)
    second = BoxMaker(n_atoms=120).make(data)
    run_locally(second, store=store, log=False, ensure_success=True)
    store.connect()
    a = store.query_one({"uuid": first.uuid}, load=True)["output"]
    b = store.query_one({"uuid": second.uuid}, load=True)["output"]
    assert b["reused_from"] == first.uuid and a["reused_from"] is None
    assert np.array_equal(a["positions_nm"], b["positions_nm"]) and a["pdb"] == b["pdb"]
    # other inputs: computed anew
    monkeypatch.undo()
    third = BoxMaker(n_atoms=240).make(data)
    run_locally(third, store=store, log=False, ensure_success=True)
    store.connect()
    assert store.query_one({"uuid": third.uuid})["output"]["reused_from"] is None
