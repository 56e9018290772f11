"""The ``ants`` backend (the embedded default): ANTsPy registration and N4, with the
template-based skull strip (or ROBEX) and tissue segmentation of
:mod:`gla_model.preprocess.steps`, after SPM12's AC-PC step when ``acpc`` is ``spm``.
"""

from __future__ import annotations

from nipype.interfaces.utility import IdentityInterface
from nipype.pipeline.engine import Node, Workflow

from gla_model.preprocess.interfaces import ants as ifaces
from gla_model.preprocess.interfaces.robex import RobexBrain, RobexPose, robex_node
from gla_model.preprocess.interfaces.spm import NativeXfm, spm_acpc_node
from gla_model.preprocess.outputs import SPATIAL_FIELDS
from gla_model.settings import PreprocessingSettings

#: Registration resolutions (mm) of the ants backend: rigid and affine of the roughly
#: skull-stripped T1w to MNI, PET to T1w (measured in benchmarks/preprocess_accuracy.py).
RIGID_MM, AFFINE_MM, PET_RIGID_MM = 4.0, 3.0, 3.0


def init_ants_wf(*, has_pet: bool, settings: PreprocessingSettings,
                 name: str = "ants_spatial_wf") -> Workflow:
    """ANTs chain: [SPM12 AC-PC] -> skull strip -> rigid -> affine to MNI -> brain mask ->
    N4 + intensity normalization -> tissue segmentation -> model grid; PET rigid to T1w,
    then PET -> T1w -> MNI grid in one resampling. ``inputnode`` (t1w, pet) ->
    ``outputnode`` (SPATIAL_FIELDS).

    Skull strip ``template``: a rough template-free strip for the registration, then the
    MNI brain mask brought back and refined; ``robex``: ROBEX's brain for the affine
    registration and its mask for the rest (see :func:`_skull_strip`).

    Args:
        has_pet: whether ``inputnode.pet`` is given (paired subject).
        settings: ``grid``, ``template`` (default: the bundled MNI152), ``skull_strip``,
            ``acpc`` (``none`` or ``spm``) and ``spm`` are used.
    """
    grid, template = settings.grid, settings.template or ""
    workflow = Workflow(name=name)
    inputnode = Node(IdentityInterface(fields=["t1w", "pet"]), name="inputnode")
    outputnode = Node(IdentityInterface(fields=list(SPATIAL_FIELDS)), name="outputnode")
    t1w = _acpc(workflow, inputnode=inputnode, settings=settings)
    rigid = Node(ifaces.Register(kind="Rigid", spacing_mm=RIGID_MM, template=template),
                 name="rigid_to_template")
    affine = Node(ifaces.Register(kind="Affine", spacing_mm=AFFINE_MM, template=template,
                                  fixed_mask_dilation_mm=4.0), name="affine_to_template")
    brain = _skull_strip(workflow, t1w=t1w, rigid=rigid, affine=affine, settings=settings)
    bias = Node(ifaces.BiasCorrection(), name="bias_correction")
    segment = Node(ifaces.SegmentTissues(), name="segment_tissues")
    workflow.connect([
        (rigid, affine, [("matrix", "initial")]),
        (t1w[0], bias, [(t1w[1], "t1w")]),
        (brain, bias, [("mask", "mask")]),
        (bias, segment, [("corrected", "t1w")]),
        (brain, segment, [("mask", "mask")]),
        (affine, segment, [("matrix", "mni_to_native")]),
        (brain, outputnode, [("mask", "native_mask")]),
    ])
    _connect_xfm(workflow, inputnode=inputnode, t1w=t1w, affine=affine, outputnode=outputnode)
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


def _acpc(workflow: Workflow, *, inputnode: Node, settings: PreprocessingSettings
          ) -> tuple[Node, str]:
    """(node, output) of the T1w that the chain starts from: the input, or with ``acpc:
    spm`` its copy that SPM12 aligned (see :mod:`gla_model.preprocess.spm`)."""
    if settings.acpc == "none":
        return inputnode, "t1w"
    if settings.acpc != "spm":
        raise ValueError(f"preprocessing.acpc must be 'none' or 'spm' in the ants backend, "
                         f"got {settings.acpc!r}")
    acpc = spm_acpc_node(settings=settings.spm)
    workflow.connect(inputnode, "t1w", acpc, "source")
    return acpc, "out_file"


def _skull_strip(workflow: Workflow, *, t1w: tuple[Node, str], rigid: Node, affine: Node,
                 settings: PreprocessingSettings) -> Node:
    """Connect the skull strip of ``skull_strip`` and the images the registrations move;
    returns the node whose ``mask`` is the native brain mask.

    Both start with the rough skull strip for the rigid registration. ``template``: the
    affine one moves it too, and the MNI brain mask it brings back, refined, is the mask.
    ``robex``: ROBEX strips the T1w, shown in its atlas's pose by the rigid map (see
    :func:`gla_model.preprocess.steps.robex_pose`); its brain is what the affine
    registration moves, its mask the mask.
    """
    rough = Node(ifaces.RoughSkullStrip(), name="rough_skull_strip")
    workflow.connect([(t1w[0], rough, [(t1w[1], "t1w")]),
                      (rough, rigid, [("brain", "moving")])])
    if settings.skull_strip == "robex":
        pose = Node(RobexPose(), name="robex_pose")
        robex = robex_node()
        brain = Node(RobexBrain(), name="brain_extraction")
        workflow.connect([(t1w[0], pose, [(t1w[1], "t1w")]),
                          (rigid, pose, [("matrix", "mni_to_t1w")]),
                          (pose, robex, [("out_file", "in_file")]),
                          (t1w[0], brain, [(t1w[1], "t1w")]),
                          (pose, brain, [("out_file", "robex_input")]),
                          (robex, brain, [("out_mask", "robex_mask")]),
                          (brain, affine, [("brain", "moving")])])
        return brain
    if settings.skull_strip != "template":
        raise ValueError(f"preprocessing.skull_strip must be 'template' or 'robex', "
                         f"got {settings.skull_strip!r}")
    brain = Node(ifaces.BrainExtraction(), name="brain_extraction")
    workflow.connect([(rough, affine, [("brain", "moving")]),
                      (t1w[0], brain, [(t1w[1], "t1w")]),
                      (affine, brain, [("matrix", "mni_to_native")])])
    return brain


def _connect_xfm(workflow: Workflow, *, inputnode: Node, t1w: tuple[Node, str],
                 affine: Node, outputnode: Node) -> None:
    """``outputnode.xfm``: MNI -> native T1w (RAS pull map); after the AC-PC step the
    affine's map is brought back from the rewritten header to the input's."""
    if t1w[0] is inputnode:
        workflow.connect(affine, "matrix", outputnode, "xfm")
        return
    xfm = Node(NativeXfm(), name="native_xfm")
    workflow.connect([(affine, xfm, [("matrix", "pull")]),
                      (inputnode, xfm, [("t1w", "native")]),
                      (t1w[0], xfm, [(t1w[1], "reoriented")]),
                      (xfm, outputnode, [("out_file", "xfm")])])
