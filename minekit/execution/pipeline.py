"""Pipelines: the steps of a pipeline file (minekit.execution.pipeline_file), run in order, skipping what is up to date.

A step's fingerprint is the one its stage stores in its output's manifest (registry.stage_fingerprint:
its command, its options with defaults, and what its input files are); an input that is an earlier
step's output is identified by that step's fingerprint, so every fingerprint is known before anything
runs. run.json records every step's status, fingerprint, wall time, output and counts, rewritten
atomically after each step; a step is up to date only when run.json says it finished, its output
exists, the fingerprint stored in the output is the one computed now and the output's bytes are what
was written, so a killed run redoes only what was not finished.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import logging
import os
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from minekit._version import __version__
from minekit.errors import ConfigError, MinekitError
from minekit.io import file_sha256, read_manifest, write_json
from minekit.registry import SPECS, stored_fingerprint

from minekit.execution.pipeline_file import (OUTPUT_OPTIONS, Pipeline, Planned, Ref, RunResult, Step, _flag, _flat, _options, load_pipeline, stage_of)  # noqa: F401

logger = logging.getLogger(__name__)


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
    filled = {}
    options = _options(step.fn)
    if "out" in options:
        out = step.params.get("out")
        if out is None:
            out = (SPECS[step.kind].out_name or "output").format(step=step.base)
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
    """The fingerprint the step's stage will store in its output (registry.stage_fingerprint), known before it runs.

    An earlier step's output is identified by that step's fingerprint, which is what its output's
    manifest will hold: so the whole plan is known before anything runs.
    """
    from minekit.registry import fingerprint_of, split_values

    refs = {k for k, v in step.params.items() if any(isinstance(x, Ref) for x in _flat([v]))}
    params, paths = split_values(step.fn, {k: v for k, v in step.params.items() if k not in refs}, skip=refs)
    identities: dict[str, Any] = {}
    for name in refs | set(paths):
        value = step.params.get(name, paths.get(name))
        one = (lambda v: fingerprints[v.step] if isinstance(v, Ref) else hasher(v))
        identities[name] = [one(v) for v in value] if isinstance(value, list) else one(value)
    return fingerprint_of(step.kind, params, identities)


class _Identities:
    """registry.identity of the files and folders steps name, each computed once per plan."""

    def __init__(self) -> None:
        self._cache: dict[str, str | None] = {}

    def __call__(self, value: Any) -> str | None:
        from minekit.registry import identity

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
    check_step_outputs(pipe, run_dir)
    planned = plan(pipe, run_dir, force=force, from_step=from_step)
    if dry_run:
        return RunResult(run_dir, planned, _read_records(run_dir))
    run_dir.mkdir(parents=True, exist_ok=True)
    with _run_lock(run_dir, pipe):
        return _run_planned(pipe, run_dir, planned, force, from_step, show_progress)


def _run_planned(pipe: Pipeline, run_dir: Path, planned: list[Planned], force: bool, from_step: str | None,
                 show_progress: bool) -> RunResult:
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


def check_step_outputs(pipe: Pipeline, run_dir: Path) -> None:
    """Before any step runs: no two steps write one path, and no step writes over an input of the pipeline
    or into a dataset version."""
    from minekit.guards import dataset_version_of, resolved

    inputs = {}
    for step in pipe.steps:
        spec = SPECS[step.kind]
        for name in (*spec.inputs, *spec.models):
            for value in _flat([step.params.get(name)]):
                if isinstance(value, (str, Path)) and Path(value).exists():
                    inputs.setdefault(resolved(value), f"{step.name}.{name}")
    writers: dict[Path, str] = {}
    for step in pipe.steps:
        values = {**step.params, **_output_names(step, run_dir)}
        for name in SPECS[step.kind].outputs:
            value = values.get(name)
            if name == "out_dir" or not isinstance(value, (str, Path)):
                continue
            where, full = f"step {step.name}: {name} = {str(value)!r}", resolved(value)
            if full in writers:
                raise ConfigError(f"{pipe.path}: {where} is also the output of step {writers[full]}; one would "
                                  "overwrite the other. Fix: give each step its own out (or leave out unset).")
            if full in inputs:
                raise ConfigError(f"{pipe.path}: {where} is an input of the pipeline ({inputs[full]}); the step "
                                  "would overwrite it. Fix: choose another out (or leave out unset).")
            version = dataset_version_of(full)
            if version is not None:
                raise ConfigError(f"{pipe.path}: {where} is inside the dataset version {version}, which minekit "
                                  "never changes. Fix: choose another out (or leave out unset).")
            writers[full] = step.name


@contextlib.contextmanager
def _run_lock(run_dir: Path, pipe: Pipeline):
    """One `minekit run` at a time per run folder: a second one says which process holds it."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    path = run_dir / ".lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise RunLocked(f"{pipe.path}: already running in {run_dir} (process {holder}). Fix: wait for it "
                            "to finish, or give --runs-dir another folder.") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


class RunLocked(MinekitError):
    """Another `minekit run` of this pipeline holds its run folder (exit code 1)."""


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


def run(pipeline: str | Path, *, force: bool = False, from_step: str | None = None, dry_run: bool = False,
        runs_dir: str | Path = "runs", show_progress: bool = True):
    """Run a TOML pipeline of minekit's stages, skipping steps whose outputs are up to date (`minekit run`)."""
    from minekit.stats import Output

    if force and from_step is not None:
        raise ConfigError("force reruns every step, from_step STEP the steps from STEP on: give one of them.")
    pipe = load_pipeline(pipeline)
    result = run_pipeline(pipe, runs_dir=runs_dir, force=force, from_step=from_step, dry_run=dry_run,
                          show_progress=show_progress)
    text = format_plan(result.planned, result.records, dry_run=dry_run)
    if result.metrics:
        text += "\n\n" + format_metrics(result.metrics)
    if not dry_run:
        text += f"\n\nrun directory: {result.run_dir} (run.json, run.log)"
    return Output(None if dry_run else result.run_dir, text=text, data=result, show_path=False)
