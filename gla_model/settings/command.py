"""``gla-model config-schema``: write the JSON schema of config.yaml (generated, YAML)."""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from gla_model.niftiio import write_text_atomic
from gla_model.settings.config import config_schema

HEADER = ("# Generated from gla_model/settings/sections.py by `gla-model config-schema --out "
          "workflow/schemas/config.schema.yaml`; do not edit by hand.\n")


def schema_text() -> str:
    return HEADER + yaml.safe_dump(config_schema(), sort_keys=False, width=100)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, type=Path, help="schema file to write")


def run_command(args: argparse.Namespace) -> None:
    write_text_atomic(schema_text(), args.out)
