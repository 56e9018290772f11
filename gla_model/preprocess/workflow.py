"""nipype workflows of one subject's preprocessing: :func:`init_preprocess_wf`.

The spatial part depends on the backend (``ants`` here, ``fsl`` in
:mod:`gla_model.preprocess.fsl`); both deliver, on the model grid, the normalized
T1w, GM/WM/CSF probabilities, the brain mask and the PET in its input units, plus
the native brain mask. The shared tail computes the PET SUVR and the QC.
"""

from __future__ import annotations

from nipype.interfaces.utility import IdentityInterface
from nipype.pipeline.engine import Node, Workflow

from gla_model.preprocess import interfaces as ifaces
from gla_model.preprocess.pet import REFERENCE_REGIONS

SPATIAL_FIELDS = ("t1w", "gm", "wm", "csf", "mask", "native_mask", "pet")
OUTPUT_FIELDS = ("t1w", "pet", "gm", "wm", "csf", "mask", "qc_figure", "qc_table")
#: Registration resolutions (mm) of the ants backend: rigid and affine of the roughly
#: skull-stripped T1w to MNI, PET to T1w (measured in benchmarks/preprocess_accuracy.py).
RIGID_MM, AFFINE_MM, PET_RIGID_MM = 4.0, 3.0, 3.0


def init_preprocess_wf(*, backend: str, participant_id: str, has_pet: bool, grid: int,
                       reference_region: str = "cerebellum_gm", template: str | None = None,
                       atlas: str | None = None, atlas_labels: str | None = None,
                       acpc: str = "flirt", spm_mode: str = "matlab",
                       spm_path: str | None = None, matlab_cmd: str = "matlab",
                       name: str | None = None) -> Workflow:
    """The per-subject workflow: ``inputnode`` (t1w, pet) -> ``outputnode`` (OUTPUT_FIELDS).

    Args:
        backend: ``"ants"`` or ``"fsl"``.
        has_pet: whether ``inputnode.pet`` is given (paired subject).
        grid: model grid size (voxels per axis).
        reference_region: PET SUVR reference, one of REFERENCE_REGIONS.
        template: skull-stripped T1 template in MNI space (default: bundled MNI152).
        atlas, atlas_labels: AAL image and labels (default: bundled).
        acpc, spm_mode, spm_path, matlab_cmd: fsl backend options (see
            :func:`gla_model.preprocess.fsl.init_fsl_spatial_wf`).
    """
    if reference_region not in REFERENCE_REGIONS:
        raise ValueError(f"reference_region must be one of {REFERENCE_REGIONS}")
    workflow = Workflow(name=name or f"preprocess_sub_{participant_id}")
    inputnode = Node(IdentityInterface(fields=["t1w", "pet"]), name="inputnode")
    outputnode = Node(IdentityInterface(fields=list(OUTPUT_FIELDS)), name="outputnode")
    load = Node(ifaces.LoadInputs(participant_id=participant_id), name="load_inputs")
    workflow.connect(inputnode, "t1w", load, "t1w")
    if has_pet:
        workflow.connect(inputnode, "pet", load, "pet")
    if backend == "ants":
        spatial = init_ants_spatial_wf(has_pet=has_pet, grid=grid, template=template)
    elif backend == "fsl":
        from gla_model.preprocess.fsl import init_fsl_spatial_wf

        spatial = init_fsl_spatial_wf(has_pet=has_pet, grid=grid, template=template, acpc=acpc,
                                      spm_mode=spm_mode, spm_path=spm_path,
                                      matlab_cmd=matlab_cmd)
    else:
        raise ValueError(f"backend must be 'ants' or 'fsl', got {backend!r}")
    workflow.connect(load, "t1w", spatial, "inputnode.t1w")
    if has_pet:
        workflow.connect(load, "pet", spatial, "inputnode.pet")

    qc = Node(ifaces.QualityControl(participant_id=participant_id, backend=backend,
                                    template=template or ""), name="quality_control")
    for field in ("t1w", "gm", "wm", "mask", "native_mask"):
        workflow.connect(spatial, f"outputnode.{field}", qc, field)
    for field in ("t1w", "gm", "wm", "csf", "mask"):
        workflow.connect(spatial, f"outputnode.{field}", outputnode, field)
    workflow.connect([(qc, outputnode, [("figure", "qc_figure"), ("table", "qc_table")])])
    if has_pet:
        suvr = Node(ifaces.PetSuvr(reference_region=reference_region, atlas=atlas or "",
                                   atlas_labels=atlas_labels or ""), name="pet_suvr")
        workflow.connect([
            (spatial, suvr, [("outputnode.pet", "pet"), ("outputnode.gm", "gm"),
                             ("outputnode.mask", "mask")]),
            (suvr, qc, [("out_file", "pet"), ("metrics", "pet_metrics")]),
            (suvr, outputnode, [("out_file", "pet")]),
        ])
    return workflow


def init_ants_spatial_wf(*, has_pet: bool, grid: int, template: str | None = None,
                         name: str = "ants_spatial_wf") -> Workflow:
    """ANTs chain: rough skull strip -> rigid (the AC-PC step) -> affine to MNI -> brain
    mask (MNI mask brought back, refined) -> N4 + intensity normalization -> tissue
    segmentation -> model grid; PET rigid to T1w, then PET -> T1w -> MNI grid in one
    resampling."""
    workflow = Workflow(name=name)
    inputnode = Node(IdentityInterface(fields=["t1w", "pet"]), name="inputnode")
    outputnode = Node(IdentityInterface(fields=list(SPATIAL_FIELDS)), name="outputnode")
    template = template or ""
    rough = Node(ifaces.RoughSkullStrip(), name="rough_skull_strip")
    rigid = Node(ifaces.Register(kind="Rigid", spacing_mm=RIGID_MM, template=template),
                 name="rigid_to_template")
    affine = Node(ifaces.Register(kind="Affine", spacing_mm=AFFINE_MM, template=template,
                                  fixed_mask_dilation_mm=4.0), name="affine_to_template")
    brain = Node(ifaces.BrainExtraction(), name="brain_extraction")
    bias = Node(ifaces.BiasCorrection(), name="bias_correction")
    segment = Node(ifaces.SegmentTissues(), name="segment_tissues")
    workflow.connect([
        (inputnode, rough, [("t1w", "t1w")]),
        (rough, rigid, [("brain", "moving")]),
        (rough, affine, [("brain", "moving")]),
        (rigid, affine, [("matrix", "initial")]),
        (inputnode, brain, [("t1w", "t1w")]),
        (affine, brain, [("matrix", "mni_to_native")]),
        (inputnode, bias, [("t1w", "t1w")]),
        (brain, bias, [("mask", "mask")]),
        (bias, segment, [("corrected", "t1w")]),
        (brain, segment, [("mask", "mask")]),
        (affine, segment, [("matrix", "mni_to_native")]),
        (brain, outputnode, [("mask", "native_mask")]),
    ])
    native = {"t1w": (bias, "normalized"), "gm": (segment, "gm"), "wm": (segment, "wm"),
              "csf": (segment, "csf"), "mask": (brain, "mask")}
    for field, (node, output) in native.items():
        to_grid = Node(ifaces.ResampleToGrid(grid=grid, binarize=field == "mask",
                                             out_name=f"{field}_grid.nii"),
                       name=f"{field}_to_grid")
        workflow.connect([(node, to_grid, [(output, "in_file")]),
                          (affine, to_grid, [("matrix", "mni_to_source")]),
                          (to_grid, outputnode, [("out_file", field)])])
    if has_pet:
        # dense sampling: PET-to-T1w MI with 20 % random samples misregisters some subjects
        pet_rigid = Node(ifaces.Register(kind="Rigid", spacing_mm=PET_RIGID_MM,
                                         fixed_mask_dilation_mm=10.0, sampling_rate=1.0),
                         name="pet_to_t1w")
        pet_to_grid = Node(ifaces.ResampleToGrid(grid=grid, out_name="pet_grid.nii"),
                           name="pet_to_grid")
        workflow.connect([
            (inputnode, pet_rigid, [("pet", "moving")]),
            (bias, pet_rigid, [("corrected", "fixed")]),
            (brain, pet_rigid, [("mask", "fixed_mask")]),
            (inputnode, pet_to_grid, [("pet", "in_file")]),
            (affine, pet_to_grid, [("matrix", "mni_to_source")]),
            (pet_rigid, pet_to_grid, [("matrix", "source_to_image")]),
            (pet_to_grid, outputnode, [("out_file", "pet")]),
        ])
    return workflow
