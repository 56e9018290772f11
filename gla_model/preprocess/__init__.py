"""Per-subject preprocessing of T1w MRI and FDG-PET onto the model grid.

Two backends build the same nipype workflow shape (:func:`workflow.init_preprocess_wf`):
``ants`` (ANTsPy, the embedded default) and ``fsl`` (the paper's FSL/ROBEX/SPM12 chain).
Both end in the same outputs, written by :mod:`gla_model.preprocess.command`.
"""
