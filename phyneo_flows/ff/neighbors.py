"""Intermolecular neighbour lists with a skin, overflow detection and rebuilds.

A list holds a fixed number (``capacity``) of (i, j) pairs, i < j in different molecules, with
r < cutoff + skin under the minimum image; unused slots hold (N, N). ``update`` rebuilds it inside jit
when any atom has moved more than skin/2 since the last build. When more pairs qualify than fit,
``overflow`` is set: the caller must reallocate (``NeighborList.allocate`` with a larger capacity);
:class:`phyneo_flows.ff.model.ForceField` does that itself, so no pair is ever dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np


@jax.tree_util.register_dataclass
@dataclass
class NeighborList:
    pairs: jnp.ndarray  # (capacity, 2) int32
    n_pairs: jnp.ndarray  # () int32, pairs that qualified at the last build
    reference: jnp.ndarray  # (N, 3) positions at the last build
    overflow: jnp.ndarray  # () bool, sticky until reallocation
    n_builds: jnp.ndarray  # () int32, how many times the list was built

    @property
    def capacity(self) -> int:
        return int(self.pairs.shape[0])


def minimum_image(d, box):
    """Displacements ``d`` (..., 3) wrapped to their nearest periodic image in ``box`` (rows are the box
    vectors, nm); ``box=None`` leaves them as they are."""
    if box is None:
        return d
    f = d @ jnp.linalg.inv(box)
    return (f - jnp.round(f)) @ box


def _candidates(positions, box, mol, reach):
    n = positions.shape[0]
    d = minimum_image(positions[None, :, :] - positions[:, None, :], box)
    r2 = jnp.sum(d * d, -1)
    iu = jnp.arange(n)
    return (iu[:, None] < iu[None, :]) & (mol[:, None] != mol[None, :]) & (r2 < reach * reach)


def build(positions, box, mol, reach: float, capacity: int, n_builds=0) -> NeighborList:
    """Build a list of at most ``capacity`` pairs within ``reach`` = cutoff + skin (jit-able)."""
    n = positions.shape[0]
    mask = _candidates(positions, box, mol, reach)
    count = jnp.sum(mask)
    ii, jj = jnp.nonzero(mask, size=capacity, fill_value=n)
    pairs = jnp.stack([ii, jj], axis=1).astype(jnp.int32)
    return NeighborList(
        pairs=pairs,
        n_pairs=count.astype(jnp.int32),
        reference=positions,
        overflow=count > capacity,
        n_builds=jnp.asarray(n_builds + 1, jnp.int32),
    )


def needs_rebuild(nbrs: NeighborList, positions, box, skin: float):
    d = minimum_image(positions - nbrs.reference, box)
    return jnp.max(jnp.sum(d * d, -1)) > (0.5 * skin) ** 2


def update(nbrs: NeighborList, positions, box, mol, reach: float, skin: float) -> NeighborList:
    """Rebuild when an atom moved more than skin/2; keeps the capacity; overflow stays set once set."""
    capacity = nbrs.capacity

    def rebuild(_):
        new = build(positions, box, mol, reach, capacity, nbrs.n_builds)
        return NeighborList(new.pairs, new.n_pairs, new.reference, new.overflow | nbrs.overflow, new.n_builds)

    return jax.lax.cond(needs_rebuild(nbrs, positions, box, skin), rebuild, lambda _: nbrs, None)


def allocate(positions, box, mol, reach: float, extra: float = 1.3, minimum: int = 16) -> NeighborList:
    """Build a list sized from the current pair count times ``extra`` (not jit-able: sets the capacity)."""
    count = int(jnp.sum(_candidates(jnp.asarray(positions), jnp.asarray(box), jnp.asarray(mol), reach)))
    capacity = max(minimum, int(np.ceil(count * extra)))
    return build(jnp.asarray(positions), jnp.asarray(box), jnp.asarray(mol), reach, capacity)
