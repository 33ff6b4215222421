"""Many-body check: binding energies of ion-solvent clusters from the force field against cluster QM.

A cluster entry is one element of ``clusters`` in ``fixtures/fitting/clusters_li_ec.json``
(``fixtures/fitting/make_clusters.py`` writes it)::

    {"n": 2, "molecules": [{"name": "Li+", "symbols": ["Li"], "coordinates_a": [[x, y, z]], "charge": 1}, ...],
     "binding_kj_mol": {"hf/aug-cc-pvdz": ..., "pbe0/aug-cc-pvdz": ...}, ...}

Coordinates are in Angstrom there and converted to nm here. The force-field binding energy is
``E(cluster) - sum E(monomer)`` per term of ``ForceField`` on the isolated system (``box=None``, direct sum);
the monomers are rigid, so the bonded terms cancel. The QM reference is counterpoise-corrected with rigid
monomers: the same quantity.

``polarization_many_body`` is the non-additive part of the polarisation: cluster minus the sum over every
pair of molecules of that pair's polarisation (each pair on its own, at the cluster geometry). Every other
term of the model is pairwise additive.
"""

from __future__ import annotations

import json
from itertools import combinations
from pathlib import Path

import numpy as np

from phyneo_flows.errors import InputError
from phyneo_flows.ff.model import TERMS, FFSettings, ForceField
from phyneo_flows.ff.params import ForceFieldParams
from phyneo_flows.fitting.physics import cached_forcefield

DEFAULT_LEVEL = "hf/aug-cc-pvdz"
DEFAULT_CLUSTERS = Path(__file__).resolve().parents[2] / "fixtures" / "fitting" / "clusters_li_ec.json"
PAIRWISE_TERMS = tuple(t for t in TERMS if t not in ("polarization", "dispersion_lrc", "bonded"))

def _forcefield(params: ForceFieldParams, names: tuple[str, ...]) -> ForceField:
    """One ForceField (and its compiled energy) per parameter set and molecule list."""
    return cached_forcefield(params.model_dump_json() + "|" + ",".join(names), params, names, FFSettings())


def _terms(params: ForceFieldParams, names: tuple[str, ...], positions_nm: np.ndarray) -> dict[str, float]:
    """Energy per term (kJ/mol) of the isolated system ``names`` at ``positions_nm`` (N, 3)."""
    ff = _forcefield(params, names)
    ff.check_frames(positions_nm)
    res = ff._terms_jit(np.asarray(positions_nm, dtype=float))
    return {k: float(v) for k, v in res.items() if not k.startswith("_")}


def cluster_molecules(entry: dict) -> list[tuple[str, np.ndarray]]:
    """(name, positions in nm) of each molecule of a cluster entry, checked for shape."""
    mols = entry.get("molecules")
    if not mols:
        raise InputError("cluster entry has no molecules", field="molecules",
                         fix="give entries as fixtures/fitting/make_clusters.py writes them")
    out = []
    for m in mols:
        xyz = np.asarray(m["coordinates_a"], dtype=float) / 10.0
        if xyz.shape != (len(m["symbols"]), 3):
            raise InputError(f"molecule {m['name']}: {xyz.shape} coordinates for {len(m['symbols'])} atoms",
                             field="coordinates_a", fix="one [x, y, z] in Angstrom per atom")
        out.append((m["name"], xyz))
    return out


def _check_symbols(params: ForceFieldParams, entry: dict) -> None:
    for m in entry["molecules"]:
        if m["name"] not in params.molecules:
            raise InputError(f"cluster molecule {m['name']} has no parameters", field="params",
                             fix=f"use a parameter file with {m['name']} (it has {sorted(params.molecules)})")
        mp = params.molecule(m["name"])
        if tuple(mp.symbols) != tuple(m["symbols"]):
            raise InputError(f"cluster molecule {m['name']} has atoms {''.join(m['symbols'])}, the parameters "
                             f"{''.join(mp.symbols)}", field="symbols",
                             fix="order each molecule's atoms as the species template does")


def interaction_terms(params: ForceFieldParams, molecules: list[tuple[str, np.ndarray]]) -> dict[str, float]:
    """Intermolecular energy per term (kJ/mol): the system's minus each molecule's on its own."""
    names = tuple(n for n, _ in molecules)
    total = _terms(params, names, np.concatenate([x for _, x in molecules]))
    out = dict(total)
    for name, x in molecules:
        mono = _terms(params, (name,), x)
        for k in out:
            out[k] -= mono[k]
    return out


def cluster_binding(params: ForceFieldParams, entry: dict) -> dict:
    """Force-field binding energy of one cluster entry (kJ/mol) and its decomposition.

    Returns ``{"n", "binding_kj_mol", "terms": {term: kJ/mol}, "polarization_many_body", "pairwise_additive"}``:
    ``terms`` holds every ``ForceField`` term of E(cluster) - sum E(molecule) (bonded and dispersion_lrc are
    zero here), ``pairwise_additive`` the sum of all terms but polarisation, ``polarization_many_body`` the
    polarisation beyond the sum over pairs (0 for a dimer)."""
    _check_symbols(params, entry)
    molecules = cluster_molecules(entry)
    terms = interaction_terms(params, molecules)
    pol_pairs = 0.0
    if len(molecules) > 2:
        for a, b in combinations(molecules, 2):
            pol_pairs += interaction_terms(params, [a, b])["polarization"]
    else:
        pol_pairs = terms["polarization"]
    return {
        "n": entry.get("n", len(molecules) - 1),
        "binding_kj_mol": float(sum(terms.values())),
        "terms": terms,
        "pairwise_additive": float(sum(v for k, v in terms.items() if k != "polarization")),
        "polarization_many_body": float(terms["polarization"] - pol_pairs),
    }


def load_clusters(path: str | Path) -> list[dict]:
    """The cluster entries of a file as ``make_clusters.py`` writes it."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no cluster file {path}", field="--clusters",
                         fix=f"give a JSON file as fixtures/fitting/make_clusters.py writes (e.g. {DEFAULT_CLUSTERS})")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"{path} is not JSON: {exc}", field="--clusters", fix="give the JSON file") from exc
    clusters = data.get("clusters") if isinstance(data, dict) else None
    if not clusters:
        raise InputError(f"{path} has no 'clusters' list", field="--clusters",
                         fix="give a file as fixtures/fitting/make_clusters.py writes")
    return clusters


def many_body_check(params: ForceFieldParams, path: str | Path = DEFAULT_CLUSTERS,
                    level: str = DEFAULT_LEVEL) -> list[dict]:
    """Per cluster with a ``level`` reference: ``{n, ff_kj_mol, reference_kj_mol, relative_error, terms,
    polarization_many_body}``; relative_error = (FF - reference) / |reference|."""
    rows = []
    for entry in load_clusters(path):
        ref = entry.get("binding_kj_mol", {}).get(level)
        if ref is None:
            continue
        res = cluster_binding(params, entry)
        rows.append({"n": res["n"], "ff_kj_mol": res["binding_kj_mol"], "reference_kj_mol": float(ref),
                     "relative_error": (res["binding_kj_mol"] - ref) / abs(ref), "terms": res["terms"],
                     "polarization_many_body": res["polarization_many_body"]})
    if not rows:
        raise InputError(f"no cluster of {path} has a {level!r} binding energy", field="--level",
                         fix="use a level the file has, e.g. hf/aug-cc-pvdz")
    return sorted(rows, key=lambda r: r["n"])
