"""The ``ants`` backend (the embedded default): ANTsPy registration and N4, with the
template-based skull strip and tissue segmentation of :mod:`gla_model.preprocess.steps`.
"""

from __future__ import annotations

from nipype.interfaces.utility import IdentityInterface
from nipype.pipeline.engine import Node, Workflow

from gla_model.preprocess.interfaces import ants as ifaces
from gla_model.preprocess.outputs import SPATIAL_FIELDS
from gla_model.settings import PreprocessingSettings

#: Registration resolutions (mm) of the ants backend: rigid and affine of the roughly
#: skull-stripped T1w to MNI, PET to T1w (measured in benchmarks/preprocess_accuracy.py).
RIGID_MM, AFFINE_MM, PET_RIGID_MM = 4.0, 3.0, 3.0


def init_ants_wf(*, has_pet: bool, settings: PreprocessingSettings,
                 name: str = "ants_spatial_wf") -> Workflow:
    """ANTs chain: rough skull strip -> rigid (the AC-PC step) -> affine to MNI -> brain
    mask (MNI mask brought back, refined) -> N4 + intensity normalization -> tissue
    segmentation -> model grid; PET rigid to T1w, then PET -> T1w -> MNI grid in one
    resampling. ``inputnode`` (t1w, pet) -> ``outputnode`` (SPATIAL_FIELDS).

    Args:
        has_pet: whether ``inputnode.pet`` is given (paired subject).
        settings: ``grid`` and ``template`` (default: the bundled MNI152) are used.
    """
    grid, template = settings.grid, settings.template or ""
    workflow = Workflow(name=name)
    inputnode = Node(IdentityInterface(fields=["t1w", "pet"]), name="inputnode")
    outputnode = Node(IdentityInterface(fields=list(SPATIAL_FIELDS)), name="outputnode")
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
