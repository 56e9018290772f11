"""Size and cost of a variant's networks, from its model spec alone (no checkpoint).

Parameters: every trainable parameter of the generators (CycleGAN: both, MRI -> PET and
PET -> MRI) and of the discriminators; batch-norm running statistics are buffers, not
parameters. FLOPs: one forward pass of the MRI -> PET generator (what synthesis runs) on
one ``grid``^3 volume, counted by :class:`torch.utils.flop_counter.FlopCounterMode` on the
meta device (shapes only: nothing is allocated or computed). It counts convolutions
(transposed ones too) and matrix products, a multiply-add as 2 FLOPs, zero-padded taps
included; biases, normalisation, activations, the sigmoid and the brain mask are not counted
(a few FLOPs per voxel and channel against hundreds per voxel and channel for a 3^3
convolution).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode, conv_flop_count

from gla_model.nets.factory import build_model
from gla_model.settings import ModelSpec, VariantSettings

#: What the counts cover, for a table's note.
PARAMETER_NOTE = ("Parameters: trainable parameters of every generator (CycleGAN: MRI→PET "
                  "and PET→MRI) and discriminator of the variant; batch-norm running "
                  "statistics not counted.")
FLOP_NOTE = ("GFLOPs: one forward pass of the MRI→PET generator on one volume (batch 1) at "
             "the model grid, counted with torch.utils.flop_counter.FlopCounterMode "
             "(convolutions and matrix products; a multiply-add = 2 FLOPs; biases, "
             "normalisation, activations and the brain mask not counted).")


@dataclass(frozen=True)
class Complexity:
    """Parameter counts and the generator's forward FLOPs of one variant."""

    generator_parameters: int
    discriminator_parameters: int
    generator_flops: int

    @property
    def total_parameters(self) -> int:
        return self.generator_parameters + self.discriminator_parameters


def parameter_count(*, modules: list[nn.Module]) -> int:
    """Number of parameters of ``modules`` (shared parameters counted once)."""
    seen = {id(p): p.numel() for module in modules for p in module.parameters()}
    return sum(seen.values())


def _conv_backward_flops(grad_out_shape, x_shape, w_shape, _bias, _stride, _padding,
                         _dilation, transposed, _output_padding, _groups, output_mask,
                         out_shape, **_) -> int:
    """A convolution's backward: each gradient asked for (input, weight) costs one forward.

    Replaces torch's own formula, which counts a grouped convolution's backward as if it
    were dense (2.5x too many FLOPs for the GLA-GAN's grouped local path).
    """
    forward = conv_flop_count(list(x_shape), list(w_shape), list(grad_out_shape),
                              transposed=transposed)
    return forward * (int(bool(output_mask[0])) + int(bool(output_mask[1])))


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs of everything ``fn`` runs, forward and backward (see the module doc), with
    grouped convolutions' backward counted right."""
    mapping = {torch.ops.aten.convolution_backward: _conv_backward_flops}
    with FlopCounterMode(display=False, custom_mapping=mapping) as counter:
        fn()
    return int(counter.get_total_flops())


def forward_flops(*, module: nn.Module, grid: int, channels: int = 1) -> int:
    """FLOPs of ``module`` on one (1, channels, grid, grid, grid) input (see the module doc);
    ``module`` may live on the meta device."""
    device = next(module.parameters()).device
    volume = torch.zeros((1, channels, grid, grid, grid), device=device)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        module(volume)
    return int(counter.get_total_flops())


def model_complexity(*, spec: ModelSpec, grid: int) -> Complexity:
    """Parameters and generator FLOPs of the networks :func:`build_model` makes for
    ``spec`` at ``grid`` (built on the meta device: no memory, no random draws)."""
    with torch.device("meta"):
        bundle = build_model(spec=spec, grid=grid).eval()
    return Complexity(
        generator_parameters=parameter_count(modules=bundle.generators()),
        discriminator_parameters=parameter_count(modules=bundle.discriminators()),
        generator_flops=forward_flops(module=bundle.generator, grid=grid))


def complexity_rows(*, variants: Mapping[str, VariantSettings], grid: int
                    ) -> list[dict[str, Any]]:
    """One row per reported variant: variant, label, arch, grid, generator_parameters,
    discriminator_parameters, total_parameters, generator_gflops (GFLOPs per volume)."""
    rows = []
    for name, variant in variants.items():
        measured = model_complexity(spec=variant.model_spec(), grid=grid)
        rows.append({"variant": name, "label": variant.label, "arch": variant.arch,
                     "grid": grid, "generator_parameters": measured.generator_parameters,
                     "discriminator_parameters": measured.discriminator_parameters,
                     "total_parameters": measured.total_parameters,
                     "generator_gflops": measured.generator_flops / 1e9})
    return rows


def complexity_markdown(*, rows: list[dict[str, Any]]) -> str:
    """The model-complexity table as Markdown, with what its numbers count."""
    header = ("| Model | Architecture | Generator parameters | Discriminator parameters "
              "| Total parameters | GFLOPs per volume |")
    lines = [f"| {_cell(r['label'])} | {r['arch']} | {r['generator_parameters']:,} "
             f"| {r['discriminator_parameters']:,} | {r['total_parameters']:,} "
             f"| {r['generator_gflops']:.2f} |" for r in rows]
    grid = rows[0]["grid"] if rows else "?"
    return "\n".join([
        f"# Model complexity ({grid}^3 grid)", "", header, "|---|---|---|---|---|---|",
        *lines, "", PARAMETER_NOTE, "", FLOP_NOTE, ""])


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|")
