"""Exceptions for problems a user can fix; the CLI prints them without a traceback."""


class GlaModelError(Exception):
    """Base class: the message says what is wrong and what to do."""


class InputImageError(GlaModelError):
    """An input image is unreadable or unusable (names the file)."""


class CohortError(GlaModelError):
    """The cohort (BIDS tree or participants.tsv) is invalid; lists every offender."""


class ConfigError(GlaModelError):
    """A configuration value is invalid."""


class ToolMissingError(GlaModelError):
    """An external tool needed by the chosen backend is not installed."""


class CheckpointError(GlaModelError):
    """A checkpoint is missing, corrupt or does not match the requested model."""


class LeakageError(GlaModelError):
    """A test subject was found in training or validation data."""


class TrainingError(GlaModelError):
    """Training cannot go on (e.g. the loss became NaN); says which run and what to try."""
