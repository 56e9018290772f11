"""The nipype workflow of one subject's preprocessing: :func:`init_preprocess_wf`.

The spatial part depends on the backend (:func:`gla_model.preprocess.ants.init_ants_wf`
or :func:`gla_model.preprocess.fsl.init_fsl_wf`); both deliver, on the model grid, the
normalized T1w, GM/WM/CSF probabilities, the brain mask and the PET in its input units,
plus the native brain mask (:data:`~gla_model.preprocess.outputs.SPATIAL_FIELDS`). The
shared tail computes the PET SUVR and the QC.
"""

from __future__ import annotations

from nipype.interfaces.utility import IdentityInterface
from nipype.pipeline.engine import Node, Workflow

from gla_model import layout
from gla_model.preprocess.ants import init_ants_wf
from gla_model.preprocess.fsl import init_fsl_wf
from gla_model.preprocess.interfaces import common as ifaces
from gla_model.preprocess.pet import REFERENCE_REGIONS
from gla_model.settings import PreprocessingSettings


def init_preprocess_wf(*, participant_id: str, has_pet: bool,
                       settings: PreprocessingSettings, name: str | None = None) -> Workflow:
    """The per-subject workflow: ``inputnode`` (t1w, pet) -> ``outputnode``
    (:data:`gla_model.layout.PREPROCESSED_FIELDS`).

    Args:
        participant_id: the subject's label without ``sub-``.
        has_pet: whether ``inputnode.pet`` is given (paired subject).
        settings: the ``preprocessing`` settings; ``backend`` picks the spatial workflow,
            ``reference_region``, ``atlas`` and ``atlas_labels`` set the PET SUVR,
            ``template`` the QC's template (``threads`` is the caller's).
        name: the workflow's name (default ``preprocess_sub_<participant_id>``).
    """
    if settings.reference_region not in REFERENCE_REGIONS:
        raise ValueError(f"preprocessing.reference_region must be one of {REFERENCE_REGIONS}, "
                         f"got {settings.reference_region!r}")
    if settings.backend == "ants":
        spatial = init_ants_wf(has_pet=has_pet, settings=settings)
    elif settings.backend == "fsl":
        spatial = init_fsl_wf(has_pet=has_pet, settings=settings)
    else:
        raise ValueError(f"preprocessing.backend must be 'ants' or 'fsl', "
                         f"got {settings.backend!r}")
    workflow = Workflow(name=name or f"preprocess_sub_{participant_id}")
    inputnode = Node(IdentityInterface(fields=["t1w", "pet"]), name="inputnode")
    outputnode = Node(IdentityInterface(fields=list(layout.PREPROCESSED_FIELDS)),
                      name="outputnode")
    load = Node(ifaces.LoadInputs(participant_id=participant_id,
                                  pet_window_min=list(settings.pet_window_min or [])),
                name="load_inputs")
    workflow.connect(inputnode, "t1w", load, "t1w")
    if has_pet:
        workflow.connect(inputnode, "pet", load, "pet")
    workflow.connect(load, "t1w", spatial, "inputnode.t1w")
    if has_pet:
        workflow.connect(load, "pet", spatial, "inputnode.pet")

    qc = Node(ifaces.QualityControl(participant_id=participant_id, backend=settings.backend,
                                    template=settings.template or ""), name="quality_control")
    for field in ("t1w", "gm", "wm", "mask", "native_mask"):
        workflow.connect(spatial, f"outputnode.{field}", qc, field)
    for field in ("t1w", "gm", "wm", "csf", "mask", "xfm"):
        workflow.connect(spatial, f"outputnode.{field}", outputnode, field)
    workflow.connect([(qc, outputnode, [("figure", "qc_figure"), ("table", "qc_table")])])
    if has_pet:
        suvr = Node(ifaces.PetSuvr(reference_region=settings.reference_region,
                                   atlas=settings.atlas or "",
                                   atlas_labels=settings.atlas_labels or ""), name="pet_suvr")
        workflow.connect([
            (spatial, suvr, [("outputnode.pet", "pet"), ("outputnode.gm", "gm"),
                             ("outputnode.mask", "mask")]),
            (suvr, qc, [("out_file", "pet"), ("metrics", "pet_metrics")]),
            (suvr, outputnode, [("out_file", "pet")]),
        ])
    return workflow
