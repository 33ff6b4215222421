"""Chemistry: 3D molecules with atom types, and packed simulation boxes.

Reads formulations and species; nothing here imports a workflow engine.
"""

from phyneo_flows.chem.molecule import MoleculeTemplate, atom_types, build_molecule
from phyneo_flows.chem.packing import PackedBox, build_box

__all__ = ["MoleculeTemplate", "PackedBox", "atom_types", "build_box", "build_molecule"]
