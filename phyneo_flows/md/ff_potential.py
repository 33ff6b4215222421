"""The hybrid force field (:class:`phyneo_flows.ff.model.ForceField`) as an MD :class:`Potential`.

The auxiliary state is ``{"nbrs": the force field's intermolecular neighbour list, "induced": the last
induced dipoles (N, 3; e nm)}``; a checkpoint keeps both. The list is updated inside ``jit`` every step and
reallocated by the run loop when it overflows. With ``warm_start`` (the default) each step's conjugate-gradient
solve for the induced dipoles starts from the previous step's converged dipoles instead of the direct ones
(same tolerance, fewer iterations); all zeros (a fresh state) starts from the direct dipoles. The PME grid (or
Ewald k-vectors) and the dispersion long-range coefficient are fixed at the first box (adequate for NPT runs
whose volume changes by a few percent).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from ase.data import atomic_masses, atomic_numbers

from phyneo_flows.ff import neighbors as nl
from phyneo_flows.ff.model import ForceField, as_box
from phyneo_flows.md.potential import Potential


def force_field_potential(ff: ForceField, box, warm_start: bool = True) -> Potential:
    """A :class:`Potential` over ``ff`` for a periodic box (3x3 nm or an edge length) fixing k-vectors."""
    box = as_box(box)
    nvec = ff.ewald_vectors(box)
    lrc = ff.lrc_coefficient()
    mol = jnp.asarray(ff.system.mol)
    reach = ff.settings.cutoff + ff.settings.skin
    skin = ff.settings.skin

    n = len(ff.system.symbols)

    def energy(positions, box, aux):
        return ff._terms(positions, box, aux["nbrs"], nvec, lrc, aux["induced"] if warm_start else None)

    def init_aux(positions, box):
        return {"nbrs": ff.neighbor_list(positions, box), "induced": jnp.zeros((n, 3))}

    def update_aux(aux, positions, box):
        return {"nbrs": nl.update(aux["nbrs"], positions, box, mol, reach, skin), "induced": aux["induced"]}

    def needs_realloc(aux) -> bool:
        return bool(aux["nbrs"].overflow)

    def grow_aux(aux, positions, box):
        # n_pairs of an overflowed list is the count it could not hold: room for that and more
        count = max(int(aux["nbrs"].n_pairs), aux["nbrs"].capacity)
        nbrs = ff.neighbor_list(positions, box, capacity=int(np.ceil(count * ff.settings.capacity_extra)))
        return {"nbrs": nbrs, "induced": aux["induced"]}

    def absorb(aux, terms):
        return {"nbrs": aux["nbrs"], "induced": terms["_induced"]}

    return Potential(
        energy=energy,
        init_aux=init_aux,
        update_aux=update_aux,
        needs_realloc=needs_realloc,
        grow_aux=grow_aux,
        absorb=absorb,
        name=f"phyneo-ff:{'/'.join(ff.system.molecule_names)}",
    )


def atom_masses(ff: ForceField) -> np.ndarray:
    """Masses (amu) of the force field's atoms from their element symbols (ASE's standard masses)."""
    return np.array([atomic_masses[atomic_numbers[s]] for s in ff.system.symbols], dtype=float)
