"""The physics model of SAPT-labelled dimers, component by component (kJ/mol, nm).

Long range (``long_range``): the ``ForceField`` of the isolated dimer minus those of its two monomers, per
term, for the permanent-multipole ``electrostatics`` and the mutual Thole-damped ``polarization``; and the
undamped ``-sum C_n / r^n`` dispersion. One ``ForceField`` per composition, ``vmap``-ed and ``jit``-ed over
all dimers of that composition, so hundreds of dimers take seconds.

Short range (``PairTable`` + ``short_range``): every intermolecular atom pair of every dimer in one flat
table (distance, global atom-type index of each side, combined C_n) so that the Slater-ISA terms and the
Tang-Toennies damping correction of all dimers are one vectorised function of the per-type ``B`` and ``A``,
differentiable for the fit. Its formulas are ``ff.pairwise``'s (the model's own).

SAPT components and the model (``model_components``)::

    electrostatics = multipoles + (-slater_electrostatics)
    exchange       = slater_exchange
    induction      = polarization + (-slater_induction) + (-slater_dhf)      (psi4's includes delta-HF)
    delta_hf       = -slater_dhf
    dispersion     = undamped dispersion + damping correction(B) + (-slater_dispersion)
    total          = their sum  (= the ForceField's intermolecular energy)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from phyneo_flows.errors import InputError
from phyneo_flows.ff.model import FFSettings, ForceField
from phyneo_flows.ff.pairwise import dispersion_pair, slater_pair
from phyneo_flows.ff.params import SLATER_COMPONENTS, ForceFieldParams
from phyneo_flows.fitting.data import DimerRecord
from phyneo_flows.units import HARTREE_TO_KJ_MOL

SAPT_COMPONENTS = ("electrostatics", "exchange", "induction", "delta_hf", "dispersion")


def check_records(params: ForceFieldParams, records: Sequence[DimerRecord]) -> None:
    """Raise InputError when a dimer's monomers are not molecules of ``params`` in their atom order."""
    if not records:
        raise InputError("no dimers given", field="dimers", fix="give SAPT-labelled dimers (JSONL)")
    for r in records:
        for name, syms in ((r.species_a, r.symbols_a), (r.species_b, r.symbols_b)):
            mp = params.molecule(name)
            if tuple(mp.symbols) != tuple(syms):
                raise InputError(f"{r.pair_type} scan {r.scan} point {r.point}: monomer {name} has atoms "
                                 f"{''.join(syms)}, the parameters {''.join(mp.symbols)}", field="dimers",
                                 fix="order each monomer's atoms as the species template does")


def _groups(records: Sequence[DimerRecord]) -> dict[tuple[str, str], list[int]]:
    out: dict[tuple[str, str], list[int]] = {}
    for k, r in enumerate(records):
        out.setdefault((r.species_a, r.species_b), []).append(k)
    return out


_LR_KEYS = ("charge", "dipole", "quadrupole", "polarizability", "thole")
_FF_CACHE: dict[str, ForceField] = {}


def _forcefield(params: ForceFieldParams, names: list[str], settings: FFSettings) -> ForceField:
    """A ForceField for ``names``, reused (with its compiled functions) while the long-range parameters and
    settings are the same: the Slater A/B a fit changes do not enter ``long_range``."""
    import json

    lr = {m: {"symbols": params.molecule(m).symbols, "frames": [f.model_dump() for f in params.molecule(m).frames],
              "types": {t: {k: getattr(v, k).model_dump() for k in _LR_KEYS}
                        for t, v in params.molecule(m).types.items()}} for m in names}
    return cached_forcefield(json.dumps([lr, names, settings.model_dump()], sort_keys=True), params, names, settings)


def cached_forcefield(identity: str, params: ForceFieldParams, names: Sequence[str],
                      settings: FFSettings) -> ForceField:
    """The ForceField (with its compiled functions) stored under ``identity``, the text of whatever the
    caller's energies depend on; built on first use. At most 33 are kept."""
    import hashlib

    key = hashlib.sha256(identity.encode()).hexdigest()
    if key not in _FF_CACHE:
        if len(_FF_CACHE) > 32:
            _FF_CACHE.clear()
        _FF_CACHE[key] = ForceField(params, list(names), settings)
    return _FF_CACHE[key]


def _terms_each(ff: ForceField, positions: np.ndarray) -> dict[str, np.ndarray]:
    """electrostatics and polarization of each configuration (isolated, direct sum), one compiled function
    called per configuration (``vmap`` over the induced-dipole solver compiles several times slower)."""
    out: dict[str, list[float]] = {"electrostatics": [], "polarization": []}
    for p in positions:
        res = ff._terms_jit(jnp.asarray(p))
        for k in out:
            out[k].append(float(res[k]))
    return {k: np.asarray(v) for k, v in out.items()}


def long_range(params: ForceFieldParams, records: Sequence[DimerRecord],
               settings: FFSettings | None = None) -> dict[str, np.ndarray]:
    """Intermolecular long-range energies of each dimer (kJ/mol): ``electrostatics`` (permanent multipoles,
    undamped), ``polarization`` (mutual induction, Thole-damped as in the model) and ``dispersion``
    (undamped -C6/r^6 - C8/r^8 - C10/r^10). Each is dimer minus monomer A minus monomer B; the model
    excludes intramolecular pairs from these terms, so an isolated monomer's part is zero and is not
    evaluated (``monomer_terms`` computes it; a test checks that it vanishes)."""
    check_records(params, records)
    settings = settings or FFSettings()
    n = len(records)
    out = {k: np.zeros(n) for k in ("electrostatics", "polarization")}
    for (sa, sb), idx in _groups(records).items():
        dimer = np.stack([records[k].positions_nm for k in idx])
        ff = _forcefield(params, [sa, sb], settings)
        ff.check_frames(dimer[0])
        tot = _terms_each(ff, dimer)
        for k in out:
            out[k][idx] = tot[k]
    table = pair_table(params, records)
    out["dispersion"] = np.asarray(undamped_dispersion(table))
    return out


def monomer_terms(params: ForceFieldParams, name: str, positions_nm: np.ndarray,
                  settings: FFSettings | None = None) -> dict[str, float]:
    """electrostatics and polarization of one isolated monomer (kJ/mol); zero in this model."""
    ff = _forcefield(params, [name], settings or FFSettings())
    return {k: float(v[0]) for k, v in _terms_each(ff, np.asarray(positions_nm)[None]).items()}


@dataclass(frozen=True)
class PairTable:
    """All intermolecular atom pairs of a list of dimers: distance (nm), dimer index, global type indices
    (into ``type_keys``, (molecule, atom type)) and the combined dispersion coefficients sqrt(C_i C_j)."""

    r: np.ndarray
    dimer: np.ndarray
    ti: np.ndarray
    tj: np.ndarray
    c6: np.ndarray
    c8: np.ndarray
    c10: np.ndarray
    n_dimers: int
    type_keys: tuple[tuple[str, str], ...]


def type_keys(params: ForceFieldParams, molecules: Sequence[str] | None = None) -> tuple[tuple[str, str], ...]:
    """(molecule, atom type) of every type of ``molecules`` (all of ``params`` by default), in file order."""
    names = list(params.molecules) if molecules is None else list(molecules)
    return tuple((m, t) for m in names for t in dict.fromkeys(params.molecule(m).atom_types))


def pair_table(params: ForceFieldParams, records: Sequence[DimerRecord],
               keys: Sequence[tuple[str, str]] | None = None) -> PairTable:
    """The flat pair table of ``records`` (types indexed in ``keys``, default ``type_keys(params)``)."""
    keys = tuple(keys) if keys is not None else type_keys(params)
    index = {k: n for n, k in enumerate(keys)}
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("r", "dimer", "ti", "tj", "c6", "c8", "c10")}
    per_mol: dict[str, dict[str, np.ndarray]] = {}

    def mol_arrays(name: str) -> dict[str, np.ndarray]:
        if name not in per_mol:
            mp = params.molecule(name)
            missing = [t for t in mp.atom_types if (name, t) not in index]
            if missing:
                raise InputError(f"types {missing} of {name} are not among the fitted types", field="params")
            per_mol[name] = {"t": np.array([index[(name, t)] for t in mp.atom_types]),
                             **{c: np.sqrt(mp.type_array(c.upper())) for c in ("c6", "c8", "c10")}}
        return per_mol[name]

    for d, rec in enumerate(records):
        a, b = mol_arrays(rec.species_a), mol_arrays(rec.species_b)
        diff = rec.positions_a_nm[:, None, :] - rec.positions_b_nm[None, :, :]
        r = np.linalg.norm(diff, axis=-1).ravel()
        ia, ib = np.meshgrid(np.arange(len(rec.symbols_a)), np.arange(len(rec.symbols_b)), indexing="ij")
        ia, ib = ia.ravel(), ib.ravel()
        cols["r"].append(r)
        cols["dimer"].append(np.full(r.shape, d))
        cols["ti"].append(a["t"][ia])
        cols["tj"].append(b["t"][ib])
        for c in ("c6", "c8", "c10"):
            cols[c].append(a[c][ia] * b[c][ib])
    cat = {k: np.concatenate(v) for k, v in cols.items()}
    return PairTable(r=cat["r"], dimer=cat["dimer"].astype(np.int32), ti=cat["ti"].astype(np.int32),
                     tj=cat["tj"].astype(np.int32), c6=cat["c6"], c8=cat["c8"], c10=cat["c10"],
                     n_dimers=len(records), type_keys=keys)


def slater_arrays(params: ForceFieldParams, keys: Sequence[tuple[str, str]]) -> tuple[np.ndarray, np.ndarray]:
    """Per-type B (T,) in 1/nm and A (T, 5) in (kJ/mol)^0.5 (SLATER_COMPONENTS order) from ``params``."""
    b = np.array([float(params.molecule(m).types[t].number("B")) for m, t in keys])
    a = np.array([[float(params.molecule(m).types[t].number(f"A_{c}")) for c in SLATER_COMPONENTS]
                  for m, t in keys])
    return b, a


def undamped_dispersion(table: PairTable) -> jnp.ndarray:
    """-sum (C6/r^6 + C8/r^8 + C10/r^10) per dimer (kJ/mol)."""
    r2 = table.r**2
    e = -(table.c6 / r2**3 + table.c8 / r2**4 + table.c10 / r2**5)
    return jax.ops.segment_sum(jnp.asarray(e), jnp.asarray(table.dimer), num_segments=table.n_dimers)


def short_range(table: PairTable, b, a) -> dict[str, jnp.ndarray]:
    """Per-dimer short-range energies (kJ/mol) for per-type ``b`` (T,) and ``a`` (T, 5): the signed Slater
    terms ``slater_<component>`` and ``damping`` (damped minus undamped dispersion). Differentiable."""
    r = jnp.asarray(table.r)
    ti, tj = jnp.asarray(table.ti), jnp.asarray(table.tj)
    bij = jnp.sqrt(b[ti] * b[tj])
    e_sl = slater_pair(r, bij, a[ti] * a[tj])  # (P, 5), signs included
    c6, c8, c10 = (jnp.asarray(x) for x in (table.c6, table.c8, table.c10))
    r2 = r * r
    undamped = -(c6 / r2**3 + c8 / r2**4 + c10 / r2**5)
    damp = dispersion_pair(r, bij, c6, c8, c10) - undamped
    seg = jnp.asarray(table.dimer)
    per = jax.ops.segment_sum(jnp.concatenate([e_sl, damp[:, None]], axis=1), seg, num_segments=table.n_dimers)
    out = {f"slater_{c}": per[:, k] for k, c in enumerate(SLATER_COMPONENTS)}
    out["damping"] = per[:, len(SLATER_COMPONENTS)]
    return out


def model_components(lr: dict[str, np.ndarray], sr: dict[str, jnp.ndarray]) -> dict[str, jnp.ndarray]:
    """The model's value of each SAPT component and the total (see the module docstring)."""
    out = {
        "electrostatics": lr["electrostatics"] + sr["slater_electrostatics"],
        "exchange": sr["slater_exchange"],
        "induction": lr["polarization"] + sr["slater_induction"] + sr["slater_dhf"],
        "delta_hf": sr["slater_dhf"],
        "dispersion": lr["dispersion"] + sr["damping"] + sr["slater_dispersion"],
    }
    out["total"] = out["electrostatics"] + out["exchange"] + out["induction"] + out["dispersion"]
    return out


def predict(params: ForceFieldParams, records: Sequence[DimerRecord], settings: FFSettings | None = None,
            lr: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Every SAPT component and the total of each dimer from ``params`` (kJ/mol)."""
    lr = lr if lr is not None else long_range(params, records, settings)
    table = pair_table(params, records)
    b, a = slater_arrays(params, table.type_keys)
    comps = model_components(lr, short_range(table, jnp.asarray(b), jnp.asarray(a)))
    return {k: np.asarray(v) for k, v in comps.items()}


def sapt_array(records: Sequence[DimerRecord], component: str) -> np.ndarray:
    """One SAPT component of each dimer (kJ/mol)."""
    return np.array([r.components_kj_mol[component] for r in records])


IND20_PSIVAR = "SAPT IND20,R ENERGY"
EXCH_IND20_PSIVAR = "SAPT EXCH-IND20,R ENERGY"
THOLE_TARGETS = ("ind20", "ind20+exch-ind20")
"""What an ion's Thole ``a`` is fitted to: SAPT0's Ind20,r alone, or Ind20,r + Exch-Ind20,r (the whole
second-order induction: the Pauli quenching of the induced dipoles then goes with them into the many-body
polarisation instead of into a pairwise Slater term)."""


def _psivar(records: Sequence[DimerRecord], name: str) -> np.ndarray:
    return np.array([r.extra.get("psivars_hartree", {}).get(name, np.nan) * HARTREE_TO_KJ_MOL for r in records])


def ind20(records: Sequence[DimerRecord]) -> np.ndarray:
    """SAPT0's second-order induction without exchange, Ind20,r (kJ/mol), of each dimer: the part of psi4's
    induction that a classical polarisation model describes (exchange-induction and delta-HF go to the
    Slater terms). NaN where the record keeps no psi4 variables (``psivars_hartree``)."""
    return _psivar(records, IND20_PSIVAR)


def thole_target(records: Sequence[DimerRecord], target: str) -> np.ndarray:
    """The polarisation energy (kJ/mol) an ion's Thole ``a`` is fitted to (``THOLE_TARGETS``)."""
    if target not in THOLE_TARGETS:
        raise InputError(f"unknown Thole target {target!r}", field="thole_target",
                         fix=f"use one of {', '.join(THOLE_TARGETS)}")
    out = ind20(records)
    return out + _psivar(records, EXCH_IND20_PSIVAR) if target == "ind20+exch-ind20" else out


def with_thole(params: ForceFieldParams, species: str, value: float, source: str) -> ForceFieldParams:
    """``params`` with the Thole ``a`` of every atom type of ``species`` set to ``value``."""
    d = params.model_dump()
    for t in d["molecules"][species]["types"].values():
        t["thole"] = {"value": float(value), "unit": "1", "source": source}
    return type(params).model_validate(d)


def fit_ion_thole(params: ForceFieldParams, records: Sequence[DimerRecord], species: str,
                  grid: Sequence[float] = tuple(np.geomspace(0.005, 0.39, 17)),
                  settings: FFSettings | None = None,
                  target: str = "ind20+exch-ind20") -> tuple[ForceFieldParams, dict]:
    """Fit the Thole ``a`` of an ion (``species``) to SAPT0 induction of its dimers (those with psi4 variables):
    ``target`` (``THOLE_TARGETS``) Ind20,r + Exch-Ind20,r by default, or Ind20,r alone.

    AMOEBA damping pairs atoms i, j with min(a_i, a_j) and the width (alpha_i alpha_j)^(1/6); a hard ion's
    tiny polarisability makes that width so small that the ion's field on its neighbours is barely damped at
    contact, and the induced dipoles, hence the many-body polarisation of Li+(solvent)n, come out far too
    large (a pairwise Slater term can fix the dimer, never the many-body part). Lowering the ion's own ``a``
    damps only the pairs that involve the ion. Grid search (one compile per value): the value whose
    polarisation has the least RMSE to the target. Returns the new parameters and a report.

    Why exchange-induction is in the default target (measured on Li+(EC)n, docs/fitting.md): fitted to Ind20,r
    alone (a = 0.076) the model's many-body polarisation of Li+(EC)2 is 47.8 kJ/mol where HF's whole
    three-body energy is about 26; Pauli repulsion quenches the induced dipoles at contact, and only a target
    that includes it (a = 0.044 on the default grid; RMSE 8.8 kJ/mol to that target, against 13.6 to Ind20,r
    alone at a = 0.076) carries the quenching into the many-body term (37.8 kJ/mol for Li+(EC)2)."""
    use = [r for r in records if species in (r.species_a, r.species_b)
           and IND20_PSIVAR in r.extra.get("psivars_hartree", {})]
    if not use:
        raise InputError(f"no {species} dimer with psi4's {IND20_PSIVAR!r}", field="dimers",
                         fix="rerun the dimers with fixtures/fitting/make_sapt_targeted.py (it keeps psivars)")
    values = thole_target(use, target)
    rows = []
    for a in grid:
        trial = with_thole(params, species, a, "trial")
        pol = long_range(trial, use, settings)["polarization"]
        rows.append({"thole": float(a), "rmse_kj_mol": float(np.sqrt(np.mean((pol - values) ** 2)))})
    best = min(rows, key=lambda r: r["rmse_kj_mol"])
    before = float(np.sqrt(np.mean((long_range(params, use, settings)["polarization"] - values) ** 2)))
    what = "Ind20,r" if target == "ind20" else "Ind20,r + Exch-Ind20,r"
    source = (f"fitted to SAPT0 {what} of {len(use)} {species} dimers (psi4 variables; grid "
              f"{min(grid):.3g}-{max(grid):.3g}): RMSE {before:.1f} -> {best['rmse_kj_mol']:.1f} kJ/mol")
    return with_thole(params, species, best["thole"], source), {
        "species": species, "target": target, "n_dimers": len(use), "thole": best["thole"],
        "rmse_before_kj_mol": before,
        "rmse_kj_mol": best["rmse_kj_mol"], "grid": rows}
