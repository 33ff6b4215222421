"""The residual network in an OpenMM System, through ``openmm.PythonForce`` (OpenMM >= 8.4).

The force calls the same JAX function as the force-field term (:meth:`ResidualEnsemble.energy_term`), jitted
with its gradient, so the OpenMM twin and the JAX model share one implementation. Periodic systems pass the
box vectors of the State (minimum image within each molecule pair). Energies kJ/mol, forces kJ/mol/nm.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import numpy as np

from phyneo_flows.errors import EngineNotFoundError
from phyneo_flows.fitting.residual import ResidualEnsemble


class ResidualComputation:
    """The callable a PythonForce runs: State -> (energy, forces)."""

    def __init__(self, ensemble: ResidualEnsemble, symbols: Sequence[str], molecule_index: Sequence[int],
                 molecule_names: Sequence[str], molecule_charges: Sequence[float] | None = None,
                 periodic: bool = False):
        self.periodic = periodic
        fn = ensemble.energy_term(symbols, molecule_index, molecule_names, molecule_charges)
        self._vg = jax.jit(jax.value_and_grad(fn))
        self.calls = 0

    def __call__(self, state):
        pos = np.asarray(state.getPositions(asNumpy=True).value_in_unit_system(_md_units()))
        box = None
        if self.periodic:
            box = np.asarray(state.getPeriodicBoxVectors(asNumpy=True).value_in_unit_system(_md_units()))
        energy, grad = self._vg(pos, box)
        self.calls += 1
        return float(energy), -np.asarray(grad, dtype=float)


def _md_units():
    from openmm import unit

    return unit.md_unit_system


def residual_force(ensemble: ResidualEnsemble, symbols: Sequence[str], molecule_index: Sequence[int],
                   molecule_names: Sequence[str], molecule_charges: Sequence[float] | None = None,
                   periodic: bool = False, force_group: int | None = None):
    """An ``openmm.PythonForce`` adding the ensemble-mean residual energy of the system's ion pairs."""
    try:
        from openmm import PythonForce
    except ImportError as exc:  # OpenMM older than 8.4
        raise EngineNotFoundError("openmm.PythonForce is missing", field="openmm",
                                  fix="install OpenMM 8.4 or newer") from exc
    compute = ResidualComputation(ensemble, symbols, molecule_index, molecule_names, molecule_charges, periodic)
    force = PythonForce(compute)
    force.setUsesPeriodicBoundaryConditions(bool(periodic))
    if force_group is not None:
        force.setForceGroup(int(force_group))
    force.residual_computation = compute  # keep a handle (and the callable alive) for inspection
    return force
