"""Training: the learning-rate schedule, preprocessed volumes, one optimisation step per
architecture, the epoch loop and the ``gla-model train`` command."""
