"""The force field (or any :class:`~phyneo_flows.md.potential.Potential`) as an ASE calculator.

Energy in eV, forces in eV/A, stress in eV/A^3 (ASE's sign: stress = dE/d(strain) / V, Voigt order
xx, yy, zz, yz, xz, xy; the potential part only, as ASE expects). Periodic cells only: the potential sees
the cell as its box. The auxiliary state (neighbour list) is kept between calls and refreshed or
reallocated as needed, so the calculator drops into ASE dynamics and atomate2's ASE makers.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from phyneo_flows.errors import InputError
from phyneo_flows.md.potential import Potential, evaluate, from_energy_fn
from phyneo_flows.units import ANGSTROM_TO_NM, AVOGADRO

ELEMENTARY_CHARGE_C = 1.602176634e-19
KJ_MOL_PER_EV = ELEMENTARY_CHARGE_C * AVOGADRO / 1000.0  # 96.485 kJ/mol per eV


class PhyneoCalculator(Calculator):
    """ASE calculator over a :class:`Potential` or a plain ``energy_fn(positions_nm, box_nm) -> kJ/mol``."""

    implemented_properties = ["energy", "free_energy", "energies_terms", "forces", "stress"]

    def __init__(self, potential: Potential | Callable, **kwargs):
        super().__init__(**kwargs)
        self.potential = potential if isinstance(potential, Potential) else from_energy_fn(potential)
        self._aux = None
        self._eval = jax.jit(lambda pos, box, aux: evaluate(self.potential, pos, box, aux))
        self._update = jax.jit(self.potential.update_aux)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        if not all(self.atoms.pbc):
            raise InputError(
                "the force field needs a periodic cell",
                field="atoms.pbc",
                fix="set atoms.pbc = True and a cell that holds the system",
            )
        pos = jnp.asarray(self.atoms.get_positions() * ANGSTROM_TO_NM)
        box = jnp.asarray(np.asarray(self.atoms.get_cell()) * ANGSTROM_TO_NM)
        if self._aux is None or "numbers" in system_changes:
            self._aux = self.potential.init_aux(pos, box)
        aux = self._update(self._aux, pos, box)
        if self.potential.needs_realloc(aux):
            aux = self._update(self.potential.init_aux(pos, box), pos, box)
        self._aux = aux
        terms, total, forces, virial = self._eval(pos, box, aux)
        vol_a3 = self.atoms.get_volume()
        stress = -np.asarray(virial) / KJ_MOL_PER_EV / vol_a3
        stress = 0.5 * (stress + stress.T)
        self.results["energy"] = self.results["free_energy"] = float(total) / KJ_MOL_PER_EV
        self.results["energies_terms"] = {k: float(v) / KJ_MOL_PER_EV for k, v in terms.items()}
        self.results["forces"] = np.asarray(forces) / KJ_MOL_PER_EV * ANGSTROM_TO_NM
        self.results["stress"] = stress[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
