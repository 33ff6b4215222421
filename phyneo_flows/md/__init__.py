"""MD engine: integrators, run loop, checkpoints, trajectories, stability guard, ASE and OpenMM back ends.

See docs/md.md for the public API.
"""
