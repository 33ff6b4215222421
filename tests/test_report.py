from jobflow import job, run_locally

from phyneo_flows.chem.jobs import BoxMaker
from phyneo_flows.formulation import load_formulation
from phyneo_flows.report import collect, render_html, render_markdown
from phyneo_flows.schemas import ExperimentValue, PropertiesDocument, PropertyRecord
from phyneo_flows.settings import get_settings
from phyneo_flows.store import get_store


@job
def fake_properties():
    # stands in for the MD stage (orchestration only): the report must show whatever the database holds
    exp = ExperimentValue(value=1.063, unit="g/cm3", source="Xu, Chem. Rev. 2004", temperature_k=298.2)
    return PropertiesDocument(formulation="dmc", properties=[
        PropertyRecord(name="density", value=1.041, uncertainty=0.006, unit="g/cm3", method="NPT", experiment=exp)])


def test_report_shows_box_properties_and_cost(tmp_path, phyneo):
    store = get_store(get_settings())
    data = load_formulation("workflows/dmc.yaml").model_dump(mode="json")
    run_locally([BoxMaker(n_atoms=120).make(data), fake_properties()], store=store, log=False)
    report = collect(store, "dmc")
    md = render_markdown(report)
    assert "| DMC | 10 | +0 |" in md
    assert "| density | 1.041 ± 0.006 | g/cm3 | NPT | - | 1.063 |" in md
    assert "| box |" in md
    page = render_html(report)
    assert "<img" in page and "1.063" in page
    proc = phyneo("report", "dmc", "-o", str(tmp_path))
    assert (tmp_path / "dmc.html").exists() and (tmp_path / "dmc.md").exists(), proc.stdout


def test_report_of_nothing_is_a_clear_error(phyneo):
    proc = phyneo("report", "nothing_here", check=False)
    assert proc.returncode == 2 and "phyneo run" in proc.stderr
