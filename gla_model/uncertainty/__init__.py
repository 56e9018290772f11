"""Voxelwise uncertainty of synthetic PET, its summary and its calibration.

- :mod:`~gla_model.uncertainty.members`: which models may score a subject (never one that
  trained on it) and the test-time augmentations each runs;
- :mod:`~gla_model.uncertainty.typicality`: the out-of-distribution check of a T1w against
  the model's training T1w;
- :mod:`~gla_model.uncertainty.estimator`: the SD over the members, written beside every
  synthetic PET by ``gla-model synthesize`` with its ``uncertainty.tsv`` row;
- :mod:`~gla_model.uncertainty.summary` and :mod:`~gla_model.uncertainty.calibration`: the
  per-subject and per-region tables of a variant and how well the SD ranks the error of
  test-fold subjects, written by ``gla-model uncertainty``
  (:mod:`~gla_model.uncertainty.command`).
"""
