import numpy as np
from jobflow import Flow, run_locally

from phyneo_flows.chem.jobs import BoxMaker
from phyneo_flows.formulation import load_formulation
from phyneo_flows.qm.models import Dimer as QMDimer
from phyneo_flows.sampling.jobs import DimerSamplingMaker
from phyneo_flows.settings import get_settings
from phyneo_flows.store import get_store


def test_every_pair_type_gets_scans_ready_for_sapt():
    store = get_store(get_settings())
    data = load_formulation("workflows/lipf6_ec_dmc.yaml").model_dump(mode="json")
    box = BoxMaker(n_atoms=600).make(data)
    sampling = DimerSamplingMaker(poses_per_pair=1, scan_contacts_a=(1.8, 2.5, 4.0)).make(box.output)
    run_locally(Flow([box, sampling]), store=store, log=False, ensure_success=True, raise_immediately=True)
    store.connect()
    doc = store.query_one({"uuid": sampling.uuid}, load=True)["output"]
    expected = {"DMC-DMC", "DMC-EC", "DMC-Li+", "DMC-PF6-", "EC-EC", "EC-Li+", "EC-PF6-", "Li+-Li+", "Li+-PF6-",
                "PF6--PF6-"}
    assert set(doc["counts"]) == expected
    assert all(n == 3 for n in doc["counts"].values())
    for item in doc["dimers"]:
        dimer = QMDimer.model_validate(item["dimer"])  # the QM stage accepts it as it is
        a = np.array(dimer.monomer_a.coordinates_nm)
        b = np.array(dimer.monomer_b.coordinates_nm)
        contact = 10 * np.min(np.linalg.norm(a[:, None] - b[None], axis=-1))
        assert contact == item["closest_contact_a"]
        assert item["pair_type"].startswith(dimer.monomer_a.name)
    li_pf6 = [d for d in doc["dimers"] if d["pair_type"] == "Li+-PF6-"][0]["dimer"]
    assert (li_pf6["monomer_a"]["charge"], li_pf6["monomer_b"]["charge"]) == (1, -1)
