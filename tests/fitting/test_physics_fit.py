"""The physics fit: long range from monomer properties against independent references and SAPT, and the
short-range fit on synthetic data of known parameters."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from phyneo_flows.errors import InputError
from phyneo_flows.ff.model import FFSettings, ForceField
from phyneo_flows.fitting.data import DimerRecord, load_dimers, scoring_mask
from phyneo_flows.fitting.monomer_params import params_from_fixtures
from phyneo_flows.fitting.physics import long_range, monomer_terms, slater_arrays, type_keys
from phyneo_flows.units import ONE_4PI_EPS0

ROOT = Path(__file__).parents[2]
PROPS = ROOT / "fixtures/qm/pyscf"
SAPT = ROOT / "fixtures/fitting/sapt0_jun-cc-pvdz"


@pytest.fixture(scope="module")
def ec_li():
    return params_from_fixtures({"EC": PROPS / "properties_EC_hf_augccpvdz.json"}, ions=("Li+",))


def _record(sa, sb, syma, symb, pa, pb, qa=0, qb=0, comps=None, scan=0, point=0, contact=None):
    comps = comps or {k: 0.0 for k in ("electrostatics", "exchange", "induction", "delta_hf", "dispersion",
                                       "total")}
    cc = contact if contact is not None else 10 * float(np.min(np.linalg.norm(pa[:, None] - pb[None], axis=-1)))
    return DimerRecord(f"{sa}-{sb}", scan, point, sa, sb, tuple(syma), tuple(symb), np.asarray(pa),
                       np.asarray(pb), qa, qb, comps, cc)


def _point_charges(pos, q, mu, theta, d=1e-4, a=1e-3):
    """Each atom's charge, dipole and Buckingham quadrupole as a cluster of point charges (nm, e)."""
    xs, qs = [], []
    for p, qi, m, th in zip(pos, q, mu, theta, strict=True):
        xs.append(p)
        qs.append(qi)
        n = np.linalg.norm(m)
        if n > 0:
            e = m / n
            xs += [p + e * d / 2, p - e * d / 2]
            qs += [n / d, -n / d]
        lam, vec = np.linalg.eigh(th)
        for lk, ek in zip(lam, vec.T, strict=True):  # Theta = sum_k (l_k/3)(3 e e - I): q a^2 = l_k / 3
            qq = lk / 3 / a**2
            xs += [p + a * ek, p - a * ek, p]
            qs += [qq, qq, -2 * qq]
    return np.array(xs), np.array(qs)


def _lab_moments(doc, averaged=True):
    """Charges, dipoles, Buckingham quadrupoles in the lab frame: the symmetry-averaged local values rotated
    back by qm.frames (numpy, the QM side's code), or the raw MBIS lab values before averaging."""
    from phyneo_flows.qm.frames import LocalFrame, to_lab

    p = doc["properties"]
    pos = np.asarray(doc["positions_nm"])
    if not averaged:
        q = np.asarray(p["lab_charges"])
        return q - q.sum() / len(q), np.asarray(p["lab_dipoles"]), np.asarray(p["lab_quadrupoles"])
    q = np.array([a["charge"] for a in p["atoms"]])
    frames = [LocalFrame(a["frame"]["axis_type"], a["frame"]["z"], a["frame"]["x"], a["frame"]["y"])
              for a in p["atoms"]]
    mu, th = to_lab(frames, pos, np.array([a["dipole"] for a in p["atoms"]]),
                    np.array([a["quadrupole"] for a in p["atoms"]]))
    return q - q.sum() / len(q), mu, th


@pytest.mark.parametrize("averaged, tol", [(True, 1e-6), (False, 2e-2)])
def test_far_dimer_electrostatics_matches_point_charge_multipoles(ec_li, averaged, tol):
    """EC-EC about 1 nm apart: the model's multipole energy (JAX frames, Theta/3) against a Coulomb sum over
    point-charge clusters that carry the QM fixture's moments (Buckingham Theta) in the lab frame. With
    the symmetry-averaged moments the two agree to 1e-6; the raw MBIS moments (equivalent atoms differ by
    up to 0.009 e in this not exactly symmetric conformer) agree to 2 %."""
    doc = json.loads((PROPS / "properties_EC_hf_augccpvdz.json").read_text())
    pos = np.asarray(doc["positions_nm"])
    q, mu, th = _lab_moments(doc, averaged)
    rot = Rotation.from_euler("xyz", [0.3, 1.1, -0.7]).as_matrix()
    shift = np.array([0.9, 0.5, 0.6])
    pos_b = (pos - pos.mean(0)) @ rot.T + pos.mean(0) + shift
    mu_b = mu @ rot.T
    th_b = np.einsum("ij,ajk,lk->ail", rot, th, rot)
    xa, qa = _point_charges(pos, q, mu, th)
    xb, qb = _point_charges(pos_b, q, mu_b, th_b)
    ref = ONE_4PI_EPS0 * np.sum(qa[:, None] * qb[None] / np.linalg.norm(xa[:, None] - xb[None], axis=-1))
    sym = doc["symbols"]
    lr = long_range(ec_li, [_record("EC", "EC", sym, sym, pos, pos_b)])
    assert abs(ref) > 0.1
    assert lr["electrostatics"][0] == pytest.approx(ref, rel=tol)
    # the quadrupoles matter at this distance: dropping them (or not dividing by 3) would miss the reference
    xa2, qa2 = _point_charges(pos, q, mu, np.zeros_like(th))
    xb2, qb2 = _point_charges(pos_b, q, mu_b, np.zeros_like(th))
    no_quad = ONE_4PI_EPS0 * np.sum(qa2[:, None] * qb2[None] / np.linalg.norm(xa2[:, None] - xb2[None], axis=-1))
    if averaged:
        assert abs(no_quad - ref) > 100 * abs(lr["electrostatics"][0] - ref)


def test_li_probe_energy_and_vanishing_monomer_terms(ec_li):
    """Li+ 1.5 nm from EC: charge-multipole energy from the fixture's lab moments; an isolated monomer has
    no electrostatic or polarisation energy of its own in this model (so dimer - monomers = dimer)."""
    doc = json.loads((PROPS / "properties_EC_hf_augccpvdz.json").read_text())
    pos = np.asarray(doc["positions_nm"])
    q, mu, th = _lab_moments(doc)
    li = pos.mean(0) + np.array([0.4, -1.3, 0.6])
    r = li - pos
    d = np.linalg.norm(r, axis=1)
    phi = q / d + np.einsum("ai,ai->a", mu, r) / d**3 + np.einsum("aij,ai,aj->a", th, r, r) / d**5
    ref = ONE_4PI_EPS0 * phi.sum()
    lr = long_range(ec_li, [_record("EC", "Li+", doc["symbols"], ["Li"], pos, li[None], 0, 1)])
    assert lr["electrostatics"][0] == pytest.approx(ref, rel=1e-6)
    assert lr["polarization"][0] < 0
    mono = monomer_terms(ec_li, "EC", pos)
    assert mono == {"electrostatics": 0.0, "polarization": 0.0}


def test_component_sum_is_the_force_field_energy(ec_li):
    """The fit's per-component model (pair table, Slater + damping correction) sums to the ForceField's own
    intermolecular energy at a Li+-EC contact where every short-range term is large."""
    from phyneo_flows.fitting.physics import predict

    rec = load_dimers(SAPT / "Li+-EC.jsonl")[1]
    pred = predict(ec_li, [rec])
    # a ForceField of its own: fitting.physics caches one per long-range identity, which other tests' Slater A/B and
    # C6 (not part of that identity: predict takes them from the pair table) may have built first
    ff = ForceField(ec_li, [rec.species_a, rec.species_b], FFSettings())
    terms = {k: float(v) for k, v in ff._terms_jit(rec.positions_nm).items() if not k.startswith("_")}
    inter = sum(v for k, v in terms.items() if k != "bonded")
    assert pred["total"][0] == pytest.approx(inter, rel=1e-9)
    assert pred["exchange"][0] == pytest.approx(terms["slater_exchange"], rel=1e-9)
    assert pred["dispersion"][0] == pytest.approx(terms["dispersion"] + terms["slater_dispersion"], rel=1e-9)


def test_dimer_with_unknown_atom_order_is_a_clear_error(ec_li):
    doc = json.loads((PROPS / "properties_EC_hf_augccpvdz.json").read_text())
    pos = np.asarray(doc["positions_nm"])
    sym = list(doc["symbols"])
    bad = _record("EC", "Li+", sym[::-1], ["Li"], pos, pos[:1] + 1.0, 0, 1)
    with pytest.raises(InputError, match="order each monomer"):
        long_range(ec_li, [bad])


@pytest.fixture(scope="module")
def far_checks():
    from phyneo_flows.fitting.longrange_check import check_long_range, format_checks
    from phyneo_flows.fitting.monomer_params import sapt_level_dispersion

    records = load_dimers(SAPT)
    d4 = params_from_fixtures({s: PROPS / f"properties_{s}_hf_augccpvdz.json" for s in ("EC", "DMC", "PF6-")},
                              ions=("Li+",))
    params = sapt_level_dispersion(d4, "jun-cc-pvdz")  # what run_physics_fit checks and fits
    checks = check_long_range(params, records, min_contact_a=5.0)
    print("\n" + format_checks(checks))
    return checks, format_checks, check_long_range(d4, records, min_contact_a=5.0)


NEUTRAL_MISMATCH = ("measured on the far points (closest contact >= 5 A), with C6 and C8 scaled to the uncoupled-HF/"
                    "jun-cc-pVDZ C6 and C8 as the fit does (C10 following C8), deviation sum|model - SAPT| / "
                    "sum|SAPT| (session 15): "
                    "electrostatics DMC-DMC 13.0 % (33 points of scans 0-10; per-point median 11.3 %), "
                    "EC-EC 9.4 % (33 points of scans 0-10; per-point median 9.4 %), induction within 15 %, "
                    "dispersion within 5 % (session 16). Why (tests/qm/"
                    "test_electrostatics.py): the SAPT basis; HF densities in jun-cc-pVDZ reproduce SAPT0's "
                    "electrostatics, in aug-cc-pVDZ (the monomer properties' basis) they give less (DMC 10-23 %, "
                    "EC 5.7 % at EC-EC scan 4, 5.33 A), and the MBIS multipoles are within 2-5 % of those; with the "
                    "properties at HF/jun-cc-pVDZ every pair passes (test below). The "
                    "signed-sum deviation used until session 13 passed EC-EC at 0.6 % by cancelling scans of "
                    "opposite sign, and put DMC-DMC at 32.4 %")


@pytest.mark.parametrize("pair", [
    "Li+-EC", "Li+-PF6-",
    pytest.param("EC-EC", marks=pytest.mark.xfail(strict=True, reason=NEUTRAL_MISMATCH)),
    pytest.param("DMC-DMC", marks=pytest.mark.xfail(strict=True, reason=NEUTRAL_MISMATCH)),
])
def test_long_range_check_against_committed_sapt(far_checks, pair):
    """At closest contacts >= 5 A: electrostatics within 5 %, induction and dispersion within 15 % of SAPT
    (components below 0.05 kJ/mol are reported, not judged). Prints the measured figures."""
    checks, format_checks, _ = far_checks
    c = checks[pair]
    assert c.n_points > 0
    assert c.components["electrostatics"].judged, pair
    assert c.passed, format_checks({pair: c})


@pytest.mark.parametrize("pair", ["EC-EC", "DMC-DMC"])
def test_sapt_level_dispersion_brings_the_far_field_to_sapt0(far_checks, pair):
    """D4 C6/C8/C10 put 36 % (EC-EC, 24 points) and 43 % (DMC-DMC) more dispersion than SAPT0/jun-cc-pVDZ at closest
    contacts >= 5 A. Scaled to the uncoupled-HF C6 and C8 of that basis (the response SAPT0's E(20)disp is made of)
    the far field is within 6 % (session 16, 33 points each: EC-EC 4.6 %, DMC-DMC 3.9 %; D4 unscaled 37.8 %). With C6
    alone scaled (sessions 14-15) C8/C10 kept it at 13.6 and 10.6 %, still passing the issue's 15 % but not the 6 %."""
    checks, format_checks, d4 = far_checks
    scaled, raw = checks[pair].components["dispersion"], d4[pair].components["dispersion"]
    assert raw.relative_deviation > 0.3, format_checks({pair: d4[pair]})
    assert scaled.relative_deviation < 0.06, format_checks({pair: checks[pair]})
    assert scaled.passed, format_checks({pair: checks[pair]})


@pytest.mark.parametrize("pair", ["Li+-EC", "Li+-PF6-", "EC-EC", "DMC-DMC"])
def test_long_range_check_passes_with_properties_in_the_sapt_basis(pair):
    """The same check with the monomer properties computed at HF/jun-cc-pVDZ, SAPT0's own basis
    (fixtures/qm/pyscf/properties_*_hf_junccpvdz.json): every pair type passes, the neutral ones included
    (session 15: electrostatics EC-EC 2.7 %, DMC-DMC 4.5 % on 33 points, against 9.4 % and 13.0 % with the aug-cc-pVDZ
    properties). The xfails above are the properties' basis, not the multipole model."""
    from phyneo_flows.fitting.longrange_check import check_long_range, format_checks
    from phyneo_flows.fitting.monomer_params import sapt_level_dispersion

    records = [r for r in load_dimers(SAPT) if r.pair_type == pair]
    d4 = params_from_fixtures({s: PROPS / f"properties_{s}_hf_junccpvdz.json" for s in ("EC", "DMC", "PF6-")},
                              ions=("Li+",))
    checks = check_long_range(sapt_level_dispersion(d4, "jun-cc-pvdz"), records, min_contact_a=5.0)
    print("\n" + format_checks(checks))
    assert checks[pair].components["electrostatics"].judged
    assert checks[pair].passed, format_checks(checks)


def test_failed_long_range_check_says_which_pair_and_what_to_do(far_checks):
    """run_physics_fit logs these lines before it fits: each failed component with its figure and the fix."""
    from phyneo_flows.fitting.longrange_check import failure_messages

    checks, _, _ = far_checks
    lines = failure_messages(checks, "jun-cc-pvdz")
    assert len(lines) == 2  # EC-EC and DMC-DMC electrostatics; the ion pairs pass
    ec = next(line for line in lines if "EC-EC" in line and "DMC" not in line)
    assert "electrostatics deviates 9.4 %" in ec and "limit 5 %" in ec and "33 points" in ec
    assert "monomer properties in jun-cc-pvdz" in ec
    assert failure_messages({k: v for k, v in checks.items() if k.startswith("Li+")}) == []


def test_long_range_deviation_does_not_cancel_across_orientations():
    """Two far points of opposite sign, each 10 % too small in the model: the deviation is 10 %, where the old
    signed-sum form |sum model - sum SAPT| / |sum SAPT| gave 0 % (EC-EC passed at 0.6 % that way)."""
    from phyneo_flows.fitting.longrange_check import relative_deviation

    sapt = np.array([4.0, -4.0])
    model = 0.9 * sapt
    assert abs(model.sum() - sapt.sum()) < 1e-12  # all the signed sum saw
    assert relative_deviation(model, sapt) == pytest.approx(0.1)
    assert relative_deviation(np.array([4.4, -3.6]), sapt) == pytest.approx(0.1)
    assert relative_deviation(sapt, sapt) == 0.0


# ---------------------------------------------------------------------------------------------------------
def synthetic_records(truth, pairs, rng, n_scans=4, distances=np.linspace(0.2, 0.7, 7)):
    """COM scans of random orientations, labelled with the ForceField's own terms mapped onto SAPT's."""
    from phyneo_flows.chem import build_molecule

    out = []
    for sa, sb in pairs:
        ta, tb = build_molecule(sa), build_molecule(sb)
        ff = ForceField(truth, [sa, sb])
        for s in range(n_scans):
            pa = ta.positions_nm - ta.positions_nm.mean(0)
            pb0 = Rotation.random(random_state=rng).apply(tb.positions_nm - tb.positions_nm.mean(0))
            d = rng.normal(size=3)
            d /= np.linalg.norm(d)
            for k, dist in enumerate(distances):
                pb = pb0 + d * (dist + 0.12)
                terms = ff._terms_jit(np.concatenate([pa, pb]))
                t = {k2: float(v) for k2, v in terms.items() if not k2.startswith("_")}
                comps = {"electrostatics": t["electrostatics"] + t["slater_electrostatics"],
                         "exchange": t["slater_exchange"], "delta_hf": t["slater_dhf"],
                         "induction": t["polarization"] + t["slater_induction"] + t["slater_dhf"],
                         "dispersion": t["dispersion"] + t["slater_dispersion"]}
                comps["total"] = comps["electrostatics"] + comps["exchange"] + comps["induction"] + \
                    comps["dispersion"]
                out.append(_record(sa, sb, ta.symbols, tb.symbols, pa, pb, ta.formal_charge, tb.formal_charge,
                                   comps, scan=s, point=k))
    return out


@pytest.fixture(scope="module")
def synthetic():
    from phyneo_flows.fitting.shortrange import with_slater

    start = params_from_fixtures({"PF6-": PROPS / "properties_PF6-_hf_augccpvdz.json"}, ions=("Li+",))
    keys = type_keys(start)
    b0, a0 = slater_arrays(start, keys)
    rng = np.random.default_rng(3)
    true_b, true_a = b0 * rng.uniform(0.9, 1.1, b0.shape), a0 * rng.uniform(0.75, 1.25, a0.shape)
    truth = with_slater(start, keys, true_b, true_a, "truth")
    recs = synthetic_records(truth, [("Li+", "PF6-"), ("PF6-", "PF6-")], rng)
    return start, truth, recs, keys, true_b, true_a


@pytest.mark.slow
def test_fit_recovers_known_parameters(synthetic):
    """Data made by the model with known A/B (start values perturbed by up to 25 %): the fit finds them."""
    from phyneo_flows.fitting.shortrange import FitSettings, fit_short_range

    start, truth, recs, keys, true_b, true_a = synthetic
    res = fit_short_range(start, recs, settings=FitSettings(steps=3000, test_scans=1, val_scans=1))
    b, a = slater_arrays(res.params, keys)
    assert np.allclose(b, true_b, rtol=0.02)
    assert np.allclose(a[:, 0], true_a[:, 0], rtol=0.03)  # exchange
    assert np.allclose(a, true_a, rtol=0.15)  # the small attractive components are less well determined
    test = res.split["test"]
    ref = np.array([r.total for r in test])
    err = res.predictions["test"]["total"] - ref
    scored = scoring_mask(test)
    print(f"\nsynthetic held-out scans: total RMSE {np.sqrt(np.mean(err[scored] ** 2)):.4f} kJ/mol on "
          f"{scored.sum()} scored points; worst relative error {np.max(np.abs(err) / np.maximum(np.abs(ref), 1)):.4f}")
    assert np.sqrt(np.mean(err[scored] ** 2)) < 0.1
    assert np.all(np.abs(err) <= 0.02 * np.maximum(np.abs(ref), 1.0))


def test_frozen_molecules_are_not_refitted(ec_li, monkeypatch):
    """On the committed Li+-EC scans with EC frozen only Li+ moves; with every molecule known nothing is
    optimised at all (a new formulation of known molecules refits nothing)."""
    from phyneo_flows.fitting import shortrange

    recs = load_dimers(SAPT / "Li+-EC.jsonl")[:24]
    res = shortrange.fit_short_range(ec_li, recs, frozen=("EC",),
                                     settings=shortrange.FitSettings(steps=50, test_scans=0, val_scans=0))
    assert res.fitted_molecules == ["Li+"] and res.frozen_molecules == ["EC"]
    assert res.params.molecules["EC"] == ec_li.molecules["EC"]
    assert res.params.molecules["Li+"] != ec_li.molecules["Li+"]
    monkeypatch.setattr(shortrange.optax, "adam", lambda *a, **k: pytest.fail("optimiser started"))
    res = shortrange.fit_short_range(ec_li, recs, frozen=("EC", "Li+"))
    assert res.fitted_molecules == [] and res.params == ec_li


def test_every_fitted_pair_of_atom_types_keeps_a_repulsive_wall():
    """A free fit of DMC's 30 Slater parameters on one scan leaves pairs of types the scan never brings into
    contact without a wall (K_ij = sum_c sign_c A_c,i A_c,j < 0: two carbonyl oxygens attract without bound and
    the MD collapses, as the quick pipeline's first fit did). The walled parameterisation keeps
    K_ij >= wall_fraction A_ex,i A_ex,j for every pair and A_exchange above its floor, on the same data."""
    from phyneo_flows.fitting.monomer_params import _slater_start
    from phyneo_flows.fitting.shortrange import FitSettings, contact_walls, fit_short_range, slater_walls

    start = params_from_fixtures({"DMC": PROPS / "properties_DMC_hf_augccpvdz.json"})
    recs = [r for r in load_dimers(SAPT / "DMC-DMC.jsonl") if r.scan == 0][:12]
    free = fit_short_range(start, recs, settings=FitSettings(steps=600, test_scans=0, val_scans=0,
                                                             wall_fraction=0.0, contact_weight=0.0))
    walls = slater_walls(free.params, ["DMC"])
    print("\nfree fit, most attractive walls:", [(w["types"], round(w["wall_kj_mol"])) for w in walls[:3]])
    assert walls[0]["wall_kj_mol"] < 0  # the failure the constraint exists for
    settings = FitSettings(steps=600, test_scans=0, val_scans=0)
    res = fit_short_range(start, recs, settings=settings)
    walls = slater_walls(res.params, ["DMC"])
    assert len(walls) == 15  # 5 types of DMC: every pair, like and unlike
    for w in walls:
        assert w["wall_kj_mol"] >= settings.wall_fraction * w["exchange_kj_mol"] * (1 - 1e-9) > 0, w
    contact = contact_walls(res.params, ["DMC"])
    print("contact barriers (lowest 3):", [(w["types"], round(w["barrier_kj_mol"], 1), round(w["max_rise_kj_mol"], 2))
                                         for w in contact[:3]])
    assert contact[0]["barrier_kj_mol"] >= 0.9 * settings.contact_barrier_kj_mol
    assert max(w["max_rise_kj_mol"] for w in contact) < 1.0
    mol = res.params.molecules["DMC"]
    for t, tp in mol.types.items():
        element = mol.symbols[mol.atom_types.index(t)]
        assert tp.number("A_exchange") >= settings.exchange_floor * _slater_start(element)["A_exchange"] * (1 - 1e-9)


def test_sapt_level_dispersion_scales_each_molecule_once_and_leaves_ions():
    """After scaling, a molecule's C6 combined over its atoms is the uncoupled-HF C6 of the table, and its
    orientation-averaged C8 (atomic C8 plus the atoms' C6 off the centre) the table's uncoupled-HF C8; C10 follows
    C8 by the D4 recursion (C10 ~ C8^2 / C6); Li+ keeps its free-ion values; a second call changes nothing; the
    factors are recorded."""
    from phyneo_flows.chem import build_molecule
    from phyneo_flows.fitting.monomer_params import (
        SAPT_LEVEL_KEY,
        UNCOUPLED_C6_AU,
        UNCOUPLED_C8_AU,
        sapt_level_dispersion,
    )
    from phyneo_flows.qm.dispersion import displacement_c8, molecular_c6, to_kj_mol_nm

    d4 = params_from_fixtures({"DMC": PROPS / "properties_DMC_hf_augccpvdz.json"}, ions=("Li+",))
    once = sapt_level_dispersion(d4, "jun-cc-pvdz")
    twice = sapt_level_dispersion(once, "jun-cc-pvdz")
    assert twice.model_dump() == once.model_dump()
    dmc, raw = once.molecules["DMC"], d4.molecules["DMC"]
    c6 = molecular_c6(dmc.type_array("C6")) / float(to_kj_mol_nm(1.0, 6))
    assert c6 == pytest.approx(UNCOUPLED_C6_AU[("COC(=O)OC", 0, "jun-cc-pvdz")], rel=1e-10)
    factor = once.provenance[SAPT_LEVEL_KEY]["DMC"]["factor"]
    s8 = once.provenance[SAPT_LEVEL_KEY]["DMC"]["c8_factor"]
    assert 0.7 < factor < 0.9 and 0.1 < s8 < 0.5
    tpl = build_molecule("DMC")
    c8 = np.sqrt(dmc.type_array("C8") / float(to_kj_mol_nm(1.0, 8))).sum() ** 2 + displacement_c8(
        dmc.type_array("C6") / float(to_kj_mol_nm(1.0, 6)), tpl.symbols, tpl.positions_nm)
    assert c8 == pytest.approx(UNCOUPLED_C8_AU[("COC(=O)OC", 0, "jun-cc-pvdz")], rel=1e-10)
    np.testing.assert_allclose(dmc.type_array("C8"), factor * s8 * raw.type_array("C8"), rtol=1e-12)
    np.testing.assert_allclose(dmc.type_array("C10"), factor * s8**2 * raw.type_array("C10"), rtol=1e-12)
    assert once.molecules["Li+"].model_dump() == d4.molecules["Li+"].model_dump()
    assert "Li+" not in once.provenance[SAPT_LEVEL_KEY]


def test_a_fit_refuses_dimers_of_two_sapt_bases():
    """Scaling the dispersion to 'the SAPT level' needs one level: mixed bases are an input error naming the dimers."""
    import dataclasses

    from phyneo_flows.fitting.shortrange import FitSettings, run_physics_fit

    recs = load_dimers(SAPT / "EC-EC.jsonl")[:4]
    mixed = recs[:2] + [dataclasses.replace(r, basis="aug-cc-pvdz") for r in recs[2:]]
    params = params_from_fixtures({"EC": PROPS / "properties_EC_hf_augccpvdz.json"})
    with pytest.raises(InputError) as err:
        run_physics_fit(params, mixed, settings=FitSettings(steps=1), plots=False)
    assert err.value.field == "dimers" and "aug-cc-pvdz" in str(err.value)


def test_dimers_of_other_molecules_do_not_move_a_molecules_parameters():
    """Issue 6: a molecule's A and B are fitted on the dimers that involve it. Li+ and EC share Li+-EC scans and are
    fitted together; DMC meets neither in the data, so its DMC-DMC scan is a second group, fitted after them with
    theirs frozen: adding it leaves Li+'s and EC's parameters exactly as they were. (Until session 15 one joint
    fit took every molecule at once, and DMC-DMC's scans 5-7 moved EC's A_exchange of the CH2 carbon from 77.7 to
    31.0 kJ/mol through the shared contact walls and the validation loss that picks the kept step; the Li+(EC)4
    binding moved by 1.8 % of HF's.)"""
    from phyneo_flows.fitting.shortrange import FitSettings, fit_short_range, molecule_groups

    start = params_from_fixtures({s: PROPS / f"properties_{s}_hf_augccpvdz.json" for s in ("EC", "DMC")},
                                 ions=("Li+",))
    li_ec = [r for r in load_dimers(SAPT / "Li+-EC.jsonl") if r.scan in (0, 1)]
    dmc = [r for r in load_dimers(SAPT / "DMC-DMC.jsonl") if r.scan == 0]
    settings = FitSettings(steps=30)
    assert molecule_groups(li_ec + dmc, ["Li+", "EC", "DMC"]) == [["Li+", "EC"], ["DMC"]]
    assert molecule_groups(li_ec + dmc, ["EC", "DMC"]) == [["EC"], ["DMC"]]  # Li+ frozen: no EC-DMC link
    alone = fit_short_range(start, li_ec, settings=settings, split={"train": li_ec, "val": [], "test": []})
    both = fit_short_range(start, li_ec + dmc, settings=settings,
                           split={"train": li_ec + dmc, "val": [], "test": []})
    li_ec_keys = type_keys(start, ["Li+", "EC"])
    for arr_alone, arr_both in zip(slater_arrays(alone.params, li_ec_keys), slater_arrays(both.params, li_ec_keys),
                                   strict=True):
        np.testing.assert_array_equal(arr_alone, arr_both)
    assert sorted(both.fitted_molecules) == ["DMC", "EC", "Li+"] and {h["group"] for h in both.history} == {0, 1}
    dmc_keys = type_keys(start, ["DMC"])
    assert not np.allclose(slater_arrays(both.params, dmc_keys)[1], slater_arrays(start, dmc_keys)[1])
