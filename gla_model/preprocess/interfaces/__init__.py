"""nipype interfaces of the preprocessing workflows, grouped by backend.

Each is a thin wrapper: it reads its input files, calls one pure function (of
:mod:`~gla_model.preprocess.steps`, :mod:`~gla_model.preprocess.fsl_steps`,
:mod:`~gla_model.preprocess.pet`, :mod:`~gla_model.preprocess.qc`, ...) and writes the
result under ``runtime.cwd`` (the node's folder).

* :mod:`.common`: the nodes both backends share (inputs, PET SUVR, QC, export).
* :mod:`.ants`: the ants backend's steps.
* :mod:`.fsl`: the fsl backend's own nodes (its other steps are nipype's FSL and ROBEX
  interfaces).
* :mod:`.robex`: ROBEX (either backend) and the ants backend's nodes around it.
* :mod:`.spm`: SPM12's AC-PC step (either backend) on MATLAB, the standalone or Octave.
"""
