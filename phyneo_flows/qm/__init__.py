"""Reference quantum chemistry: one harness per engine, boundary models in nm and kJ/mol, a result cache.

Harnesses are found by name with ``get_harness("psi4")``; results are cached by content hash in any
maggma store with ``QMCache``.
"""

from phyneo_flows.qm.harness import Harness, QMFailure, compute_many, get_harness, register_harness
from phyneo_flows.qm.models import Dimer, QMInput, QMMolecule, QMResult

__all__ = ["Dimer", "Harness", "QMFailure", "QMInput", "QMMolecule", "QMResult", "compute_many", "get_harness",
           "register_harness"]
