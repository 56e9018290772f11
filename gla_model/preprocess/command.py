"""`gla-model preprocess`: one subject's T1w (and PET) to the model grid, atomically.

All outputs are made in a temporary folder next to ``--out-dir`` and moved into
place together at the end, so a failed subject leaves none of them. A failure also
writes ``<out-dir>/../failures/sub-<id>.txt`` with the reason (the workflow lists
these); a successful run removes it.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

from gla_model.errors import GlaModelError
from gla_model.niftiio import write_text_atomic
from gla_model.preprocess.outputs import output_names
from gla_model.preprocess.pet import REFERENCE_REGIONS
from gla_model.preprocess.tools import BACKENDS, add_fsl_arguments

LOGGER = logging.getLogger(__name__)


def failure_path(*, out_dir: Path | str, participant_id: str) -> Path:
    """Where a failed subject's reason is written."""
    return Path(out_dir).resolve().parent / "failures" / f"sub-{participant_id}.txt"


def preprocess_subject(*, participant_id: str, t1w: Path | str, pet: Path | str | None,
                       out_dir: Path | str, backend: str = "ants", grid: int = 64,
                       reference_region: str = "cerebellum_gm", threads: int = 1,
                       template: str | None = None, atlas: str | None = None,
                       atlas_labels: str | None = None, acpc: str = "flirt",
                       spm_mode: str = "matlab", spm_path: str | None = None,
                       matlab_cmd: str = "matlab", work_dir: str | None = None
                       ) -> dict[str, Path]:
    """Run the subject's workflow and move its outputs into ``out_dir``; returns their paths.

    ``work_dir`` keeps nipype's working folder (every step's files) there; by default
    it is temporary.

    On failure removes ``out_dir``, writes the failure note and raises GlaModelError
    naming the subject.
    """
    out_dir = Path(out_dir).resolve()
    failure = failure_path(out_dir=out_dir, participant_id=participant_id)
    try:
        paths = _run(participant_id=participant_id, t1w=t1w, pet=pet, out_dir=out_dir,
                     backend=backend, grid=grid, reference_region=reference_region,
                     threads=threads, template=template, atlas=atlas,
                     atlas_labels=atlas_labels, acpc=acpc, spm_mode=spm_mode,
                     spm_path=spm_path, matlab_cmd=matlab_cmd, work_dir=work_dir)
    except Exception as error:
        shutil.rmtree(out_dir, ignore_errors=True)  # no stale outputs of an earlier run
        reason = str(error) if isinstance(error, GlaModelError) else (
            f"{type(error).__name__}: {error}")
        write_text_atomic(f"sub-{participant_id}: preprocessing failed\n{reason}\n", failure)
        if isinstance(error, GlaModelError):
            raise
        raise GlaModelError(f"sub-{participant_id}: preprocessing failed: {reason} "
                            f"(details in {failure})") from error
    failure.unlink(missing_ok=True)
    return paths


def _run(*, participant_id, t1w, pet, out_dir: Path, backend, grid, reference_region, threads,
         template, atlas, atlas_labels, acpc, spm_mode, spm_path, matlab_cmd,
         work_dir) -> dict[str, Path]:
    os.environ["ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"] = str(threads)
    os.environ.setdefault("NIPYPE_NO_ET", "1")
    from gla_model.preprocess import inputs
    from gla_model.preprocess.tools import check_tools

    check_tools(backend=backend, acpc=acpc, spm_mode=spm_mode, spm_path=spm_path,
                matlab_cmd=matlab_cmd)
    inputs.load_t1w(path=t1w, participant_id=participant_id)
    if pet:
        inputs.load_pet(path=pet, participant_id=participant_id)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    names = output_names(participant_id=participant_id, has_pet=bool(pet))
    with tempfile.TemporaryDirectory(prefix=f".{out_dir.name}.", dir=out_dir.parent) as work:
        staging = Path(work) / "staging"
        _run_workflow(
            work=Path(work), nipype_dir=Path(work_dir or Path(work) / "nipype"),
            staging=staging, participant_id=participant_id, t1w=t1w, pet=pet,
            backend=backend, grid=grid, reference_region=reference_region, template=template,
            atlas=atlas, atlas_labels=atlas_labels, acpc=acpc, spm_mode=spm_mode,
            spm_path=spm_path, matlab_cmd=matlab_cmd)
        missing = [name for name in names.values() if not (staging / name).is_file()]
        if missing:
            raise GlaModelError(f"sub-{participant_id}: the workflow did not write {missing}")
        _replace_folder(staging=staging, out_dir=out_dir)
    return {field: out_dir / name for field, name in names.items()}


def _run_workflow(*, work: Path, nipype_dir: Path, staging: Path, participant_id, t1w, pet,
                  backend,
                  **options) -> None:
    from nipype import config
    from nipype import logging as nipype_logging
    from nipype.pipeline.engine import Node

    from gla_model.preprocess.interfaces import ExportOutputs
    from gla_model.preprocess.workflow import OUTPUT_FIELDS, init_preprocess_wf

    config.update_config({"execution": {"crashdump_dir": str(work / "crash"),
                                         "stop_on_first_crash": True,
                                         "create_report": False},
                          "logging": {"workflow_level": "WARNING",
                                      "interface_level": "WARNING"}})
    nipype_logging.update_logging(config)
    workflow = init_preprocess_wf(backend=backend, participant_id=participant_id,
                                  has_pet=bool(pet), **options)
    export = Node(ExportOutputs(participant_id=participant_id, out_dir=str(staging)),
                  name="export_outputs")
    fields = [f for f in OUTPUT_FIELDS if pet or f != "pet"]
    workflow.connect([(workflow.get_node("outputnode"), export, [(f, f) for f in fields])])
    workflow.base_dir = str(nipype_dir.resolve())
    workflow.inputs.inputnode.t1w = str(Path(t1w).resolve())
    if pet:
        workflow.inputs.inputnode.pet = str(Path(pet).resolve())
    start = time.perf_counter()
    try:
        workflow.run(plugin="Linear")
    except RuntimeError as error:
        raise GlaModelError(f"sub-{participant_id}: {_crash_reason(work / 'crash')}") from error
    LOGGER.info("sub-%s: %s workflow ran in %.1f s", participant_id, backend,
                time.perf_counter() - start)


def _crash_reason(crash_dir: Path) -> str:
    from nipype.utils.filemanip import loadcrash

    for crash in sorted(crash_dir.glob("crash-*")):
        info = loadcrash(str(crash))
        lines = [line for line in "".join(info.get("traceback", [])).splitlines()
                 if line.strip()]
        return f"step {info.get('node', '?')} failed: {lines[-1] if lines else 'unknown'}"
    return "the nipype workflow failed without a crash file"


def _replace_folder(*, staging: Path, out_dir: Path) -> None:
    """Put ``staging`` at ``out_dir`` (a rename; an older ``out_dir`` is removed)."""
    if out_dir.exists():
        old = staging.parent / "previous"
        os.replace(out_dir, old)
    os.replace(staging, out_dir)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``gla-model preprocess``."""
    parser.add_argument("--participant-id", required=True, help="label without 'sub-'")
    parser.add_argument("--t1w", required=True, help="T1w NIfTI")
    parser.add_argument("--pet", help="FDG-PET NIfTI (3D or 4D; paired subjects)")
    parser.add_argument("--out-dir", required=True, help="results/preprocess/sub-<id>")
    parser.add_argument("--backend", choices=BACKENDS, default="ants")
    parser.add_argument("--grid", type=int, default=64, help="model grid size (voxels/axis)")
    parser.add_argument("--reference-region", choices=REFERENCE_REGIONS,
                        default="cerebellum_gm", help="PET SUVR reference region")
    parser.add_argument("--threads", type=int, default=1, help="ITK threads")
    parser.add_argument("--template", help="skull-stripped T1 template in MNI space "
                        "(default: bundled MNI152; fsl: $FSLDIR MNI152_T1_1mm_brain)")
    parser.add_argument("--atlas", help="AAL image for the cerebellar reference region")
    parser.add_argument("--atlas-labels", help="labels of --atlas")
    parser.add_argument("--work-dir", help="keep nipype's working folder here (debugging)")
    add_fsl_arguments(parser)


def run_command(args: argparse.Namespace) -> None:
    """Run ``gla-model preprocess``."""
    paths = preprocess_subject(
        participant_id=args.participant_id, t1w=args.t1w, pet=args.pet, out_dir=args.out_dir,
        backend=args.backend, grid=args.grid, reference_region=args.reference_region,
        threads=args.threads, template=args.template, atlas=args.atlas,
        atlas_labels=args.atlas_labels, acpc=args.acpc, spm_mode=args.spm_mode,
        spm_path=args.spm_path, matlab_cmd=args.matlab_cmd, work_dir=args.work_dir)
    LOGGER.info("sub-%s: wrote %d files to %s", args.participant_id, len(paths), args.out_dir)
