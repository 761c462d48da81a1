"""Errors a user can act on. Anything else is a bug and keeps its traceback (with --debug)."""


class MinekitError(Exception):
    """Base class: a failure minekit can explain without a traceback (exit code 1)."""

    exit_code = 1


class InputError(MinekitError):
    """An input file breaks its contract (exit code 2)."""

    exit_code = 2


class ConfigError(MinekitError):
    """Flags or parameters that cannot work together, or cannot apply (exit code 2).

    `param` names the parameter at fault (as the Python API spells it), so front ends can show it as
    typed (--top-k, a pipeline key) and tests can check which parameter was refused, not the wording.
    """

    exit_code = 2

    def __init__(self, message: str = "", *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class OutputError(MinekitError):
    """An output cannot be written where it was asked for: a full disk, a read-only place (exit code 1)."""
