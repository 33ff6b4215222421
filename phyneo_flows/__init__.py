"""phyneo-flows: PhyNEO-style hybrid force fields for battery electrolytes, as jobflow workflows.

Internal units everywhere: nm, ps, kJ/mol, amu, elementary charge, K, bar (see ``phyneo_flows.units``).
"""

__version__ = "0.1.0"
