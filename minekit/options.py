"""Value checks for CLI options that click's min/max cannot say: open bounds and fixed choices.

They run while the command line (or a pipeline step) is parsed, so `minekit run` catches a bad value
in any step before the first step runs. Choices are read from the library module that owns them,
imported only when the option is checked, so `minekit --help` stays instant.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

import typer

SEED_MAX = 2**32 - 1  # numpy's and torch's seeding both accept 0 .. 2**32 - 1


def one_of(module: str, constant: str) -> Callable[[Any], Any]:
    """The value must be one of `module.constant` (e.g. minekit.build.FORMATS)."""

    def check(value: Any) -> Any:
        if value is None:
            return value
        choices = getattr(importlib.import_module(module), constant)
        if value not in choices:
            raise typer.BadParameter(f"{value!r} is not one of {', '.join(choices)}.")
        return value

    return check


def between(low: float | None = None, high: float | None = None, *, low_open: bool = False,
            high_open: bool = False) -> Callable[[Any], Any]:
    """The number must lie in the interval; open ends are excluded (0 < learning rate, warmup < 1)."""

    def check(value: Any) -> Any:
        if value is None:
            return value
        bad_low = low is not None and (value <= low if low_open else value < low)
        bad_high = high is not None and (value >= high if high_open else value > high)
        if bad_low or bad_high or value != value:  # value != value: NaN
            if high is None and low is not None:
                wanted = f"x {'>' if low_open else '>='} {low}"
            else:
                left = "" if low is None else f"{low} {'<' if low_open else '<='} "
                wanted = f"{left}x{'' if high is None else f' {chr(60) if high_open else chr(60) + chr(61)} {high}'}"
            if low is None and high is None:
                raise typer.BadParameter(f"{value} is not a number; give a number.")
            raise typer.BadParameter(f"{value} is not in the range {wanted}.")
        return value

    return check


def seed_range(value: Any) -> Any:
    if value is not None and not 0 <= value <= SEED_MAX:
        raise typer.BadParameter(f"{value} is not a seed; give a whole number from 0 to {SEED_MAX}.")
    return value
