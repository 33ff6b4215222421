"""Bulk properties from MD trajectories: statistics, density, transport, solvation, experiment."""
