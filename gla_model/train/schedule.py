"""The learning-rate schedule of ``training.lr_schedule``."""

from __future__ import annotations

import math

from gla_model.settings import TrainingSettings

#: warmup_cosine: the first 10 % of the steps rise from lr / 25 to lr, the rest fall to 0,
#: both along a half cosine (the one-cycle policy of Smith & Topin 2019, without momentum
#: cycling).
WARMUP_FRACTION = 0.1
WARMUP_START = 1.0 / 25.0


def learning_rate(*, training: TrainingSettings, step: int, total_steps: int) -> float:
    """The learning rate of optimisation step ``step`` (0-based) of ``total_steps``.

    ``constant`` (the paper): ``training.lr`` throughout. ``warmup_cosine``: a short
    warm-up to ``training.lr``, then a cosine decay to 0 at the run's last step.
    """
    lr = training.lr
    if training.lr_schedule == "constant":
        return lr
    if training.lr_schedule != "warmup_cosine":
        raise ValueError(f"unknown training.lr_schedule {training.lr_schedule!r}")
    warmup = max(1, round(WARMUP_FRACTION * total_steps))
    if step < warmup:
        start, end, progress = lr * WARMUP_START, lr, step / warmup
    else:
        start, end = lr, 0.0
        progress = (step - warmup) / max(1, total_steps - warmup)
    return end + (start - end) * 0.5 * (1.0 + math.cos(math.pi * progress))
