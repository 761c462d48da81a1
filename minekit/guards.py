"""Checks made before any work: can the outputs be written, and the temp files killed runs left behind.

Kept free of heavy imports: the CLI calls these before reading a single input.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from minekit.errors import ConfigError

logger = logging.getLogger(__name__)

# A temp file or folder carries the pid of the process writing it (".<name>.p1234-<random>"), so a later
# run can tell a live writer's temp (leave it) from a killed one's (remove it).
STALE_AFTER_S = 0  # a dead writer's temp is removed by the next run (its writer can never finish it)
STALE_UNKNOWN_S = 3600  # temps without a pid (older minekit) only after an hour


def temp_prefix(name: str) -> str:
    """Prefix for a hidden temp file or folder beside `name`: '.<name>.p<pid>-'."""
    return f".{name}.p{os.getpid()}-"


def umask() -> int:
    """The process umask (reading it means setting it; set it straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def respect_umask(path: str | Path, *, folder: bool) -> None:
    """mkstemp makes 0600 files and mkdtemp 0700 folders; give them the modes open()/mkdir() would."""
    os.chmod(path, (0o777 if folder else 0o666) & ~umask())


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


pid_alive = _pid_alive  # for writers with their own temp names (the embedding cache)


def remove_stale_temps(folder: str | Path, prefix: str, suffix: str = "") -> list[Path]:
    """Remove the temp files/folders named prefix[p<pid>-]<8 random chars>suffix that killed runs left.

    A temp is stale when its writer's pid is dead and it is older than a minute, or (no pid in its
    name) older than an hour. Live writers' temps and any other file are never touched.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    finish_switches(folder)  # first: a cut-off switch still needs its temps
    shape = re.compile(rf"^{re.escape(prefix)}(?:p(\d+)-)?[a-z0-9_]{{8}}{re.escape(suffix)}$")
    removed = []
    now = time.time()
    for path in folder.iterdir():
        match = shape.match(path.name)
        if not match:
            continue
        try:
            age = now - path.lstat().st_mtime
        except OSError:
            continue
        pid = match.group(1)
        stale = (age > STALE_AFTER_S and not _pid_alive(int(pid))) if pid else age > STALE_UNKNOWN_S
        if not stale:
            continue
        try:
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
        except OSError as exc:
            logger.debug("could not remove stale temp %s: %s", path, exc)
            continue
        logger.info("removed %s, left by a run that did not finish", path)
        removed.append(path)
    return removed


# -- several files switched as one unit (minekit.io.publish_together) -------------------------------------

SWITCH_PREFIX = ".minekit-switch.p"  # the journal of a switch: ".minekit-switch.p<pid>-<random>.json"
_SWITCH = re.compile(r"^\.minekit-switch\.p(\d+)-[0-9a-f]{8}\.json$")


def finish_switch(journal: Path) -> None:
    """Make the renames a journal names that are not made yet, remove what it names, then the journal.

    The renames were started in order and each source is gone once renamed, so the ones after the last
    missing source are still to make.
    """
    import json

    plan = json.loads(journal.read_text(encoding="utf-8"))
    moves = [(Path(a), Path(b)) for a, b in plan["moves"]]
    done = max((i for i, (src, _) in enumerate(moves) if not src.exists()), default=-1)
    for src, dst in moves[done + 1:]:
        os.replace(src, dst)
    for path in map(Path, plan.get("remove", [])):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
    journal.unlink()


def finish_switches(folder: str | Path) -> None:
    """Finish the switches killed writers left in `folder` (a live writer's is its own business)."""
    folder = Path(folder)
    try:
        names = [n for n in os.listdir(folder) if n.startswith(SWITCH_PREFIX)]
    except OSError:
        return
    for name in names:
        match = _SWITCH.match(name)
        if not match or _pid_alive(int(match.group(1))):
            continue
        try:
            finish_switch(folder / name)
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigError(f"{folder}: a minekit write into this folder was cut off, and it cannot be finished "
                              f"({exc}). Fix: make the folder writable and run the command again, or remove "
                              f"{folder / name} and write the output again.") from None
        logger.info("finished the switch of outputs a killed run left in %s", folder)


def _nearest_existing(path: Path) -> Path:
    for parent in [path, *path.parents]:
        if parent.exists():
            return parent
    return Path(".")


def _check_can_create_in(folder: Path, flag: str, target: Path) -> None:
    """The folder a new output lands in (or its nearest existing parent) must take a new file."""
    base = _nearest_existing(folder)
    if not base.is_dir():
        raise ConfigError(f"{flag}: cannot write {target}: {base} is a file, not a folder. "
                          f"Fix: give {flag} a path inside a folder.")
    try:
        fd, probe = tempfile.mkstemp(prefix=temp_prefix("write-check"), suffix=".tmp", dir=base)
    except OSError as exc:
        raise ConfigError(f"{flag}: cannot write {target}: {base} is not writable ({exc.strerror}). "
                          f"Fix: choose a folder you can write to, or fix its permissions.") from None
    os.close(fd)
    os.unlink(probe)


def check_output_file(path: str | Path | None, flag: str) -> None:
    """An output file can be written: not a folder, in a folder that takes new files."""
    if path is None:
        return
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{flag}: {path} is a folder; give a file path (e.g. {path / 'out.parquet'}).")
    if str(path).endswith(os.sep) or path.name in ("", ".", ".."):
        raise ConfigError(f"{flag}: {path} is not a file name.")
    _check_can_create_in(path.parent, flag, path)


def check_output_folder(path: str | Path | None, flag: str) -> None:
    """An output folder can be made or written into: not a file, and its location is writable."""
    if path is None:
        return
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{flag}: {path} is a file; give a folder path.")
    _check_can_create_in(path, flag, path)


def flag_names(fn) -> dict[str, str]:
    """param name -> the flag a user types (`range_max` -> `--range-max`), read from the typer annotations."""
    import inspect
    import typing

    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception:  # an annotation that cannot be resolved: fall back to typer's default naming
        hints = {}
    names = {}
    for name in inspect.signature(fn).parameters:
        flag = "--" + name.replace("_", "-")
        for meta in getattr(hints.get(name), "__metadata__", ()):
            first = getattr(meta, "default", None)  # typer.Option("--from", ...): the first decl arrives as default
            decls = [d for d in (*(getattr(meta, "param_decls", None) or ()), *([first] if isinstance(first, str)
                                                                                  else [])) if d.startswith("--")]
            if decls:
                flag = decls[0]
            elif type(meta).__name__ == "ArgumentInfo":
                flag = name.upper()
        names[name] = flag
    return names


_LEADING = re.compile(r"^([a-z][a-z0-9_]*(?:(?:, | / | and | or )[a-z][a-z0-9_]*)*)(?=[:( ])")


def as_flags(message: str, names: dict[str, str]) -> str:
    """Write the parameter names a library error mentions as the flags the user typed.

    Names with an underscore are replaced anywhere (they are never English words); one-word names
    only in the leading list the message is about ("loss: ...", "top_k, niter must ...").
    """
    def swap(match: re.Match) -> str:
        return re.sub(r"[a-z][a-z0-9_]*", lambda m: names.get(m.group(0), m.group(0)), match.group(1))

    message = _LEADING.sub(swap, message, count=1)
    for name, flag in names.items():
        if "_" in name:
            message = re.sub(rf"(?<![\w'\"-]){re.escape(name)}(?![\w'\"])", flag, message)
    return message


def check_cross_encoder_folder(folder: str | Path | None, flag: str = "--cross-encoder") -> None:
    """A local --cross-encoder folder must hold a classifier (one score per pair), not a bi-encoder.

    Loaded as a CrossEncoder, a bi-encoder gets a freshly initialised, random head: its scores would
    mean nothing. Hub names are left to the loader.
    """
    import json

    if folder is None or not Path(folder).is_dir():
        return
    folder = Path(folder)
    config = folder / "config.json"
    if not config.is_file():
        raise ConfigError(f"{flag}: {folder} has no config.json, so it is not a cross-encoder model folder. "
                          "Fix: give a folder made by `minekit train-reranker` or a CrossEncoder's save().")
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{flag}: {config} cannot be read ({exc}).") from None
    architectures = data.get("architectures") or [] if isinstance(data, dict) else []
    if not any(str(a).endswith("ForSequenceClassification") for a in architectures):
        kind = "a bi-encoder (sentence-transformers) folder" if (folder / "modules.json").is_file() else \
            "not a sequence-classification model"
        raise ConfigError(
            f"{flag}: {folder} is {kind} (architectures: {', '.join(map(str, architectures)) or 'none'}); "
            "as a cross-encoder its scoring head would be random. Fix: train one with `minekit train-reranker`, "
            "or use --scorer bi-encoder --model " + str(folder) + ".")


# -- outputs that would destroy something: an input, a dataset version, a folder minekit did not write ----

def resolved(path: str | Path) -> Path:
    return Path(path).expanduser().resolve()


def _manifest_stage(path: Path) -> str | None:
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    stage = data.get("stage") if isinstance(data, dict) else None
    return stage if isinstance(stage, str) else None


def dataset_version_of(path: str | Path) -> Path | None:
    """The dataset version folder (a manifest.json written by `build`) that `path` is or lies inside, else None."""
    full = resolved(path)
    for folder in (full, *full.parents):
        manifest = folder / "manifest.json"
        if manifest.is_file() and _manifest_stage(manifest) == "build":
            return folder
    return None


def _flag_of(name: str) -> str:
    return "--" + name.replace("_", "-")


def _given(values: dict, names) -> list[tuple[str, Path]]:
    found = []
    for name in names:
        value = values.get(name)
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(item, (str, Path)) and str(item) != "" and Path(item).exists():
                found.append((name, Path(item)))
    return found


# Files a stage writes inside its output folder (an input among them would be replaced).
FILES_IN_OUT = ("queries.parquet", "positives.parquet", "corpus.parquet", "negatives.parquet")


def check_outputs(spec, values: dict) -> None:
    """Before any work: no output is empty, resolves to an input, or lies inside a dataset version.

    `spec` is the stage's minekit.registry.Spec; its declared inputs and outputs say which values are paths.
    """
    _check_cache_dir(values.get("cache_dir"))
    inputs = [(name, resolved(path)) for name, path in _given(values, (*spec.inputs, *spec.models))]
    for name in spec.outputs:
        out = values.get(name)
        if out is None:
            continue
        flag = _flag_of(name)
        if str(out).strip() == "":
            raise ConfigError(f"{flag}: is empty; give a path.", param=name)
        full = resolved(out)
        targets = [full] + ([full / f for f in FILES_IN_OUT] if spec.kind.startswith("import.") else [])
        for in_name, in_path in inputs:
            if in_path in targets:
                raise ConfigError(f"{flag}: {out} is also the input {_flag_of(in_name)} {in_path}; writing it would "
                                  "destroy that input. Fix: choose another output path.", param=name)
        version = dataset_version_of(full)
        if version is not None:
            raise ConfigError(f"{flag}: {out} is inside the dataset version {version}, which minekit never changes. "
                              f"Fix: write outside it (e.g. {version.parent.parent / 'export'}).", param=name)


def _check_cache_dir(cache) -> None:
    """The embedding cache is a folder: a file there (or above it) is named before any work."""
    if not isinstance(cache, (str, Path)) or str(cache).strip().lower() in ("none", ""):
        return
    base = _nearest_existing(Path(cache))
    if not base.is_dir():
        raise ConfigError(f"cache_dir: {cache} cannot be the embedding cache folder: {base} is a file. Fix: give a "
                          "folder path, or 'none' for no cache.", param="cache_dir")


def check_replaceable(path: str | Path, flag: str, *, own, what: str, inputs=()) -> None:
    """--overwrite replaces only what minekit wrote there (`own(path)` says so), never `.`, `..`, a parent of
    the current folder or of an input, and never a folder that holds anything else."""
    full, cwd = resolved(path), Path.cwd().resolve()
    if Path(path).name in ("", ".", "..") or full == cwd or full in cwd.parents:
        raise ConfigError(f"{flag}: {path} is the current folder or one of its parents; --overwrite never replaces "
                          f"it. Fix: give a path of its own, such as {Path(path) / 'export'}.")
    for item in inputs:
        if full in resolved(item).parents:
            raise ConfigError(f"{flag}: {path} holds the input {item}; --overwrite never replaces it. "
                              "Fix: choose another output path.")
    if Path(path).exists() and not own(Path(path)):
        raise ConfigError(f"{flag}: {path} already exists and was not written by {what}; --overwrite replaces only "
                          f"an earlier output of {what}. Fix: choose another path, or move {path} away yourself.")


def is_export(path: Path) -> bool:
    """An earlier `minekit export`: a file with FILE.manifest.json beside it, or an hf folder holding only
    what the hf layout writes."""
    if path.is_dir():
        if _manifest_stage(path / "manifest.json") != "export":
            return False
        return all(p.name in ("manifest.json", "dataset_info.json", "state.json", "ids.parquet") or p.suffix == ".arrow"
                   or p.name.startswith(".") for p in path.iterdir())
    return _manifest_stage(path.with_name(path.name + ".manifest.json")) == "export"


def is_report(path: Path) -> bool:
    """An HTML page `minekit report` wrote."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    return head.startswith(b"<!DOCTYPE html>") and b"<title>minekit report" in head


# -- faults while writing: say which path, and what to do -------------------------------------------------

_NO_SPACE = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))
_NO_WRITE = (errno.EACCES, errno.EPERM, errno.EROFS)


def write_fault(exc: BaseException, path: str | Path | None = None) -> str | None:
    """A plain message for an OSError met while writing `path` (a full disk, a read-only place), else None."""
    if not isinstance(exc, OSError):
        return None
    code = exc.errno
    if code is None:  # pyarrow and others raise OSError("[Errno 28] No space left on device") without errno
        found = re.search(r"\[Errno (\d+)\]", str(exc))
        code = int(found.group(1)) if found else errno.ENOSPC if "No space left" in str(exc) else None
    where = path if path is not None else exc.filename
    if where is None:
        return None
    # a file inside a hidden temp folder (".out.p123-abcd1234/x") is shown as the output it becomes
    where = Path(*[re.sub(r"^\.tmp-p\d+-[a-z0-9_]{8}$", "vN", re.sub(r"^\.(.+)\.p\d+-[a-z0-9_]{8}$", r"\1", part))
                   for part in Path(where).parts])  # and a dataset's temp folder as its next version
    if code in _NO_SPACE:
        return (f"{where}: no space left on the device (disk or quota full); nothing was written. "
                "Fix: free space there, or write the output elsewhere.")
    if code in _NO_WRITE:
        return (f"{where}: cannot be written ({os.strerror(code)}: a read-only place or no permission); nothing "
                "was written. Fix: choose a folder you can write to, or fix its permissions.")
    return None


def check_output_path(path: str | Path | None, flag: str) -> None:
    """An output file or folder (which one depends on other flags): its place takes new files."""
    if path is None:
        return
    path = Path(path)
    _check_can_create_in(path if path.is_dir() else path.parent, flag, path)
