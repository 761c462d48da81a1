"""Pipeline files: a TOML file of minekit stages read into checked steps (minekit.execution.pipeline runs them).

A step names a command (``mine.bm25`` is ``minekit mine bm25``) and gives its options under their
own names (``range_max`` is ``--range-max``): the runner knows no command's insides. Each command is a
stage (minekit.registry, minekit/stages/): the runner checks every step's keys and values against the
function's parameters and value rules (minekit.options) before anything runs, calls the stages through
the executors, and keeps each step's output under ``runs/<pipeline>/<step>/``.

File format (paths are relative to the current working directory, as on the command line)::

    name = "demo"                      # optional: the run directory is runs/<name> (default: file stem)

    [inputs]                           # fills the *required* options of the same name in every step
    queries = "sample_data/queries.parquet"

    [steps.bm25]                       # the table key is the step name; steps run in file order
    run = "mine.bm25"                  # the command
    top_k = 50                         # its options

    [steps.filtered]
    run = "filter"
    candidates = "@bm25"               # "@step" is an earlier step's output; "@inputs.x" an input

    [rounds]                           # optional, after the steps: ANCE-style iterative rounds
    count = 2
    start = { train = "default" }      # what "@prev.train" means in round 1 (a value or "@step")
    [rounds.steps.dense]
    run = "mine.dense"
    model = "@prev.train"              # the previous round's train output

Inside a round, "@x" is this round's step x when x is an earlier round step, else the top-level
step x. A step's output is its ``--out`` (filled in as runs/<pipeline>/<step>/... unless given), or
for commands without ``--out`` (build) the path the stage returns; ``--out-dir`` is
filled in as runs/<pipeline>/<step>/ (shared by all rounds, so each round's dataset is a version).
"""

from __future__ import annotations

import difflib
import inspect
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from minekit.errors import ConfigError
from minekit.options import BadValue, check_value
from minekit.registry import OUTPUTS, SPECS

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

logger = logging.getLogger(__name__)

TOP_KEYS = ("name", "inputs", "steps", "rounds")
ROUND_KEYS = ("count", "start", "steps")
OUTPUT_OPTIONS = OUTPUTS  # never hashed as inputs; the runner fills in out and out_dir where a step leaves them
_STEP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class Ref:
    """An earlier step's output, by its instance name ("bm25", "round2.train")."""

    step: str


@dataclass
class Step:
    name: str  # instance name: "filtered", or "round2.dense" inside rounds
    base: str  # the name in the file
    kind: str  # "mine.bm25"
    fn: Callable  # the stage function (minekit.stages)
    params: dict[str, Any]  # option name -> literal, Ref, or list of them (inputs filled in)
    line: int | None
    round: int | None = None

    def refs(self) -> list[str]:
        return [v.step for v in _flat(self.params.values()) if isinstance(v, Ref)]


@dataclass
class Pipeline:
    name: str
    path: Path
    steps: list[Step]
    rounds: int = 0


@dataclass
class Planned:
    step: Step
    fingerprint: str
    parts: dict
    action: str  # "run" or "skip"
    reason: str


@dataclass
class RunResult:
    run_dir: Path
    planned: list[Planned]
    records: dict[str, dict]
    metrics: list[tuple[str, dict]] = field(default_factory=list)


# -- loading and checking the TOML file -------------------------------------------------------------

class _Source:
    """The TOML text, to point errors at a line (tomllib gives no line numbers; scanning is enough)."""

    _HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")

    def __init__(self, path: Path, text: str) -> None:
        self.path, self.lines = path, text.splitlines()
        self.used_inputs: set[str] = set()  # [inputs] entries some step uses: the others are errors

    def line_of(self, table: str, key: str | None = None) -> int | None:
        current = ""
        for number, line in enumerate(self.lines, 1):
            header = self._HEADER.match(line)
            if header:
                current = re.sub(r"\s*\.\s*", ".", header.group(1).replace('"', "").replace("'", ""))
                if key is None and current == table:
                    return number
            elif key is not None and current == table and re.match(rf"""^\s*["']?{re.escape(key)}["']?\s*=""", line):
                return number
        if key is not None:  # dotted keys or inline tables: the first line that sets the key
            for number, line in enumerate(self.lines, 1):
                if re.search(rf"""(^|[\s{{,.])["']?{re.escape(key)}["']?\s*=""", line):
                    return number
        return None

    def error(self, msg: str, table: str = "", key: str | None = None) -> ConfigError:
        line = self.line_of(table, key) if key is not None or table else None
        if line is None and key is not None and table:
            line = self.line_of(table)
        where = f"{self.path}:{line}" if line else f"{self.path}"
        return ConfigError(f"{where}: {msg}")


def load_pipeline(path: str | Path) -> Pipeline:
    """Parse and check a pipeline file against the stage functions; raise ConfigError before any work."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder; give a pipeline .toml file (see pipelines/).")
    if not path.is_file():
        raise ConfigError(f"{path}: pipeline file not found. Fix: check the path; ready pipelines are in pipelines/.")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: is not a text file (binary data, e.g. parquet), so not a TOML pipeline. "
                          "Fix: give a pipeline .toml file (see pipelines/).") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}. Fix: correct the file there (see pipelines/ for "
                          "examples).") from None
    src = _Source(path, text)
    _check_keys(src, data, TOP_KEYS, "")
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not _STEP_NAME.match(name):
        raise src.error(f"name: {name!r} must be letters, digits, '_' or '-'.", "", "name")
    inputs = _table(src, data, "inputs", "")
    steps_table = _table(src, data, "steps", "")
    if not steps_table and "rounds" not in data:
        raise src.error("no steps: add at least one [steps.<name>] table with run = \"<command>\".")
    steps: list[Step] = []
    for base, raw in steps_table.items():
        steps.append(_make_step(src, base, raw, f"steps.{base}", inputs, steps, round_=None, start={}))
    count = 0
    if "rounds" in data:
        count = _add_rounds(src, data["rounds"], inputs, steps)
    unused = [k for k in inputs if k not in src.used_inputs]
    if unused:
        raise src.error(f"inputs.{unused[0]}: no step has a required option {unused[0]!r} or refers to "
                        f"@inputs.{unused[0]}; remove it or fix its name.", "inputs", unused[0])
    return Pipeline(name=name, path=path, steps=steps, rounds=count)


def _check_keys(src: _Source, data: dict, allowed: tuple[str, ...], table: str) -> None:
    for key in data:
        if key not in allowed:
            hint = difflib.get_close_matches(key, allowed, n=1)
            also = f" (did you mean {hint[0]!r}?)" if hint else ""
            where = f"[{table}]" if table else "the top level"
            raise src.error(f"unknown key {key!r} in {where}{also}; allowed: {', '.join(allowed)}.", table, key)


def _table(src: _Source, data: dict, key: str, table: str) -> dict:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise src.error(f"{key} must be a table ([{key}]), got {type(value).__name__}.", table, key)
    return value


def _add_rounds(src: _Source, rounds: Any, inputs: dict, steps: list[Step]) -> int:
    if not isinstance(rounds, dict):
        raise src.error("rounds must be a table ([rounds]).", "", "rounds")
    _check_keys(src, rounds, ROUND_KEYS, "rounds")
    count = rounds.get("count")
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise src.error(f"rounds.count must be a whole number >= 1, got {count!r}.", "rounds", "count")
    start = _table(src, rounds, "start", "rounds")
    body = _table(src, rounds, "steps", "rounds")
    if not body:
        raise src.error("[rounds] has no steps: add [rounds.steps.<name>] tables.", "rounds")
    for key in start:
        if key not in body:
            raise src.error(f"rounds.start.{key}: there is no round step {key!r}.", "rounds", key)
    top = {s.name for s in steps}
    for base in body:
        if base in top:
            raise src.error(f"rounds.steps.{base}: a top-level step has this name already.", f"rounds.steps.{base}")
    for number in range(1, count + 1):
        for base, raw in body.items():
            steps.append(_make_step(src, base, raw, f"rounds.steps.{base}", inputs, steps, round_=number,
                                    start=start))
    return count


@dataclass(frozen=True)
class _Option:
    """A stage parameter as a pipeline sees it, read from the stage function's signature."""

    name: str
    required: bool
    default: Any
    multiple: bool  # takes a list
    is_flag: bool  # true / false
    types: tuple  # the scalar types it takes (int, float, str, Path, ...)
    positional: bool  # an argument on the command line, not an --option


def _options(fn: Callable) -> dict[str, _Option]:
    """A stage function's parameters, with the types their annotations allow ("int | None", "list[str | Path]")."""
    import typing

    hints = typing.get_type_hints(fn)
    options = {}
    for param in inspect.signature(fn).parameters.values():
        if param.name == "show_progress":
            continue
        hint = hints.get(param.name, Any)
        types = _leaf_types(hint)
        options[param.name] = _Option(param.name, param.default is inspect.Parameter.empty, param.default,
                                      multiple=list in types, is_flag=hint is bool,
                                      types=tuple(t for t in types if t not in (list, type(None))),
                                      positional=param.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return options


def _leaf_types(hint: Any) -> set:
    """The plain types in an annotation; `list` stands for any list or sequence of them."""
    import collections.abc
    import typing

    origin = typing.get_origin(hint)
    if origin in (list, tuple, collections.abc.Sequence):
        return {list, *(t for arg in typing.get_args(hint) for t in _leaf_types(arg))}
    if typing.get_args(hint):  # a union
        return {t for arg in typing.get_args(hint) for t in _leaf_types(arg)}
    return {hint}


def stage_of(kind: str) -> Callable | None:
    """`mine.bm25` -> the stage through its executors (minekit.execution.executors), or None."""
    from minekit.execution.executors import entry

    return entry(kind) if kind in SPECS and SPECS[kind].step else None


def _command_names() -> list[str]:
    return sorted(k for k, spec in SPECS.items() if spec.step)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _make_step(src: _Source, base: str, raw: Any, table: str, inputs: dict,
               earlier: list[Step], *, round_: int | None, start: dict) -> Step:
    if not isinstance(raw, dict):
        raise src.error(f"{table} must be a table with run = \"<command>\".", table)
    if not _STEP_NAME.match(base):
        raise src.error(f"step name {base!r}: use letters, digits, '_' or '-'.", table)
    kind = raw.get("run")
    if not isinstance(kind, str):
        raise src.error(f"{table}: needs run = \"<command>\" (one of {', '.join(_command_names())}).", table)
    fn = stage_of(kind)
    if fn is None:
        hint = difflib.get_close_matches(kind, _command_names(), n=1)
        also = f" (did you mean {hint[0]!r}?)" if hint else ""
        raise src.error(f"{table}: unknown step kind {kind!r}{also}; known: {', '.join(_command_names())}.",
                        table, "run")
    options = _options(fn)
    params: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "run":
            continue
        if key not in options:
            hint = difflib.get_close_matches(key, list(options), n=1)
            also = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise src.error(f"{table}: {kind} has no option {key!r}{also}; its options: {', '.join(options)}.",
                            table, key)
        params[key] = _resolve(src, table, key, value, options[key], inputs, earlier, round_, start, base, kind)
    for name, param in options.items():
        if name not in params and name in inputs and param.required and name not in OUTPUT_OPTIONS:
            src.used_inputs.add(name)
            params[name] = _resolve(src, "inputs", name, inputs[name], param, inputs, earlier, None, {}, base, kind)
    missing = [n for n, p in options.items() if p.required and n not in params and n not in OUTPUT_OPTIONS]
    if missing:
        raise src.error(f"{table}: {kind} needs {', '.join(repr(m) for m in missing)}: set it in the step "
                        "or in [inputs].", table)
    name = base if round_ is None else f"round{round_}.{base}"
    return Step(name=name, base=base, kind=kind, fn=fn, params=params, line=src.line_of(table), round=round_)


def _resolve(src: _Source, table: str, key: str, value: Any, param: _Option, inputs: dict,
             earlier: list[Step], round_: int | None, start: dict, base: str, kind: str) -> Any:
    """Check one TOML value against its stage parameter (type, range, choices); turn "@..." into Refs."""
    if isinstance(value, list):
        if not param.multiple:
            raise src.error(f"{table}.{key}: takes one value, not a list.", table, key)
        return [_resolve(src, table, key, v, param, inputs, earlier, round_, start, base, kind) for v in value]
    if isinstance(value, dict):
        raise src.error(f"{table}.{key}: a table is not a value; give a string, number or boolean.", table, key)
    if isinstance(value, str) and value.startswith("@"):
        return _reference(src, table, key, value, inputs, earlier, round_, start, base, param, kind)
    if param.is_flag:
        if not isinstance(value, bool):
            raise src.error(f"{table}.{key}: is a switch; give true or false, not {value!r}.", table, key)
        return value
    if isinstance(value, bool):
        raise src.error(f"{table}.{key}: takes a value, not true/false.", table, key)
    try:
        return check_value(kind, key, _typed(value, param))
    except BadValue as exc:
        raise src.error(f"{table}.{key}: Invalid value for '{_flag(key)}': {exc.reason}", table, key) from None


def _typed(value: Any, param: _Option) -> Any:
    """The value as the parameter's type takes it (a TOML 10 for a float is 10.0; "ten" for an int is an error)."""
    types = param.types
    if float in types and isinstance(value, (int, float)):
        return float(value) if int not in types else value
    if int in types and float not in types:
        if isinstance(value, int):
            return value
        try:
            return int(str(value))
        except ValueError:
            raise BadValue(param.name, f"{value!r} is not a valid integer; give a whole number (no quotes).") from None
    if float in types and str not in types:
        try:
            return float(str(value))
        except ValueError:
            raise BadValue(param.name, f"{value!r} is not a valid float; give a number (no quotes).") from None
    return value if isinstance(value, str) else str(value)


def _reference(src: _Source, table: str, key: str, value: str, inputs: dict, earlier: list[Step],
               round_: int | None, start: dict, base: str, param: _Option, kind: str) -> Any:
    target = value[1:]
    names = {s.name for s in earlier}
    if target.startswith("inputs."):
        name = target[len("inputs."):]
        if name not in inputs:
            raise src.error(f"{table}.{key}: {value} names no entry of [inputs].", table, key)
        src.used_inputs.add(name)
        return inputs[name]
    if target.startswith("prev."):
        name = target[len("prev."):]
        if round_ is None:
            raise src.error(f"{table}.{key}: {value} only means something inside [rounds].", table, key)
        if round_ > 1:
            return Ref(f"round{round_ - 1}.{name}")
        if name not in start:
            raise src.error(f"{table}.{key}: {value} in round 1 needs rounds.start.{name} (the value to use "
                            "before any round has run).", table, key)
        first = start[name]
        if isinstance(first, str) and first.startswith("@"):
            return _reference(src, "rounds.start", name, first, inputs, earlier, None, {}, base, param, kind)
        return _resolve(src, "rounds.start", name, first, param, inputs, earlier, None, {}, base, kind)
    if round_ is not None and f"round{round_}.{target}" in names:
        return Ref(f"round{round_}.{target}")
    if target in names:
        return Ref(target)
    raise src.error(f"{table}.{key}: {value} refers to no earlier step (earlier steps: "
                    f"{', '.join(sorted({s.base for s in earlier})) or 'none'}); use @STEP with one of them, or "
                    "@inputs.NAME.", table, key)


def _flat(values) -> list:
    out = []
    for v in values:
        out.extend(v if isinstance(v, list) else [v])
    return out
