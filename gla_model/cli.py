"""`gla-model <stage> ...`: every workflow stage, runnable without Snakemake.

Each verb lives in the module that owns the stage. The module provides
``configure_parser(parser)`` and ``run_command(args)``; it is imported only when
its verb is used, so ``gla-model --help`` stays fast (no torch import).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from gla_model.errors import GlaModelError

COMMANDS: dict[str, tuple[str, str]] = {
    "config-schema": ("gla_model.settings.command", "write the JSON schema of config.yaml"),
    "demo-cohort": ("gla_model.demo_cohort.command", "write the built-in simulated BIDS cohort"),
    "cohort": ("gla_model.cohort.command", "discover a BIDS cohort and write its subject table"),
    "check-tools": ("gla_model.preprocess.tools", "check the external tools of a backend"),
    "resample-atlas": ("gla_model.preprocess.atlas", "put the AAL atlas on the model grid"),
    "preprocess": ("gla_model.preprocess.command", "preprocess one subject's T1w and PET"),
    "collect-qc": ("gla_model.preprocess.collect", "combine the subjects' QC rows"),
    "folds": ("gla_model.folds", "make the subject-level cross-validation split"),
    "train": ("gla_model.train.command", "train one model variant on one fold"),
    "synthesize": ("gla_model.synthesize", "synthesize PET from preprocessed T1w images"),
    "uncertainty": ("gla_model.uncertainty.command",
                    "a variant's uncertainty per subject and region, and its calibration"),
    "evaluate": ("gla_model.evaluate.image_quality", "score synthetic PET against real PET"),
    "features": ("gla_model.features", "AAL ROI features of MRI and PET"),
    "classify": ("gla_model.classify.command", "RBF-SVM classification (AD vs CN, MCI tasks)"),
    "report": ("gla_model.report.build", "tables, figures and summary of a run"),
}


def build_parser(*, verb: str | None = None) -> argparse.ArgumentParser:
    """The top-level parser; only ``verb``'s module is imported to build its sub-parser."""
    parser = argparse.ArgumentParser(prog="gla-model", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="verb", metavar="<stage>", required=True)
    for name, (module_name, summary) in COMMANDS.items():
        sub = subparsers.add_parser(name, help=summary, description=summary)
        if name == verb:
            importlib.import_module(module_name).configure_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``gla-model`` console script."""
    argv = sys.argv[1:] if argv is None else argv
    verb = next((arg for arg in argv if arg in COMMANDS), None)
    args = build_parser(verb=verb).parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        importlib.import_module(COMMANDS[args.verb][0]).run_command(args)
    except GlaModelError as error:
        print(f"gla-model {args.verb}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
