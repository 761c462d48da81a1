"""Pipelines: a TOML file of minekit commands, run in order, skipping what is up to date.

A step names a command (``mine.bm25`` is ``minekit mine bm25``) and gives its options under their
own names (``range_max`` is ``--range-max``): the runner knows no command's insides. Each command is a
stage function (minekit/stages.py): the runner checks every step's keys and values against the
function's parameters and options.RULES before anything runs, calls the functions directly, and
keeps each step's output under ``runs/<pipeline>/<step>/``.

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

A step's fingerprint is the one its stage stores in its output's manifest (stages.stage_fingerprint:
its command, its options with defaults, and what its input files are); an input that is an earlier
step's output is identified by that step's fingerprint, so every fingerprint is known before anything
runs. run.json records every step's status, fingerprint, wall time, output and counts, rewritten
atomically after each step; a step is up to date only when run.json says it finished, its output
exists, the fingerprint stored in the output is the one computed now and the output's bytes are what
was written, so a killed run redoes only what was not finished.
"""

from __future__ import annotations

import difflib
import hashlib
import inspect
import json
import logging
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from minekit import __version__
from minekit.errors import ConfigError, MinekitError
from minekit.io import file_sha256, read_manifest, write_json
from minekit.options import BadValue, check_value
from minekit.stages import stored_fingerprint

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

logger = logging.getLogger(__name__)

TOP_KEYS = ("name", "inputs", "steps", "rounds")
ROUND_KEYS = ("count", "start", "steps")
OUTPUT_OPTIONS = ("out", "out_dir")  # filled in by the runner; never hashed as inputs
NOT_STEPS = ("run",)  # commands a pipeline cannot run (a pipeline running a pipeline)
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
    """`mine.bm25` -> minekit.stages.mine_bm25, or None (`run` is no step: a pipeline cannot run a pipeline)."""
    from minekit.stages import STAGES

    return None if kind in NOT_STEPS else STAGES.get(kind)


def _command_names() -> list[str]:
    from minekit.stages import STAGES

    return sorted(k for k in STAGES if k not in NOT_STEPS)


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
            raise BadValue(param.name, f"{value!r} is not a valid integer.") from None
    if float in types and str not in types:
        try:
            return float(str(value))
        except ValueError:
            raise BadValue(param.name, f"{value!r} is not a valid float.") from None
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


# -- fingerprints and the plan ---------------------------------------------------------------------

def _jsonable(value: Any) -> Any:
    if isinstance(value, Ref):
        return f"@{value.step}"
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _output_names(step: Step, run_dir: Path) -> dict[str, str]:
    """Values the runner fills in for a step's output options (out, out_dir) the file leaves unset."""
    from minekit.stages import OUT_NAMES

    filled = {}
    options = _options(step.fn)
    if "out" in options:
        out = step.params.get("out")
        if out is None:
            out = OUT_NAMES.get(step.kind, "output").format(step=step.base)
        if "/" not in str(out):
            out = str(run_dir / step.name / str(out))
        filled["out"] = out
    if "out_dir" in options and "out_dir" not in step.params:
        filled["out_dir"] = str(run_dir / step.base)
    return filled


def _defaults(step: Step) -> dict[str, Any]:
    return {name: _jsonable(option.default) for name, option in _options(step.fn).items()
            if name not in step.params and name not in OUTPUT_OPTIONS and not option.required}


def fingerprint_parts(step: Step, run_dir: Path, fingerprints: dict[str, str], hasher: Callable) -> dict:
    """What a step's fingerprint is made of, readably (run.json keeps it, to explain reruns)."""
    params = {**_defaults(step), **{k: _jsonable(v) for k, v in step.params.items() if k not in OUTPUT_OPTIONS},
              **_output_names(step, run_dir)}
    files = {}
    for key, value in step.params.items():
        if key in OUTPUT_OPTIONS:
            continue
        for i, v in enumerate(value if isinstance(value, list) else [value]):
            digest = None if isinstance(v, Ref) else hasher(v)
            if digest:
                files[key if not isinstance(value, list) else f"{key}[{i}]"] = digest
    upstream = {name: fingerprints[name] for name in step.refs()}
    return {"kind": step.kind, "params": params, "files": files, "upstream": upstream, "minekit_version": __version__}


def step_fingerprint(step: Step, fingerprints: dict[str, str], hasher: Callable) -> str:
    """The fingerprint the step's stage will store in its output (stages.stage_fingerprint), known before it runs.

    An earlier step's output is identified by that step's fingerprint, which is what its output's
    manifest will hold: so the whole plan is known before anything runs.
    """
    from minekit.stages import fingerprint_of, split_values

    refs = {k for k, v in step.params.items() if any(isinstance(x, Ref) for x in _flat([v]))}
    params, paths = split_values(step.fn, {k: v for k, v in step.params.items() if k not in refs}, skip=refs)
    identities: dict[str, Any] = {}
    for name in refs | set(paths):
        value = step.params.get(name, paths.get(name))
        one = (lambda v: fingerprints[v.step] if isinstance(v, Ref) else hasher(v))
        identities[name] = [one(v) for v in value] if isinstance(value, list) else one(value)
    return fingerprint_of(step.fn, params, identities)


class _Identities:
    """stages.identity of the files and folders steps name, each computed once per plan."""

    def __init__(self) -> None:
        self._cache: dict[str, str | None] = {}

    def __call__(self, value: Any) -> str | None:
        from minekit.stages import identity

        if not isinstance(value, (str, Path)) or not str(value) or not Path(value).exists():
            return None
        key = str(Path(value).resolve())
        if key not in self._cache:
            self._cache[key] = identity(value)
        return self._cache[key]


def _why_changed(old: dict, new: dict) -> str:
    if old.get("minekit_version") != new["minekit_version"]:
        return f"minekit version changed ({old.get('minekit_version')} -> {new['minekit_version']})"
    if old.get("kind") != new["kind"]:
        return f"command changed ({old.get('kind')} -> {new['kind']})"
    for section, what in (("params", "param"), ("files", "input"), ("upstream", "upstream step")):
        before, after = old.get(section, {}), new[section]
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        if changed:
            if section == "params":
                return "params changed: " + ", ".join(f"{k} {before.get(k)!r} -> {after.get(k)!r}" for k in changed)
            return f"{what} changed: {', '.join(changed)}"
    return "fingerprint changed"


def plan(pipe: Pipeline, run_dir: Path, *, force: bool = False, from_step: str | None = None) -> list[Planned]:
    """For each step, in order: run or skip, and why."""
    records = _read_records(run_dir)
    first = _from_index(pipe, from_step)
    fingerprints: dict[str, str] = {}
    hasher = _Identities()
    reruns: set[str] = set()
    planned = []
    for index, step in enumerate(pipe.steps):
        parts = fingerprint_parts(step, run_dir, fingerprints, hasher)
        fp = fingerprints[step.name] = step_fingerprint(step, fingerprints, hasher)
        reason = _rerun_reason(step, index, fp, parts, records.get(step.name), reruns, force, first, from_step)
        if reason:
            reruns.add(step.name)
        planned.append(Planned(step, fp, parts, "run" if reason else "skip", reason or "up to date"))
    return planned


def _rerun_reason(step: Step, index: int, fp: str, parts: dict, record: dict | None, reruns: set[str],
                  force: bool, first: int | None, from_step: str | None) -> str | None:
    if force:
        return "--force"
    if first is not None and index >= first:
        return f"--from {from_step}"
    if record is None:
        return "never run"
    if record.get("status") != "done":
        return f"last run {record.get('status')}"
    if record.get("fingerprint") != fp:
        return _why_changed(record.get("parts", {}), parts)
    output = record.get("output")
    if output and not Path(output).exists():
        return f"output missing ({output})"
    stored = stored_fingerprint(output) if output else None
    if stored is not None and stored != fp:
        return f"output was made with other settings ({output})"
    if output and record.get("output_check") and output_check(output) != record["output_check"]:
        return f"output changed since it was written ({output})"
    upstream = [name for name in step.refs() if name in reruns]
    if upstream:
        return f"upstream step reruns: {', '.join(dict.fromkeys(upstream))}"
    return None


def _from_index(pipe: Pipeline, from_step: str | None) -> int | None:
    if from_step is None:
        return None
    for index, step in enumerate(pipe.steps):
        if from_step in (step.name, step.base):
            return index
    names = ", ".join(dict.fromkeys(s.name for s in pipe.steps))
    raise ConfigError(f"--from {from_step}: no such step in {pipe.path}; use one of its steps: {names}.")


# -- running ---------------------------------------------------------------------------------------

def _read_records(run_dir: Path) -> dict[str, dict]:
    path = run_dir / "run.json"
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text()).get("steps", {})
    except (json.JSONDecodeError, AttributeError):
        logger.warning("%s: unreadable, every step will run again", path)
        return {}


def _write_records(pipe: Pipeline, run_dir: Path, records: dict[str, dict]) -> None:
    order = [s.name for s in pipe.steps]
    write_json(run_dir / "run.json", {
        "pipeline": pipe.name,
        "file": str(pipe.path),
        "minekit_version": __version__,
        "updated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "order": order,
        "steps": {name: records[name] for name in order if name in records},
    })


def _args(step: Step, values: dict[str, Any]) -> list[str]:
    """The step as the command line it is equivalent to (for the log): arguments, then --options."""
    args: list[str] = []
    positional: list[str] = []
    for name, option in _options(step.fn).items():
        if name not in values:
            continue
        value = values[name]
        items = value if isinstance(value, list) else [value]
        if option.positional:
            positional += [str(v) for v in items]
        elif option.is_flag:
            if value != option.default:
                args.append(_flag(name) if value else "--no-" + _flag(name)[2:])
        else:
            for item in items:
                args += [_flag(name), str(item)]
    return positional + args


def _step_stats(output: str | None) -> dict | None:
    """Counts from the output's manifest (parquet or dataset folder), or the metrics of a JSON output."""
    if not output or not Path(output).exists():
        return None
    path = Path(output)
    if path.suffix == ".json" and path.is_file():
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError:
            return None
        return data if isinstance(data, dict) else None
    try:
        manifest = read_manifest(path) if (path.is_dir() or path.suffix == ".parquet") else None
    except MinekitError:
        return None
    steps = (manifest or {}).get("steps") or [{}]
    return steps[-1].get("stats")


class StepFailed(MinekitError):
    """A step's command failed; the run stops there (its exit code is the step's)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _run_step(item: Planned, run_dir: Path, records: dict, pipe: Pipeline, log, show_progress: bool) -> None:
    from minekit.guards import as_flags
    from minekit.stats import format_stats

    step = item.step
    values = {**step.params, **_output_names(step, run_dir)}
    values = {k: _output_of(v, records) for k, v in values.items()}
    _clear_stale(values.get("out"), run_dir)
    _say(log, f"run  {step.name} ({item.reason}): minekit {step.kind.replace('.', ' ')} {' '.join(_args(step, values))}")
    records[step.name] = {"kind": step.kind, "status": "running", "fingerprint": item.fingerprint,
                          "parts": item.parts, "started": _now()}
    _write_records(pipe, run_dir, records)
    t0 = time.perf_counter()
    takes_progress = "show_progress" in inspect.signature(step.fn).parameters
    try:
        result = step.fn(**values, **({"show_progress": show_progress} if takes_progress else {}))
    except (MinekitError, KeyboardInterrupt) as exc:
        code = 130 if isinstance(exc, KeyboardInterrupt) else exc.exit_code
        message = "interrupted" if isinstance(exc, KeyboardInterrupt) else str(exc)
        if isinstance(exc, ConfigError):  # name the options as flags, as the command line would
            message = as_flags(message, {name: _flag(name) for name in _options(step.fn)})
        records[step.name].update(status="failed", exit_code=code, error=message,
                                  wall_s=round(time.perf_counter() - t0, 3))
        _write_records(pipe, run_dir, records)
        log.write(f"Error: {message}\n")
        raise StepFailed(f"{message}\nstep {step.name} ({step.kind}) failed with exit code {code}; steps before it "
                         f"are kept, rerun the same command to resume (log: {run_dir / 'run.log'}).", code) from None
    except BaseException as exc:
        records[step.name].update(status="failed", error=f"{type(exc).__name__}: {exc}",
                                  wall_s=round(time.perf_counter() - t0, 3))
        _write_records(pipe, run_dir, records)
        raise
    wall = round(time.perf_counter() - t0, 3)
    for note in result.notes:
        log.write(note + "\n")
    if result.stats and result.title:
        table = format_stats(result.title, result.stats)
        log.write(table + "\n")
        if show_progress:
            sys.stderr.write(table + "\n")
    output = None if result.path is None else str(result.path)
    records[step.name].update(status="done", wall_s=wall, output=output, stats=_step_stats(output), finished=_now(),
                              output_check=output_check(output) if output else None)
    _write_records(pipe, run_dir, records)
    _say(log, f"done {step.name} in {wall:.1f}s -> {output}")


def output_check(output: str | Path) -> str | None:
    """What an output held when it was written: a file's sha256, or a folder's file names and sizes.

    A step is up to date only if its output still matches: a truncated or edited output reruns it.
    """
    path = Path(output)
    if path.is_file():
        return "sha256:" + file_sha256(path)
    if path.is_dir():
        listing = sorted((str(p.relative_to(path)), p.stat().st_size) for p in path.rglob("*")
                         if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts))
        return "files:" + hashlib.sha256(json.dumps(listing).encode()).hexdigest()
    return None


def _clear_stale(out: str | None, run_dir: Path) -> None:
    """Remove a stale output the runner placed in the run directory (train never overwrites a model)."""
    if not out:
        return
    path = Path(out)
    if path.exists() and run_dir.resolve() in path.resolve().parents:
        logger.debug("removing stale output %s", path)
        shutil.rmtree(path) if path.is_dir() else path.unlink()


def _output_of(value: Any, records: dict) -> Any:
    if isinstance(value, list):
        return [_output_of(v, records) for v in value]
    if isinstance(value, Ref):
        output = records.get(value.step, {}).get("output")
        if not output:
            raise ConfigError(f"step {value.step} left no output path for the steps that refer to it.")
        return output
    return value


def _say(log, message: str) -> None:
    """A runner line: to the log (always, whatever the verbosity) and to logging (stderr)."""
    logger.info(message)
    log.write(f"{_now()} {message}\n")
    log.flush()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def run_pipeline(pipe: Pipeline, *, runs_dir: str | Path = "runs", force: bool = False,
                 from_step: str | None = None, dry_run: bool = False, show_progress: bool = True) -> RunResult:
    """Run the steps that are not up to date, in order; with dry_run, only say what would run and why."""
    run_dir = Path(runs_dir) / pipe.name
    planned = plan(pipe, run_dir, force=force, from_step=from_step)
    if dry_run:
        return RunResult(run_dir, planned, _read_records(run_dir))
    run_dir.mkdir(parents=True, exist_ok=True)
    records = _read_records(run_dir)
    records = {s.name: records[s.name] for s in pipe.steps if s.name in records}
    package_logger = logging.getLogger("minekit")
    with open(run_dir / "run.log", "a", encoding="utf-8") as log:
        handler = logging.StreamHandler(log)  # the same buffer as the runner's lines: they stay in order
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.addFilter(lambda record: record.name != __name__)  # the runner's own lines: _say
        package_logger.addHandler(handler)
        try:
            log.write(f"\n== {_now()} minekit {__version__} run {pipe.path}"
                      f"{' --force' if force else ''}{f' --from {from_step}' if from_step else ''}\n")
            for item in planned:
                if item.action == "skip":
                    _say(log, f"skip {item.step.name}: {item.reason}")
                    records[item.step.name]["last_action"] = "skipped"
                    continue
                _run_step(item, run_dir, records, pipe, log, show_progress)
                records[item.step.name]["last_action"] = "ran"
            _write_records(pipe, run_dir, records)
        finally:
            package_logger.removeHandler(handler)
    return RunResult(run_dir, planned, records, metrics_table_rows(pipe, records))


def metrics_table_rows(pipe: Pipeline, records: dict[str, dict]) -> list[tuple[str, dict]]:
    """(step, metrics) for each step whose output is a flat JSON of numbers (evaluate's metrics.json)."""
    rows = []
    for step in pipe.steps:
        record = records.get(step.name, {})
        output, stats = record.get("output"), record.get("stats")
        if output and str(output).endswith(".json") and isinstance(stats, dict):
            numbers = {k: v for k, v in stats.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
            if numbers:
                where = {"round": step.round, "dataset": _round_dataset(pipe, records, step.round)}
                rows.append((step.name, {**where, **numbers}))
    return rows


def _round_dataset(pipe: Pipeline, records: dict, round_: int | None) -> str | None:
    if round_ is None:
        return None
    for step in pipe.steps:
        output = records.get(step.name, {}).get("output")
        if step.round == round_ and output and (Path(output) / "manifest.json").is_file():
            return output
    return None


def format_plan(planned: list[Planned], records: dict[str, dict], *, dry_run: bool) -> str:
    """One line a step: what happened (or would), the step, the reason, the output."""
    width = max((len(p.step.name) for p in planned), default=4)
    lines = []
    for p in planned:
        word = ("would run" if dry_run else "ran") if p.action == "run" else "skip"
        output = "" if (dry_run and p.action == "run") else records.get(p.step.name, {}).get("output") or ""
        wall = records.get(p.step.name, {}).get("wall_s")
        timing = f" {wall:.1f}s" if (wall is not None and p.action == "run" and not dry_run) else ""
        lines.append(f"{word:<9} {p.step.name:<{width}}  {p.reason}{timing}" + (f"  -> {output}" if output else ""))
    return "\n".join(lines)


def format_metrics(rows: list[tuple[str, dict]]) -> str:
    """The metrics of every evaluate-like step as one table (a row per round when there are rounds)."""
    if not rows:
        return ""
    columns = list(dict.fromkeys(k for _, m in rows for k in m if any(r.get(k) is not None for _, r in rows)))
    table = [["step", *columns]]
    for name, metrics in rows:
        table.append([name, *(_cell(metrics.get(c)) for c in columns)])
    from minekit.stats import format_table

    return format_table(table)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


__all__ = ["Pipeline", "Step", "Ref", "Planned", "RunResult", "load_pipeline", "plan", "run_pipeline",
           "format_plan", "format_metrics", "fingerprint_parts", "stage_of", "StepFailed"]
