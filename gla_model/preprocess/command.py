"""`gla-model preprocess`: one subject's T1w (and PET) to the model grid, atomically.

    gla-model preprocess --settings JSON --threads N --participant-id ID --t1w PATH
        [--pet PATH] --out-dir DIR [--work-dir DIR]

``--settings`` is ``job_settings(preprocessing=...)`` (:mod:`gla_model.settings`);
``--threads`` replaces its ``threads`` (a job resource).

All outputs are made in a temporary folder next to ``--out-dir`` and moved into
place together at the end, so a failed subject leaves none of them. A failure also
writes ``<out-dir>/../failures/sub-<id>.txt`` with the reason
(:func:`gla_model.layout.failure_note`; the workflow lists these); a successful run
removes it.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

from gla_model import layout
from gla_model.errors import GlaModelError
from gla_model.niftiio import write_text_atomic
from gla_model.settings import PreprocessingSettings, job_value, read_job_settings

LOGGER = logging.getLogger(__name__)


def preprocess_subject(*, participant_id: str, t1w: Path | str, pet: Path | str | None,
                       out_dir: Path | str, settings: PreprocessingSettings,
                       work_dir: Path | str | None = None) -> dict[str, Path]:
    """Run the subject's workflow and move its outputs into ``out_dir``; returns their paths.

    Args:
        participant_id: the subject's label without ``sub-``.
        t1w, pet: the input images (``pet`` None for an MRI-only subject).
        out_dir: the subject's output folder (``results/preprocess/sub-<id>``).
        settings: the ``preprocessing`` settings; ``threads`` sets the ITK threads.
        work_dir: keep nipype's working folder (every step's files) there; None: a
            temporary folder.

    On failure removes ``out_dir``, writes the failure note and raises GlaModelError
    naming the subject.
    """
    out_dir = Path(out_dir).resolve()
    failure = layout.failure_note(preproc_dir=out_dir.parent, participant_id=participant_id)
    try:
        paths = _run(participant_id=participant_id, t1w=t1w, pet=pet, out_dir=out_dir,
                     settings=settings, work_dir=work_dir)
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


def _run(*, participant_id: str, t1w: Path | str, pet: Path | str | None, out_dir: Path,
         settings: PreprocessingSettings, work_dir: Path | str | None) -> dict[str, Path]:
    # ITK reads its thread count once per process, before the first ANTs call made here
    os.environ["ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"] = str(settings.threads)
    os.environ.setdefault("NIPYPE_NO_ET", "1")
    from gla_model.preprocess import inputs
    from gla_model.preprocess.tools import check_tools

    check_tools(settings=settings)
    inputs.load_t1w(path=t1w, participant_id=participant_id)
    if pet:
        inputs.load_pet(path=pet, participant_id=participant_id,
                        window_min=settings.pet_window_min)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    names = layout.preprocessed_names(participant_id=participant_id, has_pet=bool(pet))
    expected = [*names.values(), *layout.sidecar_names(participant_id=participant_id,
                                                       has_pet=bool(pet)).values()]
    with tempfile.TemporaryDirectory(prefix=f".{out_dir.name}.", dir=out_dir.parent) as work:
        staging = Path(work) / "staging"
        _run_workflow(
            work=Path(work), nipype_dir=Path(work_dir or Path(work) / "nipype"),
            staging=staging, participant_id=participant_id, t1w=t1w, pet=pet,
            settings=settings)
        missing = [name for name in expected if not (staging / name).is_file()]
        if missing:
            raise GlaModelError(f"sub-{participant_id}: the workflow did not write {missing}")
        _replace_folder(staging=staging, out_dir=out_dir)
    return {field: out_dir / name for field, name in names.items()}


def _run_workflow(*, work: Path, nipype_dir: Path, staging: Path, participant_id: str,
                  t1w: Path | str, pet: Path | str | None,
                  settings: PreprocessingSettings) -> None:
    from nipype import config
    from nipype import logging as nipype_logging
    from nipype.pipeline.engine import Node

    from gla_model.preprocess.interfaces.common import ExportOutputs
    from gla_model.preprocess.workflow import init_preprocess_wf

    config.update_config({"execution": {"crashdump_dir": str(work / "crash"),
                                         "stop_on_first_crash": True,
                                         "create_report": False},
                          "logging": {"workflow_level": "WARNING",
                                      "interface_level": "WARNING"}})
    nipype_logging.update_logging(config)
    workflow = init_preprocess_wf(participant_id=participant_id, has_pet=bool(pet),
                                  settings=settings)
    export = Node(ExportOutputs(participant_id=participant_id, out_dir=str(staging),
                                t1w_source=str(t1w), pet_source=str(pet or ""),
                                backend=settings.backend, grid=settings.grid,
                                reference_region=settings.reference_region),
                  name="export_outputs")
    fields = [f for f in layout.PREPROCESSED_FIELDS if pet or f != "pet"]
    workflow.connect([(workflow.get_node("outputnode"), export, [(f, f) for f in fields])])
    if pet:
        workflow.connect(workflow.get_node("load_inputs"), "pet_frames", export, "pet_frames")
    workflow.base_dir = str(nipype_dir.resolve())
    workflow.inputs.inputnode.t1w = str(Path(t1w).resolve())
    if pet:
        workflow.inputs.inputnode.pet = str(Path(pet).resolve())
    start = time.perf_counter()
    try:
        workflow.run(plugin="Linear")
    except RuntimeError as error:
        raise GlaModelError(f"sub-{participant_id}: {_crash_reason(work / 'crash')}") from error
    LOGGER.info("sub-%s: %s workflow ran in %.1f s", participant_id, settings.backend,
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
    parser.add_argument("--settings", required=True, metavar="JSON",
                        help="the preprocessing settings: job_settings(preprocessing=...) "
                             "as inline JSON or a JSON file")
    parser.add_argument("--threads", type=int, required=True,
                        help="ITK threads (replaces the settings' threads)")
    parser.add_argument("--participant-id", required=True, help="label without 'sub-'")
    parser.add_argument("--t1w", required=True, help="T1w NIfTI")
    parser.add_argument("--pet", help="FDG-PET NIfTI (3D or 4D; paired subjects)")
    parser.add_argument("--out-dir", required=True, help="results/preprocess/sub-<id>")
    parser.add_argument("--work-dir", help="keep nipype's working folder here (debugging)")


def run_command(args: argparse.Namespace) -> None:
    """Run ``gla-model preprocess``."""
    settings = job_value(read_job_settings(args.settings), "preprocessing",
                         threads=args.threads)
    paths = preprocess_subject(participant_id=args.participant_id, t1w=args.t1w, pet=args.pet,
                               out_dir=args.out_dir, settings=settings, work_dir=args.work_dir)
    LOGGER.info("sub-%s: wrote %d files to %s", args.participant_id, len(paths), args.out_dir)
