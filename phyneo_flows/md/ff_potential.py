"""The hybrid force field (:class:`phyneo_flows.ff.model.ForceField`) as an MD :class:`Potential`.

The auxiliary state is the force field's intermolecular neighbour list (its reference positions are what
a checkpoint keeps); it is updated inside ``jit`` every step and reallocated by the run loop when it
overflows. The PME grid (or Ewald k-vectors) and the dispersion long-range coefficient are fixed at the first box
(adequate for NPT runs whose volume changes by a few percent). Induced dipoles are solved afresh at
every evaluation by the force field, so none are carried between steps.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from ase.data import atomic_masses, atomic_numbers

from phyneo_flows.ff import neighbors as nl
from phyneo_flows.ff.model import ForceField, as_box
from phyneo_flows.md.potential import Potential


def force_field_potential(ff: ForceField, box) -> Potential:
    """A :class:`Potential` over ``ff`` for a periodic box (3x3 nm or an edge length) fixing k-vectors."""
    box = as_box(box)
    nvec = ff.ewald_vectors(box)
    lrc = ff.lrc_coefficient()
    mol = jnp.asarray(ff.system.mol)
    reach = ff.settings.cutoff + ff.settings.skin
    skin = ff.settings.skin

    def energy(positions, box, aux):
        return ff._terms(positions, box, aux, nvec, lrc)

    def init_aux(positions, box):
        return ff.neighbor_list(positions, box)

    def update_aux(aux, positions, box):
        return nl.update(aux, positions, box, mol, reach, skin)

    def needs_realloc(aux) -> bool:
        return bool(aux.overflow)

    def grow_aux(aux, positions, box):
        # n_pairs of an overflowed list is the count it could not hold: room for that and more
        count = max(int(aux.n_pairs), aux.capacity)
        return ff.neighbor_list(positions, box, capacity=int(np.ceil(count * ff.settings.capacity_extra)))

    return Potential(
        energy=energy,
        init_aux=init_aux,
        update_aux=update_aux,
        needs_realloc=needs_realloc,
        grow_aux=grow_aux,
        name=f"phyneo-ff:{'/'.join(ff.system.molecule_names)}",
    )


def atom_masses(ff: ForceField) -> np.ndarray:
    """Masses (amu) of the force field's atoms from their element symbols (ASE's standard masses)."""
    return np.array([atomic_masses[atomic_numbers[s]] for s in ff.system.symbols], dtype=float)
