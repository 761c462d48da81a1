"""The stage spec: every stage declared once, and the fingerprint that identifies what a stage wrote.

A stage is one command (`minekit mine bm25`), one Python function (`mk.mine_bm25`) and one pipeline
step kind (`run = "mine.bm25"`). Its spec says where its function lives, which of its parameters name
input files or folders (hashed by identity into the fingerprint) and which name outputs, the file name a
pipeline gives its output, and how it shards. The CLI, the Python API, pipelines and the executors all
read this table; nothing here imports them, and stage modules are loaded only when a stage is asked for.
"""

from __future__ import annotations

import importlib
import inspect
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

READS = ("queries", "positives", "corpus")


@dataclass(frozen=True)
class Spec:
    """One stage: its identity, its files and how executors may run it."""

    kind: str  # pipeline step kind and manifest stage name: "mine.bm25"
    function: str  # its name in the Python API: "mine_bm25"
    module: str  # where the stage function lives
    command: tuple[str, ...]  # its command line: ("mine", "bm25")
    inputs: tuple[str, ...] = ()  # parameters naming input files or folders (hashed by identity)
    models: tuple[str, ...] = ()  # a model name or a local model folder (a folder is hashed by identity)
    outputs: tuple[str, ...] = ()  # parameters naming what it writes
    out_name: str | None = None  # the file name a pipeline gives `out` ("{step}" is the step's name)
    shards: str | None = None  # "queries": n shard outputs merged into one; "texts": shares of a cache;
    #                            "parts": its per-part work as Ray tasks (it fills a cache every node reads)
    prepare: str | None = None  # a stage a Ray run performs first, with the same values (mine dense: embed,
    #                             mine bm25: index.bm25)
    sqlite_caches: tuple[str, ...] = ()  # parameters that, when set, keep scores in SQLite files under cache_dir
    step: bool = True  # a pipeline may run it

    def load(self) -> Callable:
        return getattr(importlib.import_module(self.module), self.function)


def _spec(kind: str, function: str, area: str, command: str, **facts: Any) -> Spec:
    return Spec(kind, function, f"minekit.stages.{area}", tuple(command.split()), **facts)


_MINED = dict(inputs=READS, outputs=("out",), out_name="{step}.parquet")

SPECS: dict[str, Spec] = {spec.kind: spec for spec in (
    _spec("validate", "validate", "inputs", "validate", inputs=READS),
    _spec("info", "info", "inputs", "info", inputs=("path",)),
    _spec("import.beir", "import_beir", "inputs", "import beir", inputs=("folder",), outputs=("out",),
          out_name="{step}"),
    _spec("import.pairs", "import_pairs", "inputs", "import pairs", inputs=("file", "corpus"), outputs=("out",),
          out_name="{step}"),
    _spec("import.hf", "import_hf", "inputs", "import hf", inputs=("folder", "corpus"), outputs=("out",),
          out_name="{step}"),
    _spec("import.flagembedding", "import_flagembedding", "inputs", "import flagembedding",
          inputs=("file", "corpus"), outputs=("out",), out_name="{step}"),
    _spec("import.tevatron", "import_tevatron", "inputs", "import tevatron", inputs=("file",), outputs=("out",),
          out_name="{step}"),
    _spec("mine.bm25", "mine_bm25", "mine", "mine bm25", shards="queries", prepare="index.bm25", **_MINED),
    _spec("mine.passage-bm25", "mine_passage_bm25", "mine", "mine passage-bm25", shards="queries",
          prepare="index.bm25", **_MINED),
    _spec("index.bm25", "index_bm25", "mine", "index bm25", inputs=("corpus",), shards="parts"),
    _spec("mine.dense", "mine_dense", "mine", "mine dense", models=("model",), shards="queries", prepare="embed",
          **_MINED),
    _spec("embed", "embed_corpus", "mine", "embed", inputs=("corpus", "queries"), models=("model",), shards="texts"),
    _spec("merge", "merge", "mine", "merge", inputs=("files",), outputs=("out",), out_name="{step}.parquet"),
    _spec("mine.cluster", "mine_cluster", "mine", "mine cluster", models=("model",),
          **{**_MINED, "inputs": (*READS, "centroids")}),
    _spec("mine.random", "mine_random", "mine", "mine random", **_MINED),
    _spec("filter", "filter", "clean", "filter", inputs=("candidates", "positives"), outputs=("out",),
          out_name="{step}.parquet"),
    _spec("denoise", "denoise", "clean", "denoise", inputs=("candidates", *READS), models=("cross_encoder", "model"),
          outputs=("out", "pseudo_positives"), out_name="{step}.parquet", shards="queries",
          sqlite_caches=("cross_encoder", "llm_judge")),
    _spec("train-reranker", "train_reranker", "train", "train-reranker", inputs=("dataset",), models=("model",),
          outputs=("out",), out_name="model"),
    _spec("build", "build", "build", "build", inputs=("candidates", *READS), outputs=("out_dir",)),
    _spec("export", "export", "handoff", "export", inputs=("dataset",), outputs=("out",), out_name="output"),
    _spec("report", "report", "handoff", "report", inputs=("dataset_or_run", "metrics"), outputs=("out",),
          out_name="{step}.html"),
    _spec("train", "train", "train", "train", inputs=("dataset",), models=("model", "guide"), outputs=("out",),
          out_name="model"),
    _spec("evaluate", "evaluate", "train", "evaluate", inputs=READS, models=("model",), outputs=("out",),
          out_name="metrics.json"),
    _spec("compare", "compare", "train", "compare", inputs=("files",)),
    Spec("run", "run", "minekit.execution.pipeline", ("run",), inputs=("pipeline",), outputs=("runs_dir",),
         step=False),  # a pipeline cannot run a pipeline
)}

# The Python API (`import minekit as mk`): every stage by its function name, `run` for pipelines, and Output.
API: dict[str, str] = {**{s.function: s.module for s in SPECS.values()}, "Output": "minekit.stats"}

OUTPUTS = frozenset(name for s in SPECS.values() for name in s.outputs)
# Where and how a stage runs, where results are cached and how many rows are read at a time change no byte.
UNHASHED = frozenset({"show_progress", "cache_dir", "ray", "shards", "block_size", "index_parts", "chunk_queries"})


def spec(kind: str) -> Spec:
    return SPECS[kind]


def load(kind: str) -> Callable:
    """The stage function of a kind ("mine.bm25" -> minekit.stages.mine.mine_bm25)."""
    return SPECS[kind].load()


# -- fingerprints: the one identity of a stage's output ----------------------------------------------

def identity(path: str | Path) -> str | None:
    """What an input file or folder is, for fingerprints: the fingerprint minekit stored in it, else its content hash.

    An output of a stage is identified by how it was made (its manifest's fingerprint), so a pipeline can
    know a step's fingerprint before the steps it reads from have run. Anything else by its bytes.
    """
    from minekit.io import file_sha256, folder_sha256

    path = Path(path)
    if not path.exists():
        return None
    stored = stored_fingerprint(path)
    if stored:
        return stored
    if path.is_dir():
        manifest = path / "manifest.json"
        return file_sha256(manifest) if manifest.is_file() else folder_sha256(path)
    return file_sha256(path)


def stored_fingerprint(path: str | Path) -> str | None:
    """The fingerprint a stage stored in its output: parquet manifest, manifest.json of a folder, metrics.json."""
    from minekit.io import read_manifest

    path = Path(path)
    if path.is_dir():
        manifest = path / "manifest.json"
        return _stored(lambda: json.loads(manifest.read_text(encoding="utf-8"))) if manifest.is_file() else None
    if path.suffix == ".parquet":
        return _stored(lambda: read_manifest(path))
    if path.suffix == ".json":
        return _stored(lambda: json.loads(path.read_text(encoding="utf-8")))
    return None  # an HTML report, an export, metrics: run.json's record stands for them


def _stored(read: Callable) -> str | None:
    try:
        data = read()
    except Exception:  # unreadable or not minekit's: its bytes identify it
        return None
    value = data.get("fingerprint") if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


def _exists(value: Any) -> bool:
    return isinstance(value, (str, Path)) and str(value) != "" and Path(value).exists()


def _is_input(spec: Spec, name: str, value: Any) -> bool:
    """A declared input or model parameter whose value names existing files; never guessed for other parameters.

    A model given by name ("default", a hub name) is a parameter; a model folder on disk is an input.
    """
    if name not in spec.inputs and name not in spec.models:
        return False
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    return bool(items) and all(_exists(v) for v in items)


def _number_params(fn: Callable) -> tuple[frozenset, frozenset]:
    """(thresholds typed float, those of them that also take 'auto': typed float | str | None)."""
    import typing

    hints = typing.get_type_hints(fn)
    floats = frozenset(n for n, h in hints.items() if float in typing.get_args(h) + (h,) and int not in typing.get_args(h))
    return floats, frozenset(n for n, h in hints.items() if {float, str} <= set(typing.get_args(h)))


def split_values(fn: Callable, values: dict, *, skip: Sequence[str] = ()) -> tuple[dict, dict]:
    """A stage's values, defaults applied, as (params, input paths); which are inputs is the spec's to say."""
    from minekit.options import auto_float, none_float

    spec = SPECS[fn.kind]
    floats, autos = _number_params(fn)
    params, paths = {}, {}
    for name, param in inspect.signature(fn).parameters.items():
        if name in OUTPUTS or name in UNHASHED or name in skip:
            continue
        value = values.get(name, param.default)
        value = None if value is inspect.Parameter.empty else value
        if name == "shard":  # 'i/n', never a path; fingerprint_of derives the shard's fingerprint from it
            params[name] = None if value is None else str(value)
        elif _is_input(spec, name, value):
            paths[name] = value
        elif name in floats and isinstance(value, (int, str)) and not isinstance(value, bool):
            # 1 and 1.0 are one setting, 'none' is None, and 'auto' stays where the stage takes it
            params[name] = auto_float(value) if name in autos else none_float(value)
        else:
            params[name] = [str(v) if isinstance(v, Path) else v for v in value] if isinstance(value, (list, tuple)) \
                else str(value) if isinstance(value, Path) else value
    return params, paths


def fingerprint_of(kind: str, params: dict, identities: dict[str, Any]) -> str:
    """manifest.fingerprint of a stage: its kind, params and its inputs' identities (a list per repeated input).

    A shard's (params["shard"] = 'i/n') is derived from the unsharded output's, and a merge of a run's n shards
    has the unsharded output's (minekit.execution.shards).
    """
    from minekit.execution.shards import merged_fingerprint, shard_fingerprint
    from minekit.manifest import fingerprint

    if kind == "merge":  # the n shards of one run merge into the unsharded output: its fingerprint
        merged = merged_fingerprint(identities.get("files") or [])
        if merged is not None:
            return merged
    params = dict(params)
    shard = params.pop("shard", None)
    inputs = {}
    for name, ident in identities.items():
        for i, one in enumerate(ident) if isinstance(ident, list) else [(None, ident)]:
            inputs[name if i is None else f"{name}[{i}]"] = {"sha256": one}
    return shard_fingerprint(fingerprint(kind, params, inputs), shard)


def stage_fingerprint(fn: Callable, values: dict) -> str:
    """The fingerprint a stage stores in its output's manifest for these values."""
    params, paths = split_values(fn, values)
    identities = {name: [identity(v) for v in value] if isinstance(value, (list, tuple)) else identity(value)
                  for name, value in paths.items()}
    return fingerprint_of(fn.kind, params, identities)
