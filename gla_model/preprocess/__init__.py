"""Per-subject preprocessing of T1w MRI and FDG-PET onto the model grid.

:func:`workflow.init_preprocess_wf` builds one subject's nipype workflow; its spatial
part comes from the backend chosen by ``preprocessing.backend``:
:func:`ants.init_ants_wf` (ANTsPy, the embedded default) or :func:`fsl.init_fsl_wf`
(the paper's FSL/ROBEX/SPM12 chain). The nodes are :mod:`interfaces`, thin wrappers of
the pure functions in :mod:`inputs`, :mod:`steps`, :mod:`fsl_steps`, :mod:`spm`, :mod:`pet`,
:mod:`qc` and :mod:`outputs`. The ``gla-model`` verbs: :mod:`command` (``preprocess``),
:mod:`tools` (``check-tools``), :mod:`atlas` (``resample-atlas``) and :mod:`collect`
(``collect-qc``).
"""
