"""Errors a user can act on. Anything else is a bug and keeps its traceback (with --debug)."""


class MinekitError(Exception):
    """Base class: a failure minekit can explain without a traceback (exit code 1)."""

    exit_code = 1


class InputError(MinekitError):
    """An input file breaks its contract (exit code 2)."""

    exit_code = 2


class ConfigError(MinekitError):
    """Flags or parameters that cannot work together, or cannot apply (exit code 2)."""

    exit_code = 2
