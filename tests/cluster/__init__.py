"""Helpers for tests that run the workflow on a private single-node SLURM cluster."""
