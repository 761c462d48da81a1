"""The minekit command line: a thin shell over minekit.stages. A command parses its flags, calls one
stage function with them and prints what it wrote (the path on stdout, counts on stderr).

Flags are the stage function's keyword arguments (--range-max is range_max); a flag written
`= DEFAULT` takes the function's default, and value rules (ranges, choices) come from
minekit.options.RULES, so both live in one place. Heavy libraries are imported inside the stages,
so `minekit --help` stays instant.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Callable, Optional

import typer

from minekit import __version__
from minekit.errors import ConfigError, MinekitError

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


# Encoder options, shared by every command that encodes texts.
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

# Shards and Ray (minekit.shards, minekit.ray_runner): how a stage runs, never what it writes.
ShardOpt = Annotated[Optional[str], typer.Option(
    help="Run shard i of n (i/n, e.g. 1/4): the queries whose sha256(query_id) mod n is i-1, against the whole "
         "corpus; `minekit merge` joins all n into the unsharded output, byte for byte.")]
RayOpt = Annotated[bool, typer.Option(
    "--ray", help="Run every shard on Ray (RAY_ADDRESS, or a local Ray) and merge: pip install 'minekit[ray]'.")]
ShardsOpt = Annotated[Optional[int], typer.Option(help="With --ray: number of shards (default: the cluster's CPUs).")]


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


class _FromStage:
    """The default of a flag is the default of the stage function's parameter of the same name."""

    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT = _FromStage()


def _stage_signature(fn: Callable, stage_fn: Callable, kind: str) -> inspect.Signature:
    """fn's signature with every DEFAULT taken from stage_fn, and its value rules (options.RULES) as callbacks."""
    import copy
    import typing

    from minekit.options import RULES

    hints = typing.get_type_hints(fn, include_extras=True)
    library = inspect.signature(stage_fn).parameters
    params = []
    for param in inspect.signature(fn).parameters.values():
        annotation, default = hints.get(param.name, param.annotation), param.default
        if param.name not in library:
            raise TypeError(f"{fn.__name__}: flag {param.name} is no parameter of {stage_fn.__name__}")
        if default is DEFAULT:
            default = library[param.name].default
        rule = RULES.get(kind, {}).get(param.name)
        if rule is not None and typing.get_origin(annotation) is typing.Annotated:
            base, *meta = typing.get_args(annotation)
            info = copy.copy(meta[0])
            info.callback = _click_rule(rule)
            annotation = typing.Annotated[(base, info, *meta[1:])]
        params.append(param.replace(annotation=annotation, default=default))
    return inspect.signature(fn).replace(parameters=params)


def _click_rule(rule: Callable) -> Callable:
    def callback(value):
        try:
            return rule(value)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None

    return callback


def command(group: typer.Typer, name: str | None = None, *, stage: str, out_files: tuple[str, ...] = (),
            out_folders: tuple[str, ...] = ()) -> Callable:
    """Register a command that calls one stage function with its flags and prints what it wrote.

    MinekitErrors become one clear line on stderr and an exit code. The params named in out_files /
    out_folders are outputs: checked writable before any work.
    """
    from minekit import stages

    stage_fn = getattr(stages, stage)
    kind = getattr(stage_fn, "kind", stage)

    def decorate(fn: Callable) -> Callable:
        takes_progress = "show_progress" in inspect.signature(stage_fn).parameters

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            from minekit import guards
            from minekit.options import BadValue

            try:
                for param in (*out_files, *out_folders):
                    check = guards.check_output_file if param in out_files else guards.check_output_folder
                    check(kwargs.get(param), guards.flag_names(fn)[param])
                with _quiet_libraries(STATE.quiet):
                    extra = {"show_progress": show_progress()} if takes_progress else {}
                    _show(stage_fn(*args, **kwargs, **extra))
            except BadValue as exc:
                flag = guards.flag_names(fn).get(exc.param, exc.param)
                typer.echo(f"Error: Invalid value for '{flag}': {exc.reason}", err=True)
                raise typer.Exit(exc.exit_code) from None
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

        wrapper.__signature__ = _stage_signature(fn, stage_fn, kind)
        wrapper.stage = stage_fn
        return group.command(name)(wrapper)

    return decorate


def show_progress() -> bool:
    return not STATE.quiet


def _show(output) -> None:
    """Notes and counts on stderr (not with -q), the stage's text and output path on stdout."""
    from minekit.stats import format_stats

    if not STATE.quiet:
        for note in output.notes:
            typer.echo(note, err=True)
        if output.stats and output.title:
            typer.echo(format_stats(output.title, output.stats), err=True)
    if output.text:
        typer.echo(output.text)
    if output.path is not None and output.show_path:
        typer.echo(str(output.path))


def _threshold(value: str | float | None, *, auto: bool = False) -> str | float | None:
    """'none' on the command line turns a default threshold off; 'auto', where taken, leaves it to the stage."""
    from minekit.stages import auto_float, none_float

    try:
        return (auto_float if auto else none_float)(value)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc)) from None


# -- validate / info -----------------------------------------------------------------------------

@command(app, stage="validate")
def validate(queries: QueriesOpt, positives: PositivesOpt, corpus: CorpusOpt) -> None:
    """Check the three input files against minekit's data contract, and nothing else.

    Example: minekit validate --queries q.parquet --positives p.parquet --corpus c.parquet
    """


@command(app, stage="info")
def info(path: Annotated[Path, typer.Argument(help="A parquet file minekit wrote, or a dataset folder.")]) -> None:
    """Print the manifest (how it was made) that travels inside a minekit file or dataset folder.

    Example: minekit info datasets/demo/v1
    """


# -- import ----------------------------------------------------------------------------------------

AnchorColumnOpt = Annotated[str, typer.Option(help="Column holding the query text.")]
PositiveColumnOpt = Annotated[str, typer.Option(help="Column holding the positive passage text.")]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Replace files of an earlier import in --out.")]
ImportOutOpt = Annotated[Path, typer.Option("--out", help="Folder for queries/positives/corpus.parquet.")]
ImportCorpusOpt = Annotated[Optional[Path], typer.Option(
    "--corpus", help="A larger corpus (parquet doc_id, text[, title], or JSONL): texts found in it keep its ids, "
                     "and all of it is written.")]


@command(import_app, "beir", stage="import_beir")
def import_beir_cmd(
    folder: Annotated[Path, typer.Argument(help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv.")],
    out: ImportOutOpt,
    split: Annotated[str, typer.Option("--split", help="Which qrels/<split>.tsv gives the positives.")] = DEFAULT,
    overwrite: OverwriteOpt = DEFAULT,
) -> None:
    """Import a BEIR data set folder; only the split's queries are kept.

    Example: minekit import beir scifact/ --split train --out data/scifact
    """


@command(import_app, "pairs", stage="import_pairs")
def import_pairs_cmd(
    file: Annotated[Path, typer.Argument(help="(anchor, positive[, negative_1..n]) texts: parquet, JSONL or a "
                                              "datasets folder.")],
    out: ImportOutOpt,
    anchor_column: AnchorColumnOpt = DEFAULT,
    positive_column: PositiveColumnOpt = DEFAULT,
    corpus: ImportCorpusOpt = DEFAULT,
    overwrite: OverwriteOpt = DEFAULT,
) -> None:
    """Import (anchor, positive) text pairs; ids are content hashes, repeated texts are merged.

    Columns negative or negative_1..n become negatives.parquet, a candidates file build takes as is.
    Example: minekit import pairs pairs.jsonl --corpus corpus.parquet --out data/pairs
    """


@command(import_app, "hf", stage="import_hf")
def import_hf_cmd(
    folder: Annotated[Path, typer.Argument(help="A datasets folder (save_to_disk) with anchor, positive[, negative...].")],
    out: ImportOutOpt,
    anchor_column: AnchorColumnOpt = DEFAULT,
    positive_column: PositiveColumnOpt = DEFAULT,
    corpus: ImportCorpusOpt = DEFAULT,
    overwrite: OverwriteOpt = DEFAULT,
) -> None:
    """Import a Hugging Face datasets folder of (anchor, positive[, negatives]) texts, as `minekit export --to hf` writes.

    Example: minekit import hf exports/demo-hf --out data/demo
    """


@command(import_app, "flagembedding", stage="import_flagembedding")
def import_flagembedding_cmd(
    file: Annotated[Path, typer.Argument(help="FlagEmbedding JSONL: query, pos, neg[, pos_scores, neg_scores].")],
    out: ImportOutOpt,
    corpus: ImportCorpusOpt = DEFAULT,
    overwrite: OverwriteOpt = DEFAULT,
) -> None:
    """Import FlagEmbedding fine-tuning JSONL; content-hash ids, neg lists become negatives.parquet.

    Example: minekit import flagembedding train.jsonl --out data/fe
    """


@command(import_app, "tevatron", stage="import_tevatron")
def import_tevatron_cmd(
    file: Annotated[Path, typer.Argument(help="Tevatron JSONL: query_id, query, positive_passages, negative_passages.")],
    out: ImportOutOpt,
    overwrite: OverwriteOpt = DEFAULT,
) -> None:
    """Import Tevatron training JSONL; its query and passage ids are kept, negatives become negatives.parquet.

    Example: minekit import tevatron train.jsonl --out data/tev
    """


# -- mine ------------------------------------------------------------------------------------------

TopKOpt = Annotated[int, typer.Option("--top-k", help="Candidates kept per query (after removing its positives).")]
K1Opt = Annotated[float, typer.Option(help="BM25 term-frequency saturation (>= 0).")]
BOpt = Annotated[float, typer.Option(help="BM25 length normalisation (0 to 1).")]
MethodOpt = Annotated[str, typer.Option(help="BM25 variant: lucene, robertson or atire.")]
StemmerOpt = Annotated[str, typer.Option(help="Snowball stemmer language (PyStemmer), or 'none'.")]
StopwordsOpt = Annotated[str, typer.Option(help="Stopword list known to bm25s (en, fr, de, ...), or 'none'.")]


@command(mine_app, "bm25", stage="mine_bm25", out_files=("out",))
def mine_bm25_cmd(queries: QueriesOpt, positives: PositivesOpt, corpus: CorpusOpt, out: OutOpt,
                  top_k: TopKOpt = DEFAULT, k1: K1Opt = DEFAULT, b: BOpt = DEFAULT, method: MethodOpt = DEFAULT,
                  stemmer: StemmerOpt = DEFAULT, stopwords: StopwordsOpt = DEFAULT, shard: ShardOpt = DEFAULT,
                  ray: RayOpt = DEFAULT, shards: ShardsOpt = DEFAULT) -> None:
    """BM25 (bm25s) over the corpus with the query as query; a query's positives never appear.

    Ranks run 1..n per query, ties broken by doc_id; documents with a zero score are not candidates.
    score_kind is bm25; positive_scores are each positive's BM25 score under the query (0: no shared term).
    Example: minekit mine bm25 --queries q.parquet --positives p.parquet --corpus c.parquet --out bm25.parquet
    """


@command(mine_app, "passage-bm25", stage="mine_passage_bm25", out_files=("out",))
def mine_passage_bm25_cmd(queries: QueriesOpt, positives: PositivesOpt, corpus: CorpusOpt, out: OutOpt,
                          top_k: TopKOpt = DEFAULT, k1: K1Opt = DEFAULT, b: BOpt = DEFAULT, method: MethodOpt = DEFAULT,
                          stemmer: StemmerOpt = DEFAULT, stopwords: StopwordsOpt = DEFAULT, shard: ShardOpt = DEFAULT,
                          ray: RayOpt = DEFAULT, shards: ShardsOpt = DEFAULT) -> None:
    """BM25 with each positive passage as the query (PassageBM25): passages like the answer, not the question.

    Merge rule: a query with several positives gets one ranked list, each document scored by its best
    BM25 score against any of them. A positive's score is its BM25 score against itself, so margins
    mean "how close to a copy of this positive".
    Example: minekit mine passage-bm25 --queries q.parquet --positives p.parquet --corpus c.parquet --out pbm25.parquet
    """


# -- filter ----------------------------------------------------------------------------------------

@command(app, stage="filter", out_files=("out",))
def filter(
    candidates: CandidatesOpt,
    out: OutOpt,
    positives: Annotated[Optional[Path], typer.Option(
        "--positives", help="Also drop candidates that are positives in this file (is_positive).")] = DEFAULT,
    range_min: Annotated[int, typer.Option(help="Skip the top ranks: keep rank > range_min.")] = DEFAULT,
    range_max: Annotated[Optional[int], typer.Option(help="Keep rank <= range_max.")] = DEFAULT,
    min_score: Annotated[Optional[float], typer.Option(help="Keep score >= min_score.")] = DEFAULT,
    max_score: Annotated[Optional[float], typer.Option(help="Keep score <= max_score.")] = DEFAULT,
    absolute_margin: Annotated[Optional[float], typer.Option(
        help="Per positive: keep score <= positive - absolute_margin.")] = DEFAULT,
    relative_margin: Annotated[Optional[float], typer.Option(
        help="Per positive: keep score <= positive - |positive| * relative_margin (NV-Retriever's TopK-PercPos: "
             "0.05). A candidate too close to some positives is kept for the others' rows only.")] = DEFAULT,
    keep_dropped: Annotated[bool, typer.Option(help="Keep dropped rows, marked in a drop_reason column.")] = DEFAULT,
) -> None:
    """Drop likely false negatives by rank window, score and margin thresholds; counts each rule's drops.

    Example: minekit filter --candidates bm25.parquet --out filtered.parquet --range-min 2 --relative-margin 0.05
    """


# -- build -----------------------------------------------------------------------------------------

@command(app, stage="build", out_folders=("out_dir",))
def build(
    candidates: Annotated[list[Path], typer.Option(
        "--candidates", help="Candidates parquet; repeat to merge several miners.")],
    queries: QueriesOpt,
    positives: PositivesOpt,
    corpus: CorpusOpt,
    name: Annotated[str, typer.Option(help="Dataset name: the folder under --out-dir.")],
    out_dir: Annotated[Path, typer.Option(help="Where dataset folders live.")] = DEFAULT,
    num_negatives: Annotated[int, typer.Option(help="Negatives per (query, positive): 5 by default (see the README's \"Which negatives help\").")] = DEFAULT,
    format: Annotated[str, typer.Option(help="n-tuple (one row per positive, the default: MNRL uses every negative), triplet (one row per negative) or labeled-pair.")] = DEFAULT,
    sampling_strategy: Annotated[str, typer.Option(
        help="top: best-ranked negatives; random: seeded uniform sample; simans: seeded sample peaking near the "
             "positive's score; trisampler: seeded sample inside the query-positive-negative triangle (dense).")]
    = DEFAULT,
    relative_margin: Annotated[Optional[float], typer.Option(
        help="Per row: leave out candidates some miner scores above positive - |positive| * relative_margin "
             "for the row's own positive (TopK-PercPos; 'none' turns it off).", parser=lambda v: _threshold(v))]
    = DEFAULT,
    simans_a: Annotated[float, typer.Option(
        help="simans: sharpness a of exp(-a (gap - b)^2), gap = (score - positive) / |positive|.")] = DEFAULT,
    simans_b: Annotated[float, typer.Option(help="simans: the gap b where sampling peaks.")] = DEFAULT,
    trisampler_angle: Annotated[float, typer.Option(
        help="trisampler: widest angle (degrees) between query-positive and query-negative.")] = DEFAULT,
    source_shares: Annotated[Optional[str], typer.Option(
        help="Split each row's negatives between miners, e.g. bm25=1,dense=2.")] = DEFAULT,
    fill: Annotated[str, typer.Option(
        help="random: pad rows with too few negatives with random documents (no positive is lost); none: drop "
             "them (counted as positives_lost).")]
    = DEFAULT,
    seed: Annotated[int, typer.Option(help="Seed for random sampling and filling.")] = DEFAULT,
) -> None:
    """Write a versioned dataset datasets/NAME/vN (train.parquet, ids.parquet, manifest.json, README.md).

    The same inputs and params reuse the existing version (its path is printed); anything else makes vN+1.
    Example: minekit build --candidates bm25.parquet --queries q.parquet --positives p.parquet --corpus c.parquet --name demo
    """


# -- export / report (issue #16) -------------------------------------------------------------------

@command(app, "export", stage="export")
def export_cmd(
    dataset: Annotated[Path, typer.Argument(help="A built dataset folder datasets/NAME/vN.")],
    to: Annotated[str, typer.Option("--to", help="flagembedding, tevatron, hf (a datasets folder) or jsonl.")],
    out: Annotated[Path, typer.Option("--out", help="Output file (a folder for hf); the manifest goes beside it.")],
    prompt: Annotated[Optional[str], typer.Option(
        help="flagembedding: the query instruction written as each record's prompt (bge, e5 models).")] = DEFAULT,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing --out.")] = DEFAULT,
) -> None:
    """Write a dataset in the layout another trainer reads (FlagEmbedding, Tevatron, Hugging Face datasets, JSONL).

    Example: minekit export datasets/demo/v1 --to flagembedding --out exports/demo.jsonl
    """


@command(app, "report", stage="report")
def report_cmd(
    dataset_or_run: Annotated[Path, typer.Argument(help="A dataset folder (datasets/NAME/vN) or a run folder (runs/NAME).")],
    out: Annotated[Path, typer.Option("--out", help="Output HTML file (one self-contained page).")],
    metrics: Annotated[Optional[list[Path]], typer.Option(
        "--metrics", help="metrics.json of `minekit evaluate`, repeatable, shown before/after in file order.")] = DEFAULT,
    examples: Annotated[int, typer.Option(help="Example rows shown (query, positive, negatives).")] = DEFAULT,
    seed: Annotated[int, typer.Option(help="Seed for choosing the example rows.")] = DEFAULT,
) -> None:
    """Write one offline HTML page with the plots to read before training: scores, margins, ranks, drops, overlap.

    Example: minekit report runs/sample --out report.html
    """


# -- denoise / train-reranker (issue #5) -----------------------------------------------------------

@command(app, "denoise", stage="denoise", out_files=("out", "pseudo_positives"))
def denoise_cmd(
    candidates: CandidatesOpt,
    queries: QueriesOpt,
    positives: PositivesOpt,
    corpus: CorpusOpt,
    out: OutOpt,
    scorer: Annotated[str, typer.Option(
        help="cross-encoder (needs --cross-encoder) or bi-encoder (a guide model, --model).")] = DEFAULT,
    cross_encoder: Annotated[Optional[str], typer.Option(
        "--cross-encoder", help="CrossEncoder folder or hub name (e.g. the output of train-reranker).")] = DEFAULT,
    model: Annotated[Optional[str], typer.Option(
        help="Bi-encoder guide for --scorer bi-encoder: 'default' (when not given) or a folder.")] = DEFAULT,
    max_score: Annotated[Optional[float], typer.Option(
        help="Drop candidates scored above this. Sigmoid/probability cross-encoders (1 logit, as train-reranker "
             "makes): RocketQA keeps negatives below 0.1. Logit models: pick a logit, e.g. the score the model "
             "gives at the 0.1 probability point, log(0.1/0.9) = -2.2, or look at the scores of known "
             "positives (ce_score with --keep-dropped).")] = DEFAULT,
    positive_neighbours: Annotated[Optional[str], typer.Option(
        help="Bi-encoder guide: drop candidates among the K corpus passages nearest to one of the query's positives "
             "(passage to passage). The default, auto, sets K so that 8 in 10 positives in --positives are among "
             "the K nearest to another positive of their query (256 with one positive a query), and drops at "
             "most a tenth of a query's candidates, those both nearest to a positive and closest to the query "
             "('none' turns it off). Encodes the whole corpus (shares mine dense's cache).",
        parser=lambda v: _threshold(v, auto=True))] = DEFAULT,
    max_positive_similarity: Annotated[Optional[str], typer.Option(
        help="Bi-encoder guide: drop candidates whose cosine to one of the query's positives (passage to passage) "
             "is above this; auto: the 0.9 quantile of the cosines between positives of the same query in "
             "--positives, dropping at most a tenth of a query's candidates (default: off).",
        parser=lambda v: _threshold(v, auto=True))] = DEFAULT,
    absolute_margin: Annotated[Optional[str], typer.Option(
        help="Per positive: a candidate scored above (positive - absolute_margin) leaves that positive's rows, "
             "and is dropped when above every positive's. The default, auto, is 0 (GISTEmbed's rule) unless "
             "--positive-neighbours or --max-positive-similarity judges ('none' turns it off).",
        parser=lambda v: _threshold(v, auto=True))] = DEFAULT,
    relative_margin: Annotated[Optional[float], typer.Option(
        help="As --absolute-margin with the bound positive - |positive| * relative_margin (NV-Retriever: "
             "0.05); stays below the positive for negative scores (logits) too.")] = DEFAULT,
    pseudo_positives: Annotated[Optional[Path], typer.Option(
        "--pseudo-positives", help="Also write candidates scored >= --min-positive-score here, as a positives "
                                   "file (query_id, doc_id, score=1, ce_score).")] = DEFAULT,
    min_positive_score: Annotated[Optional[float], typer.Option(
        help="Score at or above which a candidate is a pseudo-positive (needs --pseudo-positives).")] = DEFAULT,
    llm_judge: Annotated[Optional[str], typer.Option(
        "--llm-judge", help="OpenAI-compatible base URL (http://host:port/v1) asked about grey-zone candidates.")]
    = DEFAULT,
    llm_model: Annotated[Optional[str], typer.Option(help="Model name sent to the --llm-judge endpoint.")] = DEFAULT,
    llm_api_key_env: Annotated[str, typer.Option(
        help="Environment variable holding the endpoint's API key (unset: no key sent).")] = DEFAULT,
    llm_min_score: Annotated[Optional[float], typer.Option(
        help="Grey zone lower end: kept candidates scored >= this are asked to the LLM judge.")] = DEFAULT,
    llm_max_score: Annotated[Optional[float], typer.Option(
        help="Grey zone upper end (default: up to what the score rules keep).")] = DEFAULT,
    llm_concurrency: Annotated[int, typer.Option(help="Parallel requests to the LLM judge.")] = DEFAULT,
    llm_retries: Annotated[int, typer.Option(help="Retries per request (exponential backoff) on errors/5xx/429.")] = DEFAULT,
    llm_timeout: Annotated[float, typer.Option(help="Seconds to wait for one LLM answer.")] = DEFAULT,
    batch_size: Annotated[int, typer.Option(help="Pairs (cross-encoder) or texts (bi-encoder) per batch.")]
    = DEFAULT,
    max_length: Annotated[Optional[int], typer.Option(help="Cross-encoder max tokens per pair (default: model's).")] = DEFAULT,
    max_seq_length: Annotated[Optional[int], typer.Option(
        help="Bi-encoder guide: tokens per text (default: the model's).")] = DEFAULT,
    query_prompt: QueryPromptOpt = DEFAULT,
    corpus_prompt: CorpusPromptOpt = DEFAULT,
    query_prompt_name: QueryPromptNameOpt = DEFAULT,
    corpus_prompt_name: CorpusPromptNameOpt = DEFAULT,
    device: Annotated[str, typer.Option(help="torch device: cpu, cuda, cuda:1, mps.")] = DEFAULT,
    dtype: Annotated[str, typer.Option(
        help="Bi-encoder guide compute dtype: auto (bfloat16 on CPUs with native bf16, float16 on CUDA, else "
             "float32), float32, bfloat16, float16.")] = DEFAULT,
    cache_dir: Annotated[Path, typer.Option(help="Score, embedding and LLM-answer cache folder.")]
    = DEFAULT,
    trust_remote_code: Annotated[bool, typer.Option(help="Allow model code from the model folder/hub.")] = DEFAULT,
    keep_dropped: Annotated[bool, typer.Option(help="Keep dropped rows, marked in a drop_reason column.")] = DEFAULT,
    block_size: Annotated[int, typer.Option(
        help="Bi-encoder guide: queries whose candidate pairs' texts are built and scored at a time (the "
             "cross-encoder builds texts per 512-pair chunk); memory, not results.")] = DEFAULT,
    shard: ShardOpt = DEFAULT,
    ray: RayOpt = DEFAULT,
    shards: ShardsOpt = DEFAULT,
) -> None:
    """Score candidates and positives with a cross-encoder (or a bi-encoder guide) and drop likely false negatives.

    Example: minekit denoise --candidates bm25.parquet --queries q.parquet --positives p.parquet --corpus c.parquet --out clean.parquet --cross-encoder models/reranker --max-score 0.1
    """


@command(app, "train-reranker", stage="train_reranker", out_folders=("out",))
def train_reranker_cmd(
    dataset: Annotated[Path, typer.Option("--dataset", help="A built dataset folder datasets/NAME/vN.")],
    out: Annotated[Path, typer.Option("--out", help="New folder for the CrossEncoder (usable as --cross-encoder).")],
    model: Annotated[str, typer.Option(help="Starting weights: 'default' (MiniLM bi-encoder), or a folder.")]
    = DEFAULT,
    epochs: Annotated[float, typer.Option(help="Passes over the (query, passage, label) pairs.")] = DEFAULT,
    max_steps: Annotated[Optional[int], typer.Option(help="Stop after this many steps (overrides epochs).")] = DEFAULT,
    batch_size: Annotated[int, typer.Option(help="Pairs per training step.")] = DEFAULT,
    learning_rate: Annotated[float, typer.Option(help="AdamW learning rate.")]
    = DEFAULT,
    warmup_ratio: Annotated[float, typer.Option(help="Fraction of steps with linear warm-up.")] = DEFAULT,
    max_length: Annotated[int, typer.Option(help="Max tokens per (query, passage) pair.")] = DEFAULT,
    seed: Annotated[int, typer.Option(help="Seed for shuffling, head init and dropout.")] = DEFAULT,
    device: Annotated[str, typer.Option(help="torch device: cpu, cuda, mps.")] = DEFAULT,
    trust_remote_code: Annotated[bool, typer.Option(help="Allow model code from the model folder/hub.")] = DEFAULT,
) -> None:
    """Fine-tune a one-logit CrossEncoder on a built dataset, to denoise the next round offline.

    Example: minekit train-reranker --dataset datasets/demo/v1 --model default --out models/reranker
    """


# -- train / evaluate / compare -------------------------------------------------------------------

@command(app, "train", stage="train", out_folders=("out",))
def train_cmd(
    dataset: Annotated[Path, typer.Option("--dataset", help="Dataset folder datasets/NAME/vN from `minekit build`.")],
    out: Annotated[Path, typer.Option("--out", help="New folder for the trained model (never overwritten).")],
    model: Annotated[str, typer.Option(help="Base model: 'default', a local folder or a hub name.")] = DEFAULT,
    loss: Annotated[str, typer.Option(help="mnrl, cached-mnrl, gist, triplet or margin-mse.")] = DEFAULT,
    epochs: Annotated[float, typer.Option(help="Passes over train.parquet.")] = DEFAULT,
    batch_size: Annotated[int, typer.Option(help="Rows per batch (in-batch negatives for the mnrl losses).")] = DEFAULT,
    learning_rate: Annotated[float, typer.Option(help="Peak learning rate (AdamW, linear decay).")] = DEFAULT,
    warmup_ratio: Annotated[float, typer.Option(help="Share of the steps spent warming up.")] = DEFAULT,
    max_seq_length: Annotated[int, typer.Option(help="Tokens per text; longer texts are truncated.")] = DEFAULT,
    max_steps: Annotated[Optional[int], typer.Option(help="Stop after this many steps (quick runs).")] = DEFAULT,
    mini_batch_size: Annotated[Optional[int], typer.Option(help="cached-mnrl only: rows per forward pass (default 32).")] = DEFAULT,
    guide: Annotated[Optional[str], typer.Option(help="gist only: the guide model, e.g. 'default'.")] = DEFAULT,
    query_prompt: QueryPromptOpt = DEFAULT,
    corpus_prompt: CorpusPromptOpt = DEFAULT,
    query_prompt_name: QueryPromptNameOpt = DEFAULT,
    corpus_prompt_name: CorpusPromptNameOpt = DEFAULT,
    pairs_only: Annotated[bool, typer.Option(
        help="Train on (anchor, positive) alone, ignoring the dataset's negatives (the in-batch baseline).")] = DEFAULT,
    seed: Annotated[int, typer.Option(help="Seed for weight init of new layers, shuffling and dropout.")] = DEFAULT,
    device: Annotated[str, typer.Option(help="torch device: cpu, cuda, mps.")] = DEFAULT,
    dtype: Annotated[str, typer.Option(
        help="float32, or bfloat16 autocast (weights stay float32; about 1.8x faster on CPUs with AMX), "
             "or float16 (CUDA only).")] = DEFAULT,
    trust_remote_code: Annotated[bool, typer.Option(help="Allow model code from the model folder or hub.")] = DEFAULT,
) -> None:
    """Fine-tune a bi-encoder on a built dataset with sentence-transformers; writes the model, manifest.json and a card.

    Example: minekit train --dataset datasets/demo/v1 --out models/demo --max-steps 100
    """


@command(app, "evaluate", stage="evaluate", out_files=("out",))
def evaluate_cmd(
    model: Annotated[str, typer.Option(help="'bm25' (lexical reference), 'default', a model folder or a hub name.")],
    queries: QueriesOpt,
    positives: PositivesOpt,
    corpus: CorpusOpt,
    out: Annotated[Optional[Path], typer.Option("--out", help="Write the metrics as flat JSON here.")] = DEFAULT,
    k: Annotated[str, typer.Option("--k", help="Cut-offs, comma-separated: nDCG, MRR and recall at each.")] = DEFAULT,
    batch_size: Annotated[int, typer.Option(help="Texts per encoding batch.")] = DEFAULT,
    max_seq_length: Annotated[Optional[int], typer.Option(help="Tokens per text (default: the model's).")]
    = DEFAULT,
    query_prompt: QueryPromptOpt = DEFAULT,
    corpus_prompt: CorpusPromptOpt = DEFAULT,
    query_prompt_name: QueryPromptNameOpt = DEFAULT,
    corpus_prompt_name: CorpusPromptNameOpt = DEFAULT,
    cache_dir: Annotated[Optional[str], typer.Option(
        help="Embedding cache folder, shared with mine dense (dense models: .minekit-cache unless given; "
             "'none' to disable).")] = DEFAULT,
    device: Annotated[str, typer.Option(help="torch device: cpu, cuda, cuda:1, mps.")] = DEFAULT,
    dtype: DtypeOpt = DEFAULT,
    trust_remote_code: Annotated[bool, typer.Option(help="Allow model code from the model folder or hub.")] = DEFAULT,
    block_size: Annotated[Optional[int], typer.Option(
        help="Dense models: corpus embeddings read from the cache (and queries ranked) at a time; memory grows "
             "with it, results do not change (default 65536).")] = DEFAULT,
) -> None:
    """Exact retrieval over the corpus, scored with nDCG, MRR and recall (graded gains when positives carry scores).

    Example: minekit evaluate --model models/demo --queries q.parquet --positives test.parquet --corpus c.parquet --out metrics.json
    """


@command(app, "compare", stage="compare")
def compare_cmd(
    files: Annotated[list[Path], typer.Argument(help="metrics.json files from `minekit evaluate`; the first is the base.")],
) -> None:
    """Print several evaluations side by side, with each one's delta to the first.

    Example: minekit compare base.json bm25neg.json densenegs.json
    """


# -- run (pipelines, issue #7) ---------------------------------------------------------------------

@command(app, "run", stage="run", out_folders=("runs_dir",))
def run_cmd(
    pipeline: Annotated[Path, typer.Argument(help="Pipeline TOML file (see pipelines/).")],
    force: Annotated[bool, typer.Option("--force", help="Run every step, even those up to date.")] = DEFAULT,
    from_step: Annotated[Optional[str], typer.Option(
        "--from", help="Run this step and every step after it, even if up to date.")] = DEFAULT,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print what would run and why; run nothing.")] = DEFAULT,
    runs_dir: Annotated[Path, typer.Option(help="Folder holding run directories (runs/<pipeline-name>/).")]
    = DEFAULT,
) -> None:
    """Run a TOML pipeline of minekit commands, skipping steps whose outputs are up to date.

    Example: minekit run pipelines/sample.toml
    """


# -- mine dense / cluster / random (issue #4) ------------------------------------------------------

TrustOpt = Annotated[bool, typer.Option(help="Allow model code from the model folder or hub.")]
BlockSizeOpt = Annotated[int, typer.Option(
    help="Corpus embeddings read from the cache (and queries searched) at a time; memory grows with it, results "
         "do not change (default 65536: about 100 MB at dim 384).")]


@command(mine_app, "dense", stage="mine_dense", out_files=("out",))
def mine_dense_cmd(
    queries: QueriesOpt, positives: PositivesOpt, corpus: CorpusOpt, out: OutOpt,
    model: ModelOpt = DEFAULT,
    top_k: TopKOpt = DEFAULT,
    index: Annotated[str, typer.Option(
        help="flat: exact (blocked matrix product). ivf: faiss IVF (--nlist, --nprobe); ivf-pq: IVF with "
             "product-quantized vectors (--pq-m bytes each) for corpora whose float32 vectors do not fit in memory, "
             "4 x top-k hits by code, the exact top-k kept; "
             "hnsw: faiss HNSW (--hnsw-m, --ef-search). Candidates are rescored with the exact cosine. Both trade recall for speed on large corpora, and how much depends on "
             "the data: recall@10 against flat on synthetic 384-d sets (4k-50k vectors) was 0.84-1.0 for ivf "
             "and 0.5-0.99 for hnsw, lowest on near-uniform vectors; check on a sample against flat and raise "
             "--nprobe / --ef-search for more.")] = DEFAULT,
    nlist: Annotated[Optional[int], typer.Option(help="ivf: number of lists (default 4*sqrt(corpus size), at most corpus/39).")] = DEFAULT,
    nprobe: Annotated[Optional[int], typer.Option(help="ivf: lists searched per query (default max(16, nlist/8)); more = better recall, slower.")] = DEFAULT,
    hnsw_m: Annotated[Optional[int], typer.Option(help="hnsw: links per node (default 32).")] = DEFAULT,
    ef_search: Annotated[Optional[int], typer.Option(help="hnsw: search breadth (default max(256, 2*top-k)); more = better recall, slower.")] = DEFAULT,
    pq_m: Annotated[Optional[int], typer.Option(help="ivf-pq: bytes per vector, dividing the dimension (default dim/8: 48 for 384).")] = DEFAULT,
    seed: Annotated[int, typer.Option(help="ivf / ivf-pq: k-means seed.")] = DEFAULT,
    block_size: BlockSizeOpt = DEFAULT,
    query_from: Annotated[str, typer.Option(
        help="query: the query text is the query. positive: each positive passage is the query "
             "(source passage-dense; scores max-merged over a query's positives).")] = DEFAULT,
    query_prompt: QueryPromptOpt = DEFAULT, corpus_prompt: CorpusPromptOpt = DEFAULT,
    query_prompt_name: QueryPromptNameOpt = DEFAULT, corpus_prompt_name: CorpusPromptNameOpt = DEFAULT,
    batch_size: BatchSizeOpt = DEFAULT, device: DeviceOpt = DEFAULT, dtype: DtypeOpt = DEFAULT,
    max_seq_length: MaxSeqLengthOpt = DEFAULT, cache_dir: CacheDirOpt = DEFAULT,
    precision: PrecisionOpt = DEFAULT, backend: BackendOpt = DEFAULT, trust_remote_code: TrustOpt = DEFAULT,
    shard: ShardOpt = DEFAULT, ray: RayOpt = DEFAULT, shards: ShardsOpt = DEFAULT,
) -> None:
    """Dense candidates: cosine of bi-encoder embeddings (sentence-transformers), searched exactly or with faiss.

    score = cosine(query, document) (score_kind cosine); positive_scores = the cosine of the query to each positive.
    Example: minekit mine dense --queries q.parquet --positives p.parquet --corpus c.parquet --out dense.parquet
    """


@command(app, "embed", stage="embed_corpus")
def embed_cmd(
    corpus: CorpusOpt,
    queries: Annotated[Optional[Path], typer.Option(
        "--queries", help="Queries parquet (query_id, text): also encode the query texts (with --query-prompt).")]
    = DEFAULT,
    model: ModelOpt = DEFAULT,
    query_prompt: QueryPromptOpt = DEFAULT, corpus_prompt: CorpusPromptOpt = DEFAULT,
    query_prompt_name: QueryPromptNameOpt = DEFAULT, corpus_prompt_name: CorpusPromptNameOpt = DEFAULT,
    batch_size: BatchSizeOpt = DEFAULT, device: DeviceOpt = DEFAULT, dtype: DtypeOpt = DEFAULT,
    max_seq_length: MaxSeqLengthOpt = DEFAULT, cache_dir: CacheDirOpt = DEFAULT,
    precision: PrecisionOpt = DEFAULT, backend: BackendOpt = DEFAULT, trust_remote_code: TrustOpt = DEFAULT,
    shard: Annotated[Optional[str], typer.Option(
        help="Encode shard i of n (i/n) of the distinct texts, by sha256 of the text, into the shared cache.")]
    = DEFAULT,
    ray: Annotated[bool, typer.Option(
        "--ray", help="Encode on Ray Data actors, one per GPU (CPU workers without GPUs), into the shared cache.")]
    = DEFAULT,
) -> None:
    """Encode the corpus (and queries) into the embedding cache that mine dense reads, all at once or one shard at a time.

    Use the same model, prompt, dtype and precision flags as the mine dense run that follows; it then encodes nothing.
    Example: minekit embed --corpus c.parquet --queries q.parquet --shard 1/4
    """


@command(app, "merge", stage="merge", out_files=("out",))
def merge_cmd(
    files: Annotated[list[Path], typer.Argument(help="The n shard outputs of one run (written with --shard i/n).")],
    out: OutOpt,
) -> None:
    """Join the shard outputs of one run into the file the unsharded run writes, byte for byte.

    Checks that every shard i of n is there exactly once and that all ran with the same params and inputs.
    Example: minekit merge bm25.1.parquet bm25.2.parquet --out bm25.parquet
    """


@command(mine_app, "cluster", stage="mine_cluster", out_files=("out",))
def mine_cluster_cmd(
    queries: QueriesOpt, positives: PositivesOpt, corpus: CorpusOpt, out: OutOpt,
    model: ModelOpt = DEFAULT,
    top_k: TopKOpt = DEFAULT,
    n_clusters: Annotated[Optional[int], typer.Option(help="k-means clusters (default sqrt(corpus size), at most corpus/39).")] = DEFAULT,
    clusters_per_query: Annotated[int, typer.Option(help="Clusters nearest to the query's positives that share its candidates.")] = DEFAULT,
    centroids: Annotated[Optional[Path], typer.Option(
        help="Centroids .npy from an earlier run (OUT.centroids.npy): reuse them instead of k-means.")] = DEFAULT,
    niter: Annotated[int, typer.Option(help="k-means iterations.")] = DEFAULT,
    seed: Annotated[int, typer.Option(help="k-means seed.")] = DEFAULT,
    query_prompt: QueryPromptOpt = DEFAULT, corpus_prompt: CorpusPromptOpt = DEFAULT,
    query_prompt_name: QueryPromptNameOpt = DEFAULT, corpus_prompt_name: CorpusPromptNameOpt = DEFAULT,
    batch_size: BatchSizeOpt = DEFAULT, device: DeviceOpt = DEFAULT, dtype: DtypeOpt = DEFAULT,
    max_seq_length: MaxSeqLengthOpt = DEFAULT, cache_dir: CacheDirOpt = DEFAULT,
    precision: PrecisionOpt = DEFAULT, backend: BackendOpt = DEFAULT, trust_remote_code: TrustOpt = DEFAULT,
) -> None:
    """K-means over corpus embeddings; negatives spread over the clusters nearest each query's positives.

    Writes the centroids beside the output (OUT.centroids.npy); pass them back with --centroids to rerun exactly.
    Example: minekit mine cluster --queries q.parquet --positives p.parquet --corpus c.parquet --out cluster.parquet
    """


@command(mine_app, "random", stage="mine_random", out_files=("out",))
def mine_random_cmd(
    queries: QueriesOpt, positives: PositivesOpt, corpus: CorpusOpt, out: OutOpt,
    top_k: TopKOpt = DEFAULT,
    seed: Annotated[int, typer.Option(help="Seed; a query's draw depends only on it and the query id.")] = DEFAULT,
) -> None:
    """Uniformly random non-positive documents per query (seeded): the baseline every comparison needs.

    Example: minekit mine random --queries q.parquet --positives p.parquet --corpus c.parquet --out random.parquet --top-k 20
    """


def _plain_metavars(group) -> None:
    """Plain metavars (PATH, INTEGER, TEXT) and the allowed values of every choice option in --help."""
    import importlib

    from minekit.options import RULES

    for cmd in getattr(group, "commands", {}).values():
        _plain_metavars(cmd)
        rules = RULES.get(getattr(getattr(getattr(cmd, "callback", None), "stage", None), "kind", ""), {})
        for param in getattr(cmd, "params", []):
            if getattr(param, "param_type_name", "") != "option" or param.is_flag:
                continue
            source = getattr(rules.get(param.name), "choices", None)  # (module, constant) of a one_of rule
            choices = getattr(importlib.import_module(source[0]), source[1], None) if source else None
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
