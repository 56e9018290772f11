"""Training: configuration, one optimisation step per architecture, and the epoch loop."""
