"""The minekit command line: each command reads its inputs, calls one library function, writes one output.

Flags are the library functions' keyword arguments (--range-max is range_max). Heavy libraries are
imported inside the commands, so `minekit --help` stays instant.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Callable, Optional

import typer

from minekit import __version__
from minekit.errors import ConfigError, MinekitError
from minekit.options import between, one_of, seed_range

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


def _print_version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def _main(
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors on stderr; no progress bars.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging on stderr.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for unexpected errors.")] = False,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.", is_eager=True,
                                          callback=lambda value: _print_version(value))] = False,
) -> None:
    STATE.debug, STATE.quiet = debug, quiet
    from minekit.embed import return_freed_memory

    return_freed_memory()  # encoders' large, changing buffers: bounded peak RSS (glibc; no-op elsewhere)
    level = logging.ERROR if quiet else logging.DEBUG if verbose else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    # Libraries set their own levels at import (bm25s: DEBUG); only their warnings reach the user.
    handler.addFilter(lambda r: r.name.startswith("minekit") or r.levelno >= max(level, logging.WARNING))
    logging.basicConfig(level=level, handlers=[handler], force=True)


_QUIET_ENV = {"TQDM_DISABLE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1", "TRANSFORMERS_VERBOSITY": "error"}


@contextlib.contextmanager
def _quiet_libraries(quiet: bool):
    """With -q, the libraries' own bars and notes (weight loading, model cards, shards) stay silent too."""
    if not quiet:
        yield
        return
    saved = {k: os.environ.get(k) for k in _QUIET_ENV}
    os.environ.update(_QUIET_ENV)
    hf_logging = sys.modules.get("transformers.utils.logging")
    if hf_logging is not None:  # already imported: it read the environment then
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if "transformers.utils.logging" in sys.modules and saved["HF_HUB_DISABLE_PROGRESS_BARS"] is None:
            sys.modules["transformers.utils.logging"].enable_progress_bar()


def command(group: typer.Typer, name: str | None = None, *, out_files: tuple[str, ...] = (),
            out_folders: tuple[str, ...] = ()) -> Callable:
    """Register a command whose MinekitErrors become one clear line on stderr and an exit code.

    The params named in out_files / out_folders are outputs: checked writable before any work.
    """

    def decorate(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            from minekit import guards

            try:
                for param in (*out_files, *out_folders):
                    check = guards.check_output_file if param in out_files else guards.check_output_folder
                    check(kwargs.get(param), guards.flag_names(fn)[param])
                with _quiet_libraries(STATE.quiet):
                    return fn(*args, **kwargs)
            except MinekitError as exc:
                message = str(exc)
                if isinstance(exc, ConfigError):  # name the flags the user typed, not the library's params
                    message = guards.as_flags(message, guards.flag_names(fn))
                typer.echo(f"Error: {message}", err=True)
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

    require_rows(result, stage)
    manifest = make_manifest(stage, params, describe_inputs(inputs), result.stats, upstream_steps(list(upstream_from)))
    write_parquet(result.frame, out, manifest)
    report(stage, result.stats)
    typer.echo(str(out))


def _none_float(value: str | float | None) -> float | None:
    """'none' on the command line turns a default threshold off."""
    if value is None or isinstance(value, float) or str(value).lower() not in ("none", ""):
        try:
            return None if value is None else float(value)
        except ValueError:
            raise typer.BadParameter(f"{value!r} is not a number or 'none'.") from None
    return None


def require_rows(result, stage: str) -> None:
    """An output with no row is an error that says why (a 0-row file only fails the next step)."""
    from minekit.errors import InputError

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
        raise ConfigError(f"{path}: carries no minekit manifest (was it written by minekit?). Fix: give a parquet "
                          "file minekit wrote (candidates, filter or denoise output) or a dataset folder datasets/NAME/vN.")
    typer.echo(json.dumps(manifest, indent=2, sort_keys=True))


# -- import ----------------------------------------------------------------------------------------

OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Replace files of an earlier import in --out.")]
ImportOutOpt = Annotated[Path, typer.Option("--out", help="Folder for queries/positives/corpus.parquet.")]
ImportCorpusOpt = Annotated[Optional[Path], typer.Option(
    "--corpus", help="A larger corpus (parquet doc_id, text[, title], or JSONL): texts found in it keep its ids, "
                     "and all of it is written.")]


def _write_import(result, out: Path, stage: str, params: dict, source: Path, overwrite: bool) -> None:
    from minekit.importers import write_inputs

    write_inputs(result, out, stage=stage, params=params, source=source, overwrite=overwrite)
    report(stage.replace(".", " "), result.stats)
    typer.echo(str(out))


@command(import_app, "beir")
def import_beir_cmd(
    folder: Annotated[Path, typer.Argument(help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv.")],
    out: ImportOutOpt,
    split: Annotated[str, typer.Option("--split", help="Which qrels/<split>.tsv gives the positives.")] = "test",
    overwrite: OverwriteOpt = False,
) -> None:
    """Import a BEIR data set folder; only the split's queries are kept.

    Example: minekit import beir scifact/ --split train --out data/scifact
    """
    from minekit.importers import import_beir

    result = import_beir(folder, split=split)
    _write_import(result, out, "import.beir", {"split": split}, folder, overwrite)


def _corpus_of(corpus: Path | None):
    from minekit.importers import read_corpus

    return None if corpus is None else read_corpus(corpus)


@command(import_app, "pairs")
def import_pairs_cmd(
    file: Annotated[Path, typer.Argument(help="(anchor, positive[, negative_1..n]) texts: parquet, JSONL or a "
                                              "datasets folder.")],
    out: ImportOutOpt,
    anchor_column: Annotated[str, typer.Option(help="Column holding the query text.")] = "anchor",
    positive_column: Annotated[str, typer.Option(help="Column holding the positive passage text.")] = "positive",
    corpus: ImportCorpusOpt = None,
    overwrite: OverwriteOpt = False,
) -> None:
    """Import (anchor, positive) text pairs; ids are content hashes, repeated texts are merged.

    Columns negative or negative_1..n become negatives.parquet, a candidates file build takes as is.
    Example: minekit import pairs pairs.jsonl --corpus corpus.parquet --out data/pairs
    """
    from minekit.importers import import_pairs

    result = import_pairs(file, anchor_column=anchor_column, positive_column=positive_column,
                          corpus=_corpus_of(corpus), corpus_path=corpus)
    params = {"anchor_column": anchor_column, "positive_column": positive_column,
              "corpus": None if corpus is None else str(corpus)}
    _write_import(result, out, "import.pairs", params, file, overwrite)


@command(import_app, "hf")
def import_hf_cmd(
    folder: Annotated[Path, typer.Argument(help="A datasets folder (save_to_disk) with anchor, positive[, negative...].")],
    out: ImportOutOpt,
    anchor_column: Annotated[str, typer.Option(help="Column holding the query text.")] = "anchor",
    positive_column: Annotated[str, typer.Option(help="Column holding the positive passage text.")] = "positive",
    corpus: ImportCorpusOpt = None,
    overwrite: OverwriteOpt = False,
) -> None:
    """Import a Hugging Face datasets folder of (anchor, positive[, negatives]) texts, as `minekit export --to hf` writes.

    Example: minekit import hf exports/demo-hf --out data/demo
    """
    from minekit.errors import InputError
    from minekit.importers import import_pairs

    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder; `import hf` reads a datasets folder written by save_to_disk.")
    result = import_pairs(folder, anchor_column=anchor_column, positive_column=positive_column,
                          corpus=_corpus_of(corpus), corpus_path=corpus)
    params = {"anchor_column": anchor_column, "positive_column": positive_column,
              "corpus": None if corpus is None else str(corpus)}
    _write_import(result, out, "import.hf", params, folder, overwrite)


@command(import_app, "flagembedding")
def import_flagembedding_cmd(
    file: Annotated[Path, typer.Argument(help="FlagEmbedding JSONL: query, pos, neg[, pos_scores, neg_scores].")],
    out: ImportOutOpt,
    corpus: ImportCorpusOpt = None,
    overwrite: OverwriteOpt = False,
) -> None:
    """Import FlagEmbedding fine-tuning JSONL; content-hash ids, neg lists become negatives.parquet.

    Example: minekit import flagembedding train.jsonl --out data/fe
    """
    from minekit.importers import import_flagembedding

    result = import_flagembedding(file, corpus=_corpus_of(corpus), corpus_path=corpus)
    _write_import(result, out, "import.flagembedding", {"corpus": None if corpus is None else str(corpus)}, file,
                  overwrite)


@command(import_app, "tevatron")
def import_tevatron_cmd(
    file: Annotated[Path, typer.Argument(help="Tevatron JSONL: query_id, query, positive_passages, negative_passages.")],
    out: ImportOutOpt,
    overwrite: OverwriteOpt = False,
) -> None:
    """Import Tevatron training JSONL; its query and passage ids are kept, negatives become negatives.parquet.

    Example: minekit import tevatron train.jsonl --out data/tev
    """
    from minekit.importers import import_tevatron

    result = import_tevatron(file)
    _write_import(result, out, "import.tevatron", {}, file, overwrite)


# -- mine ------------------------------------------------------------------------------------------

TopKOpt = Annotated[int, typer.Option("--top-k", min=1, help="Candidates kept per query (after removing its positives).")]
K1Opt = Annotated[float, typer.Option(callback=between(0), help="BM25 term-frequency saturation (>= 0).")]
BOpt = Annotated[float, typer.Option(callback=between(0, 1), help="BM25 length normalisation (0 to 1).")]
MethodOpt = Annotated[str, typer.Option(callback=one_of("minekit.mine.bm25", "METHODS"),
                                        help="BM25 variant: lucene, robertson or atire.")]
StemmerOpt = Annotated[str, typer.Option(help="Snowball stemmer language (PyStemmer), or 'none'.")]
StopwordsOpt = Annotated[str, typer.Option(help="Stopword list known to bm25s (en, fr, de, ...), or 'none'.")]


def _mine_bm25(fn: Callable, stage: str, queries, positives, corpus, out, **kwargs) -> None:
    from minekit.io import read_inputs

    inputs = read_inputs(queries, positives, corpus)
    kwargs["stemmer"] = _none_word(kwargs["stemmer"])
    kwargs["stopwords"] = _none_word(kwargs["stopwords"])
    result = fn(inputs.queries, inputs.positives, inputs.corpus, show_progress=show_progress(), **kwargs)
    write_stage(result, out, stage, params_of(fn, **kwargs), inputs.paths)


@command(mine_app, "bm25", out_files=("out",))
def mine_bm25_cmd(queries: QueriesOpt, positives: PositivesOpt, corpus: CorpusOpt, out: OutOpt,
                  top_k: TopKOpt = 100, k1: K1Opt = 1.5, b: BOpt = 0.75, method: MethodOpt = "lucene",
                  stemmer: StemmerOpt = "english", stopwords: StopwordsOpt = "en") -> None:
    """BM25 (bm25s) over the corpus with the query as query; a query's positives never appear.

    Ranks run 1..n per query, ties broken by doc_id; documents with a zero score are not candidates.
    score_kind is bm25; positive_scores are each positive's BM25 score under the query (0: no shared term).
    Example: minekit mine bm25 --queries q.parquet --positives p.parquet --corpus c.parquet --out bm25.parquet
    """
    from minekit.mine.bm25 import mine_bm25

    _mine_bm25(mine_bm25, "mine.bm25", queries, positives, corpus, out, top_k=top_k, k1=k1, b=b,
               method=method, stemmer=stemmer, stopwords=stopwords)


@command(mine_app, "passage-bm25", out_files=("out",))
def mine_passage_bm25_cmd(queries: QueriesOpt, positives: PositivesOpt, corpus: CorpusOpt, out: OutOpt,
                          top_k: TopKOpt = 100, k1: K1Opt = 1.5, b: BOpt = 0.75, method: MethodOpt = "lucene",
                          stemmer: StemmerOpt = "english", stopwords: StopwordsOpt = "en") -> None:
    """BM25 with each positive passage as the query (PassageBM25): passages like the answer, not the question.

    Merge rule: a query with several positives gets one ranked list, each document scored by its best
    BM25 score against any of them. A positive's score is its BM25 score against itself, so margins
    mean "how close to a copy of this positive".
    Example: minekit mine passage-bm25 --queries q.parquet --positives p.parquet --corpus c.parquet --out pbm25.parquet
    """
    from minekit.mine.bm25 import mine_passage_bm25

    _mine_bm25(mine_passage_bm25, "mine.passage-bm25", queries, positives, corpus, out, top_k=top_k, k1=k1,
               b=b, method=method, stemmer=stemmer, stopwords=stopwords)


# -- filter ----------------------------------------------------------------------------------------

@command(app, out_files=("out",))
def filter(
    candidates: CandidatesOpt,
    out: OutOpt,
    positives: Annotated[Optional[Path], typer.Option(
        "--positives", help="Also drop candidates that are positives in this file (is_positive).")] = None,
    range_min: Annotated[int, typer.Option(min=0, help="Skip the top ranks: keep rank > range_min.")] = 0,
    range_max: Annotated[Optional[int], typer.Option(min=1, help="Keep rank <= range_max.")] = None,
    min_score: Annotated[Optional[float], typer.Option(callback=between(), help="Keep score >= min_score.")] = None,
    max_score: Annotated[Optional[float], typer.Option(callback=between(), help="Keep score <= max_score.")] = None,
    absolute_margin: Annotated[Optional[float], typer.Option(
        help="Per positive: keep score <= positive - absolute_margin.")] = None,
    relative_margin: Annotated[Optional[float], typer.Option(
        help="Per positive: keep score <= positive - |positive| * relative_margin (NV-Retriever's TopK-PercPos: "
             "0.05). A candidate too close to some positives is kept for the others' rows only.")] = None,
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

@command(app, out_folders=("out_dir",))
def build(
    candidates: Annotated[list[Path], typer.Option(
        "--candidates", help="Candidates parquet; repeat to merge several miners.")],
    queries: QueriesOpt,
    positives: PositivesOpt,
    corpus: CorpusOpt,
    name: Annotated[str, typer.Option(help="Dataset name: the folder under --out-dir.")],
    out_dir: Annotated[Path, typer.Option(help="Where dataset folders live.")] = Path("datasets"),
    num_negatives: Annotated[int, typer.Option(
        min=1, help="Negatives per (query, positive); 3 as sentence-transformers' mine_hard_negatives.")] = 3,
    format: Annotated[str, typer.Option(callback=one_of("minekit.build", "FORMATS"),
                                        help="triplet (one row per negative), n-tuple or labeled-pair.")] = "triplet",
    sampling_strategy: Annotated[str, typer.Option(
        callback=one_of("minekit.build", "SAMPLING_STRATEGIES"),
        help="top: best-ranked negatives; random: seeded uniform sample; simans: seeded sample peaking near the "
             "positive's score.")] = "top",
    relative_margin: Annotated[Optional[float], typer.Option(
        help="Per row: leave out candidates some miner scores above positive - |positive| * relative_margin "
             "for the row's own positive (TopK-PercPos; 'none' turns it off).", parser=lambda v: _none_float(v))]
    = 0.05,
    simans_a: Annotated[float, typer.Option(
        callback=between(),
        help="simans: sharpness a of exp(-a (gap - b)^2), gap = (score - positive) / |positive|.")] = 50.0,
    simans_b: Annotated[float, typer.Option(callback=between(), help="simans: the gap b where sampling peaks.")] = -0.05,
    fill: Annotated[str, typer.Option(
        callback=one_of("minekit.build", "FILLS"),
        help="random: pad rows with too few negatives with random documents (no positive is lost); none: drop "
             "them (counted as positives_lost).")]
    = "random",
    seed: Annotated[int, typer.Option(callback=seed_range, help="Seed for random sampling and filling.")] = 0,
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
    frames = [check_candidates_ids(read_candidates(p), p, inputs.corpus, inputs.queries) for p in candidates]
    kwargs = dict(num_negatives=num_negatives, format=format, sampling_strategy=sampling_strategy,
                  relative_margin=relative_margin, simans_a=simans_a, simans_b=simans_b, fill=fill, seed=seed)
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
    manifest["score_columns"] = result.score_columns
    path = write_dataset(result, out_dir=out_dir, name=name, manifest=manifest)
    report("build", result.stats)
    typer.echo(str(path))


# -- export / report (issue #16) -------------------------------------------------------------------

@command(app, "export")
def export_cmd(
    dataset: Annotated[Path, typer.Argument(help="A built dataset folder datasets/NAME/vN.")],
    to: Annotated[str, typer.Option("--to", help="flagembedding, tevatron, hf (a datasets folder) or jsonl.")],
    out: Annotated[Path, typer.Option("--out", help="Output file (a folder for hf); the manifest goes beside it.")],
    prompt: Annotated[Optional[str], typer.Option(
        help="flagembedding: the query instruction written as each record's prompt (bge, e5 models).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing --out.")] = False,
) -> None:
    """Write a dataset in the layout another trainer reads (FlagEmbedding, Tevatron, Hugging Face datasets, JSONL).

    Example: minekit export datasets/demo/v1 --to flagembedding --out exports/demo.jsonl
    """
    from minekit.export import export_dataset

    result = export_dataset(dataset, out, to=to, prompt=prompt, overwrite=overwrite)
    report(f"export {to}", result.stats)
    typer.echo(str(result.path))


@command(app, "report")
def report_cmd(
    dataset_or_run: Annotated[Path, typer.Argument(help="A dataset folder (datasets/NAME/vN) or a run folder (runs/NAME).")],
    out: Annotated[Path, typer.Option("--out", help="Output HTML file (one self-contained page).")],
    metrics: Annotated[Optional[list[Path]], typer.Option(
        "--metrics", help="metrics.json of `minekit evaluate`, repeatable, shown before/after in file order.")] = None,
    examples: Annotated[int, typer.Option(help="Example rows shown (query, positive, negatives).")] = 5,
    seed: Annotated[int, typer.Option(help="Seed for choosing the example rows.")] = 0,
) -> None:
    """Write one offline HTML page with the plots to read before training: scores, margins, ranks, drops, overlap.

    Example: minekit report runs/sample --out report.html
    """
    from minekit.io import write_text
    from minekit.report import make_report

    result = make_report(dataset_or_run, metrics=list(metrics or []), examples=examples, seed=seed)
    write_text(out, result.html)
    report("report", result.stats)
    typer.echo(str(out))


# -- denoise / train-reranker (issue #5) -----------------------------------------------------------

@command(app, "denoise", out_files=("out", "pseudo_positives"))
def denoise_cmd(
    candidates: CandidatesOpt,
    queries: QueriesOpt,
    positives: PositivesOpt,
    corpus: CorpusOpt,
    out: OutOpt,
    scorer: Annotated[str, typer.Option(
        callback=one_of("minekit.denoise", "SCORERS"),
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
        help="Per positive: a candidate scored above (positive - absolute_margin) leaves that positive's rows, "
             "and is dropped when above every positive's; 0 = GISTEmbed's rule.")]
    = None,
    relative_margin: Annotated[Optional[float], typer.Option(
        help="As --absolute-margin with the bound positive - |positive| * relative_margin (NV-Retriever: "
             "0.05); stays below the positive for negative scores (logits) too.")] = None,
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
    llm_concurrency: Annotated[int, typer.Option(min=1, help="Parallel requests to the LLM judge.")] = 4,
    llm_retries: Annotated[int, typer.Option(
        min=0, help="Retries per request (exponential backoff) on errors/5xx/429.")] = 3,
    llm_timeout: Annotated[float, typer.Option(callback=between(0, low_open=True),
                                               help="Seconds to wait for one LLM answer.")] = 60.0,
    batch_size: Annotated[int, typer.Option(min=1, help="Pairs (cross-encoder) or texts (bi-encoder) per batch.")]
    = 32,
    max_length: Annotated[Optional[int], typer.Option(
        min=2, help="Cross-encoder max tokens per pair (default: model's).")] = None,
    max_seq_length: Annotated[Optional[int], typer.Option(
        min=1, help="Bi-encoder guide: tokens per text (default: the model's).")] = None,
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
    if scorer == "cross-encoder":
        from minekit.guards import check_cross_encoder_folder

        check_cross_encoder_folder(cross_encoder)
    inputs = read_inputs(queries, positives, corpus)
    cands = check_candidates_ids(read_candidates(candidates), candidates, inputs.corpus, inputs.queries)
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
    require_rows(result, "denoise")
    if pseudo_positives is not None:
        manifest = make_manifest("denoise.pseudo-positives", params, describe_inputs(files), result.stats,
                                 upstream_steps([candidates]))
        write_parquet(result.pseudo_positives, pseudo_positives, manifest)
        if not STATE.quiet:
            typer.echo(f"pseudo-positives: {result.pseudo_positives.height} pairs -> {pseudo_positives}", err=True)
    write_stage(result, out, "denoise", params, files, [candidates])


@command(app, "train-reranker", out_folders=("out",))
def train_reranker_cmd(
    dataset: Annotated[Path, typer.Option("--dataset", help="A built dataset folder datasets/NAME/vN.")],
    out: Annotated[Path, typer.Option("--out", help="New folder for the CrossEncoder (usable as --cross-encoder).")],
    model: Annotated[str, typer.Option(help="Starting weights: 'default' (MiniLM bi-encoder), or a folder.")]
    = "default",
    epochs: Annotated[float, typer.Option(callback=between(0, low_open=True),
                                          help="Passes over the (query, passage, label) pairs.")] = 1.0,
    max_steps: Annotated[Optional[int], typer.Option(
        min=1, help="Stop after this many steps (overrides epochs).")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Pairs per training step.")] = 16,
    learning_rate: Annotated[float, typer.Option(callback=between(0, low_open=True), help="AdamW learning rate.")]
    = 2e-5,
    warmup_ratio: Annotated[float, typer.Option(callback=between(0, 1, high_open=True),
                                                help="Fraction of steps with linear warm-up.")] = 0.1,
    max_length: Annotated[int, typer.Option(min=8, help="Max tokens per (query, passage) pair.")] = 128,
    seed: Annotated[int, typer.Option(callback=seed_range, help="Seed for shuffling, head init and dropout.")] = 0,
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
        raise ConfigError(f"--dataset: {dataset} is not a dataset folder with a train.parquet. Fix: give the folder "
                          "datasets/NAME/vN that `minekit build` printed.")
    if (dataset / "manifest.json").is_file():  # a damaged manifest means a damaged dataset: stop before training
        from minekit.io import read_manifest_json

        read_manifest_json(dataset / "manifest.json")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"--out: {out} already exists and is not empty; a model is never overwritten.")
    kwargs = dict(model=model, epochs=epochs, max_steps=max_steps, batch_size=batch_size,
                  learning_rate=learning_rate, warmup_ratio=warmup_ratio, max_length=max_length, seed=seed,
                  device=device, trust_remote_code=trust_remote_code)
    result = train_reranker(read_parquet(train_file, what="train"), show_progress=show_progress(), **kwargs)
    params = {**params_of(train_reranker, **kwargs), "model_identity": model_identity(model)}
    manifest = make_manifest("train-reranker", params, describe_inputs({"train": train_file}), result.stats,
                             upstream_steps([train_file]))
    from minekit.guards import remove_stale_temps, respect_umask, temp_prefix
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out.parent, f".{out.name}.")
    tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(out.name), dir=out.parent))
    respect_umask(tmp, folder=True)
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

@command(app, "train", out_folders=("out",))
def train_cmd(
    dataset: Annotated[Path, typer.Option("--dataset", help="Dataset folder datasets/NAME/vN from `minekit build`.")],
    out: Annotated[Path, typer.Option("--out", help="New folder for the trained model (never overwritten).")],
    model: Annotated[str, typer.Option(help="Base model: 'default', a local folder or a hub name.")] = "default",
    loss: Annotated[str, typer.Option(callback=one_of("minekit.train", "LOSSES"),
                                      help="mnrl, cached-mnrl, gist, triplet or margin-mse.")] = "mnrl",
    epochs: Annotated[float, typer.Option(callback=between(0, low_open=True), help="Passes over train.parquet.")] = 1,
    batch_size: Annotated[int, typer.Option(
        min=1, help="Rows per batch (in-batch negatives for the mnrl losses).")] = 32,
    learning_rate: Annotated[float, typer.Option(callback=between(0, low_open=True),
                                                 help="Peak learning rate (AdamW, linear decay).")] = 2e-5,
    warmup_ratio: Annotated[float, typer.Option(callback=between(0, 1, high_open=True),
                                                help="Share of the steps spent warming up.")] = 0.1,
    max_seq_length: Annotated[int, typer.Option(min=1, help="Tokens per text; longer texts are truncated.")] = 256,
    max_steps: Annotated[Optional[int], typer.Option(min=1, help="Stop after this many steps (quick runs).")] = None,
    mini_batch_size: Annotated[Optional[int], typer.Option(
        min=1, help="cached-mnrl only: rows per forward pass (default 32).")] = None,
    guide: Annotated[Optional[str], typer.Option(help="gist only: the guide model, e.g. 'default'.")] = None,
    query_prompt: QueryPromptOpt = None,
    corpus_prompt: CorpusPromptOpt = None,
    query_prompt_name: QueryPromptNameOpt = None,
    corpus_prompt_name: CorpusPromptNameOpt = None,
    pairs_only: Annotated[bool, typer.Option(
        help="Train on (anchor, positive) alone, ignoring the dataset's negatives (the in-batch baseline).")] = False,
    seed: Annotated[int, typer.Option(callback=seed_range,
                                      help="Seed for weight init of new layers, shuffling and dropout.")] = 0,
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


@command(app, "evaluate", out_files=("out",))
def evaluate_cmd(
    model: Annotated[str, typer.Option(help="'bm25' (lexical reference), 'default', a model folder or a hub name.")],
    queries: QueriesOpt,
    positives: PositivesOpt,
    corpus: CorpusOpt,
    out: Annotated[Optional[Path], typer.Option("--out", help="Write the metrics as flat JSON here.")] = None,
    k: Annotated[str, typer.Option("--k", help="Cut-offs, comma-separated: nDCG, MRR and recall at each.")] = "10,100",
    batch_size: Annotated[int, typer.Option(min=1, help="Texts per encoding batch.")] = 64,
    max_seq_length: Annotated[Optional[int], typer.Option(min=1, help="Tokens per text (default: the model's).")]
    = None,
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
    from minekit.io import file_sha256

    metrics = {**result.metrics, "positives": str(positives), "positives_sha256": file_sha256(positives)}
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
    typer.echo(compare_metrics(runs, labels))


# -- run (pipelines, issue #7) ---------------------------------------------------------------------

@command(app, "run", out_folders=("runs_dir",))
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
BatchSizeOpt = Annotated[int, typer.Option(min=1, help="Texts per encoding batch.")]
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
    callback=one_of("minekit.embed", "PRECISIONS"), help="Stored embeddings: float32, float16 (half the disk) or int8 (a quarter; per-row scale).")]
BackendOpt = Annotated[str, typer.Option(callback=one_of("minekit.embed", "BACKENDS"), help="Encoder backend: torch.")]
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


@command(mine_app, "dense", out_files=("out",))
def mine_dense_cmd(
    queries: QueriesOpt, positives: PositivesOpt, corpus: CorpusOpt, out: OutOpt,
    model: ModelOpt = "default",
    top_k: TopKOpt = 100,
    index: Annotated[str, typer.Option(
        callback=one_of("minekit.mine.dense", "INDEXES"), help="flat: exact (blocked matrix product). ivf: faiss IVF (--nlist, --nprobe); hnsw: faiss HNSW "
             "(--hnsw-m, --ef-search). Both trade recall for speed on large corpora, and how much depends on "
             "the data: recall@10 against flat on synthetic 384-d sets (4k-50k vectors) was 0.84-1.0 for ivf "
             "and 0.5-0.99 for hnsw, lowest on near-uniform vectors; check on a sample against flat and raise "
             "--nprobe / --ef-search for more.")] = "flat",
    nlist: Annotated[Optional[int], typer.Option(
        min=1, help="ivf: number of lists (default 4*sqrt(corpus size), at most corpus/39).")] = None,
    nprobe: Annotated[Optional[int], typer.Option(
        min=1, help="ivf: lists searched per query (default max(16, nlist/8)); more = better recall, slower.")] = None,
    hnsw_m: Annotated[Optional[int], typer.Option(min=2, help="hnsw: links per node (default 32).")] = None,
    ef_search: Annotated[Optional[int], typer.Option(
        min=1, help="hnsw: search breadth (default max(256, 2*top-k)); more = better recall, slower.")] = None,
    query_from: Annotated[str, typer.Option(
        callback=one_of("minekit.mine.dense", "QUERY_FROM"), help="query: the query text is the query. positive: each positive passage is the query "
             "(source passage-dense; scores max-merged over a query's positives).")] = "query",
    query_prompt: QueryPromptOpt = None, corpus_prompt: CorpusPromptOpt = None,
    query_prompt_name: QueryPromptNameOpt = None, corpus_prompt_name: CorpusPromptNameOpt = None,
    batch_size: BatchSizeOpt = 64, device: DeviceOpt = "cpu", dtype: DtypeOpt = "auto",
    max_seq_length: MaxSeqLengthOpt = None, cache_dir: CacheDirOpt = ".minekit-cache",
    precision: PrecisionOpt = "float32", backend: BackendOpt = "torch", trust_remote_code: TrustOpt = False,
) -> None:
    """Dense candidates: cosine of bi-encoder embeddings (sentence-transformers), searched exactly or with faiss.

    score = cosine(query, document) (score_kind cosine); positive_scores = the cosine of the query to each positive.
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


@command(mine_app, "cluster", out_files=("out",))
def mine_cluster_cmd(
    queries: QueriesOpt, positives: PositivesOpt, corpus: CorpusOpt, out: OutOpt,
    model: ModelOpt = "default",
    top_k: TopKOpt = 100,
    n_clusters: Annotated[Optional[int], typer.Option(
        min=1, help="k-means clusters (default sqrt(corpus size), at most corpus/39).")] = None,
    clusters_per_query: Annotated[int, typer.Option(
        min=1, help="Clusters nearest to the query's positives that share its candidates.")] = 4,
    centroids: Annotated[Optional[Path], typer.Option(
        help="Centroids .npy from an earlier run (OUT.centroids.npy): reuse them instead of k-means.")] = None,
    niter: Annotated[int, typer.Option(min=1, help="k-means iterations.")] = 20,
    seed: Annotated[int, typer.Option(callback=seed_range, help="k-means seed.")] = 0,
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
            raise ConfigError(f"centroids: {centroids} not found. Fix: give the OUT.centroids.npy an earlier "
                              "`minekit mine cluster` wrote, or leave --centroids out to run k-means.")
        try:
            given = np.load(centroids, allow_pickle=False)
        except ValueError as exc:
            raise ConfigError(f"centroids: {centroids} is not a numpy .npy array ({exc}). Fix: give the "
                              "OUT.centroids.npy an earlier `minekit mine cluster` wrote.") from exc
    kwargs = dict(top_k=top_k, n_clusters=n_clusters, clusters_per_query=clusters_per_query, niter=niter, seed=seed,
                  **_encoder_kwargs(model, batch_size, device, cache_dir, query_prompt, corpus_prompt, precision,
                                    backend, trust_remote_code, dtype=dtype, max_seq_length=max_seq_length,
                                    query_prompt_name=query_prompt_name, corpus_prompt_name=corpus_prompt_name))
    result = mine_cluster(inputs.queries, inputs.positives, inputs.corpus, centroids=given,
                          show_progress=show_progress(), **kwargs)
    require_rows(result, "mine.cluster")
    saved = out.with_name(out.name + ".centroids.npy")
    with atomic_path(saved, ".npy") as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, result.centroids, allow_pickle=False)
    params = {**params_of(mine_cluster, **kwargs), "centroids": None if centroids is None else str(centroids)}
    write_stage(result, out, "mine.cluster", params, {**inputs.paths, "centroids": centroids})


@command(mine_app, "random", out_files=("out",))
def mine_random_cmd(
    queries: QueriesOpt, positives: PositivesOpt, corpus: CorpusOpt, out: OutOpt,
    top_k: TopKOpt = 100,
    seed: Annotated[int, typer.Option(callback=seed_range,
                                      help="Seed; a query's draw depends only on it and the query id.")] = 0,
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


# Where each option's allowed values are defined (module, constant); read only to render --help.
_CHOICES = {
    "format": ("minekit.build", "FORMATS"), "sampling_strategy": ("minekit.build", "SAMPLING_STRATEGIES"),
    "fill": ("minekit.build", "FILLS"), "scorer": ("minekit.denoise", "SCORERS"),
    "precision": ("minekit.embed", "PRECISIONS"), "backend": ("minekit.embed", "BACKENDS"),
    "dtype": ("minekit.embed", "DTYPES"), "loss": ("minekit.train", "LOSSES"),
    "method": ("minekit.mine.bm25", "METHODS"), "index": ("minekit.mine.dense", "INDEXES"),
    "query_from": ("minekit.mine.dense", "QUERY_FROM"),
}


def _plain_metavars(group) -> None:
    """Plain metavars (PATH, INTEGER, TEXT) and the allowed values of every choice option in --help."""
    import importlib

    for cmd in getattr(group, "commands", {}).values():
        _plain_metavars(cmd)
        for param in getattr(cmd, "params", []):
            if getattr(param, "param_type_name", "") != "option" or param.is_flag:
                continue
            choices = None
            if param.name in _CHOICES:
                module, constant = _CHOICES[param.name]
                choices = getattr(importlib.import_module(module), constant, None)
            if choices:
                param.metavar = "[" + "|".join(choices) + "]"
            else:
                bare = str(param.bare_type()).lower()
                param.metavar = "PATH" if "path" in bare else {"int": "INTEGER", "float": "FLOAT"}.get(bare, "TEXT")


def main() -> None:
    if "--help" in sys.argv or "-h" in sys.argv or len(sys.argv) <= 2:
        command_tree = typer.main.get_command(app)
        _plain_metavars(command_tree)
        command_tree()
        return
    app()
