"""The MD stage's residual term: a saved ensemble wired onto the molecules of a stored box.

The term that ``md.jobs.residual_terms`` builds for a packed LiPF6/EC box must equal the ensemble's own dimer
route (``residual_members`` on each Li+-PF6- molecule pair, the partner taken at its nearest periodic image):
the box's species order, atom order and charges reach the network as the SAPT monomers did."""

from __future__ import annotations

import numpy as np
import pytest

from phyneo_flows.chem.jobs import box_document
from phyneo_flows.chem.packing import build_box
from phyneo_flows.fitting.data import DimerRecord
from phyneo_flows.fitting.residual import load_ensemble
from phyneo_flows.formulation import Formulation
from phyneo_flows.md.jobs import residual_terms
from phyneo_flows.sampling.jobs import box_topology
from phyneo_flows.testing import REPO_ROOT

ENSEMBLE = REPO_ROOT / "fixtures/fitting/residual_li_ec/ensemble_Lip_PF6_"


def test_residual_term_of_a_box_equals_the_dimer_route():
    f = Formulation.model_validate({"name": "lipf6_ec", "solvents": [{"species": "EC", "fraction": 1.0}],
                                    "salts": [{"cation": "Li+", "anion": "PF6-", "concentration": "2.0 mol/L"}]})
    box = box_document(build_box(f, n_atoms=300, seed=2)).model_dump()
    terms = residual_terms([str(ENSEMBLE)], box)
    assert list(terms) == ["residual_Li+-PF6-"]
    length = float(box["box_length_nm"])
    pos = np.asarray(box["positions_nm"])
    value = float(terms["residual_Li+-PF6-"](pos, np.eye(3) * length))

    index, species, symbols, charges = box_topology(box)
    ens = load_ensemble(ENSEMBLE)
    records = []
    for a in [m for m, s in enumerate(species) if s == "Li+"]:
        for b in [m for m, s in enumerate(species) if s == "PF6-"]:
            pa, pb = pos[index == a], pos[index == b]
            shift = length * np.round((pb.mean(0) - pa.mean(0)) / length)
            records.append(DimerRecord(
                pair_type="Li+-PF6-", scan=0, point=0, species_a="Li+", species_b="PF6-", symbols_a=("Li",),
                symbols_b=tuple(symbols[i] for i in np.flatnonzero(index == b)), positions_a_nm=pa,
                positions_b_nm=pb - shift, charge_a=1, charge_b=-1, components_kj_mol={},
                closest_contact_a=10 * float(np.min(np.linalg.norm(pa[:, None] - (pb - shift)[None], axis=-1)))))
    assert len(records) >= 4
    assert value == pytest.approx(float(ens.residual_members(records).mean(0).sum()), abs=1e-6)
    assert residual_terms([], box) == {}
