"""The ``fsl`` backend: the paper's chain through nipype's own FSL and ROBEX interfaces.

AC-PC (``acpc``: SPM12's, see :mod:`gla_model.preprocess.spm`, which rewrites the
header; or a 6-dof FLIRT whose matrix initializes the 12-dof one; or none) -> ROBEX skull
strip -> fslmaths intensity normalization (divide by the 99.5th brain percentile, clip to
[0, 1]) -> 12-dof FLIRT to MNI152 -> FAST (3 classes) in native space -> each image to the
model grid by one ``flirt -applyxfm``. PET: 6-dof FLIRT to the T1w, then PET -> T1w -> MNI
-> grid as one matrix composed with fslpy
(:func:`gla_model.preprocess.fsl_steps.flirt_to_grid`).
"""

from __future__ import annotations

from nipype.interfaces import fsl
from nipype.interfaces.utility import IdentityInterface, Merge
from nipype.pipeline.engine import Node, Workflow

from gla_model.preprocess.fsl_steps import fsl_template
from gla_model.preprocess.interfaces.fsl import FlirtToGrid, FlirtToXfm, GridReference
from gla_model.preprocess.interfaces.robex import robex_node
from gla_model.preprocess.interfaces.spm import spm_acpc_node
from gla_model.preprocess.outputs import SPATIAL_FIELDS
from gla_model.settings import PreprocessingSettings

#: Percentile of brain intensities that maps to 1.0 in the normalized T1w.
NORMALIZATION_PERCENTILE = 99.5


def init_fsl_wf(*, has_pet: bool, settings: PreprocessingSettings,
                name: str = "fsl_spatial_wf") -> Workflow:
    """The paper's FSL/ROBEX/SPM12 chain: ``inputnode`` (t1w, pet) -> ``outputnode``
    (SPATIAL_FIELDS), the same fields as :func:`gla_model.preprocess.ants.init_ants_wf`.

    Args:
        has_pet: whether ``inputnode.pet`` is given (paired subject).
        settings: ``grid``, ``template`` (default: ``$FSLDIR``'s MNI152_T1_1mm_brain)
            and ``acpc``: ``spm`` (SPM12 to its canonical T1, estimate only, run as
            ``spm`` says), ``flirt`` (6-dof FLIRT, a documented substitute) or ``none``.
    """
    grid, acpc = settings.grid, settings.acpc
    reference = fsl_template(template=settings.template)
    workflow = Workflow(name=name)
    inputnode = Node(IdentityInterface(fields=["t1w", "pet"]), name="inputnode")
    outputnode = Node(IdentityInterface(fields=list(SPATIAL_FIELDS)), name="outputnode")
    robex = robex_node()
    flirt = Node(fsl.FLIRT(dof=12, reference=reference, out_matrix_file="t1w_to_mni.mat"),
                 name="flirt_to_mni")
    if acpc == "spm":
        acpc_node = spm_acpc_node(settings=settings.spm)
        workflow.connect([(inputnode, acpc_node, [("t1w", "source")]),
                          (acpc_node, robex, [("out_file", "in_file")])])
    elif acpc == "flirt":
        acpc_node = Node(fsl.FLIRT(dof=6, reference=reference, out_matrix_file="acpc.mat"),
                         name="flirt_acpc")
        workflow.connect([(inputnode, acpc_node, [("t1w", "in_file")]),
                          (inputnode, robex, [("t1w", "in_file")]),
                          (acpc_node, flirt, [("out_matrix_file", "in_matrix_file")])])
    elif acpc == "none":
        workflow.connect(inputnode, "t1w", robex, "in_file")
    else:
        raise ValueError(f"preprocessing.acpc must be 'spm', 'flirt' or 'none', got {acpc!r}")
    stats = Node(fsl.ImageStats(op_string=f"-k %s -P {NORMALIZATION_PERCENTILE}"),
                 name="brain_percentile")
    divide = Node(fsl.BinaryMaths(operation="div"), name="normalize_divide")
    clip = Node(fsl.ImageMaths(op_string="-thr 0 -min 1"), name="normalize_clip")
    fast = Node(fsl.FAST(number_classes=3, img_type=1), name="fast_segmentation")
    grid_ref = Node(GridReference(grid=grid), name="grid_reference")
    t1_matrix = Node(FlirtToGrid(references=[reference]), name="t1w_grid_matrix")
    xfm = Node(FlirtToXfm(reference=reference), name="t1w_xfm")
    workflow.connect([
        (robex, stats, [("out_file", "in_file"), ("out_mask", "mask_file")]),
        (robex, divide, [("out_file", "in_file")]),
        (stats, divide, [("out_stat", "operand_value")]),
        (divide, clip, [("out_file", "in_file")]),
        (robex, flirt, [("out_file", "in_file")]),
        (robex, fast, [("out_file", "in_files")]),
        (flirt, t1_matrix, [("out_matrix_file", "matrices")]),
        (robex, t1_matrix, [("out_file", "sources")]),
        (grid_ref, t1_matrix, [("out_file", "grid")]),
        (robex, outputnode, [("out_mask", "native_mask")]),
        (flirt, xfm, [("out_matrix_file", "matrix")]),
        (robex, xfm, [("out_file", "source")]),
        (inputnode, xfm, [("t1w", "native")]),
        (xfm, outputnode, [("out_file", "xfm")]),
    ])
    to_grid = {"t1w": (clip, "out_file"), "mask": (robex, "out_mask"),
               "csf": (fast, ("partial_volume_files", _pve_csf)),
               "gm": (fast, ("partial_volume_files", _pve_gm)),
               "wm": (fast, ("partial_volume_files", _pve_wm))}
    for field, (node, output) in to_grid.items():
        interp = "nearestneighbour" if field == "mask" else "trilinear"
        apply = Node(fsl.ApplyXFM(apply_xfm=True, interp=interp), name=f"{field}_to_grid")
        workflow.connect([(node, apply, [(output, "in_file")]),
                          (t1_matrix, apply, [("out_file", "in_matrix_file")]),
                          (grid_ref, apply, [("out_file", "reference")]),
                          (apply, outputnode, [("out_file", field)])])
    if has_pet:
        pet_flirt = Node(fsl.FLIRT(dof=6, cost="mutualinfo", out_matrix_file="pet_to_t1w.mat"),
                         name="pet_to_t1w")
        matrices = Node(Merge(2), name="pet_chain_matrices")
        sources = Node(Merge(2), name="pet_chain_sources")
        references = Node(Merge(2, in2=reference), name="pet_chain_references")
        pet_matrix = Node(FlirtToGrid(), name="pet_grid_matrix")
        pet_apply = Node(fsl.ApplyXFM(apply_xfm=True, interp="trilinear"), name="pet_to_grid")
        workflow.connect([
            (inputnode, pet_flirt, [("pet", "in_file")]),
            (robex, pet_flirt, [("out_file", "reference")]),
            (pet_flirt, matrices, [("out_matrix_file", "in1")]),
            (flirt, matrices, [("out_matrix_file", "in2")]),
            (inputnode, sources, [("pet", "in1")]),
            (robex, sources, [("out_file", "in2")]),
            (robex, references, [("out_file", "in1")]),
            (matrices, pet_matrix, [("out", "matrices")]),
            (sources, pet_matrix, [("out", "sources")]),
            (references, pet_matrix, [("out", "references")]),
            (grid_ref, pet_matrix, [("out_file", "grid")]),
            (inputnode, pet_apply, [("pet", "in_file")]),
            (pet_matrix, pet_apply, [("out_file", "in_matrix_file")]),
            (grid_ref, pet_apply, [("out_file", "reference")]),
            (pet_apply, outputnode, [("out_file", "pet")]),
        ])
    return workflow


def _pve_csf(files):
    return files[0]


def _pve_gm(files):
    return files[1]


def _pve_wm(files):
    return files[2]
