"""A chunk whose neighbour list overflows is run again with a larger list until none overflows.

Regression: the back end used to retry an overflowing chunk once and accept the retry unchecked. On the
38-atom LiPF6/EC/DMC box of test_ff_nve.py (hot, dilute, its ions pairing up) the retry overflowed too, the
chunk ran with dropped pairs, and the NVE total energy jumped by +35, +27 and -44 kJ/mol (electrostatics):
+18 kJ/mol in 2 ps, at 1 fs and at 0.5 fs alike. Here two groups of soft spheres fly into each other so that the
pair count within reach grows several-fold inside one chunk; the trajectory must equal that of a run whose list
was large enough from the start."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from phyneo_flows.ff import neighbors as nl
from phyneo_flows.md.backend import JaxBackend
from phyneo_flows.md.integrators import MDConfig
from phyneo_flows.md.potential import Potential

BOX = 4.0  # nm
CUTOFF, SKIN = 0.8, 0.1


def soft_spheres(capacity: int | None, log: list) -> Potential:
    """Gaussian-core repulsion exp(-(r/0.3 nm)^2) kJ/mol over a neighbour list of a fixed starting capacity."""
    mol = jnp.arange(16)
    reach = CUTOFF + SKIN

    def energy(pos, box, aux):
        i, j = aux.pairs[:, 0], aux.pairs[:, 1]
        valid = i < pos.shape[0]
        d = nl.minimum_image(pos[jnp.where(valid, j, 0)] - pos[jnp.where(valid, i, 0)], box)
        r2 = jnp.sum(d * d, -1)
        return {"soft": jnp.sum(jnp.where(valid & (r2 < CUTOFF**2), jnp.exp(-r2 / 0.09) - np.exp(-CUTOFF**2 / 0.09),
                                          0.0))}

    def init_aux(pos, box):
        count = int(jnp.sum(nl._candidates(jnp.asarray(pos), jnp.asarray(box), mol, reach)))
        log.append(("init", count))
        return nl.build(jnp.asarray(pos), jnp.asarray(box), mol, reach, capacity or max(count, 1))

    def grow_aux(aux, pos, box):
        cap = int(np.ceil(max(int(aux.n_pairs), aux.capacity) * 1.3))
        log.append(("grow", cap))
        return nl.build(jnp.asarray(pos), jnp.asarray(box), mol, reach, cap)

    return Potential(energy=energy, init_aux=init_aux, update_aux=lambda a, p, b: nl.update(a, p, b, mol, reach, SKIN),
                     needs_realloc=lambda a: bool(a.overflow), grow_aux=grow_aux, name="soft spheres")


def run(capacity: int | None):
    rng = np.random.default_rng(0)
    left = rng.uniform(-0.4, 0.4, (8, 3)) * [0.5, 1, 1] + [1.0, 2.0, 2.0]
    right = rng.uniform(-0.4, 0.4, (8, 3)) * [0.5, 1, 1] + [3.0, 2.0, 2.0]
    vel = np.concatenate([np.tile([4.0, 0, 0], (8, 1)), np.tile([-4.0, 0, 0], (8, 1))])  # nm/ps, head-on
    log: list = []
    backend = JaxBackend(soft_spheres(capacity, log), np.full(16, 40.0), np.concatenate([left, right]),
                         np.eye(3) * BOX, MDConfig(ensemble="nve", timestep_ps=0.002, report_interval=50,
                                                   frames_per_chunk=4), velocities=vel)
    chunk = backend.chunk()
    return backend, chunk, log


def test_an_overflowing_chunk_is_rerun_until_the_list_holds_every_pair():
    backend, chunk, log = run(capacity=None)  # sized to the starting count: overflows as the groups meet
    reference, ref_chunk, ref_log = run(capacity=400)  # every pair of 16 atoms (120) fits from the start
    assert ref_log == [("init", ref_log[0][1])]
    np.testing.assert_allclose(np.asarray(backend.state.positions), np.asarray(reference.state.positions),
                               rtol=0, atol=1e-10)
    # measured: 56 pairs at the start, lists of 78, 102 and 133 tried in turn
    assert log[0] == ref_log[0] and len(log) >= 3 and all(k == "grow" for k, _ in log[1:])
    assert log[-1][1] >= 2 * log[0][1] and not bool(backend.state.aux.overflow)
    e = chunk["observables"]["conserved_energy"]
    np.testing.assert_allclose(e, ref_chunk["observables"]["conserved_energy"], rtol=0, atol=1e-9)
    assert np.ptp(e) < 1e-3 * np.ptp(chunk["observables"]["potential_energy"])  # NVE holds through the collision
