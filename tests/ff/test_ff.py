"""The JAX force field: against OpenMM (an independent implementation), finite differences, invariances,
neighbour-list overflow. Systems are small (tens of atoms) to keep JAX compile times short."""

from __future__ import annotations

from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from phyneo_flows.errors import InputError
from phyneo_flows.ff.compare import compare
from phyneo_flows.ff.model import FFSettings, ForceField
from phyneo_flows.ff.params import load_params

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "ff" / "lipf6_ec_dmc"
TOL_E = 1e-5  # the per-term criterion
TOL_F = 1e-4  # RMS relative force difference


@pytest.fixture(scope="module")
def params():
    return load_params(FIXTURE)


def _template(name: str) -> np.ndarray:
    """Conformer of a species from the fixture's bonded r0 (stored coordinates of the species stage)."""
    from phyneo_flows.chem import build_molecule

    return np.asarray(build_molecule(name).positions_nm)


def _rot(seed: int) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    return q * np.sign(np.linalg.det(q))


@pytest.fixture(scope="module")
def dimer():
    """Li+ ... EC ... PF6- cluster, isolated (no cutoff)."""
    ec = _template("EC")
    o = ec[0]  # carbonyl O
    c = ec[1]
    u = (o - c) / np.linalg.norm(o - c)
    li = (o + 0.2 * u)[None, :]
    pf6 = _template("PF6-")
    pf6 = pf6 - pf6.mean(0) + ec.mean(0) - 0.55 * u + np.array([0.0, 0.1, 0.05])
    return ["EC", "Li+", "PF6-"], np.concatenate([ec, li, pf6])


@pytest.fixture(scope="module")
def small_box():
    """Six molecules (two ion pairs) at random places in a 2.1 nm cubic box."""
    rng = np.random.default_rng(3)
    names = ["EC", "Li+", "PF6-", "DMC", "Li+", "PF6-"]
    L = 2.1
    centres: list[np.ndarray] = []
    pos = []
    for k, n in enumerate(names):
        x = _template(n)
        while True:
            c = rng.uniform(0, L, 3)
            if all(np.linalg.norm((c - o) - L * np.round((c - o) / L)) > 0.6 for o in centres):
                break
        centres.append(c)
        pos.append((x - x.mean(0)) @ _rot(k).T + c)
    return names, np.concatenate(pos), L


@pytest.fixture(scope="module")
def ff_dimer(params, dimer):
    return ForceField(params, dimer[0])


@pytest.fixture(scope="module")
def ff_box(params, small_box):
    return ForceField(params, small_box[0], FFSettings(cutoff=0.9, ewald_alpha=3.5, skin=0.1))


def _check(cmp):
    errs = cmp.term_errors()
    bad = {k: v for k, v in errs.items() if v > TOL_E}
    assert not bad, cmp.table()
    assert cmp.forces_rms_rel < TOL_F, cmp.table()


def test_isolated_cluster_matches_openmm(params, dimer):
    cmp = compare(params, *dimer, None)
    _check(cmp)
    assert cmp.terms["polarization"].openmm < 0
    assert cmp.terms["slater_exchange"].openmm > 0


@pytest.mark.slow
def test_periodic_box_matches_openmm_pme(params, small_box):
    names, pos, L = small_box
    cmp = compare(params, names, pos, L, FFSettings(cutoff=0.9, ewald_alpha=3.5), pme_spacing=0.035)
    _check(cmp)
    assert cmp.terms["dispersion_lrc"].openmm < 0


@pytest.mark.slow
def test_random_multipoles_and_frames_match_openmm(params, dimer):
    """Full (non-axial) local multipoles on every atom, so that every frame axis matters."""
    p = params.model_copy(deep=True)
    rng = np.random.default_rng(7)
    for mol in p.molecules.values():
        for name, t in mol.types.items():
            d = rng.normal(scale=0.004, size=3)
            q = rng.normal(scale=0.0004, size=(3, 3))
            q = q + q.T
            q -= np.eye(3) * np.trace(q) / 3
            if mol.frames[mol.atom_types.index(name)].axis == "NoAxisType":
                continue
            t.dipole.value = d.tolist()
            t.quadrupole.value = q.tolist()
    _check(compare(p, *dimer, None))


def test_forces_are_minus_finite_difference_gradient(ff_dimer, dimer):
    _, pos = dimer
    res = ff_dimer.compute(pos, None, forces=True)
    h = 2.5e-6  # central-difference error ~h^2 E'''/6: the Li+...O= wall at 0.2 nm needs h well below 1e-5
    rng = np.random.default_rng(0)
    for atom in rng.choice(len(pos), 4, replace=False):
        for d in range(3):
            p1, p2 = pos.copy(), pos.copy()
            p1[atom, d] += h
            p2[atom, d] -= h
            fd = -(
                ff_dimer.compute(p1, None, forces=False)["total"]
                - ff_dimer.compute(p2, None, forces=False)["total"]
            ) / (2 * h)
            assert res["forces"][atom, d] == pytest.approx(fd, rel=1e-5, abs=1e-4)


def test_rigid_motion_invariance(ff_dimer, dimer):
    _, pos = dimer
    e0 = ff_dimer.compute(pos, None, forces=False)["terms"]
    moved = (pos - pos.mean(0)) @ _rot(11).T + np.array([3.0, -1.0, 0.5])
    e1 = ff_dimer.compute(moved, None, forces=False)["terms"]
    for k in e0:
        assert e1[k] == pytest.approx(e0[k], rel=1e-9, abs=1e-9), k


@pytest.mark.slow
def test_stress_matches_finite_difference_of_box(ff_box, small_box):
    _, pos, L = small_box
    box = np.eye(3) * L
    res = ff_box.compute(pos, box, forces=True, virial=True)
    h = 1e-5
    vol = L**3
    for a, b in [(0, 0), (1, 1), (0, 2), (2, 1)]:
        es = []
        for sgn in (1, -1):
            eps = np.zeros((3, 3))
            eps[a, b] = sgn * h
            m = np.eye(3) + eps
            es.append(ff_box.compute(pos @ m, box @ m, forces=False)["total"])
        fd = (es[0] - es[1]) / (2 * h) / vol
        assert res["stress"][a, b] == pytest.approx(fd, rel=1e-4, abs=1e-3)


def test_neighbour_list_overflow_is_detected_and_rebuilt(ff_box, small_box):
    _, pos, L = small_box
    box = jnp.eye(3) * L
    full = ff_box.neighbor_list(pos, box)
    assert not bool(full.overflow)
    tiny = ff_box.neighbor_list(pos, box, capacity=8)
    assert bool(tiny.overflow) and int(tiny.n_pairs) == int(full.n_pairs) > 8
    ff_box._nbrs = full
    ref = ff_box.compute(pos, L, forces=False)
    ff_box._nbrs = tiny  # a list that is too small: compute() must notice and reallocate
    got = ff_box.compute(pos, L, forces=False)
    assert ff_box._nbrs.capacity >= int(full.n_pairs)
    assert got["total"] == pytest.approx(ref["total"], rel=1e-12)


def test_neighbour_list_rebuilds_after_motion(ff_box, small_box):
    from phyneo_flows.ff import neighbors as nl

    _, pos, L = small_box
    box = jnp.eye(3) * L
    nbrs = ff_box.neighbor_list(pos, box)
    reach = ff_box.settings.cutoff + ff_box.settings.skin
    same = nl.update(nbrs, jnp.asarray(pos + 0.01), box, ff_box._arr["mol"], reach, ff_box.settings.skin)
    assert int(same.n_builds) == int(nbrs.n_builds)
    moved = pos.copy()
    moved[0] += 0.2
    new = nl.update(nbrs, jnp.asarray(moved), box, ff_box._arr["mol"], reach, ff_box.settings.skin)
    assert int(new.n_builds) == int(nbrs.n_builds) + 1


def test_cutoff_larger_than_half_box_is_refused(params, small_box):
    names, pos, L = small_box
    ff = ForceField(params, names, FFSettings(cutoff=1.2))
    with pytest.raises(InputError):
        ff.compute(pos, L, forces=False)


@pytest.mark.slow
def test_thousand_atom_box_matches_openmm(params):
    """The issue's must-show: the packed LiPF6/EC:DMC box, every term and the forces (~3 min)."""
    from phyneo_flows.chem import build_box
    from phyneo_flows.formulation import load_formulation

    root = Path(__file__).resolve().parents[2]
    box = build_box(load_formulation(root / "workflows" / "lipf6_ec_dmc.yaml"), n_atoms=1000, seed=1)
    L = float(box.box_nm)
    cmp = compare(params, list(box.molecule_species), np.asarray(box.positions_nm), L,
                  FFSettings(cutoff=min(1.0, 0.5 * L - 0.101)), pme_spacing=0.04)
    _check(cmp)
