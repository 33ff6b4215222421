"""Generators of reference trajectories (Lennard-Jones MD) used to validate the analysis."""
