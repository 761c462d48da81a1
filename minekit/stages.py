"""The stages: one function per command, from paths on disk to files on disk. minekit's Python API.

    import minekit as mk
    mk.mine_bm25(queries="q.parquet", positives="p.parquet", corpus="c.parquet", out="bm25.parquet")

A stage reads and validates its inputs, checks its params, calls the library function on frames,
and writes its output atomically with a manifest (params, input hashes, counts, fingerprint). The
CLI (cli.py) is a thin shell over these functions and pipelines (pipeline.py) call them directly:
parameter names and defaults here are the flags and their defaults. Each returns an Output saying
what was written (paths), the counts and what was dropped. Nothing is printed here; heavy libraries
are imported inside the functions.

Read top to bottom like the README's table of commands: validate, info, import, mine, filter,
denoise, train-reranker, build, export, report, train, evaluate, compare, run.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from minekit.errors import ConfigError, InputError
from minekit.options import check_params

logger = logging.getLogger(__name__)


@dataclass
class Output:
    """What a stage did: its main output `path`, every file or folder it wrote, its counts."""

    path: Path | None
    stats: dict = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    title: str = ""  # how the counts are headed on the command line
    reused: bool = False  # an up-to-date output was found and returned, nothing written
    text: str | None = None  # what the command prints on stdout before the path (a summary, metrics)
    notes: list[str] = field(default_factory=list)  # lines for a person (stderr on the command line)
    data: Any = None  # the stage's own result object (metrics dict, pipeline run)
    show_path: bool = True  # the command line prints `path` last on stdout

    @property
    def dropped(self) -> dict:
        return dict(self.stats.get("dropped") or {})


# Commands by their pipeline name ("mine.bm25"), with the file name a pipeline gives their --out.
STAGES: dict[str, Callable] = {}
OUT_NAMES: dict[str, str] = {}


def stage(kind: str, out_name: str | None = None) -> Callable:
    def register(fn: Callable) -> Callable:
        STAGES[kind] = fn
        fn.kind = kind
        if out_name:
            OUT_NAMES[kind] = out_name
        return fn

    return register


# -- fingerprints: the one identity of a stage's output ----------------------------------------------

OUTPUT_PARAMS = frozenset({"out", "out_dir", "pseudo_positives"})
# Where and how a stage runs, where results are cached and how many rows are read at a time change no byte.
UNHASHED = frozenset({"show_progress", "cache_dir", "ray", "shards", "block_size"})


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


def _is_path(value: Any) -> bool:
    return isinstance(value, (str, Path)) and str(value) != "" and Path(value).exists()


def _float_params(fn: Callable) -> frozenset:
    import typing

    hints = typing.get_type_hints(fn)
    return frozenset(n for n, h in hints.items() if float in typing.get_args(h) + (h,) and int not in typing.get_args(h))


def _auto_params(fn: Callable) -> frozenset:
    """Thresholds that also take 'auto' (typed float | str | None)."""
    import typing

    return frozenset(n for n, h in typing.get_type_hints(fn).items() if {float, str} <= set(typing.get_args(h)))


def split_values(fn: Callable, values: dict, *, skip: Sequence[str] = ()) -> tuple[dict, dict]:
    """A stage's values, defaults applied, as (params, input paths): a value naming existing files is an input."""
    floats, autos = _float_params(fn), _auto_params(fn)
    params, paths = {}, {}
    for name, param in inspect.signature(fn).parameters.items():
        if name in OUTPUT_PARAMS or name in UNHASHED or name in skip:
            continue
        value = values.get(name, param.default)
        value = None if value is inspect.Parameter.empty else value
        if name == "shard":  # 'i/n', never a path; fingerprint_of derives the shard's fingerprint from it
            params[name] = None if value is None else str(value)
            continue
        items = list(value) if isinstance(value, (list, tuple)) else [value]
        if items and all(_is_path(v) for v in items):
            paths[name] = value
        elif name in floats and isinstance(value, (int, str)) and not isinstance(value, bool):
            # 1 and 1.0 are one setting, 'none' is None, and 'auto' stays where the stage takes it
            params[name] = auto_float(value) if name in autos else none_float(value)
        else:
            params[name] = [str(v) if isinstance(v, Path) else v for v in value] if isinstance(value, (list, tuple)) \
                else str(value) if isinstance(value, Path) else value
    return params, paths


def fingerprint_of(fn: Callable, params: dict, identities: dict[str, Any]) -> str:
    """manifest.fingerprint of a stage: its kind, params and its inputs' identities (a list per repeated input).

    A shard's (params["shard"] = 'i/n') is derived from the unsharded output's, and a merge of a run's n shards
    has the unsharded output's (minekit.shards).
    """
    from minekit.manifest import fingerprint
    from minekit.shards import merged_fingerprint, shard_fingerprint

    if fn.kind == "merge":  # the n shards of one run merge into the unsharded output: its fingerprint
        merged = merged_fingerprint(identities.get("files") or [])
        if merged is not None:
            return merged
    params = dict(params)
    shard = params.pop("shard", None)
    inputs = {}
    for name, ident in identities.items():
        for i, one in enumerate(ident) if isinstance(ident, list) else [(None, ident)]:
            inputs[name if i is None else f"{name}[{i}]"] = {"sha256": one}
    return shard_fingerprint(fingerprint(fn.kind, params, inputs), shard)


def stage_fingerprint(fn: Callable, values: dict) -> str:
    """The fingerprint a stage stores in its output's manifest for these values."""
    params, paths = split_values(fn, values)
    identities = {name: [identity(v) for v in value] if isinstance(value, (list, tuple)) else identity(value)
                  for name, value in paths.items()}
    return fingerprint_of(fn, params, identities)


# -- shared steps ----------------------------------------------------------------------------------

def params_of(fn: Callable, **kwargs) -> dict:
    """The fully resolved params of a library call (defaults included), as the manifest records them."""
    signature = inspect.signature(fn)
    bound = signature.bind_partial(**kwargs)
    bound.apply_defaults()
    return {k: v for k, v in bound.arguments.items()
            if k not in UNHASHED and signature.parameters[k].kind == inspect.Parameter.KEYWORD_ONLY}


def none_word(value: str | None) -> str | None:
    """'none' (a flag or pipeline value) means no stemmer / no stopwords / no cache."""
    return None if value is None or str(value).lower() in ("none", "") else str(value)


def none_float(value: str | float | None) -> float | None:
    """'none' turns a default threshold off."""
    if value is None or str(value).lower() in ("none", ""):
        return None
    try:
        return float(value)
    except ValueError:
        raise ConfigError(f"{value!r} is not a number or 'none'.") from None


def auto_float(value: str | float | None) -> str | float | None:
    """'auto' leaves a threshold to the stage (it depends on the scorer or is calibrated on the data)."""
    if str(value).lower() == "auto":
        return "auto"
    try:
        return none_float(value)
    except ConfigError:
        raise ConfigError(f"{value!r} is not a number, 'auto' or 'none'.") from None


def require_rows(result, stage: str) -> None:
    """An output with no row is an error that says why (a 0-row file only fails the next step)."""
    if result.frame.height:
        return
    stats = result.stats
    dropped = {k: v for k, v in (stats.get("dropped") or {}).items() if v}
    if dropped:
        flags = [("--" + k.replace("_", "-")) if k != "is_positive" else "is_positive (--positives)" for k in dropped]
        why = (f"all {stats.get('rows_in', sum(dropped.values()))} candidates were dropped ("
               + ", ".join(f"{f}: {n}" for f, n in zip(flags, dropped.values())) + ")")
        fix = f"loosen {', '.join(flags)}"
    else:
        why = f"none of the {stats.get('queries', 'given')} queries got a candidate"
        fix = "check that --positives names queries of --queries and the corpus has documents besides the positives"
    raise InputError(f"{stage}: nothing to write: {why}. No output was written. Fix: {fix}.")


def _manifest(stage: str, params: dict, inputs: dict, stats: dict, upstream_from: Sequence = (),
              fp: str | None = None) -> dict:
    from minekit.manifest import describe_inputs, make_manifest, upstream_steps

    return make_manifest(stage, params, describe_inputs(inputs), stats, upstream_steps(list(upstream_from)),
                         fingerprint=fp)


def _write_frame(result, out: str | Path, stage: str, params: dict, inputs: dict, upstream_from: Sequence = (),
                 *, fp: str, run: "_Run | None" = None) -> Output:
    """A stage's frame with its manifest, written atomically; a shard's manifest says which shard it is.

    A shard may hold no row (its queries got no candidate): only the merged output must have rows.
    """
    from minekit.io import write_parquet

    if run is None or run.shard is None:
        require_rows(result, stage)
    out = Path(out)
    manifest = _manifest(stage, params, inputs, result.stats, upstream_from, fp)
    if run is not None:
        run.mark(manifest)
    write_parquet(result.frame, out, manifest)
    title = stage if run is None or run.shard is None else f"{stage} (shard {run.shard})"
    return Output(out, result.stats, {"out": out}, title=title)


@dataclass
class _Run:
    """How a stage runs: whole, as one shard of n (minekit.shards), or as n shards on Ray then merged."""

    shard: Any  # minekit.shards.Shard | None
    fp: str  # this output's fingerprint
    base: str  # the unsharded output's fingerprint

    def select(self, frame, column: str = "query_id"):
        from minekit.shards import select

        return select(frame, column, self.shard)

    def mark(self, manifest: dict) -> None:
        from minekit.shards import SHARD_KEY, shard_facts

        if self.shard is not None:
            manifest[SHARD_KEY] = shard_facts(self.base, self.shard, "query_id")


def _run_of(fn: Callable, values: dict) -> _Run:
    """The shard and fingerprints of a stage call (its flags already checked by check_params)."""
    from minekit.shards import parse_shard

    shard, ray, shards = values.get("shard"), values.get("ray"), values.get("shards")
    if shard is not None and ray:
        raise ConfigError("shard and ray: give one of them (ray runs every shard, then merges).")
    if shards is not None and not ray:
        raise ConfigError("shards and ray: the number of shards applies only to a Ray run; give both, or run one "
                          "shard with shard i/n.")
    fp = stage_fingerprint(fn, values)
    base = fp if shard is None else stage_fingerprint(fn, {**values, "shard": None})
    return _Run(parse_shard(shard), fp, base)


def _on_ray(fn: Callable, values: dict) -> Output:
    """Run a stage's shards as Ray tasks and merge them (minekit.ray_runner)."""
    from minekit.ray_runner import run_stage

    _run_of(fn, values)  # shard with ray is an error before Ray starts
    return run_stage(fn, {k: v for k, v in values.items() if k in inspect.signature(fn).parameters})


def _read_inputs(queries, positives, corpus):
    from minekit.io import read_inputs

    return read_inputs(queries, positives, corpus)


def _new_folder(out: Path, flag: str, why: str) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"{flag}: {out} already exists{why}")


# -- validate / info -------------------------------------------------------------------------------

@stage("validate")
def validate(*, queries: str | Path, positives: str | Path, corpus: str | Path) -> Output:
    """Check the three input files against minekit's data contract, and nothing else."""
    inputs = _read_inputs(queries, positives, corpus)
    counts = {"queries": inputs.queries.height, "documents": inputs.corpus.height,
              "positives": inputs.positives.height, "queries_with_positives": inputs.positives["query_id"].n_unique()}
    text = (f"ok: {counts['queries']} queries, {counts['documents']} documents, "
            f"{counts['positives']} positives for {counts['queries_with_positives']} queries")
    return Output(None, text=text, data=counts)


@stage("info")
def info(path: str | Path) -> Output:
    """The manifest (how it was made) that travels inside a minekit file or dataset folder."""
    from minekit.io import read_manifest

    manifest = read_manifest(path)
    if manifest is None:
        raise ConfigError(f"{path}: carries no minekit manifest (was it written by minekit?). Fix: give a parquet "
                          "file minekit wrote (candidates, filter or denoise output) or a dataset folder datasets/NAME/vN.")
    return Output(None, text=json.dumps(manifest, indent=2, sort_keys=True), data=manifest)


# -- import ----------------------------------------------------------------------------------------

def _write_import(result, out: str | Path, stage: str, params: dict, source: str | Path, overwrite: bool) -> Output:
    """The import's three (or four) files, written into one temp folder and moved in together."""
    from minekit.importers import write_inputs

    out = Path(out)
    write_inputs(result, out, stage=stage, params=params, source=source, overwrite=overwrite)
    names = ["queries", "positives", "corpus"] + (["negatives"] if result.negatives is not None else [])
    return Output(out, result.stats, {n: out / f"{n}.parquet" for n in names}, title=stage.replace(".", " "))


def _corpus_of(corpus: str | Path | None):
    from minekit.importers import read_corpus

    return None if corpus is None else read_corpus(corpus)


@stage("import.beir", "{step}")
def import_beir(folder: str | Path, *, out: str | Path, split: str = "test", overwrite: bool = False) -> Output:
    """Import a BEIR data set folder; only the split's queries are kept."""
    from minekit.importers import import_beir as read_beir

    return _write_import(read_beir(folder, split=split), out, "import.beir", {"split": split}, folder, overwrite)


def _pairs_params(anchor_column: str, positive_column: str, corpus) -> dict:
    return {"anchor_column": anchor_column, "positive_column": positive_column,
            "corpus": None if corpus is None else str(corpus)}


@stage("import.pairs", "{step}")
def import_pairs(file: str | Path, *, out: str | Path, anchor_column: str = "anchor",
                 positive_column: str = "positive", corpus: str | Path | None = None,
                 overwrite: bool = False) -> Output:
    """Import (anchor, positive) text pairs; ids are content hashes, repeated texts are merged."""
    from minekit.importers import import_pairs as read_pairs

    corpus = None if corpus is None else Path(corpus)
    result = read_pairs(file, anchor_column=anchor_column, positive_column=positive_column,
                        corpus=_corpus_of(corpus), corpus_path=corpus)
    return _write_import(result, out, "import.pairs", _pairs_params(anchor_column, positive_column, corpus), file,
                         overwrite)


@stage("import.hf", "{step}")
def import_hf(folder: str | Path, *, out: str | Path, anchor_column: str = "anchor",
              positive_column: str = "positive", corpus: str | Path | None = None, overwrite: bool = False) -> Output:
    """Import a Hugging Face datasets folder of (anchor, positive[, negatives]) texts."""
    from minekit.importers import import_pairs as read_pairs

    folder, corpus = Path(folder), None if corpus is None else Path(corpus)
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder; `import hf` reads a datasets folder written by save_to_disk.")
    result = read_pairs(folder, anchor_column=anchor_column, positive_column=positive_column,
                        corpus=_corpus_of(corpus), corpus_path=corpus)
    return _write_import(result, out, "import.hf", _pairs_params(anchor_column, positive_column, corpus), folder,
                         overwrite)


@stage("import.flagembedding", "{step}")
def import_flagembedding(file: str | Path, *, out: str | Path, corpus: str | Path | None = None,
                         overwrite: bool = False) -> Output:
    """Import FlagEmbedding fine-tuning JSONL; content-hash ids, neg lists become negatives.parquet."""
    from minekit.importers import import_flagembedding as read_flagembedding

    corpus = None if corpus is None else Path(corpus)
    result = read_flagembedding(file, corpus=_corpus_of(corpus), corpus_path=corpus)
    return _write_import(result, out, "import.flagembedding", {"corpus": None if corpus is None else str(corpus)},
                         file, overwrite)


@stage("import.tevatron", "{step}")
def import_tevatron(file: str | Path, *, out: str | Path, overwrite: bool = False) -> Output:
    """Import Tevatron training JSONL; its query and passage ids are kept."""
    from minekit.importers import import_tevatron as read_tevatron

    return _write_import(read_tevatron(file), out, "import.tevatron", {}, file, overwrite)


# -- mine ------------------------------------------------------------------------------------------

def _mine_bm25(fn: Callable, stage: str, queries, positives, corpus, out, show_progress: bool, run: _Run,
               **kwargs) -> Output:
    inputs = _read_inputs(queries, positives, corpus)
    kwargs["stemmer"] = none_word(kwargs["stemmer"])
    kwargs["stopwords"] = none_word(kwargs["stopwords"])
    mined = run.select(inputs.queries)  # a shard mines its queries against the whole corpus (global statistics)
    result = (_empty_shard() if run.shard is not None and _no_queries(mined, inputs.positives)
              else fn(mined, inputs.positives, inputs.corpus, show_progress=show_progress, **kwargs))
    return _write_frame(result, out, stage, params_of(fn, **kwargs), inputs.paths, fp=run.fp, run=run)


def _no_queries(queries, positives) -> bool:
    """A shard none of whose queries has a positive: nothing to mine (the miners expect at least one)."""
    return not queries["query_id"].is_in(positives["query_id"].implode()).any()


def _empty_shard():
    from minekit.schema import empty_candidates
    from minekit.stats import StageResult

    return StageResult(empty_candidates(), {"queries": 0, "rows_out": 0})


@stage("mine.bm25", "{step}.parquet")
def mine_bm25(*, queries: str | Path, positives: str | Path, corpus: str | Path, out: str | Path,
              top_k: int = 100, k1: float = 1.5, b: float = 0.75, method: str = "lucene",
              stemmer: str = "english", stopwords: str = "en", shard: str | None = None, ray: bool = False,
              shards: int | None = None, show_progress: bool = True) -> Output:
    """BM25 candidates with the query as query; a query's positives never appear."""
    from minekit.mine.bm25 import mine_bm25 as lib

    check_params("mine.bm25", locals())
    if ray:
        return _on_ray(mine_bm25, locals())
    run = _run_of(mine_bm25, locals())
    return _mine_bm25(lib, "mine.bm25", queries, positives, corpus, out, show_progress, run, top_k=top_k, k1=k1, b=b,
                      method=method, stemmer=stemmer, stopwords=stopwords)


@stage("mine.passage-bm25", "{step}.parquet")
def mine_passage_bm25(*, queries: str | Path, positives: str | Path, corpus: str | Path, out: str | Path,
                      top_k: int = 100, k1: float = 1.5, b: float = 0.75, method: str = "lucene",
                      stemmer: str = "english", stopwords: str = "en", shard: str | None = None,
                      ray: bool = False, shards: int | None = None, show_progress: bool = True) -> Output:
    """BM25 with each positive passage as the query (PassageBM25)."""
    from minekit.mine.bm25 import mine_passage_bm25 as lib

    check_params("mine.passage-bm25", locals())
    if ray:
        return _on_ray(mine_passage_bm25, locals())
    run = _run_of(mine_passage_bm25, locals())
    return _mine_bm25(lib, "mine.passage-bm25", queries, positives, corpus, out, show_progress, run, top_k=top_k, k1=k1,
                      b=b, method=method, stemmer=stemmer, stopwords=stopwords)


def _encoder_kwargs(model, batch_size, device, cache_dir, query_prompt, corpus_prompt, precision, backend,
                    trust_remote_code, *, dtype, max_seq_length, query_prompt_name, corpus_prompt_name) -> dict:
    from minekit.embed import resolve_dtype

    # The dtype 'auto' stands for here goes into the manifest: what was used, not what was asked.
    return dict(model=model, batch_size=batch_size, device=device, dtype=resolve_dtype(dtype, device),
                max_seq_length=max_seq_length, cache_dir=none_word(cache_dir), query_prompt=query_prompt,
                corpus_prompt=corpus_prompt, query_prompt_name=query_prompt_name,
                corpus_prompt_name=corpus_prompt_name, precision=precision, backend=backend,
                trust_remote_code=trust_remote_code)


@stage("mine.dense", "{step}.parquet")
def mine_dense(*, queries: str | Path, positives: str | Path, corpus: str | Path, out: str | Path,
               model: str = "default", top_k: int = 100, index: str = "flat", nlist: int | None = None,
               nprobe: int | None = None, hnsw_m: int | None = None, ef_search: int | None = None,
               pq_m: int | None = None, seed: int = 0, block_size: int = 65_536, query_from: str = "query", query_prompt: str | None = None, corpus_prompt: str | None = None,
               query_prompt_name: str | None = None, corpus_prompt_name: str | None = None,
               batch_size: int = 64, device: str = "cpu", dtype: str = "auto", max_seq_length: int | None = None,
               cache_dir: str | Path | None = ".minekit-cache",
               precision: str = "float32", backend: str = "torch", trust_remote_code: bool = False,
               shard: str | None = None, ray: bool = False, shards: int | None = None,
               show_progress: bool = True) -> Output:
    """Dense candidates: cosine of bi-encoder embeddings, searched exactly or with faiss."""
    from minekit.mine.dense import mine_dense as lib

    check_params("mine.dense", locals())
    if ray:
        return _on_ray(mine_dense, locals())
    run = _run_of(mine_dense, locals())
    kwargs = dict(top_k=top_k, index=index, nlist=nlist, nprobe=nprobe, hnsw_m=hnsw_m, ef_search=ef_search,
                  pq_m=pq_m, seed=seed, block_size=block_size, query_from=query_from, **_encoder_kwargs(model, batch_size, device, cache_dir, query_prompt,
                                                           corpus_prompt, precision, backend, trust_remote_code,
                                                           dtype=dtype, max_seq_length=max_seq_length,
                                                           query_prompt_name=query_prompt_name,
                                                           corpus_prompt_name=corpus_prompt_name))
    inputs = _read_inputs(queries, positives, corpus)
    mined = run.select(inputs.queries)
    result = (_empty_shard() if run.shard is not None and _no_queries(mined, inputs.positives)
              else lib(mined, inputs.positives, inputs.corpus, show_progress=show_progress, **kwargs))
    return _write_frame(result, out, "mine.dense", params_of(lib, **kwargs), inputs.paths, fp=run.fp, run=run)


@stage("embed")
def embed_corpus(*, corpus: str | Path, queries: str | Path | None = None, model: str = "default",
          query_prompt: str | None = None, corpus_prompt: str | None = None, query_prompt_name: str | None = None,
          corpus_prompt_name: str | None = None, batch_size: int = 64, device: str = "cpu", dtype: str = "auto",
          max_seq_length: int | None = None, cache_dir: str | Path = ".minekit-cache", precision: str = "float32",
          backend: str = "torch", trust_remote_code: bool = False, shard: str | None = None, ray: bool = False,
          show_progress: bool = True) -> Output:
    """Encode the corpus (and queries) into the embedding cache mine dense reads; a shard encodes its share of the texts."""
    from minekit.embed import Encoder
    from minekit.mine.dense import resolve_prompts
    from minekit.precompute import fill_cache, plan
    from minekit.shards import parse_shard

    check_params("embed", locals())
    _run_of(embed_corpus, locals())  # shard with ray, shards without it: errors before any work
    if none_word(cache_dir) is None:
        raise ConfigError("cache_dir: embed fills the embedding cache; give a folder, not 'none'.")
    corpus_frame, queries_frame = _read_texts(corpus, queries)
    with contextlib.ExitStack() as stack:
        if ray:  # the workers' devices decide what dtype 'auto' means; this process only plans
            from minekit.ray_runner import ray_dtype, session

            dtype, device = ray_dtype(stack.enter_context(session()), dtype, device), "cpu"
        encoder = Encoder(**{k: v for k, v in _encoder_kwargs(
            model, batch_size, device, cache_dir, query_prompt, corpus_prompt, precision, backend, trust_remote_code,
            dtype=dtype, max_seq_length=max_seq_length, query_prompt_name=None, corpus_prompt_name=None).items()
            if k not in ("query_prompt", "corpus_prompt", "query_prompt_name", "corpus_prompt_name")})
        prompts = resolve_prompts(encoder, query_prompt, query_prompt_name, corpus_prompt, corpus_prompt_name)
        jobs = plan(corpus_frame, queries_frame, encoder, shard=parse_shard(shard), **prompts)
        if ray:
            from minekit.ray_runner import encode_on_ray

            stats = encode_on_ray(jobs, encoder, show_progress=show_progress)
        else:
            stats = fill_cache(jobs, encoder, show_progress=show_progress)
    title = "embed" if shard is None else f"embed (shard {parse_shard(shard)})"
    return Output(Path(cache_dir), stats, {"out": Path(cache_dir)}, title=title)


def _read_texts(corpus, queries):
    """The corpus and (optional) queries files, checked as their contracts say."""
    from minekit.io import read_parquet
    from minekit.schema import validate_corpus, validate_queries

    corpus_frame = validate_corpus(read_parquet(corpus, what="corpus"), Path(corpus))
    queries_frame = None if queries is None else validate_queries(read_parquet(queries, what="queries"), Path(queries))
    return corpus_frame, queries_frame


@stage("merge", "{step}.parquet")
def merge(files: Sequence[str | Path], *, out: str | Path) -> Output:
    """Join the shard outputs of one run (every i of n once) into the file the unsharded run writes, byte for byte."""
    from minekit.io import write_parquet
    from minekit.shards import merge_shards
    from minekit.stats import StageResult

    merged = merge_shards(files)
    require_rows(StageResult(merged.frame, merged.stats), merged.stage)
    out = write_parquet(merged.frame, out, merged.manifest)
    return Output(Path(out), merged.stats, {"out": Path(out)}, title=f"merge ({merged.stage}, {len(files)} shards)")


def _load_centroids(centroids: Path):
    import numpy as np

    if not centroids.is_file():
        raise ConfigError(f"centroids: {centroids} not found. Fix: give the OUT.centroids.npy an earlier "
                          "`minekit mine cluster` wrote, or leave --centroids out to run k-means.")
    try:
        return np.load(centroids, allow_pickle=False)
    except ValueError as exc:
        raise ConfigError(f"centroids: {centroids} is not a numpy .npy array ({exc}). Fix: give the "
                          "OUT.centroids.npy an earlier `minekit mine cluster` wrote.") from exc


@stage("mine.cluster", "{step}.parquet")
def mine_cluster(*, queries: str | Path, positives: str | Path, corpus: str | Path, out: str | Path,
                 model: str = "default", top_k: int = 100, n_clusters: int | None = None, clusters_per_query: int = 4,
                 centroids: str | Path | None = None, niter: int = 20, seed: int = 0,
                 query_prompt: str | None = None, corpus_prompt: str | None = None,
                 query_prompt_name: str | None = None, corpus_prompt_name: str | None = None, batch_size: int = 64,
                 device: str = "cpu", dtype: str = "auto", max_seq_length: int | None = None,
                 cache_dir: str | Path | None = ".minekit-cache", precision: str = "float32",
                 backend: str = "torch", trust_remote_code: bool = False, show_progress: bool = True) -> Output:
    """K-means over corpus embeddings; writes OUT and its centroids OUT.centroids.npy together."""
    import numpy as np

    from minekit.io import atomic_paths, write_parquet
    from minekit.mine.cluster import mine_cluster as lib

    check_params("mine.cluster", locals())
    fp = stage_fingerprint(mine_cluster, locals())
    kwargs = dict(top_k=top_k, n_clusters=n_clusters, clusters_per_query=clusters_per_query, niter=niter, seed=seed,
                  **_encoder_kwargs(model, batch_size, device, cache_dir, query_prompt, corpus_prompt, precision,
                                    backend, trust_remote_code, dtype=dtype, max_seq_length=max_seq_length,
                                    query_prompt_name=query_prompt_name, corpus_prompt_name=corpus_prompt_name))
    inputs = _read_inputs(queries, positives, corpus)
    centroids = None if centroids is None else Path(centroids)
    given = None if centroids is None else _load_centroids(centroids)
    result = lib(inputs.queries, inputs.positives, inputs.corpus, centroids=given, show_progress=show_progress,
                 **kwargs)
    require_rows(result, "mine.cluster")
    out = Path(out)
    saved = out.with_name(out.name + ".centroids.npy")
    params = {**params_of(lib, **kwargs), "centroids": None if centroids is None else str(centroids)}
    manifest = _manifest("mine.cluster", params, {**inputs.paths, "centroids": centroids}, result.stats, fp=fp)
    with atomic_paths(saved, out) as (tmp_centroids, tmp_out):  # the parquet, the completion marker, lands last
        with open(tmp_centroids, "wb") as handle:
            np.save(handle, result.centroids, allow_pickle=False)
        write_parquet(result.frame, tmp_out, manifest)
    return Output(out, result.stats, {"out": out, "centroids": saved}, title="mine.cluster")


@stage("mine.random", "{step}.parquet")
def mine_random(*, queries: str | Path, positives: str | Path, corpus: str | Path, out: str | Path,
                top_k: int = 100, seed: int = 0, show_progress: bool = True) -> Output:
    """Uniformly random non-positive documents per query (seeded)."""
    from minekit.mine.random import mine_random as lib

    check_params("mine.random", locals())
    fp = stage_fingerprint(mine_random, locals())
    inputs = _read_inputs(queries, positives, corpus)
    result = lib(inputs.queries, inputs.positives, inputs.corpus, top_k=top_k, seed=seed, show_progress=show_progress)
    return _write_frame(result, out, "mine.random", params_of(lib, top_k=top_k, seed=seed), inputs.paths, fp=fp)


# -- filter ----------------------------------------------------------------------------------------

@stage("filter", "{step}.parquet")
def filter(*, candidates: str | Path, out: str | Path, positives: str | Path | None = None, range_min: int = 0,
           range_max: int | None = None, min_score: float | None = None, max_score: float | None = None,
           absolute_margin: float | None = None, relative_margin: float | None = None,
           keep_dropped: bool = False) -> Output:
    """Drop likely false negatives by rank window, score and margin thresholds; counts each rule's drops."""
    from minekit.filter import filter_candidates
    from minekit.io import read_candidates, read_parquet
    from minekit.schema import positive_pairs

    check_params("filter", locals())
    fp = stage_fingerprint(filter, locals())
    kwargs = dict(range_min=range_min, range_max=range_max, min_score=min_score, max_score=max_score,
                  absolute_margin=absolute_margin, relative_margin=relative_margin, keep_dropped=keep_dropped)
    cands = read_candidates(candidates)
    pos = None if positives is None else positive_pairs(read_parquet(positives, what="positives"), positives)
    result = filter_candidates(cands, pos, **kwargs)
    return _write_frame(result, out, "filter", params_of(filter_candidates, **kwargs),
                        {"candidates": candidates, "positives": positives}, [candidates], fp=fp)


# -- denoise / train-reranker ----------------------------------------------------------------------

def _check_denoise_flags(scorer, cross_encoder, pseudo_positives, min_positive_score, llm_judge, llm_model) -> None:
    if (pseudo_positives is None) != (min_positive_score is None):
        raise ConfigError("pseudo_positives and min_positive_score go together: give both or neither.")
    if llm_judge is None and llm_model is not None:
        raise ConfigError("llm_model: set without llm_judge URL, where it cannot apply.")
    if llm_judge is not None and not llm_model:
        raise ConfigError("llm_judge needs llm_model (the model name the endpoint serves).")
    if scorer == "cross-encoder":
        from minekit.guards import check_cross_encoder_folder

        check_cross_encoder_folder(cross_encoder)


@stage("denoise", "{step}.parquet")
def denoise(*, candidates: str | Path, queries: str | Path, positives: str | Path, corpus: str | Path,
            out: str | Path, scorer: str = "cross-encoder", cross_encoder: str | None = None,
            model: str | None = None, max_score: float | None = None,
            max_positive_similarity: float | str | None = None, positive_neighbours: float | str | None = "auto",
            absolute_margin: float | str | None = "auto",
            relative_margin: float | None = None, pseudo_positives: str | Path | None = None,
            min_positive_score: float | None = None, llm_judge: str | None = None, llm_model: str | None = None,
            llm_api_key_env: str = "OPENAI_API_KEY", llm_min_score: float | None = None,
            llm_max_score: float | None = None, llm_concurrency: int = 4, llm_retries: int = 3,
            llm_timeout: float = 60.0, batch_size: int = 32, max_length: int | None = None,
            max_seq_length: int | None = None, query_prompt: str | None = None, corpus_prompt: str | None = None,
            query_prompt_name: str | None = None, corpus_prompt_name: str | None = None, device: str = "cpu",
            dtype: str = "auto", cache_dir: str | Path = ".minekit-cache", trust_remote_code: bool = False, keep_dropped: bool = False,
            shard: str | None = None, ray: bool = False, shards: int | None = None,
            block_size: int = 4096, show_progress: bool = True) -> Output:
    """Score candidates and positives with a cross-encoder (or a bi-encoder guide); drop likely false negatives.

    With pseudo_positives, the cleaned candidates and the pseudo-positives are written together.
    """
    from minekit.denoise import denoise_candidates
    from minekit.io import atomic_paths, read_candidates, write_parquet
    from minekit.models import model_identity
    from minekit.schema import check_candidates_ids

    absolute_margin = auto_float(absolute_margin)
    max_positive_similarity = auto_float(max_positive_similarity)
    positive_neighbours = auto_float(positive_neighbours)
    check_params("denoise", locals())
    _check_denoise_flags(scorer, cross_encoder, pseudo_positives, min_positive_score, llm_judge, llm_model)
    if pseudo_positives is not None and (shard is not None or ray):
        raise ConfigError("pseudo_positives: a sharded denoise writes one file per shard; run denoise with "
                          "pseudo_positives unsharded.")
    if ray:
        return _on_ray(denoise, locals())
    run = _run_of(denoise, locals())
    fp = run.fp
    inputs = _read_inputs(queries, positives, corpus)
    cands = check_candidates_ids(read_candidates(candidates), candidates, inputs.corpus, inputs.queries)
    cands = run.select(cands)  # a shard scores its queries' candidates
    judge, judge_params = None, None
    if llm_judge is not None:
        from minekit.llm_judge import LLMJudge

        judge = LLMJudge(llm_judge, llm_model=llm_model, api_key=os.environ.get(llm_api_key_env) or None,
                         concurrency=llm_concurrency, retries=llm_retries, timeout=llm_timeout,
                         cache_dir=cache_dir, show_progress=show_progress)
        judge_params = {"url": llm_judge, "llm_model": llm_model, "llm_concurrency": llm_concurrency,
                        "llm_retries": llm_retries, "llm_timeout": llm_timeout, "llm_api_key_env": llm_api_key_env}
    kwargs = dict(scorer=scorer, cross_encoder=cross_encoder, model=model, max_score=max_score,
                  max_positive_similarity=max_positive_similarity, positive_neighbours=positive_neighbours,
                  absolute_margin=absolute_margin,
                  relative_margin=relative_margin,
                  min_positive_score=min_positive_score, llm_min_score=llm_min_score, llm_max_score=llm_max_score,
                  batch_size=batch_size, max_length=max_length, max_seq_length=max_seq_length,
                  query_prompt=query_prompt, corpus_prompt=corpus_prompt, query_prompt_name=query_prompt_name,
                  corpus_prompt_name=corpus_prompt_name, device=device,
                  dtype=_guide_dtype(scorer, dtype, device), cache_dir=str(cache_dir),
                  trust_remote_code=trust_remote_code, keep_dropped=keep_dropped, block_size=block_size)
    result = _empty_denoise(cands) if run.shard is not None and cands.height == 0 else \
        denoise_candidates(cands, inputs.queries, inputs.positives, inputs.corpus, llm_judge=judge,
                           show_progress=show_progress, **kwargs)
    scoring_model = cross_encoder if scorer == "cross-encoder" else model or "default"
    params = {**params_of(denoise_candidates, llm_judge=judge_params, **kwargs),
              "model_identity": model_identity(scoring_model) if scoring_model else None}
    files = {**inputs.paths, "candidates": candidates}
    if pseudo_positives is None:
        return _write_frame(result, out, "denoise", params, files, [candidates], fp=fp, run=run)
    require_rows(result, "denoise")
    out = Path(out)
    manifest = _manifest("denoise", params, files, result.stats, [candidates], fp)
    pseudo_positives = Path(pseudo_positives)
    pseudo_manifest = _manifest("denoise.pseudo-positives", params, files, result.stats, [candidates], fp)
    with atomic_paths(pseudo_positives, out) as (tmp_pseudo, tmp_out):
        write_parquet(result.pseudo_positives, tmp_pseudo, pseudo_manifest)
        write_parquet(result.frame, tmp_out, manifest)
    note = f"pseudo-positives: {result.pseudo_positives.height} pairs -> {pseudo_positives}"
    return Output(out, result.stats, {"out": out, "pseudo_positives": pseudo_positives}, title="denoise",
                  notes=[note])


def _empty_denoise(cands):
    """A shard without candidates: nothing to score (its rows, none, keep the candidates' columns)."""
    from minekit.stats import StageResult

    return StageResult(cands.drop("drop_reason", strict=False), {"rows_in": 0, "rows_out": 0})


def _guide_dtype(scorer: str, dtype: str, device: str) -> str:
    """The bi-encoder guide's dtype as used (the manifest records it); 'auto' stays for the cross-encoder."""
    from minekit.embed import resolve_dtype

    return resolve_dtype(dtype, device) if scorer == "bi-encoder" else dtype


def _check_dataset_folder(dataset: Path) -> Path:
    from minekit.io import read_manifest_json

    train_file = dataset / "train.parquet"
    if not dataset.is_dir() or not train_file.is_file():
        raise ConfigError(f"dataset: {dataset} is not a dataset folder with a train.parquet. Fix: give the folder "
                          "datasets/NAME/vN that `minekit build` printed.")
    if (dataset / "manifest.json").is_file():  # a damaged manifest means a damaged dataset: stop before training
        read_manifest_json(dataset / "manifest.json")
    return train_file


@stage("train-reranker", "model")
def train_reranker(*, dataset: str | Path, out: str | Path, model: str = "default", epochs: float = 1.0,
                   max_steps: int | None = None, batch_size: int = 16, learning_rate: float = 2e-5,
                   warmup_ratio: float = 0.1, max_length: int = 128, seed: int = 0, device: str = "cpu",
                   trust_remote_code: bool = False, show_progress: bool = True) -> Output:
    """Fine-tune a one-logit CrossEncoder on a built dataset; the model folder is written as one unit."""
    from minekit.io import atomic_folder, read_parquet, write_json
    from minekit.models import model_identity
    from minekit.train_reranker import train_reranker as lib

    check_params("train-reranker", locals())
    fp = stage_fingerprint(train_reranker, locals())
    kwargs = dict(model=model, epochs=epochs, max_steps=max_steps, batch_size=batch_size,
                  learning_rate=learning_rate, warmup_ratio=warmup_ratio, max_length=max_length, seed=seed,
                  device=device, trust_remote_code=trust_remote_code)
    dataset, out = Path(dataset), Path(out)
    train_file = _check_dataset_folder(dataset)
    _new_folder(out, "out", " and is not empty; a model is never overwritten.")
    result = lib(read_parquet(train_file, what="train"), show_progress=show_progress, **kwargs)
    params = {**params_of(lib, **kwargs), "model_identity": model_identity(model)}
    manifest = _manifest("train-reranker", params, {"train": train_file}, result.stats, [train_file], fp)
    with atomic_folder(out) as tmp:
        result.model.save(str(tmp))
        write_json(tmp / "manifest.json", manifest)
    return Output(out, result.stats, {"out": out}, title="train-reranker")


# -- build -----------------------------------------------------------------------------------------

@stage("build")
def build(*, candidates: str | Path | Sequence[str | Path], queries: str | Path, positives: str | Path,
          corpus: str | Path, name: str, out_dir: str | Path = "datasets", num_negatives: int = 5,
          format: str = "n-tuple", sampling_strategy: str = "top", relative_margin: float | str | None = 0.05,
          simans_a: float = 50.0, simans_b: float = -0.05, trisampler_angle: float = 60.0,
          source_shares: str | dict | None = None, fill: str = "random", seed: int = 0) -> Output:
    """Write a versioned dataset out_dir/NAME/vN; the same inputs and params return the existing version."""
    from minekit.build import build_dataset, find_version, parse_shares, write_dataset
    from minekit.io import read_candidates
    from minekit.manifest import describe_inputs, make_manifest, upstream_steps
    from minekit.schema import check_candidates_ids

    candidates = [Path(candidates)] if isinstance(candidates, (str, Path)) else [Path(p) for p in candidates]
    relative_margin = none_float(relative_margin)
    source_shares = parse_shares(source_shares)
    check_params("build", locals())
    fp = stage_fingerprint(build, locals())
    kwargs = dict(num_negatives=num_negatives, format=format, sampling_strategy=sampling_strategy,
                  relative_margin=relative_margin, simans_a=simans_a, simans_b=simans_b,
                  trisampler_angle=trisampler_angle, source_shares=source_shares, fill=fill, seed=seed)
    inputs = _read_inputs(queries, positives, corpus)
    frames = [check_candidates_ids(read_candidates(p), p, inputs.corpus, inputs.queries) for p in candidates]
    params = params_of(build_dataset, **kwargs)
    described = describe_inputs({**inputs.paths, "candidates": list(candidates)})
    existing = find_version(out_dir, name, fp)
    if existing is not None:
        return Output(existing, {}, {"out": existing}, title="build", reused=True,
                      notes=[f"up to date: same inputs and params as {existing}"])
    result = build_dataset(frames, inputs.queries, inputs.positives, inputs.corpus, **kwargs)
    manifest = make_manifest("build", params, described, result.stats, upstream_steps(list(candidates)), fingerprint=fp)
    manifest["score_columns"] = result.score_columns
    path = write_dataset(result, out_dir=out_dir, name=name, manifest=manifest)
    files = {"out": path, **{f: path / f for f in ("train.parquet", "ids.parquet", "manifest.json", "README.md")}}
    return Output(path, result.stats, files, title="build")


# -- export / report -------------------------------------------------------------------------------

@stage("export", "output")
def export(dataset: str | Path, *, to: str, out: str | Path, prompt: str | None = None,
           overwrite: bool = False) -> Output:
    """Write a dataset in the layout another trainer reads (FlagEmbedding, Tevatron, datasets, JSONL)."""
    from minekit.export import export_dataset

    result = export_dataset(dataset, out, to=to, prompt=prompt, overwrite=overwrite)
    return Output(Path(result.path), result.stats, {"out": Path(result.path)}, title=f"export {to}")


@stage("report", "{step}.html")
def report(dataset_or_run: str | Path, *, out: str | Path, metrics: Sequence[str | Path] | None = None,
           examples: int = 5, seed: int = 0) -> Output:
    """One offline HTML page with the plots to read before training."""
    from minekit.io import write_text
    from minekit.report import make_report

    result = make_report(dataset_or_run, metrics=list(metrics or []), examples=examples, seed=seed)
    out = write_text(out, result.html)
    return Output(Path(out), result.stats, {"out": Path(out)}, title="report")


# -- train / evaluate / compare --------------------------------------------------------------------

@stage("train", "model")
def train(*, dataset: str | Path, out: str | Path, model: str = "default", loss: str = "mnrl", epochs: float = 1.0,
          batch_size: int = 32, learning_rate: float = 2e-5, warmup_ratio: float = 0.1, max_seq_length: int = 256,
          max_steps: int | None = None, mini_batch_size: int | None = None, guide: str | None = None,
          query_prompt: str | None = None, corpus_prompt: str | None = None, query_prompt_name: str | None = None,
          corpus_prompt_name: str | None = None, pairs_only: bool = False, seed: int = 0, device: str = "cpu",
          dtype: str = "float32", trust_remote_code: bool = False, show_progress: bool = True) -> Output:
    """Fine-tune a bi-encoder on a built dataset; writes the model folder (model, manifest.json, card) as one unit."""
    import time

    from minekit import __version__ as version
    from minekit.models import model_identity
    from minekit.train import read_dataset, train_bi_encoder, write_model

    check_params("train", locals())
    fp = stage_fingerprint(train, locals())
    kwargs = dict(model=model, loss=loss, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                  warmup_ratio=warmup_ratio, max_seq_length=max_seq_length, max_steps=max_steps,
                  mini_batch_size=mini_batch_size, guide=guide, query_prompt=query_prompt,
                  corpus_prompt=corpus_prompt, query_prompt_name=query_prompt_name,
                  corpus_prompt_name=corpus_prompt_name, seed=seed, device=device, dtype=dtype,
                  trust_remote_code=trust_remote_code)
    out = Path(out)
    _new_folder(out, "out", "; choose a new folder (models are never overwritten).")
    data = read_dataset(dataset)
    train_frame = data.train.select("anchor", "positive") if pairs_only else data.train
    started = time.perf_counter()
    result = train_bi_encoder(train_frame, data.ids, show_progress=show_progress, **kwargs)
    params = {**params_of(train_bi_encoder, **kwargs), "pairs_only": pairs_only,
              "base_model_identity": model_identity(model)}
    manifest = {
        "name": out.name,
        "stage": "train",
        "fingerprint": fp,
        "minekit_version": version,
        "dataset": {"path": str(dataset), "name": data.manifest.get("name"), "version": data.manifest.get("version"),
                    "fingerprint": data.manifest.get("fingerprint")},
        "params": params,
        "stats": result.stats,
        "wall_s": round(time.perf_counter() - started, 2),
    }
    write_model(result, out, manifest=manifest)
    return Output(out, result.stats, {"out": out}, title="train")


def _evaluate_cache(model: str, cache_dir: str | Path | None) -> str | None:
    """Dense models reuse the embedding cache mine dense fills; BM25 has no embeddings to cache."""
    if cache_dir is None:
        return None if model == "bm25" else ".minekit-cache"
    return none_word(cache_dir)


@stage("evaluate", "metrics.json")
def evaluate(*, model: str, queries: str | Path, positives: str | Path, corpus: str | Path,
             out: str | Path | None = None, k: str = "10,100", batch_size: int = 64,
             max_seq_length: int | None = None, query_prompt: str | None = None, corpus_prompt: str | None = None,
             query_prompt_name: str | None = None, corpus_prompt_name: str | None = None,
             cache_dir: str | Path | None = None, device: str = "cpu", dtype: str = "auto",
             trust_remote_code: bool = False, block_size: int | None = None, show_progress: bool = True) -> Output:
    """Exact retrieval over the corpus, scored with nDCG, MRR and recall; the metrics go to `out` as JSON."""
    from minekit.evaluate import evaluate_retrieval, format_metrics
    from minekit.io import file_sha256, write_json

    check_params("evaluate", locals())
    inputs = _read_inputs(queries, positives, corpus)
    result = evaluate_retrieval(inputs.queries, inputs.positives, inputs.corpus, model=str(model), k=k,
                                batch_size=batch_size, max_seq_length=max_seq_length, query_prompt=query_prompt,
                                corpus_prompt=corpus_prompt, query_prompt_name=query_prompt_name,
                                corpus_prompt_name=corpus_prompt_name,
                                cache_dir=_evaluate_cache(str(model), cache_dir), device=device, dtype=dtype,
                                trust_remote_code=trust_remote_code, block_size=block_size,
                                show_progress=show_progress)
    metrics = {**result.metrics, "positives": str(positives), "positives_sha256": file_sha256(positives)}
    out = None if out is None else write_json(out, metrics)
    return Output(out, {}, {"out": out} if out else {}, title="evaluate", text=format_metrics(metrics), data=metrics)


@stage("compare")
def compare(files: Sequence[str | Path]) -> Output:
    """Several evaluations side by side, with each one's delta to the first."""
    from minekit.evaluate import check_metrics, compare_metrics, comparability_notes

    runs = []
    for path in files:
        if Path(path).is_dir():
            raise InputError(f"{path}: is a folder; give metrics.json files from `minekit evaluate --out`.")
        try:
            runs.append(check_metrics(json.loads(Path(path).read_text()), str(path)))
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: cannot be read as metrics JSON ({exc}). Fix: give metrics.json files "
                             "written by `minekit evaluate --out`.") from None
    labels = [Path(p).stem for p in files]
    for note in comparability_notes(runs, labels):
        logger.warning(note)
    return Output(None, text=compare_metrics(runs, labels), data=runs)


# -- run -------------------------------------------------------------------------------------------

def run(pipeline: str | Path, *, force: bool = False, from_step: str | None = None, dry_run: bool = False,
        runs_dir: str | Path = "runs", show_progress: bool = True) -> Output:
    """Run a TOML pipeline of these stages, skipping steps whose outputs are up to date."""
    from minekit.pipeline import format_metrics, format_plan, load_pipeline, run_pipeline

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


# The Python API: `import minekit as mk; mk.mine_bm25(...)`.
API = ["validate", "info", "import_beir", "import_pairs", "import_hf", "import_flagembedding", "import_tevatron",
       "mine_bm25", "mine_passage_bm25", "mine_dense", "embed_corpus", "merge", "mine_cluster", "mine_random", "filter",
       "denoise",
       "train_reranker", "build", "export", "report", "train", "evaluate", "compare", "run", "Output"]
