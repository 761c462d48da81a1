"""Column contracts of minekit's files, and the checks that enforce them.

Every check names the file, the column, how many rows break it and up to five of them, then the fix.
Integer ids are accepted and read as strings.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from minekit.errors import InputError

if TYPE_CHECKING:
    import polars as pl

SHOWN_ROWS = 5

# Candidates: one row per (query, mined document, source). Texts are not copied here.
# score_kind says what made `score` (bm25, cosine, random, ...): scores of different kinds are never
# compared. positive_ids / positive_scores are the query's positives and their scores under the same
# scorer, aligned, so margins are judged per (query, positive); positive_score is the lowest of them.
CANDIDATE_COLUMNS = {
    "query_id": "str",
    "doc_id": "str",
    "source": "str",
    "rank": "int32",
    "score": "float32",
    "score_kind": "str",
    "positive_score": "float32",
    "positive_ids": "list[str]",
    "positive_scores": "list[float32]",
}

# What each miner's score is, for candidates files written before score_kind existed.
SOURCE_KINDS = {"bm25": "bm25", "passage-bm25": "bm25", "dense": "cosine", "passage-dense": "cosine",
                "cluster": "cosine", "random": "random"}


def _dtypes():
    import polars as pl

    return {"str": pl.Utf8, "int32": pl.Int32, "float32": pl.Float32, "list[str]": pl.List(pl.Utf8),
            "list[float32]": pl.List(pl.Float32)}


def blank(texts: "pl.Series") -> "pl.Series":
    """Null, empty or only whitespace; no stripped copy of the texts is made."""
    return texts.is_null() | ~texts.str.contains(r"\S")


FILE_ROW = "_file_row"  # a frame read in parts numbers its rows as the file does


def _fail(path: Path, column: str, problem: str, frame: "pl.DataFrame", bad: "pl.Series", fix: str) -> None:
    """Raise an InputError listing the first offending rows (numbered from 1, as a person counts)."""
    import polars as pl

    numbered = frame.rename({FILE_ROW: "row"}) if FILE_ROW in frame.columns else frame.with_row_index("row", offset=1)
    rows = numbered.filter(bad)
    shown = ", ".join(
        f"row {r['row']} ({', '.join(f'{k}={v!r}' for k, v in r.items() if k != 'row')})"
        for r in rows.head(SHOWN_ROWS).select(pl.exclude("text", "title")).iter_rows(named=True)
    )
    more = f" and {rows.height - SHOWN_ROWS} more" if rows.height > SHOWN_ROWS else ""
    raise InputError(f"{path}: column '{column}': {rows.height} row(s) {problem}: {shown}{more}. {fix}")


def _require_columns(frame: "pl.DataFrame", path: Path, required: list[str], kind: str,
                     columns: list[str] | None = None) -> None:
    """`columns`: the file's columns when only some were read."""
    columns = frame.columns if columns is None else columns
    missing = [c for c in required if c not in columns]
    if missing:
        raise InputError(
            f"{path}: missing column(s) {', '.join(repr(c) for c in missing)} for a {kind} file "
            f"(found: {', '.join(columns) or 'none'}). A {kind} file needs {', '.join(required)}."
        )
    if frame.height == 0:
        raise InputError(f"{path}: the {kind} file has no rows. Fix: give a {kind} file with at least one row.")


def _as_string_ids(frame: "pl.DataFrame", path: Path, columns: list[str]) -> "pl.DataFrame":
    import polars as pl

    for column in columns:
        dtype = frame.schema[column]
        if dtype == pl.Utf8:
            continue
        if dtype.is_integer():
            frame = frame.with_columns(pl.col(column).cast(pl.Utf8))
        else:
            raise InputError(f"{path}: column '{column}' must hold strings or integers, found {dtype}.")
    return frame


def _check_ids(frame: "pl.DataFrame", path: Path, column: str) -> None:
    import polars as pl

    _check_not_null(frame, path, column)
    dup = pl.col(column).is_duplicated()
    if frame.select(dup.any()).item():
        _fail(path, column, "repeat an id", frame, frame.select(dup).to_series(), "Fix: make the ids unique.")


def _check_not_null(frame: "pl.DataFrame", path: Path, column: str) -> None:
    bad = frame[column].is_null()
    if bad.any():
        _fail(path, column, "are null", frame, bad, f"Fix: give every row a {column}.")


def _check_text(frame: "pl.DataFrame", path: Path, column: str = "text") -> "pl.DataFrame":
    import polars as pl

    if frame.schema[column] != pl.Utf8:
        raise InputError(f"{path}: column '{column}' must hold strings, found {frame.schema[column]}.")
    bad = blank(frame[column])
    if bad.any():
        _fail(path, column, "are null or empty", frame, bad, "Fix: remove these rows or give them text.")
    return frame


def check_texts(frame: "pl.DataFrame", path: Path) -> None:
    """A corpus read in parts, checked as validate_corpus checks its texts; offending rows are named by their
    FILE_ROW column (the row of the file, from 1)."""
    _check_text(frame, path)
    _check_title(frame, path)


def _check_title(frame: "pl.DataFrame", path: Path) -> None:
    import polars as pl

    if "title" in frame.columns and frame.schema["title"] != pl.Utf8:
        raise InputError(f"{path}: column 'title' must hold strings, found {frame.schema['title']}.")


def validate_queries(frame: "pl.DataFrame", path: Path) -> "pl.DataFrame":
    _require_columns(frame, path, ["query_id", "text"], "queries")
    frame = _as_string_ids(frame, path, ["query_id"])
    _check_ids(frame, path, "query_id")
    _check_text(frame, path)
    return frame.select("query_id", "text")


def validate_corpus(frame: "pl.DataFrame", path: Path) -> "pl.DataFrame":
    import polars as pl

    _require_columns(frame, path, ["doc_id", "text"], "corpus")
    frame = _as_string_ids(frame, path, ["doc_id"])
    _check_ids(frame, path, "doc_id")
    _check_text(frame, path)
    _check_title(frame, path)
    if "title" in frame.columns:
        return frame.select("doc_id", pl.col("title").fill_null(""), "text")
    return frame.select("doc_id", pl.lit("").alias("title"), "text")


def validate_corpus_ids(frame: "pl.DataFrame", path: Path, columns: list[str]) -> "pl.DataFrame":
    """The doc_id column of a corpus file whose texts are not read (a cached index holds them), checked as
    validate_corpus checks it; `columns` are the file's columns."""
    _require_columns(frame, path, ["doc_id", "text"], "corpus", columns)
    frame = _as_string_ids(frame.select("doc_id"), path, ["doc_id"])
    _check_ids(frame, path, "doc_id")
    return frame


def positive_pairs(frame: "pl.DataFrame", path: Path) -> "pl.DataFrame":
    """A positives file on its own: string ids, no nulls, rows with score > 0, one per (query, doc)."""
    import polars as pl

    _require_columns(frame, path, ["query_id", "doc_id"], "positives")
    frame = _as_string_ids(frame, path, ["query_id", "doc_id"])
    for column in ("query_id", "doc_id"):
        _check_not_null(frame, path, column)
    if "score" in frame.columns:
        if not frame.schema["score"].is_numeric():
            raise InputError(f"{path}: column 'score' must be numeric, found {frame.schema['score']}.")
        # Graded and distilled labels are fractional: scores are floats, never truncated.
        frame = frame.with_columns(pl.col("score").cast(pl.Float64).fill_null(1.0))
        bad = ~frame["score"].is_finite()
        if bad.any():
            _fail(path, "score", "are NaN or infinite", frame, bad,
                  "Fix: give these rows a finite score (> 0 for a positive), or leave it null (1).")
    else:
        frame = frame.with_columns(pl.lit(1.0, dtype=pl.Float64).alias("score"))
    frame = frame.filter(pl.col("score") > 0)
    if frame.height == 0:
        raise InputError(f"{path}: no row has score > 0, so there is no positive to mine for. Fix: give positives a "
                         "score above 0, or drop the score column (every row is then a positive).")
    # The same pair listed twice is one positive; keep its best grade.
    return (
        frame.group_by("query_id", "doc_id", maintain_order=True)
        .agg(pl.col("score").max())
        .sort("query_id", "doc_id")
    )


def validate_positives(
    frame: "pl.DataFrame", path: Path, queries: "pl.DataFrame", corpus: "pl.DataFrame"
) -> "pl.DataFrame":
    """Check positives against the queries and corpus; keep rows with score > 0, one per (query, doc)."""
    pairs = positive_pairs(frame, path)
    # Rows are reported as numbered in the file, so look them up in the file's own order, not in the
    # grouped and sorted pairs.
    raw = _as_string_ids(frame, path, ["query_id", "doc_id"])
    for column, known, problem, fix in (
        ("query_id", queries["query_id"], "name a query not in the queries file", "add these queries"),
        ("doc_id", corpus["doc_id"], "name a document not in the corpus", "add these documents"),
    ):
        unknown = pairs.filter(~pairs[column].is_in(known.implode()))[column]
        if unknown.len():
            _fail(path, column, problem, raw, raw[column].is_in(unknown.implode()),
                  f"Fix: {fix} or drop these rows.")
    return pairs


def check_candidates_ids(frame: "pl.DataFrame", path: Path, corpus: "pl.DataFrame",
                         queries: "pl.DataFrame | None" = None) -> "pl.DataFrame":
    """Candidates must come from these inputs: an id they lack means the files do not belong together."""
    unknown = ~frame["doc_id"].is_in(corpus["doc_id"].implode())
    if unknown.any():
        _fail(path, "doc_id", "name a document not in the corpus", frame, unknown,
              "Fix: mine with the same --corpus you build with.")
    if queries is not None:
        unknown = ~frame["query_id"].is_in(queries["query_id"].implode())
        if unknown.any():
            _fail(path, "query_id", "name a query not in the queries file", frame, unknown,
                  "Fix: mine with the same --queries and --positives you use here.")
    return frame


def validate_candidates(frame: "pl.DataFrame", path: Path) -> "pl.DataFrame":
    """Check a candidates file's columns and types; extra columns (ce_score, ...) are kept."""
    import polars as pl

    _require_columns(frame, path, ["query_id", "doc_id", "source", "rank", "score", "positive_score"], "candidates")
    frame = _as_string_ids(frame, path, ["query_id", "doc_id"])
    frame = complete_candidates(frame, path)
    dtypes = _dtypes()
    raw_rank = frame["rank"]
    try:
        frame = frame.with_columns(pl.col(c).cast(dtypes[t]) for c, t in CANDIDATE_COLUMNS.items() if c != "rank")
    except Exception as exc:
        raise InputError(f"{path}: candidates columns have the wrong types ({exc}).") from exc
    frame = _check_ranks(frame, raw_rank, path)
    for column in ("query_id", "doc_id", "source", "rank", "score"):
        _check_not_null(frame, path, column)
    bad = frame["score"].is_nan() | frame["score"].is_infinite()
    if bad.any():
        _fail(path, "score", "are NaN or infinite", frame, bad,
              "Fix: a miner's score is a finite number; drop these rows or mine again.")
    _check_finite_scores(frame, path)
    dup = frame.select(pl.struct("query_id", "doc_id", "source").is_duplicated()).to_series()
    if dup.any():
        _fail(path, "doc_id", "repeat a (query_id, doc_id, source) triple", frame, dup,
              "Fix: a miner lists each document once per query.")
    return frame


def _check_finite_scores(frame: "pl.DataFrame", path: Path) -> None:
    """Every other score column (positive_score(s), ce_score, ...) holds finite numbers or nulls (no score):
    a NaN or infinite score would pass through margins and thresholds unnoticed."""
    import polars as pl

    for column in frame.columns:
        dtype = frame.schema[column]
        inner = getattr(dtype, "inner", None)
        if column == "score" or "score" not in column or not (inner or dtype).is_float():
            continue
        element = pl.element().is_nan() | pl.element().is_infinite()
        values = pl.col(column)
        expr = values.list.eval(element.fill_null(False)).list.any() if inner is not None else element
        bad = frame.select((values.is_nan() | values.is_infinite()) if inner is None else expr).to_series()
        bad = bad.fill_null(False)
        if bad.any():
            _fail(path, column, "hold NaN or infinite scores", frame, bad,
                  "Fix: scores are finite numbers (leave a score out as null); drop these rows or score them again.")


def _check_ranks(frame: "pl.DataFrame", rank: "pl.Series", path: Path) -> "pl.DataFrame":
    """rank is a whole number >= 1 (1-based within query and source); anything else is named by row."""
    import polars as pl

    if not rank.dtype.is_numeric():
        raise InputError(f"{path}: column 'rank' must hold whole numbers >= 1, found {rank.dtype}. "
                         "Fix: write ranks as integers, 1 for each query's best candidate.")
    shown = frame.with_columns(rank.alias("rank"))
    if rank.dtype.is_float():
        bad = rank.is_not_null() & (rank.is_nan() | rank.is_infinite() | (rank != rank.floor()))
        if bad.any():
            _fail(path, "rank", "are not whole numbers (NaN, infinite or fractional)", shown, bad,
                  "Fix: ranks are integers 1, 2, 3, ... per query and source.")
    bad = rank.is_not_null() & ((rank < 1) | (rank > 2**31 - 1))
    if bad.any():
        _fail(path, "rank", "are below 1 or too large", shown, bad,
              "Fix: ranks start at 1 for each query's best candidate.")
    return frame.with_columns(rank.cast(pl.Int32).alias("rank"))


def complete_candidates(frame: "pl.DataFrame", path: Path | str = "candidates") -> "pl.DataFrame":
    """Fill the columns older or hand-made candidates files lack: score_kind from the source's miner,
    and the positive lists from positive_score (one unnamed positive, judged for every row)."""
    import polars as pl

    if "score_kind" not in frame.columns:
        unknown = sorted(set(frame["source"].drop_nulls().unique().to_list()) - set(SOURCE_KINDS))
        if unknown:
            raise InputError(f"{path}: no column 'score_kind', and source(s) {', '.join(map(repr, unknown))} do not "
                             "say what their score is. Fix: add a score_kind column (bm25, cosine, ce_logit, "
                             "ce_prob, random, ...).")
        frame = frame.with_columns(pl.col("source").replace_strict(SOURCE_KINDS, default=None).alias("score_kind"))
    return with_positive_lists(frame)


def with_positive_lists(frame: "pl.DataFrame") -> "pl.DataFrame":
    """Candidates without positive_ids / positive_scores get one unnamed positive scored positive_score:
    a margin then judges the row as a whole, as the query's positives cannot be told apart."""
    import polars as pl

    if "positive_ids" in frame.columns and "positive_scores" in frame.columns:
        return frame
    if "positive_score" not in frame.columns:  # no positive score at all: nothing a margin could judge
        frame = frame.with_columns(pl.lit(None, pl.Float32).alias("positive_score"))
    return frame.with_columns(pl.concat_list(pl.lit(None, pl.Utf8)).alias("positive_ids"),
                              pl.concat_list(pl.col("positive_score").cast(pl.Float32)).alias("positive_scores"))


def empty_candidates() -> "pl.DataFrame":
    import polars as pl

    dtypes = _dtypes()
    return pl.DataFrame(schema={c: dtypes[t] for c, t in CANDIDATE_COLUMNS.items()})


def conform_candidates(frame: "pl.DataFrame") -> "pl.DataFrame":
    """Put a miner's output in contract order and types, sorted by query, source, rank."""
    import polars as pl

    dtypes = _dtypes()
    extra = [c for c in frame.columns if c not in CANDIDATE_COLUMNS]
    return frame.select(
        *(pl.col(c).cast(dtypes[t]) for c, t in CANDIDATE_COLUMNS.items()), *extra
    ).sort("query_id", "source", "rank")


def passage_text() -> "pl.Expr":
    """The text a model or index sees for a corpus row: "title text" when there is a title."""
    import polars as pl

    return (
        pl.when(pl.col("title").str.strip_chars() != "")
        .then(pl.concat_str("title", pl.lit(" "), "text"))
        .otherwise(pl.col("text"))
    )
