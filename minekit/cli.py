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
    bound = inspect.signature(fn).bind_partial(**kwargs)
    bound.apply_defaults()
    skip = {"show_progress"}
    return {k: v for k, v in bound.arguments.items()
            if k not in skip and inspect.signature(fn).parameters[k].kind == inspect.Parameter.KEYWORD_ONLY}


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


def main() -> None:
    app()
