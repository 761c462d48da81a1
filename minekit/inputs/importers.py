"""Importers: common layouts in, minekit's queries / positives / corpus parquet files out.

Layouts: BEIR folders; (anchor, positive[, negative...]) text tables as parquet, JSONL or a Hugging Face
`datasets` folder; FlagEmbedding and Tevatron training JSONL. Texts without ids get stable content-hash
ids (q.../d...), so repeated texts merge. A layout that carries negatives also gives `negatives.parquet`,
a candidates file (source "imported", ranks in file order) that `minekit build` or `filter` take as is.

What is written passes the same checks as `minekit validate`; anything wrong stops the import with a
message naming the file and line (or row), and nothing is written.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from minekit.errors import ConfigError, InputError
from minekit.inputs.jsonl import _lines, _get, _get_list, _kind, _read_jsonl
from minekit.inputs.negatives import negative_candidates

if TYPE_CHECKING:
    import polars as pl

_SPLIT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass
class Imported:
    queries: "pl.DataFrame"
    positives: "pl.DataFrame"
    corpus: "pl.DataFrame"
    stats: dict
    negatives: "pl.DataFrame | None" = None  # candidates contract, when the layout has negatives
    rows: "pl.DataFrame | None" = None  # query_id, positive_ids, negative_ids, negative_scores per record
    source_files: list[Path] = field(default_factory=list)
    upstream: list[dict] = field(default_factory=list)  # the steps that made the file (a minekit export's manifest)


def import_beir(folder: str | Path, *, split: str = "test") -> Imported:
    """A BEIR folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv); only the split's queries are kept."""
    import polars as pl

    from minekit.inputs import schema

    if not _SPLIT.match(split) or ".." in split:
        raise ConfigError(f"--split: {split!r} is not a split name (letters, digits, '.', '_', '-'; no '/' or "
                          "'..'), e.g. --split test.")
    folder = Path(folder)
    qrels_path = folder / "qrels" / f"{split}.tsv"
    if not qrels_path.is_file():
        found = sorted(p.stem for p in (folder / "qrels").glob("*.tsv")) if (folder / "qrels").is_dir() else []
        raise InputError(f"{qrels_path}: not found; splits in this folder: {', '.join(found) or 'none'}.")
    corpus_path, queries_path = folder / "corpus.jsonl", folder / "queries.jsonl"
    corpus = _read_jsonl(corpus_path, ["_id", "text"], optional=("title",), ids=("_id",))
    with _field_names({"doc_id": "_id"}):
        corpus = schema.validate_corpus(corpus.rename({"_id": "doc_id"}), corpus_path)
    queries = _read_jsonl(queries_path, ["_id", "text"], ids=("_id",)).rename({"_id": "query_id"})
    with _field_names({"query_id": "_id"}):
        queries = schema.validate_queries(queries, queries_path)
    qrels = _read_qrels(qrels_path)
    positives = schema.validate_positives(qrels, qrels_path, queries, corpus)
    kept = queries.filter(pl.col("query_id").is_in(positives["query_id"].implode()))
    stats = {"queries": kept.height, "queries_not_in_split": queries.height - kept.height,
             "documents": corpus.height, "qrels": qrels.height, "positives": positives.height}
    return Imported(kept, positives, corpus, stats, source_files=[corpus_path, queries_path, qrels_path])


@contextmanager
def _field_names(names: dict[str, str]) -> Iterator[None]:
    """Checks run on renamed columns: say the file's own field names (`_id`), and records, not rows."""
    try:
        yield
    except InputError as exc:
        message = str(exc)
        for column, name in names.items():
            message = message.replace(f"column '{column}'", f"field '{name}'").replace(f"{column}=", f"{name}=")
        raise InputError(message.replace("row(s)", "record(s)").replace("(row ", "(record ")
                         .replace(": row ", ": record ").replace(", row ", ", record ")) from None


def _read_qrels(path: Path) -> "pl.DataFrame":
    import polars as pl

    from minekit.inputs.schema import _fail

    try:
        qrels = pl.read_csv(path, separator="\t", infer_schema=False, quote_char=None)
    except Exception as exc:  # polars raises several kinds for malformed CSV
        raise InputError(f"{path}: cannot be read as a tab-separated file ({exc}).") from exc
    if not {"query-id", "corpus-id"} <= set(qrels.columns):
        raise InputError(f"{path}: needs a header with query-id, corpus-id[, score]; found {qrels.columns}.")
    qrels = qrels.rename({"query-id": "query_id", "corpus-id": "doc_id"})
    if "score" in qrels.columns:
        number = pl.col("score").str.strip_chars().cast(pl.Float64, strict=False)
        bad = qrels.select(number.is_null() & pl.col("score").is_not_null()).to_series()
        if bad.any():
            _fail(path, "score", "are not numbers", qrels, bad, "Fix: scores are relevance grades (numbers).")
        qrels = qrels.with_columns(number)  # graded and distilled labels are fractional: never truncated
    else:
        qrels = qrels.with_columns(pl.lit(1.0, pl.Float64).alias("score"))
    return qrels.select("query_id", "doc_id", "score")


# -- records: one query, its positives and negatives ------------------------------------------------------

@dataclass
class _Doc:
    doc_id: str | None  # None: a content-hash id is given
    title: str
    text: str


@dataclass
class _Record:
    query_id: str | None
    query: str
    positives: list[_Doc]
    negatives: list[_Doc]
    positive_scores: list[float] | None = None
    negative_scores: list[float] | None = None
    where: str = ""


def _content_id(prefix: str, text: str) -> str:
    return f"{prefix}{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def _from_records(records: list[_Record], path: Path, *, corpus: "pl.DataFrame | None" = None,
                  corpus_path: Path | None = None) -> Imported:
    """Queries, positives, corpus (and negatives) from records; ids for texts that have none; every check run."""
    import polars as pl

    from minekit.inputs import schema

    known = _text_index(corpus) if corpus is not None else {}
    queries: dict[str, tuple[str, str]] = {}
    docs: dict[str, tuple[str, str, str]] = {}
    added = 0

    def doc_id(doc: _Doc, where: str) -> str:
        nonlocal added
        did = doc.doc_id or known.get(doc.text.strip())
        if did is None:
            did = _content_id("d", doc.text)
            added += corpus is not None and did not in docs
        seen = docs.get(did)
        if seen is None:
            docs[did] = (doc.title, doc.text, where)
        elif seen[:2] != (doc.title, doc.text):
            raise InputError(f"{where}: document {did!r} has another text than at {seen[2]}. Fix: one id, one text.")
        return did

    rows = []
    for r in records:
        qid = r.query_id or _content_id("q", r.query)
        seen_q = queries.setdefault(qid, (r.query, r.where))
        if seen_q[0] != r.query:
            raise InputError(f"{r.where}: query {qid!r} has another text than at {seen_q[1]}. Fix: one id, one text.")
        rows.append({"query_id": qid, "positive_ids": [doc_id(d, r.where) for d in r.positives],
                     "negative_ids": [doc_id(d, r.where) for d in r.negatives],
                     "positive_scores": r.positive_scores, "negative_scores": r.negative_scores})
    q = pl.DataFrame({"query_id": list(queries), "text": [t for t, _ in queries.values()]})
    c = pl.DataFrame({"doc_id": list(docs), "title": [v[0] for v in docs.values()],
                      "text": [v[1] for v in docs.values()]}, schema={"doc_id": pl.Utf8, "title": pl.Utf8,
                                                                      "text": pl.Utf8})
    if corpus is not None:
        c = pl.concat([corpus, c.join(corpus, on="doc_id", how="anti")])
    rows_frame = pl.DataFrame(rows, schema={"query_id": pl.Utf8, "positive_ids": pl.List(pl.Utf8),
                                            "negative_ids": pl.List(pl.Utf8), "positive_scores": pl.List(pl.Float32),
                                            "negative_scores": pl.List(pl.Float32)})
    pos = (rows_frame.select("query_id", pl.col("positive_ids").alias("doc_id")).explode("doc_id")
           .unique(maintain_order=True).with_columns(pl.lit(1, pl.Int64).alias("score")))
    q = schema.validate_queries(q.sort("query_id"), path)
    c = schema.validate_corpus(c.sort("doc_id"), corpus_path or path)
    pos = schema.validate_positives(pos, path, q, c)
    negatives, dropped = negative_candidates(rows_frame, pos)
    stats = {"records": len(records), "queries": q.height, "documents": c.height, "positives": pos.height,
             "negatives": 0 if negatives is None else negatives.height}
    if corpus is not None:
        stats["documents_added_to_corpus"] = added
    if dropped:
        stats["dropped"] = {"is_positive": dropped}
    rows_frame = rows_frame.select("query_id", "positive_ids", "negative_ids", "negative_scores")
    return Imported(q, pos, c, stats, negatives, rows_frame)


def _text_index(corpus: "pl.DataFrame") -> dict[str, str]:
    """text -> doc_id for a given corpus, by its text and by "title text" (the smallest id where texts repeat)."""
    import polars as pl

    from minekit.inputs.schema import passage_text

    keyed = pl.concat([corpus.select(pl.col("text").str.strip_chars().alias("key"), "doc_id"),
                       corpus.select(passage_text().str.strip_chars().alias("key"), "doc_id")])
    best = keyed.group_by("key").agg(pl.col("doc_id").min())
    return dict(zip(best["key"].to_list(), best["doc_id"].to_list()))


# -- layouts ---------------------------------------------------------------------------------------------

def _scores(record: dict, key: str, n: int, where: str) -> list[float] | None:
    values = _get_list(record, key, where, required=False) if key in record else None
    if values is None:
        return None
    if len(values) != n or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise InputError(f"{where}: field '{key}' must be a list of {n} numbers, one per passage.")
    if not all(math.isfinite(v) for v in values):
        raise InputError(f"{where}: field '{key}' holds NaN or Infinity; scores must be finite numbers. Fix: drop "
                         f"'{key}' from this record or give finite scores.")
    return [float(v) for v in values]


def import_flagembedding(file: str | Path, *, corpus: "pl.DataFrame | None" = None,
                         corpus_path: Path | None = None) -> Imported:
    """FlagEmbedding fine-tuning JSONL: query, pos, neg[, pos_scores, neg_scores, prompt]; content-hash ids."""
    path = Path(file)
    records, prompts = [], set()
    for number, rec in _lines(path):
        where = f"{path}: line {number}"
        query = _get(rec, "query", "text", where)
        pos = [_text_item(v, "pos", i, where) for i, v in enumerate(_get_list(rec, "pos", where))]
        if not pos:
            raise InputError(f"{where}: field 'pos' is empty; every record needs a positive.")
        neg = [_text_item(v, "neg", i, where) for i, v in enumerate(_get_list(rec, "neg", where, required=False))]
        prompt = _get(rec, "prompt", "str", where, required=False)
        if prompt:
            prompts.add(prompt)
        # minekit's exports carry the dataset's ids beside the texts: duplicate texts stay apart
        pos_ids, neg_ids = _id_list(rec, "pos_ids", len(pos), where), _id_list(rec, "neg_ids", len(neg), where)
        records.append(_Record(_get(rec, "query_id", "id", where, required=False), query,
                               [_Doc(i, "", t) for i, t in zip(pos_ids, pos)],
                               [_Doc(i, "", t) for i, t in zip(neg_ids, neg)],
                               _scores(rec, "pos_scores", len(pos), where), _scores(rec, "neg_scores", len(neg), where),
                               where))
    result = _from_records(records, path, corpus=corpus, corpus_path=corpus_path)
    if prompts:
        result.stats["prompts_not_imported"] = len(prompts)  # a training-time instruction, not data
    result.source_files, result.upstream = [path], export_steps(path)
    return result


def _id_list(record: dict, key: str, n: int, where: str) -> list[str | None]:
    """An optional list of n ids (pos_ids, neg_ids); n Nones when the record has none."""
    values = _get_list(record, key, where, required=False)
    if not values and key not in record:
        return [None] * n
    if len(values) != n:
        raise InputError(f"{where}: field '{key}' has {len(values)} ids for {n} passages; give one id per passage.")
    return [_get({key: v}, key, "id", f"{where}: {key} item {i + 1}") for i, v in enumerate(values)]


def export_steps(path: Path) -> list[dict]:
    """The steps that made a minekit export (its manifest beside the file, or inside the hf folder)."""
    from minekit.io import read_manifest_json

    manifest = path / "manifest.json" if path.is_dir() else path.with_name(path.name + ".manifest.json")
    if not manifest.is_file():
        return []
    try:
        return list(read_manifest_json(manifest).get("steps", []))
    except (InputError, ValueError, AttributeError):
        return []  # not a minekit manifest: the file's own rows are all there is


def _text_item(value: Any, key: str, index: int, where: str) -> str:
    if not isinstance(value, str):
        raise InputError(f"{where}: field '{key}' item {index + 1} must be a string, found {_kind(value)}.")
    if not value.strip():
        raise InputError(f"{where}: field '{key}' item {index + 1} is empty.")
    return value


def import_tevatron(file: str | Path) -> Imported:
    """Tevatron training JSONL: query_id, query, positive_passages, negative_passages ({docid, title, text})."""
    path = Path(file)
    records = []
    for number, rec in _lines(path):
        where = f"{path}: line {number}"
        qid = _get(rec, "query_id", "id", where)
        query = _get(rec, "query", "text", where)
        pos = [_passage(p, "positive_passages", i, where)
               for i, p in enumerate(_get_list(rec, "positive_passages", where))]
        if not pos:
            raise InputError(f"{where}: field 'positive_passages' is empty; every record needs a positive.")
        neg = [_passage(p, "negative_passages", i, where)
               for i, p in enumerate(_get_list(rec, "negative_passages", where, required=False))]
        records.append(_Record(qid, query, pos, neg, where=where))
    result = _from_records(records, path)
    result.source_files, result.upstream = [path], export_steps(path)
    return result


def _passage(value: Any, key: str, index: int, where: str) -> _Doc:
    at = f"{where}: {key} item {index + 1}"
    if not isinstance(value, dict):
        raise InputError(f"{at}: must be an object with docid, title, text; found {_kind(value)}.")
    return _Doc(_get(value, "docid", "id", at), _get(value, "title", "str", at, required=False) or "",
                _get(value, "text", "text", at))


def import_pairs(file: str | Path, *, anchor_column: str = "anchor", positive_column: str = "positive",
                 corpus: "pl.DataFrame | None" = None, corpus_path: Path | None = None) -> Imported:
    """(anchor, positive[, negative / negative_1..n]) texts from parquet, JSONL or a `datasets` folder.

    Ids are content hashes; repeated texts merge. With `corpus`, a text found in it keeps the corpus's
    doc_id and the rest of the corpus comes along (pairs plus a larger corpus to mine from).
    """
    import polars as pl

    file = Path(file)
    if file.is_dir():
        table = _read_hf(file)
    elif file.suffix in (".jsonl", ".json"):
        table = _read_text_jsonl(file, (anchor_column, positive_column))
    else:
        from minekit.io import read_parquet

        table = read_parquet(file, what="pairs")
    if table.height == 0:
        raise InputError(f"{file}: no rows.")
    missing = [c for c in (anchor_column, positive_column) if c not in table.columns]
    if missing:
        raise InputError(f"{file}: missing column(s) {', '.join(missing)} (found: {', '.join(table.columns)}); "
                         "name them with --anchor-column / --positive-column.")
    negs = [c for c in table.columns if c == "negative" or re.fullmatch(r"negative_\d+", c)]
    columns = [anchor_column, positive_column, *negs]
    for column in columns:
        _check_text_column(table, column, file)
    ids = _row_ids(file, table, len(negs))
    records = [_Record(q, row[0], [_Doc(p, "", row[1])], [_Doc(n, "", t) for n, t in zip(ns, row[2:])],
                       where=f"{file}: row {i}")
               for i, (row, (q, p, ns)) in enumerate(zip(table.select(columns).iter_rows(), ids), start=1)]
    result = _from_records(records, file, corpus=corpus, corpus_path=corpus_path)
    pairs = table.select(pl.struct(columns[:2]).n_unique()).item()
    result.stats = {"pairs": table.height, **result.stats, "duplicate_pairs_merged": table.height - pairs}
    result.source_files, result.upstream = [file], export_steps(file)
    return result


def _row_ids(file: Path, table: "pl.DataFrame", n_neg: int) -> list[tuple]:
    """(query_id, positive_id, negative_ids) of each row where minekit's export gives them (the jsonl layout's
    own columns, or ids.parquet in an hf folder), so duplicate texts stay apart; Nones otherwise."""
    from minekit.io import read_parquet

    ids = table
    if file.is_dir() and (file / "ids.parquet").is_file():
        ids = read_parquet(file / "ids.parquet", what="ids")
        if ids.height != table.height:
            raise InputError(f"{file / 'ids.parquet'}: {ids.height} rows, but the dataset has {table.height}; "
                             "they must be row-aligned (export again, or delete ids.parquet to import by texts).")
    if not {"query_id", "positive_id", "negative_ids"} <= set(ids.columns):
        return [(None, None, [None] * n_neg)] * table.height
    out = []
    for i, (q, p, ns) in enumerate(ids.select("query_id", "positive_id", "negative_ids").iter_rows(), start=1):
        if q is None or p is None or ns is None or len(ns) != n_neg or any(n is None for n in ns):
            raise InputError(f"{file}: row {i}: query_id, positive_id and negative_ids must name the row's query, "
                             f"positive and {n_neg} negative(s).")
        out.append((str(q), str(p), [str(n) for n in ns]))
    return out


def _check_text_column(table: "pl.DataFrame", column: str, path: Path) -> None:
    import polars as pl

    from minekit.inputs.schema import _fail

    if table.schema[column] not in (pl.Utf8, pl.String):
        raise InputError(f"{path}: column '{column}' must hold strings, found {table.schema[column]}. "
                         "Fix: one text per cell.")
    bad = table[column].is_null() | (table[column].str.strip_chars() == "")
    if bad.any():
        _fail(path, column, "are null or empty", table, bad, "Fix: drop them or give them text.")


def _read_text_jsonl(path: Path, wanted: tuple[str, ...]) -> "pl.DataFrame":
    """The text fields of a JSONL table (the wanted ones, negative, negative_<n>): a list instead of a string is an error."""
    import polars as pl

    rows = []
    for number, record in _lines(path):
        row = {}
        for key, value in record.items():
            if key in ("query_id", "positive_id", "negative_ids"):  # minekit's jsonl export: the row's ids
                row[key] = value
                continue
            if key in wanted or key == "negative" or re.fullmatch(r"negative_\d+", key):
                if value is not None and not isinstance(value, str):
                    raise InputError(f"{path}: line {number}: field '{key}' must be a string, found {_kind(value)}.")
                row[key] = value
        rows.append(row)
    keys = dict.fromkeys(k for r in rows for k in r)
    schema = {k: pl.List(pl.Utf8) if k == "negative_ids" else pl.Utf8 for k in keys}
    try:
        return pl.DataFrame([{k: _as_ids(v) if k in _ID_FIELDS else v for k, v in r.items()} for r in rows],
                            schema=schema)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{path}: the id fields query_id, positive_id, negative_ids must be ids and a list of "
                         f"ids ({exc}).") from exc


_ID_FIELDS = ("query_id", "positive_id", "negative_ids")


def _as_ids(value: Any) -> Any:
    if isinstance(value, list):
        return [None if v is None else str(v) for v in value]
    return None if value is None else str(value)


def _read_hf(folder: Path) -> "pl.DataFrame":
    import polars as pl

    if not (folder / "dataset_info.json").is_file() and not (folder / "dataset_dict.json").is_file():
        raise InputError(f"{folder}: not a Hugging Face datasets folder (no dataset_info.json; written by "
                         "save_to_disk?).")
    if (folder / "dataset_dict.json").is_file():
        raise InputError(f"{folder}: holds several splits (a DatasetDict); give one split's folder, "
                         f"e.g. {folder / 'train'}.")
    import datasets

    if _hf_files(folder) == []:  # save_to_disk of 0 rows writes no arrow file; load_from_disk fails obscurely
        raise InputError(f"{folder}: holds no rows (a saved dataset of 0 examples). Fix: give a datasets folder "
                         "with at least one (anchor, positive) row.")
    try:
        data = datasets.load_from_disk(str(folder))
    except Exception as exc:  # datasets raises several kinds for a damaged folder
        raise InputError(f"{folder}: cannot be loaded with datasets.load_from_disk ({exc}).") from exc
    return pl.from_arrow(data.data.table)


def _hf_files(folder: Path) -> list | None:
    """The arrow files a datasets folder's state.json lists (None when it cannot be read)."""
    try:
        files = json.loads((folder / "state.json").read_text(encoding="utf-8")).get("_data_files")
    except (OSError, ValueError, AttributeError):
        return None
    return files if isinstance(files, list) else None


def read_corpus(path: str | Path) -> "pl.DataFrame":
    """A corpus to import pairs against: minekit's corpus parquet, or JSONL with doc_id (or _id), text[, title]."""
    from minekit.inputs import schema
    from minekit.io import read_parquet

    path = Path(path)
    if path.suffix in (".jsonl", ".json"):
        import polars as pl

        rows = []
        for number, record in _lines(path):
            where = f"{path}: line {number}"
            key = "doc_id" if "doc_id" in record else "_id"
            rows.append({"doc_id": _get(record, key, "id", where), "title": _get(record, "title", "str", where,
                                                                               required=False) or "",
                         "text": _get(record, "text", "text", where)})
        frame = pl.DataFrame(rows, schema={"doc_id": pl.Utf8, "title": pl.Utf8, "text": pl.Utf8})
    else:
        frame = read_parquet(path, what="corpus")
    return schema.validate_corpus(frame, path)


# -- writing ------------------------------------------------------------------------------------------------

def write_inputs(result: Imported, out: str | Path, *, stage: str, params: dict, source: str | Path,
                 overwrite: bool = False) -> Path:
    """queries.parquet, positives.parquet, corpus.parquet (and negatives.parquet) in `out`, each with its manifest.

    A new folder is written as one hidden temp folder and renamed into place; in an existing folder every
    file is written beside its target first, then renamed over it, so a failed import replaces nothing.
    Existing files are replaced only with overwrite=True.
    """
    from minekit.io import atomic_folder, atomic_paths, describe_file, write_parquet
    from minekit.manifest import make_manifest

    out = Path(out)
    frames = {"queries": result.queries, "positives": result.positives, "corpus": result.corpus}
    if result.negatives is not None:  # never write what `filter` and `build` would refuse to read
        from minekit.inputs import schema

        schema.validate_candidates(result.negatives, Path(out) / "negatives.parquet")
        frames["negatives"] = result.negatives
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out: {out} is a file; give a folder.")
    present = [f"{n}.parquet" for n in (*frames, "negatives") if (out / f"{n}.parquet").exists()]
    if present and not overwrite:
        raise ConfigError(f"--out: {out} already holds {', '.join(dict.fromkeys(present))}; pass --overwrite to "
                          "replace them, or choose another folder.")
    _check_imported(out, present)
    inputs = {"source": {"path": str(source)}}
    for i, path in enumerate(result.source_files):
        if path.is_file():
            inputs[f"source[{i}]"] = describe_file(path)
    manifest = make_manifest(stage, params, inputs, result.stats, result.upstream)
    if not out.exists():
        with atomic_folder(out) as tmp:
            for name, frame in frames.items():
                write_parquet(frame, tmp / f"{name}.parquet", manifest)
        return out
    stale = [out / "negatives.parquet"] if "negatives" not in frames and "negatives.parquet" in present else []
    # one switch: the folder holds the old import or the new one, never a mix (a stale negatives file goes too)
    with atomic_paths(*(out / f"{name}.parquet" for name in frames), remove=tuple(stale)) as temps:
        for frame, tmp in zip(frames.values(), temps):
            write_parquet(frame, tmp, manifest)
    return out


def _check_imported(out: Path, present: list[str]) -> None:
    """--overwrite replaces only files an earlier `minekit import` wrote, never a file of the user's own."""
    from minekit.io import read_manifest

    for name in dict.fromkeys(present):
        try:
            stage = (read_manifest(out / name) or {}).get("stage", "")
        except InputError:
            stage = ""
        if not str(stage).startswith("import."):
            raise ConfigError(f"--out: {out / name} was not written by `minekit import`; --overwrite replaces only "
                              f"an earlier import's files. Fix: choose another folder, or move {name} away yourself.")
