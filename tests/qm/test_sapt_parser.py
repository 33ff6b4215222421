"""Reading psi4 output files saved under fixtures/qm/psi4 (see the README there for how they were made)."""

from __future__ import annotations

import pytest

from phyneo_flows.qm.models import Dimer
from phyneo_flows.qm.psi4 import (
    COMPONENTS,
    SaptInput,
    engine_message,
    parse_option,
    parse_sapt_output,
    write_sapt_input,
)
from phyneo_flows.units import HARTREE_TO_KJ_MOL

SAPT_ECP_TOTAL_HARTREE = -0.09561567760757009  # psi4 1.3.2 tests/sapt-ecp/input.dat, ref_321g
WATER_HE = """4
water He, Angstrom
H -0.803001 1.098737 0.000360
H -0.919454 -1.089722 0.000521
O -0.035537 -0.067631 0.000218
He 2.281447 -0.004247 -0.000154
"""


def test_sapt0_output_reproduces_psi4s_published_total(fixtures_dir):
    values = parse_sapt_output((fixtures_dir / "sapt-ecp" / "output.dat").read_text(), "sapt0")
    assert values["total"] / HARTREE_TO_KJ_MOL == pytest.approx(SAPT_ECP_TOTAL_HARTREE, abs=1e-8)


def test_components_are_consistent_with_psi4s_printed_table(fixtures_dir):
    text = (fixtures_dir / "sapt-ecp" / "output.dat").read_text()
    values = parse_sapt_output(text, "sapt0")
    # psi4's own table of the same run, in kJ/mol (8 decimals)
    table = {"electrostatics": "Electrostatics", "exchange": "Exchange", "induction": "Induction",
             "delta_hf": "delta HF,r (2)", "dispersion": "Dispersion", "total": "Total SAPT0"}
    for key, label in table.items():
        line = next(line for line in text.splitlines() if line.strip().startswith(label + " "))
        assert values[key] == pytest.approx(float(line.split("[kcal/mol]")[1].split()[0]), abs=1e-6), key
    parts = values["electrostatics"] + values["exchange"] + values["induction"] + values["dispersion"]
    assert parts == pytest.approx(values["total"], abs=1e-9)
    psivars = values["psivars"]
    induction_without_dhf = psivars["SAPT IND20,R ENERGY"] + psivars["SAPT EXCH-IND20,R ENERGY"]
    expected = induction_without_dhf * HARTREE_TO_KJ_MOL
    assert values["induction"] - values["delta_hf"] == pytest.approx(expected)


def test_failed_output_gives_psi4s_own_message_and_no_components(fixtures_dir):
    text = (fixtures_dir / "scf-fail" / "output.dat").read_text()
    assert engine_message(text) == "SCFConvergenceError: Could not converge SCF iterations in 2 iterations."
    with pytest.raises(KeyError):
        parse_sapt_output(text, "sapt0")


def test_written_input_sets_density_fitting_and_passes_options(fixtures_dir, sapt_ecp_input):
    inp = sapt_ecp_input
    text = write_sapt_input(inp, inp.psi4_options, 1000)
    assert text == (fixtures_dir / "sapt-ecp" / "input.dat").read_text()
    assert "scf_type df" in text and "df_fitting_condition 1.e-12" in text and "\n2 1\nCa" in text
    pk = SaptInput(dimer=inp.dimer, basis="3-21g", options={"SCF_TYPE": "pk"})
    assert "scf_type pk" in write_sapt_input(pk, pk.psi4_options, 1000)
    assert "scf_type df" not in write_sapt_input(pk, pk.psi4_options, 1000)


def test_sapt_dft_input_computes_grac_shifts_only_when_not_given():
    dimer = Dimer.from_xyz(WATER_HE, split=3)
    auto = SaptInput(dimer=dimer, method="SAPT(DFT)", basis="aug-cc-pvdz")
    text = write_sapt_input(auto, auto.psi4_options, 1000)
    assert text.count("set reference uks") == 2 and "molecule cation_B" in text
    assert "energy('sapt(dft)', molecule=dimer)" in text
    given = SaptInput(dimer=dimer, method="sapt(dft)", basis="aug-cc-pvdz",
                      grac_shift_a=0.1 * HARTREE_TO_KJ_MOL, grac_shift_b=0.2 * HARTREE_TO_KJ_MOL)
    text = write_sapt_input(given, given.psi4_options, 1000)
    assert "uks" not in text and "set sapt_dft_grac_shift_a 0.100000000000" in text


@pytest.mark.parametrize(("text", "expected"), [
    ("maxiter=200", ("maxiter", 200)), ("E_CONVERGENCE=1e-10", ("e_convergence", 1e-10)),
    ("soscf=True", ("soscf", True)), ("guess=sad", ("guess", "sad"))])
def test_cli_options_are_parsed(text, expected):
    assert parse_option(text) == expected


def test_components_list_matches_the_issue():
    assert COMPONENTS == ("electrostatics", "exchange", "induction", "delta_hf", "dispersion", "total")
