"""The training configuration (config ``training:`` mapping, passed as JSON)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from gla_model.device import DEVICES, PRECISIONS
from gla_model.errors import ConfigError

LR_SCHEDULES = ("constant", "warmup_cosine")
#: warmup_cosine: the first 10 % of the steps rise from lr / 25 to lr, the rest fall to 0,
#: both along a half cosine (the one-cycle policy of Smith & Topin 2019, without momentum
#: cycling).
WARMUP_FRACTION = 0.1
WARMUP_START = 1.0 / 25.0


@dataclass(frozen=True)
class TrainingConfig:
    """Optimisation settings; defaults are the paper's (Sec. III-B).

    ``beta1``: the paper trains with "Adam with a momentum of 0.1", read here as
    Adam's first-moment coefficient beta1 = 0.1. ``lr_schedule``: ``constant`` (the
    paper) or ``warmup_cosine`` (:meth:`learning_rate`: a short warm-up to ``lr``, then a
    cosine decay to 0 at the run's last step). ``val_every``: validate every that many
    epochs (and always after the last one). ``preload``: keep every volume in memory.
    """

    epochs: int = 100
    batch_size: int = 4
    lr: float = 2e-5
    lr_schedule: str = "constant"
    beta1: float = 0.1
    beta2: float = 0.999
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    val_every: int = 1
    preload: bool = True

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TrainingConfig:
        """Validate a mapping; missing keys and ``None`` values take the defaults."""
        if not isinstance(values, Mapping):
            raise ConfigError(f"training config must be a mapping, got {values!r}")
        known = {f.name: f for f in fields(cls)}
        unknown = set(values) - set(known)
        if unknown:
            raise ConfigError(f"unknown training keys {sorted(unknown)}; allowed: {sorted(known)}")
        given = {k: v for k, v in values.items() if v is not None}
        for name, value in given.items():
            kind = type(known[name].default)
            ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                ok = True
            if not ok:
                raise ConfigError(f"training.{name} must be {kind.__name__}, got {value!r}")
        config = cls(**{k: float(v) if type(known[k].default) is float else v
                        for k, v in given.items()})
        for name in ("epochs", "batch_size", "val_every"):
            if getattr(config, name) < 1:
                raise ConfigError(f"training.{name} must be >= 1, got {getattr(config, name)}")
        if not config.lr > 0 or not 0 <= config.beta1 < 1 or not 0 <= config.beta2 < 1:
            raise ConfigError("training.lr must be > 0 and beta1, beta2 in [0, 1)")
        if config.lr_schedule not in LR_SCHEDULES:
            raise ConfigError(f"training.lr_schedule must be one of {LR_SCHEDULES}, got "
                              f"{config.lr_schedule!r}")
        if config.device not in DEVICES or config.precision not in PRECISIONS:
            raise ConfigError(f"training.device must be one of {DEVICES} and precision one "
                              f"of {PRECISIONS}")
        return config

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def learning_rate(self, *, step: int, total_steps: int) -> float:
        """The learning rate of optimisation step ``step`` (0-based) of ``total_steps``."""
        if self.lr_schedule == "constant":
            return self.lr
        warmup = max(1, round(WARMUP_FRACTION * total_steps))
        if step < warmup:
            start, end, progress = self.lr * WARMUP_START, self.lr, step / warmup
        else:
            start, end = self.lr, 0.0
            progress = (step - warmup) / max(1, total_steps - warmup)
        return end + (start - end) * 0.5 * (1.0 + math.cos(math.pi * progress))
