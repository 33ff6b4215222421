"""Sampling: dimers and clusters cut out of MD frames, and centre-of-mass scans.

Plain numpy on positions in nm; nothing here imports a workflow engine.
"""

from phyneo_flows.sampling.dimers import (
    Dimer,
    closest_contact_nm,
    com_scan,
    cut_clusters,
    cut_dimers,
    fingerprint,
    pair_type,
    select_diverse,
)

__all__ = ["Dimer", "closest_contact_nm", "com_scan", "cut_clusters", "cut_dimers", "fingerprint", "pair_type",
           "select_diverse"]
