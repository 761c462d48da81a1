"""The minekit command line: each command reads its inputs, calls one library function, writes one output.

Flags are the library functions' keyword arguments (--range-max is range_max). Heavy libraries are
imported inside the commands, so `minekit --help` stays instant.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Callable, Optional

import typer

from minekit import __version__
from minekit.errors import ConfigError, MinekitError

logger = logging.getLogger("minekit")

app = typer.Typer(
    help="Offline hard-negative mining and training-data building for retrieval models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
mine_app = typer.Typer(help="Mine candidate negatives for every query that has a positive.", no_args_is_help=True)
import_app = typer.Typer(help="Turn common data layouts into minekit's queries, positives and corpus files.",
                         no_args_is_help=True)
app.add_typer(mine_app, name="mine")
app.add_typer(import_app, name="import")


class _State:
    debug = False
    quiet = False


STATE = _State()

# Options shared by many commands.
QueriesOpt = Annotated[Path, typer.Option("--queries", help="Queries parquet: query_id, text.")]
PositivesOpt = Annotated[Path, typer.Option("--positives", help="Positives parquet: query_id, doc_id[, score].")]
CorpusOpt = Annotated[Path, typer.Option("--corpus", help="Corpus parquet: doc_id, text[, title].")]
OutOpt = Annotated[Path, typer.Option("--out", help="Output parquet file (written atomically).")]
CandidatesOpt = Annotated[Path, typer.Option("--candidates", help="Candidates parquet from mine, filter or denoise.")]


@app.callback()
def _main(
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors on stderr; no progress bars.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging on stderr.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for unexpected errors.")] = False,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        typer.echo(__version__)
        raise typer.Exit()
    STATE.debug, STATE.quiet = debug, quiet
    from minekit.embed import return_freed_memory

    return_freed_memory()  # encoders' large, changing buffers: bounded peak RSS (glibc; no-op elsewhere)
    level = logging.ERROR if quiet else logging.DEBUG if verbose else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    # Libraries set their own levels at import (bm25s: DEBUG); only their warnings reach the user.
    handler.addFilter(lambda r: r.name.startswith("minekit") or r.levelno >= max(level, logging.WARNING))
    logging.basicConfig(level=level, handlers=[handler], force=True)


def command(group: typer.Typer, name: str | None = None) -> Callable:
    """Register a command whose MinekitErrors become one clear line on stderr and an exit code."""

    def decorate(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except MinekitError as exc:
                typer.echo(f"Error: {exc}", err=True)
                raise typer.Exit(exc.exit_code) from None
            except (typer.Exit, typer.Abort, KeyboardInterrupt):
                raise
            except Exception as exc:
                if STATE.debug:
                    raise
                typer.echo(f"Error: unexpected {type(exc).__name__}: {exc} (run with --debug for the traceback)",
                           err=True)
                raise typer.Exit(1) from None

        return group.command(name)(wrapper)

    return decorate


def show_progress() -> bool:
    return not STATE.quiet


def report(title: str, stats: dict) -> None:
    """Counts to stderr as a small table (stdout carries only results)."""
    from minekit.stats import format_stats

    if not STATE.quiet:
        typer.echo(format_stats(title, stats), err=True)


def params_of(fn: Callable, **kwargs) -> dict:
    """The fully resolved params of a library call (defaults included), as the manifest records them."""
    signature = inspect.signature(fn)
    bound = signature.bind_partial(**kwargs)
    bound.apply_defaults()
    skip = {"show_progress", "cache_dir"}  # where results are cached does not change them
    return {k: v for k, v in bound.arguments.items()
            if k not in skip and signature.parameters[k].kind == inspect.Parameter.KEYWORD_ONLY}


def write_stage(result, out: Path, stage: str, params: dict, inputs: dict[str, object],
                upstream_from: list[Path] = ()) -> None:
    """Write a stage's frame with its manifest, report its counts, print the output path."""
    from minekit.io import write_parquet
    from minekit.manifest import describe_inputs, make_manifest, upstream_steps

    manifest = make_manifest(stage, params, describe_inputs(inputs), result.stats, upstream_steps(list(upstream_from)))
    write_parquet(result.frame, out, manifest)
    report(stage, result.stats)
    typer.echo(str(out))


def _none_word(value: str | None) -> str | None:
    """'none' on the command line means no stemmer / no stopwords."""
    return None if value is None or value.lower() in ("none", "") else value


# -- validate / info -----------------------------------------------------------------------------

@command(app)
def validate(queries: QueriesOpt, positives: PositivesOpt, corpus: CorpusOpt) -> None:
    """Check the three input files against minekit's data contract, and nothing else.

    Example: minekit validate --queries q.parquet --positives p.parquet --corpus c.parquet
    """
    from minekit.io import read_inputs

    inputs = read_inputs(queries, positives, corpus)
    typer.echo(
        f"ok: {inputs.queries.height} queries, {inputs.corpus.height} documents, "
        f"{inputs.positives.height} positives for {inputs.positives['query_id'].n_unique()} queries"
    )


@command(app)
def info(path: Annotated[Path, typer.Argument(help="A parquet file minekit wrote, or a dataset folder.")]) -> None:
    """Print the manifest (how it was made) that travels inside a minekit file or dataset folder.

    Example: minekit info datasets/demo/v1
    """
    from minekit.io import read_manifest

    manifest = read_manifest(path)
    if manifest is None:
        raise ConfigError(f"{path}: carries no minekit manifest (was it written by minekit?).")
    typer.echo(json.dumps(manifest, indent=2, sort_keys=True))


# -- import ----------------------------------------------------------------------------------------

@command(import_app, "beir")
def import_beir_cmd(
    folder: Annotated[Path, typer.Argument(help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for queries/positives/corpus.parquet.")],
    split: Annotated[str, typer.Option("--split", help="Which qrels/<split>.tsv gives the positives.")] = "test",
) -> None:
    """Import a BEIR data set folder; only the split's queries are kept.

    Example: minekit import beir scifact/ --split train --out data/scifact
    """
    from minekit.importers import import_beir, write_inputs

    result = import_beir(folder, split=split)
    write_inputs(result, out, stage="import.beir", params={"split": split}, source=folder)
    report("import beir", result.stats)
    typer.echo(str(out))


@command(import_app, "pairs")
def import_pairs_cmd(
    file: Annotated[Path, typer.Argument(help="(anchor, positive) pairs as parquet or JSONL.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for queries/positives/corpus.parquet.")],
    anchor_column: Annotated[str, typer.Option(help="Column holding the query text.")] = "anchor",
    positive_column: Annotated[str, typer.Option(help="Column holding the positive passage text.")] = "positive",
) -> None:
    """Import (anchor, positive) text pairs; ids are content hashes, repeated texts are merged.

    Example: minekit import pairs pairs.jsonl --out data/pairs
    """
    from minekit.importers import import_pairs, write_inputs

    result = import_pairs(file, anchor_column=anchor_column, positive_column=positive_column)
    params = {"anchor_column": anchor_column, "positive_column": positive_column}
    write_inputs(result, out, stage="import.pairs", params=params, source=file)
    report("import pairs", result.stats)
    typer.echo(str(out))


# -- mine ------------------------------------------------------------------------------------------

TopKOpt = Annotated[int, typer.Option("--top-k", help="Candidates kept per query (after removing its positives).")]
K1Opt = Annotated[float, typer.Option(help="BM25 term-frequency saturation.")]
BOpt = Annotated[float, typer.Option(help="BM25 length normalisation.")]
MethodOpt = Annotated[str, typer.Option(help="BM25 variant: lucene, robertson or atire.")]
StemmerOpt = Annotated[str, typer.Option(help="Snowball stemmer language (PyStemmer), or 'none'.")]
StopwordsOpt = Annotated[str, typer.Option(help="Stopword list known to bm25s (en, fr, de, ...), or 'none'.")]


def _mine_bm25(fn: Callable, stage: str, queries, positives, corpus, out, **kwargs) -> None:
    from minekit.io import read_inputs

    inputs = read_inputs(queries, positives, corpus)
    kwargs["stemmer"] = _none_word(kwargs["stemmer"])
    kwargs["stopwords"] = _none_word(kwargs["stopwords"])
    result = fn(inputs.queries, inputs.positives, inputs.corpus, show_progress=show_progress(), **kwargs)
    write_stage(result, out, stage, params_of(fn, **kwargs), inputs.paths)


@command(mine_app, "bm25")
def mine_bm25_cmd(queries: QueriesOpt, positives: PositivesOpt, corpus: CorpusOpt, out: OutOpt,
                  top_k: TopKOpt = 100, k1: K1Opt = 1.5, b: BOpt = 0.75, method: MethodOpt = "lucene",
                  stemmer: StemmerOpt = "english", stopwords: StopwordsOpt = "en") -> None:
    """BM25 (bm25s) over the corpus with the query as query; a query's positives never appear.

    Ranks run 1..n per query, ties broken by doc_id; documents with a zero score are not candidates.
    positive_score is the lowest BM25 score among the query's positives.
    Example: minekit mine bm25 --queries q.parquet --positives p.parquet --corpus c.parquet --out bm25.parquet
    """
    from minekit.mine.bm25 import mine_bm25

    _mine_bm25(mine_bm25, "mine.bm25", queries, positives, corpus, out, top_k=top_k, k1=k1, b=b,
               method=method, stemmer=stemmer, stopwords=stopwords)


@command(mine_app, "passage-bm25")
def mine_passage_bm25_cmd(queries: QueriesOpt, positives: PositivesOpt, corpus: CorpusOpt, out: OutOpt,
                          top_k: TopKOpt = 100, k1: K1Opt = 1.5, b: BOpt = 0.75, method: MethodOpt = "lucene",
                          stemmer: StemmerOpt = "english", stopwords: StopwordsOpt = "en") -> None:
    """BM25 with each positive passage as the query (PassageBM25): passages like the answer, not the question.

    Merge rule: a query with several positives gets one ranked list, each document scored by its best
    BM25 score against any of them. positive_score is the lowest score of a positive against itself,
    so margins mean "how close to a copy of a positive".
    Example: minekit mine passage-bm25 --queries q.parquet --positives p.parquet --corpus c.parquet --out pbm25.parquet
    """
    from minekit.mine.bm25 import mine_passage_bm25

    _mine_bm25(mine_passage_bm25, "mine.passage-bm25", queries, positives, corpus, out, top_k=top_k, k1=k1,
               b=b, method=method, stemmer=stemmer, stopwords=stopwords)


# -- filter ----------------------------------------------------------------------------------------

@command(app)
def filter(
    candidates: CandidatesOpt,
    out: OutOpt,
    positives: Annotated[Optional[Path], typer.Option(
        "--positives", help="Also drop candidates that are positives in this file (is_positive).")] = None,
    range_min: Annotated[int, typer.Option(help="Skip the top ranks: keep rank > range_min.")] = 0,
    range_max: Annotated[Optional[int], typer.Option(help="Keep rank <= range_max.")] = None,
    min_score: Annotated[Optional[float], typer.Option(help="Keep score >= min_score.")] = None,
    max_score: Annotated[Optional[float], typer.Option(help="Keep score <= max_score.")] = None,
    absolute_margin: Annotated[Optional[float], typer.Option(
        help="Keep score <= positive_score - absolute_margin.")] = None,
    relative_margin: Annotated[Optional[float], typer.Option(
        help="Keep score <= positive_score * (1 - relative_margin) (NV-Retriever's positive-aware 0.05).")] = None,
    keep_dropped: Annotated[bool, typer.Option(help="Keep dropped rows, marked in a drop_reason column.")] = False,
) -> None:
    """Drop likely false negatives by rank window, score and margin thresholds; counts each rule's drops.

    Example: minekit filter --candidates bm25.parquet --out filtered.parquet --range-min 2 --relative-margin 0.05
    """
    from minekit.filter import filter_candidates
    from minekit.io import read_candidates, read_parquet
    from minekit.schema import positive_pairs

    cands = read_candidates(candidates)
    pos = None if positives is None else positive_pairs(read_parquet(positives, what="positives"), positives)
    kwargs = dict(range_min=range_min, range_max=range_max, min_score=min_score, max_score=max_score,
                  absolute_margin=absolute_margin, relative_margin=relative_margin, keep_dropped=keep_dropped)
    result = filter_candidates(cands, pos, **kwargs)
    write_stage(result, out, "filter", params_of(filter_candidates, **kwargs),
                {"candidates": candidates, "positives": positives}, [candidates])


# -- build -----------------------------------------------------------------------------------------

@command(app)
def build(
    candidates: Annotated[list[Path], typer.Option(
        "--candidates", help="Candidates parquet; repeat to merge several miners.")],
    queries: QueriesOpt,
    positives: PositivesOpt,
    corpus: CorpusOpt,
    name: Annotated[str, typer.Option(help="Dataset name: the folder under --out-dir.")],
    out_dir: Annotated[Path, typer.Option(help="Where dataset folders live.")] = Path("datasets"),
    num_negatives: Annotated[int, typer.Option(help="Negatives per (query, positive).")] = 1,
    format: Annotated[str, typer.Option(help="triplet (one row per negative), n-tuple or labeled-pair.")] = "triplet",
    sampling_strategy: Annotated[str, typer.Option(help="top: best-ranked negatives; random: seeded sample.")] = "top",
    fill: Annotated[str, typer.Option(
        help="none: drop rows with too few negatives (counted as positives_lost); random: pad with random documents.")]
    = "none",
    seed: Annotated[int, typer.Option(help="Seed for random sampling and filling.")] = 0,
) -> None:
    """Write a versioned dataset datasets/NAME/vN (train.parquet, ids.parquet, manifest.json, README.md).

    The same inputs and params reuse the existing version (its path is printed); anything else makes vN+1.
    Example: minekit build --candidates bm25.parquet --queries q.parquet --positives p.parquet --corpus c.parquet --name demo
    """
    from minekit.build import build_dataset, find_version, write_dataset
    from minekit.io import read_candidates, read_inputs
    from minekit.manifest import describe_inputs, fingerprint, make_manifest, upstream_steps
    from minekit.schema import check_candidates_ids

    inputs = read_inputs(queries, positives, corpus)
    frames = [check_candidates_ids(read_candidates(p), p, inputs.corpus) for p in candidates]
    kwargs = dict(num_negatives=num_negatives, format=format, sampling_strategy=sampling_strategy, fill=fill,
                  seed=seed)
    params = params_of(build_dataset, **kwargs)
    described = describe_inputs({**inputs.paths, "candidates": list(candidates)})
    existing = find_version(out_dir, name, fingerprint("build", params, described))
    if existing is not None:
        if not STATE.quiet:
            typer.echo(f"up to date: same inputs and params as {existing}", err=True)
        typer.echo(str(existing))
        return
    result = build_dataset(frames, inputs.queries, inputs.positives, inputs.corpus, **kwargs)
    manifest = make_manifest("build", params, described, result.stats, upstream_steps(list(candidates)))
    path = write_dataset(result, out_dir=out_dir, name=name, manifest=manifest)
    report("build", result.stats)
    typer.echo(str(path))


# -- denoise / train-reranker (issue #5) -----------------------------------------------------------

@command(app, "denoise")
def denoise_cmd(
    candidates: CandidatesOpt,
    queries: QueriesOpt,
    positives: PositivesOpt,
    corpus: CorpusOpt,
    out: OutOpt,
    scorer: Annotated[str, typer.Option(
        help="cross-encoder (needs --cross-encoder) or bi-encoder (a guide model, --model).")] = "cross-encoder",
    cross_encoder: Annotated[Optional[str], typer.Option(
        "--cross-encoder", help="CrossEncoder folder or hub name (e.g. the output of train-reranker).")] = None,
    model: Annotated[Optional[str], typer.Option(
        help="Bi-encoder guide for --scorer bi-encoder: 'default' (when not given) or a folder.")] = None,
    max_score: Annotated[Optional[float], typer.Option(
        help="Drop candidates scored above this. Sigmoid/probability cross-encoders (1 logit, as train-reranker "
             "makes): RocketQA keeps negatives below 0.1. Logit models: pick a logit, e.g. the score the model "
             "gives at the 0.1 probability point, log(0.1/0.9) = -2.2, or look at the scores of known "
             "positives (ce_score with --keep-dropped).")] = None,
    absolute_margin: Annotated[Optional[float], typer.Option(
        help="Drop candidates scored above (lowest positive score - absolute_margin); 0 = GISTEmbed's rule.")]
    = None,
    relative_margin: Annotated[Optional[float], typer.Option(
        help="Drop candidates scored above lowest positive score * (1 - relative_margin) (NV-Retriever: 0.05); "
             "meant for scores >= 0 (probabilities, cosines).")] = None,
    pseudo_positives: Annotated[Optional[Path], typer.Option(
        "--pseudo-positives", help="Also write candidates scored >= --min-positive-score here, as a positives "
                                   "file (query_id, doc_id, score=1, ce_score).")] = None,
    min_positive_score: Annotated[Optional[float], typer.Option(
        help="Score at or above which a candidate is a pseudo-positive (needs --pseudo-positives).")] = None,
    llm_judge: Annotated[Optional[str], typer.Option(
        "--llm-judge", help="OpenAI-compatible base URL (http://host:port/v1) asked about grey-zone candidates.")]
    = None,
    llm_model: Annotated[Optional[str], typer.Option(help="Model name sent to the --llm-judge endpoint.")] = None,
    llm_api_key_env: Annotated[str, typer.Option(
        help="Environment variable holding the endpoint's API key (unset: no key sent).")] = "OPENAI_API_KEY",
    llm_min_score: Annotated[Optional[float], typer.Option(
        help="Grey zone lower end: kept candidates scored >= this are asked to the LLM judge.")] = None,
    llm_max_score: Annotated[Optional[float], typer.Option(
        help="Grey zone upper end (default: up to what the score rules keep).")] = None,
    llm_concurrency: Annotated[int, typer.Option(help="Parallel requests to the LLM judge.")] = 4,
    llm_retries: Annotated[int, typer.Option(help="Retries per request (exponential backoff) on errors/5xx/429.")]
    = 3,
    llm_timeout: Annotated[float, typer.Option(help="Seconds to wait for one LLM answer.")] = 60.0,
    batch_size: Annotated[int, typer.Option(help="Pairs (cross-encoder) or texts (bi-encoder) per batch.")] = 32,
    max_length: Annotated[Optional[int], typer.Option(help="Cross-encoder max tokens per pair (default: model's).")]
    = None,
    max_seq_length: Annotated[Optional[int], typer.Option(
        help="Bi-encoder guide: tokens per text (default: the model's).")] = None,
    query_prompt: QueryPromptOpt = None,
    corpus_prompt: CorpusPromptOpt = None,
    query_prompt_name: QueryPromptNameOpt = None,
    corpus_prompt_name: CorpusPromptNameOpt = None,
    device: Annotated[str, typer.Option(help="torch device: cpu, cuda, cuda:1, mps.")] = "cpu",
    dtype: Annotated[str, typer.Option(
        help="Bi-encoder guide compute dtype: auto (bfloat16 on CPUs with native bf16, float16 on CUDA, else "
             "float32), float32, bfloat16, float16.")] = "auto",
    cache_dir: Annotated[Path, typer.Option(help="Score, embedding and LLM-answer cache folder.")]
    = Path(".minekit-cache"),
    trust_remote_code: Annotated[bool, typer.Option(help="Allow model code from the model folder/hub.")] = False,
    keep_dropped: Annotated[bool, typer.Option(help="Keep dropped rows, marked in a drop_reason column.")] = False,
) -> None:
    """Score candidates and positives with a cross-encoder (or a bi-encoder guide) and drop likely false negatives.

    Example: minekit denoise --candidates bm25.parquet --queries q.parquet --positives p.parquet --corpus c.parquet --out clean.parquet --cross-encoder models/reranker --max-score 0.1
    """
    import os

    from minekit.denoise import denoise_candidates
    from minekit.io import read_candidates, read_inputs, write_parquet
    from minekit.manifest import describe_inputs, make_manifest, upstream_steps
    from minekit.models import model_identity
    from minekit.schema import check_candidates_ids

    if (pseudo_positives is None) != (min_positive_score is None):
        raise ConfigError("--pseudo-positives and --min-positive-score go together: give both or neither.")
    if llm_judge is None and llm_model is not None:
        raise ConfigError("--llm-model: set without --llm-judge URL, where it cannot apply.")
    if llm_judge is not None and not llm_model:
        raise ConfigError("--llm-judge needs --llm-model (the model name the endpoint serves).")
    inputs = read_inputs(queries, positives, corpus)
    cands = check_candidates_ids(read_candidates(candidates), candidates, inputs.corpus)
    judge, judge_params = None, None
    if llm_judge is not None:
        from minekit.llm_judge import LLMJudge

        judge = LLMJudge(llm_judge, llm_model=llm_model, api_key=os.environ.get(llm_api_key_env) or None,
                         concurrency=llm_concurrency, retries=llm_retries, timeout=llm_timeout,
                         cache_dir=cache_dir, show_progress=show_progress())
        judge_params = {"url": llm_judge, "llm_model": llm_model, "llm_concurrency": llm_concurrency,
                        "llm_retries": llm_retries, "llm_timeout": llm_timeout, "llm_api_key_env": llm_api_key_env}
    kwargs = dict(scorer=scorer, cross_encoder=cross_encoder, model=model, max_score=max_score,
                  absolute_margin=absolute_margin, relative_margin=relative_margin,
                  min_positive_score=min_positive_score, llm_min_score=llm_min_score, llm_max_score=llm_max_score,
                  batch_size=batch_size, max_length=max_length, max_seq_length=max_seq_length,
                  query_prompt=query_prompt, corpus_prompt=corpus_prompt, query_prompt_name=query_prompt_name,
                  corpus_prompt_name=corpus_prompt_name, device=device,
                  dtype=_guide_dtype(scorer, dtype, device), cache_dir=str(cache_dir),
                  trust_remote_code=trust_remote_code, keep_dropped=keep_dropped)
    result = denoise_candidates(cands, inputs.queries, inputs.positives, inputs.corpus, llm_judge=judge,
                                show_progress=show_progress(), **kwargs)
    scoring_model = cross_encoder if scorer == "cross-encoder" else model or "default"
    params = {**params_of(denoise_candidates, llm_judge=judge_params, **kwargs),
              "model_identity": model_identity(scoring_model) if scoring_model else None}
    files = {**inputs.paths, "candidates": candidates}
    if pseudo_positives is not None:
        manifest = make_manifest("denoise.pseudo-positives", params, describe_inputs(files), result.stats,
                                 upstream_steps([candidates]))
        write_parquet(result.pseudo_positives, pseudo_positives, manifest)
        if not STATE.quiet:
            typer.echo(f"pseudo-positives: {result.pseudo_positives.height} pairs -> {pseudo_positives}", err=True)
    write_stage(result, out, "denoise", params, files, [candidates])


@command(app, "train-reranker")
def train_reranker_cmd(
    dataset: Annotated[Path, typer.Option("--dataset", help="A built dataset folder datasets/NAME/vN.")],
    out: Annotated[Path, typer.Option("--out", help="New folder for the CrossEncoder (usable as --cross-encoder).")],
    model: Annotated[str, typer.Option(help="Starting weights: 'default' (MiniLM bi-encoder), or a folder.")]
    = "default",
    epochs: Annotated[float, typer.Option(help="Passes over the (query, passage, label) pairs.")] = 1.0,
    max_steps: Annotated[Optional[int], typer.Option(help="Stop after this many steps (overrides epochs).")] = None,
    batch_size: Annotated[int, typer.Option(help="Pairs per training step.")] = 16,
    learning_rate: Annotated[float, typer.Option(help="AdamW learning rate.")] = 2e-5,
    warmup_ratio: Annotated[float, typer.Option(help="Fraction of steps with linear warm-up.")] = 0.1,
    max_length: Annotated[int, typer.Option(help="Max tokens per (query, passage) pair.")] = 128,
    seed: Annotated[int, typer.Option(help="Seed for shuffling, head init and dropout.")] = 0,
    device: Annotated[str, typer.Option(help="torch device: cpu, cuda, mps.")] = "cpu",
    trust_remote_code: Annotated[bool, typer.Option(help="Allow model code from the model folder/hub.")] = False,
) -> None:
    """Fine-tune a one-logit CrossEncoder on a built dataset, to denoise the next round offline.

    Example: minekit train-reranker --dataset datasets/demo/v1 --model default --out models/reranker
    """
    import os
    import shutil
    import tempfile

    from minekit.io import read_parquet, write_json
    from minekit.manifest import describe_inputs, make_manifest, upstream_steps
    from minekit.models import model_identity
    from minekit.train_reranker import train_reranker

    train_file = dataset / "train.parquet"
    if not dataset.is_dir() or not train_file.is_file():
        raise ConfigError(f"--dataset: {dataset} is not a dataset folder with a train.parquet (see `minekit build`).")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"--out: {out} already exists and is not empty; a model is never overwritten.")
    kwargs = dict(model=model, epochs=epochs, max_steps=max_steps, batch_size=batch_size,
                  learning_rate=learning_rate, warmup_ratio=warmup_ratio, max_length=max_length, seed=seed,
                  device=device, trust_remote_code=trust_remote_code)
    result = train_reranker(read_parquet(train_file, what="train"), show_progress=show_progress(), **kwargs)
    params = {**params_of(train_reranker, **kwargs), "model_identity": model_identity(model)}
    manifest = make_manifest("train-reranker", params, describe_inputs({"train": train_file}), result.stats,
                             upstream_steps([train_file]))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        result.model.save(str(tmp))
        write_json(tmp / "manifest.json", manifest)
        if out.is_dir():
            out.rmdir()  # empty (checked above)
        os.rename(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    report("train-reranker", result.stats)
    typer.echo(str(out))


# -- train / evaluate / compare -------------------------------------------------------------------

@command(app, "train")
def train_cmd(
    dataset: Annotated[Path, typer.Option("--dataset", help="Dataset folder datasets/NAME/vN from `minekit build`.")],
    out: Annotated[Path, typer.Option("--out", help="New folder for the trained model (never overwritten).")],
    model: Annotated[str, typer.Option(help="Base model: 'default', a local folder or a hub name.")] = "default",
    loss: Annotated[str, typer.Option(help="mnrl, cached-mnrl, gist, triplet or margin-mse.")] = "mnrl",
    epochs: Annotated[float, typer.Option(help="Passes over train.parquet.")] = 1,
    batch_size: Annotated[int, typer.Option(help="Rows per batch (in-batch negatives for the mnrl losses).")] = 32,
    learning_rate: Annotated[float, typer.Option(help="Peak learning rate (AdamW, linear decay).")] = 2e-5,
    warmup_ratio: Annotated[float, typer.Option(help="Share of the steps spent warming up.")] = 0.1,
    max_seq_length: Annotated[int, typer.Option(help="Tokens per text; longer texts are truncated.")] = 256,
    max_steps: Annotated[Optional[int], typer.Option(help="Stop after this many steps (quick runs).")] = None,
    mini_batch_size: Annotated[Optional[int], typer.Option(
        help="cached-mnrl only: rows per forward pass (default 32).")] = None,
    guide: Annotated[Optional[str], typer.Option(help="gist only: the guide model, e.g. 'default'.")] = None,
    query_prompt: QueryPromptOpt = None,
    corpus_prompt: CorpusPromptOpt = None,
    query_prompt_name: QueryPromptNameOpt = None,
    corpus_prompt_name: CorpusPromptNameOpt = None,
    pairs_only: Annotated[bool, typer.Option(
        help="Train on (anchor, positive) alone, ignoring the dataset's negatives (the in-batch baseline).")] = False,
    seed: Annotated[int, typer.Option(help="Seed for weight init of new layers, shuffling and dropout.")] = 0,
    device: Annotated[str, typer.Option(help="torch device: cpu, cuda, mps.")] = "cpu",
    trust_remote_code: Annotated[bool, typer.Option(help="Allow model code from the model folder or hub.")] = False,
) -> None:
    """Fine-tune a bi-encoder on a built dataset with sentence-transformers; writes the model, manifest.json and a card.

    Example: minekit train --dataset datasets/demo/v1 --out models/demo --max-steps 100
    """
    import time

    from minekit import __version__ as version
    from minekit.models import model_identity
    from minekit.train import read_dataset, train_bi_encoder, write_model

    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"out: {out} already exists; choose a new folder (models are never overwritten).")
    data = read_dataset(dataset)
    train_frame = data.train.select("anchor", "positive") if pairs_only else data.train
    kwargs = dict(model=model, loss=loss, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                  warmup_ratio=warmup_ratio, max_seq_length=max_seq_length, max_steps=max_steps,
                  mini_batch_size=mini_batch_size, guide=guide, query_prompt=query_prompt,
                  corpus_prompt=corpus_prompt, query_prompt_name=query_prompt_name,
                  corpus_prompt_name=corpus_prompt_name, seed=seed, device=device,
                  trust_remote_code=trust_remote_code)
    started = time.perf_counter()
    result = train_bi_encoder(train_frame, data.ids, show_progress=show_progress(), **kwargs)
    params = {**params_of(train_bi_encoder, **kwargs), "pairs_only": pairs_only,
              "base_model_identity": model_identity(model)}
    manifest = {
        "name": out.name,
        "stage": "train",
        "minekit_version": version,
        "dataset": {"path": str(dataset), "name": data.manifest.get("name"), "version": data.manifest.get("version"),
                    "fingerprint": data.manifest.get("fingerprint")},
        "params": params,
        "stats": result.stats,
        "wall_s": round(time.perf_counter() - started, 2),
    }
    write_model(result, out, manifest=manifest)
    report("train", result.stats)
    typer.echo(str(out))


@command(app, "evaluate")
def evaluate_cmd(
    model: Annotated[str, typer.Option(help="'bm25' (lexical reference), 'default', a model folder or a hub name.")],
    queries: QueriesOpt,
    positives: PositivesOpt,
    corpus: CorpusOpt,
    out: Annotated[Optional[Path], typer.Option("--out", help="Write the metrics as flat JSON here.")] = None,
    k: Annotated[str, typer.Option("--k", help="Cut-offs, comma-separated: nDCG, MRR and recall at each.")] = "10,100",
    batch_size: Annotated[int, typer.Option(help="Texts per encoding batch.")] = 64,
    max_seq_length: Annotated[Optional[int], typer.Option(help="Tokens per text (default: the model's).")] = None,
    query_prompt: QueryPromptOpt = None,
    corpus_prompt: CorpusPromptOpt = None,
    query_prompt_name: QueryPromptNameOpt = None,
    corpus_prompt_name: CorpusPromptNameOpt = None,
    cache_dir: Annotated[Optional[str], typer.Option(
        help="Embedding cache folder, shared with mine dense (dense models: .minekit-cache unless given; "
             "'none' to disable).")] = None,
    device: Annotated[str, typer.Option(help="torch device: cpu, cuda, cuda:1, mps.")] = "cpu",
    dtype: DtypeOpt = "auto",
    trust_remote_code: Annotated[bool, typer.Option(help="Allow model code from the model folder or hub.")] = False,
) -> None:
    """Exact retrieval over the corpus, scored with nDCG, MRR and recall (graded gains when positives carry scores).

    Example: minekit evaluate --model models/demo --queries q.parquet --positives test.parquet --corpus c.parquet --out metrics.json
    """
    from minekit.evaluate import evaluate_retrieval, format_metrics
    from minekit.io import read_inputs, write_json

    inputs = read_inputs(queries, positives, corpus)
    result = evaluate_retrieval(inputs.queries, inputs.positives, inputs.corpus, model=model, k=k,
                                batch_size=batch_size, max_seq_length=max_seq_length, query_prompt=query_prompt,
                                corpus_prompt=corpus_prompt, query_prompt_name=query_prompt_name,
                                corpus_prompt_name=corpus_prompt_name, cache_dir=_evaluate_cache(model, cache_dir),
                                device=device, dtype=dtype, trust_remote_code=trust_remote_code,
                                show_progress=show_progress())
    metrics = {**result.metrics, "positives": str(positives)}
    if out is not None:
        write_json(out, metrics)
    typer.echo(format_metrics(metrics))
    if out is not None:
        typer.echo(str(out))


def _evaluate_cache(model: str, cache_dir: str | None) -> str | None:
    """Dense models reuse the embedding cache mine dense fills; BM25 has no embeddings to cache."""
    if cache_dir is None:
        return None if model == "bm25" else ".minekit-cache"
    return _none_word(cache_dir)


@command(app, "compare")
def compare_cmd(
    files: Annotated[list[Path], typer.Argument(help="metrics.json files from `minekit evaluate`; the first is the base.")],
) -> None:
    """Print several evaluations side by side, with each one's delta to the first.

    Example: minekit compare base.json bm25neg.json densenegs.json
    """
    from minekit.errors import InputError
    from minekit.evaluate import compare_metrics

    runs = []
    for path in files:
        try:
            runs.append(json.loads(Path(path).read_text()))
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: cannot be read as metrics JSON ({exc}).") from None
    typer.echo(compare_metrics(runs, [Path(p).stem for p in files]))


# -- run (pipelines, issue #7) ---------------------------------------------------------------------

@command(app, "run")
def run_cmd(
    pipeline: Annotated[Path, typer.Argument(help="Pipeline TOML file (see pipelines/).")],
    force: Annotated[bool, typer.Option("--force", help="Run every step, even those up to date.")] = False,
    from_step: Annotated[Optional[str], typer.Option(
        "--from", help="Run this step and every step after it, even if up to date.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print what would run and why; run nothing.")] = False,
    runs_dir: Annotated[Path, typer.Option(help="Folder holding run directories (runs/<pipeline-name>/).")]
    = Path("runs"),
) -> None:
    """Run a TOML pipeline of minekit commands, skipping steps whose outputs are up to date.

    Example: minekit run pipelines/sample.toml
    """
    from minekit.pipeline import format_metrics, format_plan, load_pipeline, run_pipeline

    if force and from_step is not None:
        raise ConfigError("--force reruns every step, --from STEP the steps from STEP on: give one of them.")
    pipe = load_pipeline(pipeline, typer.main.get_command(app))
    result = run_pipeline(pipe, runs_dir=runs_dir, force=force, from_step=from_step, dry_run=dry_run)
    typer.echo(format_plan(result.planned, result.records, dry_run=dry_run))
    if result.metrics:
        typer.echo("\n" + format_metrics(result.metrics))
    if not dry_run:
        typer.echo(f"\nrun directory: {result.run_dir} (run.json, run.log)")


def _guide_dtype(scorer: str, dtype: str, device: str) -> str:
    """The bi-encoder guide's dtype as used (the manifest records it); 'auto' stays for the cross-encoder."""
    from minekit.embed import resolve_dtype

    return resolve_dtype(dtype, device) if scorer == "bi-encoder" else dtype


# -- mine dense / cluster / random (issue #4) ------------------------------------------------------

ModelOpt = Annotated[str, typer.Option(
    help="Bi-encoder: 'default' (packaged all-MiniLM-L6-v2), a local folder, or a hub name.")]
BatchSizeOpt = Annotated[int, typer.Option(help="Texts per encoding batch.")]
DeviceOpt = Annotated[str, typer.Option(
    help="torch device for encoding: cpu, cuda, cuda:1, mps; several GPUs (cuda:0,cuda:1) encode disjoint shares.")]
CacheDirOpt = Annotated[str, typer.Option(
    help="Embedding cache folder (a text is encoded once per model, prompt, dtype and precision); 'none' = no cache.")]
QueryPromptOpt = Annotated[Optional[str], typer.Option(
    help="Text prepended to each query before encoding (e5: 'query: '; bge: its instruction).")]
CorpusPromptOpt = Annotated[Optional[str], typer.Option(
    help="Text prepended to each passage before encoding (e5: 'passage: ').")]
QueryPromptNameOpt = Annotated[Optional[str], typer.Option(
    help="Name of one of the model's saved prompts to use for queries (e.g. query); default: the model's own.")]
CorpusPromptNameOpt = Annotated[Optional[str], typer.Option(
    help="Name of one of the model's saved prompts to use for passages (e.g. document).")]
DtypeOpt = Annotated[str, typer.Option(
    help="Compute dtype: auto = bfloat16 on CPUs with AMX/AVX512-BF16 (faster, same top-10 within 1-2%), "
         "float16 on CUDA, else float32; or float32, bfloat16, float16.")]
MaxSeqLengthOpt = Annotated[Optional[int], typer.Option(
    help="Tokens per text when encoding; longer texts are truncated (default: the model's).")]
PrecisionOpt = Annotated[str, typer.Option(
    help="Stored embeddings: float32, float16 (half the disk) or int8 (a quarter; per-row scale).")]
BackendOpt = Annotated[str, typer.Option(help="Encoder backend: torch.")]
TrustOpt = Annotated[bool, typer.Option(help="Allow model code from the model folder or hub.")]


def _encoder_kwargs(model, batch_size, device, cache_dir, query_prompt, corpus_prompt, precision, backend,
                    trust_remote_code, *, dtype="auto", max_seq_length=None, query_prompt_name=None,
                    corpus_prompt_name=None) -> dict:
    from minekit.embed import resolve_dtype

    # The dtype 'auto' stands for here goes into the manifest: what was used, not what was asked.
    return dict(model=model, batch_size=batch_size, device=device, dtype=resolve_dtype(dtype, device),
                max_seq_length=max_seq_length, cache_dir=_none_word(cache_dir), query_prompt=query_prompt,
                corpus_prompt=corpus_prompt, query_prompt_name=query_prompt_name,
                corpus_prompt_name=corpus_prompt_name, precision=precision, backend=backend,
                trust_remote_code=trust_remote_code)


@command(mine_app, "dense")
def mine_dense_cmd(
    queries: QueriesOpt, positives: PositivesOpt, corpus: CorpusOpt, out: OutOpt,
    model: ModelOpt = "default",
    top_k: TopKOpt = 100,
    index: Annotated[str, typer.Option(
        help="flat: exact (blocked matrix product). ivf: faiss IVF (--nlist, --nprobe); hnsw: faiss HNSW "
             "(--hnsw-m, --ef-search). Both trade recall for speed on large corpora, and how much depends on "
             "the data: recall@10 against flat on synthetic 384-d sets (4k-50k vectors) was 0.84-1.0 for ivf "
             "and 0.5-0.99 for hnsw, lowest on near-uniform vectors; check on a sample against flat and raise "
             "--nprobe / --ef-search for more.")] = "flat",
    nlist: Annotated[Optional[int], typer.Option(
        help="ivf: number of lists (default 4*sqrt(corpus size), at most corpus/39).")] = None,
    nprobe: Annotated[Optional[int], typer.Option(
        help="ivf: lists searched per query (default max(16, nlist/8)); more = better recall, slower.")] = None,
    hnsw_m: Annotated[Optional[int], typer.Option(help="hnsw: links per node (default 32).")] = None,
    ef_search: Annotated[Optional[int], typer.Option(
        help="hnsw: search breadth (default max(256, 2*top-k)); more = better recall, slower.")] = None,
    query_from: Annotated[str, typer.Option(
        help="query: the query text is the query. positive: each positive passage is the query "
             "(source passage-dense; scores max-merged over a query's positives).")] = "query",
    query_prompt: QueryPromptOpt = None, corpus_prompt: CorpusPromptOpt = None,
    query_prompt_name: QueryPromptNameOpt = None, corpus_prompt_name: CorpusPromptNameOpt = None,
    batch_size: BatchSizeOpt = 64, device: DeviceOpt = "cpu", dtype: DtypeOpt = "auto",
    max_seq_length: MaxSeqLengthOpt = None, cache_dir: CacheDirOpt = ".minekit-cache",
    precision: PrecisionOpt = "float32", backend: BackendOpt = "torch", trust_remote_code: TrustOpt = False,
) -> None:
    """Dense candidates: cosine of bi-encoder embeddings (sentence-transformers), searched exactly or with faiss.

    score = cosine(query, document); positive_score = the lowest cosine of the query to its positives.
    Example: minekit mine dense --queries q.parquet --positives p.parquet --corpus c.parquet --out dense.parquet
    """
    from minekit.io import read_inputs
    from minekit.mine.dense import mine_dense

    inputs = read_inputs(queries, positives, corpus)
    kwargs = dict(top_k=top_k, index=index, nlist=nlist, nprobe=nprobe, hnsw_m=hnsw_m, ef_search=ef_search,
                  query_from=query_from, **_encoder_kwargs(model, batch_size, device, cache_dir, query_prompt,
                                                           corpus_prompt, precision, backend, trust_remote_code,
                                                           dtype=dtype, max_seq_length=max_seq_length,
                                                           query_prompt_name=query_prompt_name,
                                                           corpus_prompt_name=corpus_prompt_name))
    result = mine_dense(inputs.queries, inputs.positives, inputs.corpus, show_progress=show_progress(), **kwargs)
    write_stage(result, out, "mine.dense", params_of(mine_dense, **kwargs), inputs.paths)


@command(mine_app, "cluster")
def mine_cluster_cmd(
    queries: QueriesOpt, positives: PositivesOpt, corpus: CorpusOpt, out: OutOpt,
    model: ModelOpt = "default",
    top_k: TopKOpt = 100,
    n_clusters: Annotated[Optional[int], typer.Option(
        help="k-means clusters (default sqrt(corpus size), at most corpus/39).")] = None,
    clusters_per_query: Annotated[int, typer.Option(
        help="Clusters nearest to the query's positives that share its candidates.")] = 4,
    centroids: Annotated[Optional[Path], typer.Option(
        help="Centroids .npy from an earlier run (OUT.centroids.npy): reuse them instead of k-means.")] = None,
    niter: Annotated[int, typer.Option(help="k-means iterations.")] = 20,
    seed: Annotated[int, typer.Option(help="k-means seed.")] = 0,
    query_prompt: QueryPromptOpt = None, corpus_prompt: CorpusPromptOpt = None,
    query_prompt_name: QueryPromptNameOpt = None, corpus_prompt_name: CorpusPromptNameOpt = None,
    batch_size: BatchSizeOpt = 64, device: DeviceOpt = "cpu", dtype: DtypeOpt = "auto",
    max_seq_length: MaxSeqLengthOpt = None, cache_dir: CacheDirOpt = ".minekit-cache",
    precision: PrecisionOpt = "float32", backend: BackendOpt = "torch", trust_remote_code: TrustOpt = False,
) -> None:
    """K-means over corpus embeddings; negatives spread over the clusters nearest each query's positives.

    Writes the centroids beside the output (OUT.centroids.npy); pass them back with --centroids to rerun exactly.
    Example: minekit mine cluster --queries q.parquet --positives p.parquet --corpus c.parquet --out cluster.parquet
    """
    import numpy as np

    from minekit.io import atomic_path, read_inputs
    from minekit.mine.cluster import mine_cluster

    inputs = read_inputs(queries, positives, corpus)
    given = None
    if centroids is not None:
        if not centroids.is_file():
            raise ConfigError(f"centroids: {centroids} not found.")
        try:
            given = np.load(centroids, allow_pickle=False)
        except ValueError as exc:
            raise ConfigError(f"centroids: {centroids} is not a numpy .npy array ({exc}).") from exc
    kwargs = dict(top_k=top_k, n_clusters=n_clusters, clusters_per_query=clusters_per_query, niter=niter, seed=seed,
                  **_encoder_kwargs(model, batch_size, device, cache_dir, query_prompt, corpus_prompt, precision,
                                    backend, trust_remote_code, dtype=dtype, max_seq_length=max_seq_length,
                                    query_prompt_name=query_prompt_name, corpus_prompt_name=corpus_prompt_name))
    result = mine_cluster(inputs.queries, inputs.positives, inputs.corpus, centroids=given,
                          show_progress=show_progress(), **kwargs)
    saved = out.with_name(out.name + ".centroids.npy")
    with atomic_path(saved, ".npy") as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, result.centroids, allow_pickle=False)
    params = {**params_of(mine_cluster, **kwargs), "centroids": None if centroids is None else str(centroids)}
    write_stage(result, out, "mine.cluster", params, {**inputs.paths, "centroids": centroids})


@command(mine_app, "random")
def mine_random_cmd(
    queries: QueriesOpt, positives: PositivesOpt, corpus: CorpusOpt, out: OutOpt,
    top_k: TopKOpt = 100,
    seed: Annotated[int, typer.Option(help="Seed; a query's draw depends only on it and the query id.")] = 0,
) -> None:
    """Uniformly random non-positive documents per query (seeded): the baseline every comparison needs.

    Example: minekit mine random --queries q.parquet --positives p.parquet --corpus c.parquet --out random.parquet --top-k 20
    """
    from minekit.io import read_inputs
    from minekit.mine.random import mine_random

    inputs = read_inputs(queries, positives, corpus)
    result = mine_random(inputs.queries, inputs.positives, inputs.corpus, top_k=top_k, seed=seed,
                         show_progress=show_progress())
    write_stage(result, out, "mine.random", params_of(mine_random, top_k=top_k, seed=seed), inputs.paths)


def main() -> None:
    app()
