"""Fit the Slater-ISA short range (A per atom type and component, B per atom type) to SAPT components.

The long range is fixed by the monomer properties (``physics.long_range``). What is left of each SAPT
component is fitted (``physics.model_components``)::

    electrostatics - multipoles              = -slater_electrostatics
    exchange                                 =  slater_exchange
    (induction - delta_hf) - polarization    = -slater_induction
    delta_hf                                 = -slater_dhf
    dispersion - undamped dispersion         =  damping correction(B) - slater_dispersion

together with the total (weighted ``total_weight`` times a component). Points whose SAPT total is above
``repulsive_kj_mol`` weigh ``(repulsive_kj_mol / total)^2``, except same-sign ion pairs (always repulsive),
which keep full weight. Parameters: log B and A / A_start per free type, Adam (optax); the parameters with
the lowest validation loss are kept.

B is per type and shared by the five components, so the Slater energy of a pair of types is
K_ij P(B_ij r) exp(-B_ij r) with K_ij = sum_c sign_c A_c,i A_c,j, and the pair has a repulsive wall only when
K_ij > 0. The data rarely bring every pair of types close (two carbonyl oxygens, say), and a free fit then
leaves some K_ij negative: the MD collapses there. With ``wall_fraction`` w > 0 (default 0.1) the fit is
parameterised as A_c,i = f_c,i A_exchange,i with |f_i| < sqrt(1 - w) for the four attractive components, so
by Cauchy-Schwarz K_ij >= w A_exchange,i A_exchange,j > 0 for every pair of fitted types, whatever the data
(``slater_walls`` lists them).

A molecule's A and B are fitted jointly on every dimer that involves it, and on nothing else. Molecules that
share a training dimer are fitted together (a group: Li+, EC and PF6- through Li+-EC, EC-EC, Li+-PF6-);
groups that share none are fitted one after another (``molecule_groups``: most training dimers first), each
with the groups before it frozen, so a DMC-DMC scan cannot move EC's parameters, while the contact walls of
each later group are built against the types already fitted (the cross pairs a mixture brings together).
Molecules named in ``frozen`` keep the values in ``params`` (fitted before, e.g. for another formulation);
dimers made only of frozen molecules take no part, so a formulation whose molecules are all known refits
nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
import optax
from pydantic import BaseModel, Field

from phyneo_flows.errors import InputError
from phyneo_flows.ff.model import FFSettings
from phyneo_flows.ff.params import SLATER_COMPONENTS, SLATER_SIGNS, ForceFieldParams, value
from phyneo_flows.fitting.data import DimerRecord, split_by_scan
from phyneo_flows.fitting.physics import (
    check_records,
    long_range,
    model_components,
    pair_table,
    sapt_array,
    short_range,
    slater_arrays,
    type_keys,
)

_LOG = logging.getLogger(__name__)

FIT_COMPONENTS = ("electrostatics", "exchange", "induction", "delta_hf", "dispersion")


class FitSettings(BaseModel):
    """Settings of the short-range fit."""

    steps: int = Field(4000, ge=0)
    learning_rate: float = Field(0.02, gt=0, description="Adam step on log B and A / A_start")
    total_weight: float = Field(3.0, ge=0, description="weight of the total relative to one component")
    repulsive_kj_mol: float = Field(25.0, description="points above this SAPT total are down-weighted")
    test_scans: int = Field(2, ge=0)
    val_scans: int = Field(1, ge=0)
    seed: int = 0
    positive_exchange: bool = Field(True, description="keep A_exchange >= 0 (a repulsive wall for every pair)")
    wall_fraction: float = Field(
        0.1, ge=0, lt=1,
        description="every pair of fitted atom types keeps a net repulsive Slater wall: sum over components of "
        "sign_c A_c,i A_c,j >= wall_fraction A_exchange,i A_exchange,j (see ``slater_walls``); 0 leaves the "
        "other components free, and pairs of types the data never bring close can then collapse in MD")
    contact_weight: float = Field(
        1.0, ge=0,
        description="weight of the contact penalty ((kJ/mol)^2 per (kJ/mol)^2 of violation): the pair potential of "
        "every pair of atom types (Slater terms, damped dispersion, charges) must fall monotonically over "
        "``contact_range_nm`` and by ``contact_barrier_kj_mol`` across it, so no two atoms can fuse (0: off)")
    contact_range_nm: tuple[float, float] = Field((0.10, 0.17), description="distances the wall must cover, nm")
    contact_barrier_kj_mol: float = Field(50.0, ge=0, description="V(r_min) - V(r_max) at least this, kJ/mol")
    exchange_floor: float = Field(
        0.2, ge=0,
        description="with wall_fraction > 0: A_exchange of a fitted type stays above this fraction of its start "
        "value (by element, ff.literature), so a few dimers that never bring an atom into contact cannot "
        "switch its wall off")
    prior_weight: float = Field(1e-2, ge=0, description="(kJ/mol)^2 per unit squared change of log B or "
                                "A / A_start: fixes directions the data leave free (A_i -> s A_i, A_j -> A_j / s)")
    pair_balance: float = Field(
        0.0, ge=0, le=1,
        description="each point's weight is divided by n_p^pair_balance, n_p the points of its pair type in the "
        "split: 0 weighs every dimer alike (pair types with many points, or large ion-pair errors, set the shared "
        "A/B of a molecule), 1 gives every pair type the same total weight (before repulsive points are down-weighted)")
    sapt_level_dispersion: bool = Field(
        True, description="scale each fitted molecule's C6/C8/C10 to the uncoupled-HF C6 in the SAPT basis before "
        "the long-range check and the fit (``monomer_params.sapt_level_dispersion``): long and short range one level")


@dataclass
class FitResult:
    """The fitted parameters, the split, per-point predictions and the optimiser history."""

    params: ForceFieldParams
    split: dict[str, list[DimerRecord]]
    predictions: dict[str, dict[str, np.ndarray]]  # split -> component -> (n,)
    fitted_molecules: list[str]
    frozen_molecules: list[str]
    history: list[dict[str, float]] = field(default_factory=list)
    long_range: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)

    def split_ids(self) -> dict[str, dict[str, list[int]]]:
        """{split: {pair type: [scan numbers]}}."""
        out: dict[str, dict[str, list[int]]] = {}
        for name, recs in self.split.items():
            d: dict[str, set[int]] = {}
            for r in recs:
                d.setdefault(r.pair_type, set()).add(r.scan)
            out[name] = {k: sorted(v) for k, v in sorted(d.items())}
        return out


def point_weights(records: Sequence[DimerRecord], repulsive_kj_mol: float = 25.0,
                  pair_balance: float = 0.0) -> np.ndarray:
    """1 below ``repulsive_kj_mol`` (and for same-sign ion pairs), ``(repulsive / total)^2`` above; divided by
    n_p^``pair_balance`` (n_p: the records of the point's pair type), the factors rescaled to average 1."""
    tot = sapt_array(records, "total")
    w = np.where(tot > repulsive_kj_mol, (repulsive_kj_mol / np.maximum(tot, 1e-9)) ** 2, 1.0)
    same = np.array([r.same_sign_ions for r in records])
    w = np.where(same, 1.0, w)
    if pair_balance and len(records):
        _, inverse, counts = np.unique([r.pair_type for r in records], return_inverse=True, return_counts=True)
        factor = counts[inverse] ** -float(pair_balance)
        w = w * factor * len(records) / factor.sum()
    return w


def _targets(records: Sequence[DimerRecord]) -> dict[str, np.ndarray]:
    return {c: sapt_array(records, c) for c in (*FIT_COMPONENTS, "total")}


def _molecules_of(records: Sequence[DimerRecord]) -> list[str]:
    return list(dict.fromkeys(m for r in records for m in (r.species_a, r.species_b)))


def _involves(record: DimerRecord, molecules: Sequence[str]) -> bool:
    return record.species_a in molecules or record.species_b in molecules


def molecule_groups(records: Sequence[DimerRecord], free: Sequence[str]) -> list[list[str]]:
    """The ``free`` molecules grouped by the ``records`` that join two of them (connected components), the group
    with the most records involving it first (ties by name); each group lists its molecules in ``free`` order."""
    parent = {m: m for m in free}

    def root(m: str) -> str:
        while parent[m] != m:
            m = parent[m]
        return m

    for r in records:
        if r.species_a in parent and r.species_b in parent:
            parent[root(r.species_a)] = root(r.species_b)
    groups: dict[str, list[str]] = {}
    for m in free:
        groups.setdefault(root(m), []).append(m)

    def size(group: list[str]) -> int:
        return sum(_involves(r, group) for r in records)

    return sorted(groups.values(), key=lambda g: (-size(g), sorted(g)))


def with_slater(params: ForceFieldParams, keys: Sequence[tuple[str, str]], b: np.ndarray, a: np.ndarray,
                source: str) -> ForceFieldParams:
    """A copy of ``params`` with B and A of the types ``keys`` replaced."""
    new = params.model_copy(deep=True)
    for n, (m, t) in enumerate(keys):
        tp = new.molecules[m].types[t]
        tp.B = value(float(b[n]), "B", source)
        for k, c in enumerate(SLATER_COMPONENTS):
            setattr(tp, f"A_{c}", value(float(a[n, k]), f"A_{c}", source))
    return new


def fit_short_range(
    params: ForceFieldParams,
    records: Sequence[DimerRecord],
    *,
    frozen: Sequence[str] = (),
    settings: FitSettings | None = None,
    ff_settings: FFSettings | None = None,
    split: dict[str, list[DimerRecord]] | None = None,
    held_out: Sequence[DimerRecord] = (),
    source: str = "Slater-ISA fit to SAPT components (phyneo_flows.fitting.shortrange)",
) -> FitResult:
    """Fit A and B of every molecule not in ``frozen`` on the dimers that involve it (see module doc).
    ``held_out``: test dimers kept apart (``data.split_by_scan``), scored but never fitted."""
    settings = settings or FitSettings()
    check_records(params, [*records, *held_out])
    for m in frozen:
        params.molecule(m)
    split = split or split_by_scan(list(records), test_scans=settings.test_scans, val_scans=settings.val_scans,
                                   seed=settings.seed, held_out=held_out)
    free = [m for m in _molecules_of(records) if m not in frozen]
    groups = molecule_groups(split["train"], free)
    for group in groups:
        if not any(_involves(r, group) for r in split["train"]):
            raise InputError(f"no training dimer involves {group}", field="dimers",
                             fix="add scans of these molecules or fewer test/validation scans")
    keys = type_keys(params, _molecules_of(records))
    everything = [r for recs in split.values() for r in recs]
    lr_all = long_range(params, everything, ff_settings)
    lr, start = {}, 0
    for name, recs in split.items():
        lr[name] = {k: v[start:start + len(recs)] for k, v in lr_all.items()}
        start += len(recs)
    history: list[dict[str, float]] = []
    fitted = params
    if free and settings.steps > 0:
        fixed = [m for m in _molecules_of(records) if m not in free]
        for n_group, group in enumerate(groups):
            mask = {name: np.array([_involves(r, group) for r in recs], dtype=bool) for name, recs in split.items()}
            sub = {name: [r for r, keep in zip(recs, mask[name], strict=True) if keep] for name, recs in split.items()}
            sub_lr = {name: {k: v[mask[name]] for k, v in lr[name].items()} for name in split}
            mols = list(dict.fromkeys([*group, *_molecules_of([r for recs in sub.values() for r in recs]), *fixed]))
            g_keys = type_keys(fitted, mols)
            g_free = np.array([n for n, (m, _) in enumerate(g_keys) if m in group], dtype=int)
            g_b0, g_a0 = slater_arrays(fitted, g_keys)
            b, a, g_history = _optimise(fitted, g_keys, g_free, g_b0, g_a0, sub, sub_lr, settings)
            fitted = with_slater(fitted, [g_keys[n] for n in g_free], b[g_free], a[g_free], source)
            history += [h | {"group": n_group} for h in g_history]
            fixed += group
    b_fit, a_fit = slater_arrays(fitted, keys)
    preds = {}
    for name, recs in split.items():
        if recs:
            table = pair_table(fitted, recs, keys)
            comps = model_components(lr[name], short_range(table, jnp.asarray(b_fit), jnp.asarray(a_fit)))
            preds[name] = {k: np.asarray(v) for k, v in comps.items()}
    return FitResult(params=fitted, split=split, predictions=preds, fitted_molecules=free,
                     frozen_molecules=list(frozen), history=history, long_range=lr)


def _optimise(params, keys, free_idx, b0, a0, split, lr, settings: FitSettings):
    scale = np.where(np.abs(a0[:, :1]) > 1e-3, np.abs(a0[:, :1]), 10.0) * np.ones_like(a0)

    def data(name):
        recs = [r for r in split[name]]
        if not recs:
            return None
        table = pair_table(params, recs, keys)
        tg = {k: jnp.asarray(v) for k, v in _targets(recs).items()}
        w = jnp.asarray(point_weights(recs, settings.repulsive_kj_mol, settings.pair_balance))
        return table, {k: jnp.asarray(v) for k, v in lr[name].items()}, tg, w

    train, val = data("train"), data("val")
    fixed_logb = jnp.asarray(np.log(b0))
    fixed_a = jnp.asarray(a0 / scale)
    fidx = jnp.asarray(free_idx)
    scale_j = jnp.asarray(scale)

    walled = settings.wall_fraction > 0
    rho = float(np.sqrt(1.0 - settings.wall_fraction))
    floor = settings.exchange_floor

    def unpack(theta):
        logb = fixed_logb.at[fidx].set(theta["logb"])
        if walled:
            # A_c = f_c A_exchange with |f| < rho: Cauchy-Schwarz keeps every pair's wall >= (1 - rho^2) exchange
            # A_exchange >= exchange_floor x its start value: every type keeps a wall the data cannot remove
            a_ex = (floor + jnp.exp(theta["a"][:, 0])) * scale_j[fidx, 0]
            g = theta["a"][:, 1:]
            f = rho * g / jnp.sqrt(1.0 + jnp.sum(g * g, axis=1, keepdims=True))
            free_a = jnp.concatenate([a_ex[:, None], f * a_ex[:, None]], axis=1)
            a = (fixed_a * scale_j).at[fidx].set(free_a)
            return jnp.exp(logb), a
        a = fixed_a.at[fidx].set(theta["a"]) * scale_j
        if settings.positive_exchange:
            a = a.at[:, 0].set(jnp.abs(a[:, 0]))
        return jnp.exp(logb), a

    def loss_fn(theta, d):
        table, lrd, tg, w = d
        comps = model_components(lrd, short_range(table, *unpack(theta)))
        err = sum(jnp.sum(w * (comps[c] - tg[c]) ** 2) for c in FIT_COMPONENTS)
        err = err + settings.total_weight * jnp.sum(w * (comps["total"] - tg["total"]) ** 2)
        return err / jnp.sum(w)

    contact = contact_penalty(params, keys, free_idx, settings) if settings.contact_weight > 0 else None

    def prior(theta):
        return settings.prior_weight * (jnp.sum((theta["logb"] - theta0["logb"]) ** 2)
                                        + jnp.sum((theta["a"] - theta0["a"]) ** 2))

    theta = {"logb": jnp.asarray(np.log(b0[free_idx])), "a": jnp.asarray((a0 / scale)[free_idx])}
    if walled:
        theta["a"] = jnp.asarray(_wall_start(a0[free_idx], scale[free_idx, 0], rho, floor))
    theta0 = dict(theta)
    opt = optax.adam(settings.learning_rate)
    state = opt.init(theta)

    @jax.jit
    def step(theta, state):
        def objective(th):
            extra = settings.contact_weight * contact(*unpack(th)) if contact is not None else 0.0
            return loss_fn(th, train) + prior(th) + extra

        loss, g = jax.value_and_grad(objective)(theta)
        upd, state = opt.update(g, state, theta)
        return optax.apply_updates(theta, upd), state, loss

    val_loss = jax.jit(lambda th: loss_fn(th, val)) if val is not None else None
    best, best_loss, history = theta, np.inf, []
    every = max(settings.steps // 100, 1)
    for k in range(settings.steps):
        theta, state, loss = step(theta, state)
        if k % every == 0 or k == settings.steps - 1:
            v = float(val_loss(theta)) if val_loss is not None else float(loss)
            history.append({"step": k, "train_loss": float(loss), "val_loss": v})
            if v < best_loss:
                best, best_loss = theta, v
    b, a = unpack(best)
    return np.asarray(b), np.asarray(a), history


def _wall_start(a0: np.ndarray, scale: np.ndarray, rho: float, floor: float) -> np.ndarray:
    """Start values (T, 5) of the walled parameterisation for start A's ``a0`` (T, 5): log(|A_exchange| / scale),
    then g with f = rho g / sqrt(1 + |g|^2) = A_c / A_exchange, the ratios shrunk to 0.9 rho where larger."""
    a_ex = np.maximum(np.abs(a0[:, 0]), 1e-3)
    f = a0[:, 1:] / a_ex[:, None]
    norm = np.linalg.norm(f, axis=1, keepdims=True)
    f = np.where(norm > 0.9 * rho, f * 0.9 * rho / np.maximum(norm, 1e-12), f)
    u = np.linalg.norm(f, axis=1, keepdims=True) / rho
    g = f / rho / np.sqrt(1.0 - u * u)
    return np.concatenate([np.log(np.maximum(a_ex / scale - floor, 1e-3))[:, None], g], axis=1)


def contact_potentials(params: ForceFieldParams, keys: Sequence[tuple[str, str]], pairs: np.ndarray, r_nm):
    """A function (b (T,), a (T, 5)) -> V (P, R): the pair potential (kJ/mol) of the type pairs ``pairs`` (P, 2;
    indices into ``keys``) at the distances ``r_nm`` (R,): the five signed Slater terms, the Tang-Toennies damped
    dispersion and the charge-charge Coulomb term, i.e. what two atoms of those types feel at contact, less the
    (short-ranged, damped) higher multipoles and polarisation."""
    from phyneo_flows.ff.pairwise import dispersion_pair, slater_pair
    from phyneo_flows.units import ONE_4PI_EPS0

    def col(name):
        return np.array([float(params.molecule(m).types[t].number(name)) for m, t in keys])

    q, c6, c8, c10 = col("charge"), col("C6"), col("C8"), col("C10")
    i, j = jnp.asarray(pairs[:, 0]), jnp.asarray(pairs[:, 1])
    r = jnp.asarray(r_nm)[None, :]
    coulomb = jnp.asarray(ONE_4PI_EPS0 * q[pairs[:, 0]] * q[pairs[:, 1]])[:, None] / r
    cn = [jnp.asarray(np.sqrt(c[pairs[:, 0]] * c[pairs[:, 1]]))[:, None] for c in (c6, c8, c10)]
    n_r = r.shape[1]
    flat_r = jnp.tile(r[0], len(pairs))

    def potentials(b, a):
        bij = jnp.sqrt(b[i] * b[j])
        slater = slater_pair(flat_r, jnp.repeat(bij, n_r), jnp.repeat(a[i] * a[j], n_r, axis=0))
        return jnp.sum(slater, axis=1).reshape(-1, n_r) + dispersion_pair(r, bij[:, None], *cn) + coulomb

    return potentials


def contact_pairs(keys: Sequence[tuple[str, str]], free_idx) -> np.ndarray:
    """Every pair of type indices (i <= j) with at least one free type."""
    free = set(int(n) for n in free_idx)
    return np.array([(i, j) for i in range(len(keys)) for j in range(i, len(keys)) if i in free or j in free],
                    dtype=int).reshape(-1, 2)


def contact_penalty(params: ForceFieldParams, keys, free_idx, settings: FitSettings):
    """(b, a) -> sum over type pairs of squared violations (kJ/mol)^2 of: V falling monotonically over
    ``contact_range_nm`` (11 points) and V(r_min) - V(r_max) >= ``contact_barrier_kj_mol``."""
    r = np.linspace(*settings.contact_range_nm, 11)
    pot = contact_potentials(params, keys, contact_pairs(keys, free_idx), r)
    barrier = settings.contact_barrier_kj_mol

    def penalty(b, a):
        v = pot(b, a)
        rise = jax.nn.relu(v[:, 1:] - v[:, :-1])  # V must not grow outwards inside the contact range
        short = jax.nn.relu(barrier - (v[:, 0] - v[:, -1]))
        return jnp.sum(rise**2) + jnp.sum(short**2)

    return penalty


def contact_walls(params: ForceFieldParams, molecules: Sequence[str] | None = None,
                  r_nm: tuple[float, float] | None = None) -> list[dict]:
    """Per pair of atom types of ``molecules`` (default all): the barrier V(r_min) - V(r_max) and the largest
    outward rise of V over ``r_nm`` (kJ/mol; see ``contact_potentials``), lowest barrier first."""
    r_nm = r_nm or FitSettings().contact_range_nm
    keys = type_keys(params, molecules)
    b, a = slater_arrays(params, keys)
    pairs = contact_pairs(keys, range(len(keys)))
    v = np.asarray(contact_potentials(params, keys, pairs, np.linspace(*r_nm, 11))(jnp.asarray(b), jnp.asarray(a)))
    out = [{"types": [keys[i][1], keys[j][1]], "barrier_kj_mol": float(v[n, 0] - v[n, -1]),
            "max_rise_kj_mol": float(max(0.0, np.max(v[n, 1:] - v[n, :-1])))} for n, (i, j) in enumerate(pairs)]
    return sorted(out, key=lambda w: w["barrier_kj_mol"])


def slater_walls(params: ForceFieldParams, molecules: Sequence[str] | None = None) -> list[dict]:
    """The net short-range wall of every pair of atom types (within and across ``molecules``, default all).

    B is per type and shared by the components, so a pair's Slater energy is K_ij P(B_ij r) exp(-B_ij r) with
    K_ij = sum_c sign_c A_c,i A_c,j: the pair is repulsive at contact only when K_ij > 0. Returns
    [{"types": [i, j], "wall_kj_mol": K_ij, "exchange_kj_mol": A_ex,i A_ex,j}], most attractive first.
    """
    types = [(m, t, params.molecule(m).types[t]) for m in (molecules or list(params.molecules))
             for t in params.molecule(m).types]
    out = []
    for n, (_, ti, pi) in enumerate(types):
        for _, tj, pj in types[n:]:
            a_i = [float(pi.number(f"A_{c}")) for c in SLATER_COMPONENTS]
            a_j = [float(pj.number(f"A_{c}")) for c in SLATER_COMPONENTS]
            k = sum(SLATER_SIGNS[c] * x * y for c, x, y in zip(SLATER_COMPONENTS, a_i, a_j, strict=True))
            out.append({"types": [ti, tj], "wall_kj_mol": k, "exchange_kj_mol": a_i[0] * a_j[0]})
    return sorted(out, key=lambda w: w["wall_kj_mol"])


@dataclass
class PhysicsFit:
    """Everything one physics fit stores: the long-range check, the fit, metrics and parity plots."""

    result: FitResult
    long_range_check: dict
    metrics: dict[str, dict]  # split -> pair type -> component -> {rmse, mae, max}
    summary: dict  # {"pairs": {pair: {n_train, n_test, test_rmse_kj_mol, physics_only_test_rmse_kj_mol}}}
    parity_png: dict[str, bytes]


def run_physics_fit(params: ForceFieldParams, records: Sequence[DimerRecord], *, frozen: Sequence[str] = (),
                    settings: FitSettings | None = None, ff_settings: FFSettings | None = None,
                    min_contact_a: float = 5.0, plots: bool = True,
                    held_out: Sequence[DimerRecord] = ()) -> PhysicsFit:
    """Dispersion at the SAPT level (``FitSettings.sapt_level_dispersion``), long-range check, short-range fit,
    metrics per split and pair type, and parity plots. ``held_out``: test dimers kept apart from ``records``
    (``data.split_by_scan``)."""
    from phyneo_flows.fitting.longrange_check import check_long_range, failure_messages
    from phyneo_flows.fitting.metrics import pair_metrics, parity_png, summary
    from phyneo_flows.fitting.monomer_params import sapt_level_dispersion

    settings = settings or FitSettings()
    bases = sorted({r.basis.lower() for r in records if r.basis})
    if settings.sapt_level_dispersion and bases:
        if len(bases) > 1:
            raise InputError(f"the dimers mix SAPT bases {bases}", field="dimers",
                             fix="fit to dimers of one SAPT level")
        fitted = [m for m in params.molecules if m not in set(frozen)]
        params = sapt_level_dispersion(params, bases[0], fitted)
    try:
        raw = check_long_range(params, records, min_contact_a=min_contact_a, settings=ff_settings)
    except InputError:
        raw = {}
    for message in failure_messages(raw, bases[0] if len(bases) == 1 else None):
        _LOG.warning(message)
    checks = {k: v.model_dump() | {"passed": v.passed} for k, v in raw.items()}
    res = fit_short_range(params, records, frozen=frozen, settings=settings, ff_settings=ff_settings,
                          held_out=held_out)
    metrics = {name: pair_metrics(res.split[name], res.predictions[name]) for name in res.predictions}
    pngs = {name: parity_png(res.split[name], res.predictions[name], title=f"physics fit, {name}")
            for name in res.predictions} if plots else {}
    test = res.split["test"]
    summ = summary(res.split["train"], test, res.predictions.get("test", {}).get("total", np.zeros(0)))
    return PhysicsFit(result=res, long_range_check=checks, metrics=metrics, summary=summ, parity_png=pngs)
