"""The whole-pipeline flow as data: every stage's job, its metadata and resources, without running it."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from jobflow import Maker, job

from phyneo_flows.flows import PhyneoElectrolyteMaker
from phyneo_flows.formulation import load_formulation
from phyneo_flows.profiles import load_profile
from phyneo_flows.testing import REPO_ROOT

LIPF6 = REPO_ROOT / "workflows/lipf6_ec_dmc.yaml"


def test_dry_run_of_lipf6_standard_lists_every_job_and_its_resources(phyneo):
    lines = phyneo("run", "--dry-run", str(LIPF6), "--profile", "standard").stdout.splitlines()
    rows = [line.split(None, 1) for line in lines[1:]]
    stages = [r[0] for r in rows]
    # 4 species: 10 pair types of SAPT; box, sampling, MD and properties once each
    species = ["EC", "DMC", "Li+", "PF6-"]
    n_pairs = len(list(itertools.combinations_with_replacement(species, 2)))
    assert stages.count("sapt") == n_pairs == 10
    # the profile's fit (with residual networks), then the first decision on a later generation
    assert [s for s in stages if s != "sapt"] == ["box", "sampling", "fit", "md", "properties", "sampling",
                                                  "generation"]
    assert lines[0].startswith(f"lipf6_ec_dmc with profile standard: {len(rows)} jobs")
    by_stage = dict((r[0], r[1]) for r in rows if "generation 2" not in r[1])
    assert "8 cpus, 16000 MiB, 12:00:00" in by_stage["sapt"]  # the profile's qm class
    assert "1 gpu" in by_stage["md"] and "48:00:00" in by_stage["md"]
    for pt in ("Li+-PF6-", "PF6--PF6-", "DMC-EC"):
        assert any(f"sapt {pt} " in line for line in lines)


def test_until_cuts_the_flow_and_unknown_stages_are_refused(phyneo):
    lines = phyneo("run", "--dry-run", str(LIPF6), "--profile", "quick", "--until", "sampling").stdout.splitlines()
    assert [line.split()[0] for line in lines[1:]] == ["box", "sampling"]
    bad = phyneo("run", "--dry-run", str(LIPF6), "--until", "nowhere", check=False)
    assert bad.returncode == 2 and "--until" in bad.stderr


@dataclass
class FakeFitMaker(Maker):
    """Stands in for the physics fit (orchestration only): the slot's contract, nothing fitted."""

    name: str = "fit"

    def key(self, sapt_keys: list[str]) -> str:
        return "fit-" + "-".join(k[:4] for k in sapt_keys)

    @job
    def make(self, box, sapt, formulation):
        return {"params": None, "generation": 1, "input_hash": "x"}


def _no_fit(name: str):
    from phyneo_flows.profiles import Profile

    return Profile.model_validate({**load_profile(name).model_dump(), "fit": {"enabled": False}})


def test_fit_slot_takes_a_maker_and_md_becomes_generation_one():
    f = load_formulation(REPO_ROOT / "workflows/dmc.yaml")
    maker = PhyneoElectrolyteMaker.from_profile(load_profile("quick"), fit_maker=FakeFitMaker())
    flow = maker.make(f)
    meta = {j.name: j.metadata for j in flow.jobs}
    assert meta["dmc fit"]["stage"] == "fit" and meta["dmc fit"]["generation"] == 1
    assert meta["dmc md npt"]["generation"] == 1 and meta["dmc properties"]["generation"] == 1
    assert all(m["formulation"] == "dmc" for m in meta.values())
    keys = maker.stage_keys(f)
    assert set(keys) == {"box", "sampling", "sapt DMC-DMC", "fit", "md", "properties"}
    # the MD stage's key follows the fit's: another fit means another MD run
    plain = PhyneoElectrolyteMaker.from_profile(_no_fit("quick")).stage_keys(f)
    assert "fit" not in plain and plain["md"] != keys["md"] and plain["sapt DMC-DMC"] == keys["sapt DMC-DMC"]


def test_quick_profile_meets_the_promised_sizes():
    p = load_profile("quick")
    f = load_formulation(REPO_ROOT / "workflows/dmc.yaml")
    from phyneo_flows.formulation import compose

    atoms = compose(f, n_atoms=p.md.atoms or p.box.atoms).n_atoms
    assert atoms >= 400 and p.md.npt_ps >= 50
    n_dimers = min(p.sapt.max_dimers_per_pair, p.sampling.poses_per_pair * len(p.sampling.scan_contacts_a))
    assert n_dimers >= 24


def test_md_without_parameters_is_refused_before_anything_runs(tmp_path):
    import pytest

    from phyneo_flows.errors import InputError
    from phyneo_flows.formulation import load_formulation as load

    water = tmp_path / "water.yaml"
    water.write_text('name: water\nsolvents:\n  - {species: "O", fraction: 1, density: 0.997 g/cm3}\n')
    maker = PhyneoElectrolyteMaker.from_profile(_no_fit("quick"))
    with pytest.raises(InputError, match="--until sapt"):
        maker.check(load(water))
    maker.check(load(water), until="sapt")  # the QM half needs no force field
    maker.check(load(LIPF6))  # EC, DMC, Li+, PF6- have generation-0 parameters
