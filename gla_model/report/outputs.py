"""Which files each part of the report writes (light: the Snakefile imports it)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

PARTS = ("tables", "figures", "interpolation", "summary")
GROUPS = ("main", "ablation_architecture", "ablation_losses", "ablation_patches")
QUALITATIVE_GROUPS = ("main", "ablation_architecture")


def group_members(*, variants: Mapping[str, Mapping], group: str) -> list[str]:
    """The variants of ``group``, in config order."""
    return [name for name, spec in variants.items() if spec["group"] == group]


def output_paths(*, out_dir: Path, what: str, variants: Mapping[str, Mapping]) -> list[Path]:
    """The files one part writes, for these reported variants (the Snakemake outputs)."""
    out_dir = Path(out_dir)
    ablations = [g.removeprefix("ablation_") for g in GROUPS[1:]
                 if group_members(variants=variants, group=g)]
    if what == "tables":
        names = ["table1_synthesis_quality", "table2_classification_paired",
                 "table3_classification_complete", "qc_summary",
                 *(f"ablation_{a}" for a in ablations)]
        return [out_dir / "tables" / f"{n}.{ext}" for n in names for ext in ("tsv", "md")]
    if what == "figures":
        groups = [g for g in QUALITATIVE_GROUPS if group_members(variants=variants, group=g)]
        return [*(out_dir / "figures" / f"ablation_{a}.png" for a in ablations),
                *(out_dir / "figures" / f"qualitative_{g.removeprefix('ablation_')}_{d}.png"
                  for g in groups for d in ("AD", "CN")),
                out_dir / "figures" / "training_curves.png"]
    if what == "interpolation":
        return [out_dir / "figures" / "interpolation.png",
                out_dir / "tables" / "interpolation.tsv"]
    if what == "summary":
        return [out_dir / "summary.md"]
    raise ValueError(f"unknown report part {what!r}; one of {PARTS}")
