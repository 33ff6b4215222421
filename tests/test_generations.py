"""The flow grows itself: after each generation's MD a decision job adds the next generation (jobflow Response)
while the residual ensemble disagrees, and stops when it agrees or at the cap.

Orchestration test: the disagreement sampling is the real one (the saved Li+-PF6- ensemble on a packed
LiPF6/EC box); SAPT, the fit, MD and the properties are stand-ins with the real Makers' call signatures, each of
which has real-engine tests of its own (tests/qm, tests/fitting, tests/md, tests/analysis)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from jobflow import Flow, Maker, job, run_locally
from pydantic import BaseModel

from phyneo_flows.chem.jobs import BoxMaker
from phyneo_flows.errors import InputError
from phyneo_flows.flows import PhyneoElectrolyteMaker
from phyneo_flows.formulation import Formulation
from phyneo_flows.generations import NextGenerationMaker
from phyneo_flows.profiles import Profile, load_profile
from phyneo_flows.sampling.jobs import DisagreementSamplingMaker
from phyneo_flows.settings import get_settings
from phyneo_flows.store import get_store
from phyneo_flows.testing import REPO_ROOT

ENSEMBLE = str(REPO_ROOT / "fixtures/fitting/residual_li_ec/ensemble_Lip_PF6_")
LIPF6_EC = {"name": "lipf6_ec", "temperature": "298.15 K", "solvents": [{"species": "EC", "fraction": 1.0}],
            "salts": [{"cation": "Li+", "anion": "PF6-", "concentration": "1.0 mol/L"}], "size": {"atoms": 400}}


def doc(x) -> dict:
    """Jobflow hands stored pydantic documents back as objects; the real Makers take either."""
    return x.model_dump() if isinstance(x, BaseModel) else x


@dataclass
class FakeSapt(Maker):
    """SAPT stage stand-in: counts the sampled dimers of its pair type."""

    name: str = "sapt"
    method: str = "sapt0"

    def key(self, sampling_key: str, pair_type: str) -> str:
        return f"sapt:{sampling_key[:8]}:{pair_type}"

    @job
    def make(self, sampling, pair_type):
        sampling = doc(sampling)
        return {"stage": "sapt", "pair_type": pair_type, "input_hash": self.key(sampling["input_hash"], pair_type),
                "n_dimers": sum(d["pair_type"] == pair_type for d in sampling["dimers"]),
                "generation": sampling["generation"]}


@dataclass
class FakeFit(Maker):
    """Fit stand-in: the real ensemble every generation (so the real selection runs on it)."""

    name: str = "fit"
    residual: dict = field(default_factory=lambda: {"pair_types": ["Li+-PF6-"]})

    def key(self, sapt_keys: list[str]) -> str:
        return "fit:" + ",".join(sorted(sapt_keys))

    @job
    def make(self, box, sapt, formulation, generation=1):
        sapt = [doc(s) for s in sapt]
        return {"stage": "fit", "generation": generation, "params": {"generation": generation},
                "ensemble_dirs": [ENSEMBLE], "n_sapt_docs": len(sapt),
                "n_dimers": sum(s["n_dimers"] for s in sapt), "input_hash": self.key([s["input_hash"] for s in sapt])}


@dataclass
class FakeMD(Maker):
    """MD stand-in: the box itself is the last frame."""

    name: str = "md"
    temperature_k: float | None = None
    pressure_bar: float | None = None

    @job
    def make(self, box, params=None, ff_key="generation-0", generation=0, ensemble_dirs=None):
        box = doc(box)
        return {"stage": "md", "generation": generation, "ff_key": ff_key, "ensemble_dirs": ensemble_dirs,
                "params": params, "input_hash": f"md:{ff_key}", "final_positions_nm": box["positions_nm"],
                "final_box_nm": [[box["box_length_nm"], 0, 0], [0, box["box_length_nm"], 0],
                                 [0, 0, box["box_length_nm"]]]}


@dataclass
class FakeProperties(Maker):
    name: str = "properties"

    @job
    def make(self, md):
        md = doc(md)
        return {"stage": "properties", "generation": md["generation"]}


def run_flow(maker: PhyneoElectrolyteMaker, formulation: Formulation) -> list[dict]:
    store = get_store(get_settings())
    run_locally(maker.make(formulation), store=store, log=False, ensure_success=True)
    store.connect()
    return list(store.query({}, properties=["uuid", "name", "output", "metadata", "index"], load=True))


def maker(threshold: float, max_generations: int) -> PhyneoElectrolyteMaker:
    return PhyneoElectrolyteMaker(
        box_maker=BoxMaker(n_atoms=400), sapt_maker=FakeSapt(), sapt_pair_types=["Li+-PF6-"],
        fit_maker=FakeFit(), md_maker=FakeMD(), properties_maker=FakeProperties(),
        disagreement_maker=DisagreementSamplingMaker(n_per_pair=1, threshold_kj_mol=threshold, cutoff_nm=0.8,
                                                     scan_contacts_a=(2.0, 3.0)),
        active_maker=NextGenerationMaker(max_generations=max_generations))


@pytest.fixture(scope="module")
def formulation():
    return Formulation.model_validate(LIPF6_EC)


def by_stage(docs: list[dict], stage: str) -> list[dict]:
    return sorted((d for d in docs if d["output"].get("stage") == stage), key=lambda d: d["metadata"]["generation"])


def test_flow_grows_while_the_ensemble_disagrees_and_stops_at_the_cap(formulation):
    # threshold 0: every covered candidate counts as not learnt, so only the cap stops the growth
    docs = run_flow(maker(threshold=0.0, max_generations=3), formulation)
    decisions = by_stage(docs, "generation")
    assert [d["output"]["generation"] for d in decisions] == [1, 2, 3]
    assert [d["output"]["another_generation"] for d in decisions] == [True, True, False]
    assert "cap" in decisions[-1]["output"]["reason"]
    # each added generation: one new Li+-PF6- pose scanned at the 2 contacts, SAPT'd, fitted on everything so far
    fits = by_stage(docs, "fit")
    assert [f["output"]["generation"] for f in fits] == [1, 2, 3]
    assert [f["output"]["n_sapt_docs"] for f in fits] == [1, 2, 3]
    assert [f["output"]["n_dimers"] for f in fits][1:] == [fits[0]["output"]["n_dimers"] + 2,
                                                          fits[0]["output"]["n_dimers"] + 4]
    new_sapt = [d for d in by_stage(docs, "sapt") if d["metadata"]["generation"] > 1]
    assert [d["output"]["n_dimers"] for d in new_sapt] == [2, 2]
    # MD of each generation runs with that generation's fit and its ensembles; properties follow each MD
    mds = by_stage(docs, "md")
    assert [m["output"]["params"]["generation"] for m in mds] == [1, 2, 3]
    assert all(m["output"]["ensemble_dirs"] == [ENSEMBLE] for m in mds)
    assert len({m["output"]["ff_key"] for m in mds}) == 3
    assert [p["output"]["generation"] for p in by_stage(docs, "properties")] == [1, 2, 3]
    # the real disagreement sampling picked the dimers: their spread is recorded with them
    samplings = [d for d in by_stage(docs, "sampling") if "disagreement" in d["output"]]
    assert [s["output"]["generation"] for s in samplings] == [2, 3, 4]
    assert all(s["output"]["disagreement"]["max_std_kj_mol"] > 0 for s in samplings)
    # every job ran once and names its formulation, stage and generation
    assert len({d["uuid"] for d in docs}) == len(docs)
    assert all(d["metadata"]["formulation"] == "lipf6_ec" for d in docs)


def test_flow_stops_when_the_ensemble_agrees(formulation):
    # no box pose of Li+-PF6- is above 1000 kJ/mol of spread: converged after generation 1
    docs = run_flow(maker(threshold=1000.0, max_generations=3), formulation)
    (decision,) = by_stage(docs, "generation")
    assert decision["output"]["another_generation"] is False
    assert decision["output"]["reason"].startswith("converged")
    assert [f["output"]["generation"] for f in by_stage(docs, "fit")] == [1]


def test_pure_solvent_has_no_generation_loop_and_profiles_check_the_settings(formulation):
    dmc = Formulation.model_validate({"name": "dmc", "solvents": [{"species": "DMC", "fraction": 1.0}]})
    m = maker(threshold=1.0, max_generations=3)
    assert m.grows(formulation) and not m.grows(dmc)  # no pair type of pure DMC has an ion
    assert [j.metadata["stage"] for j in m.make(dmc).jobs][-2:] == ["md", "properties"]
    profile = Profile.model_validate({**load_profile("quick").model_dump(), "active": {"enabled": True}})
    with pytest.raises(InputError, match="residual") as err:
        PhyneoElectrolyteMaker.from_profile(profile)
    assert err.value.field == "active.enabled"
    with pytest.raises(InputError, match="max_generations"):
        NextGenerationMaker(max_generations=0)
    flow = m.make(formulation)
    assert isinstance(flow, Flow) and [j.metadata["stage"] for j in flow.jobs][-2:] == ["sampling", "generation"]


def test_a_rerun_continues_a_flow_killed_inside_a_later_generation():
    """`phyneo run` returns at once only when the newest decision stopped the growth."""
    from phyneo_flows.cli import growth_finished

    store = get_store(get_settings())
    store.connect()
    assert not growth_finished(store, "lipf6_ec")  # nothing decided yet

    def decided(uuid: str, when: str, another: bool) -> None:
        store.docs_store.update([{"uuid": uuid, "index": 1, "completed_at": when, "output": {
            "stage": "generation", "formulation": "lipf6_ec", "another_generation": another}}], key=["uuid", "index"])

    decided("g1", "2026-12-03T10:00:00", True)
    assert not growth_finished(store, "lipf6_ec")  # generation 2 was added: killed before its decision
    decided("g2", "2026-12-03T11:00:00", False)
    assert growth_finished(store, "lipf6_ec") and not growth_finished(store, "other")
