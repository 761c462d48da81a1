"""Building the BM25 index that minekit.mine.bm25_index caches and opens, one corpus part at a time.

The passages in doc_id order are cut into the index's parts. Each part goes through two steps that need
nothing from the other parts, so they can run side by side (Ray tasks, `index bm25 --ray`), each holding
its own part's texts only; between them one short step joins what the parts found:

1. tokenize (a task a part): the part's passages are read (from the corpus file, keeping the part's rows
   of each batch, or from a frame) and tokenized BUILD_CHUNK at a time by a fresh bm25s tokenizer. Its
   distinct (passage, term) counts go to the part's scratch files under the part's own term ids, with its
   vocabulary (in first-seen order), document frequencies and passage lengths.
2. vocabulary (here): the parts' vocabularies joined in part order, each token new to the parts before
   taking the next id in its part's first-seen order. These are the ids bm25s gives tokenizing the whole
   corpus in one pass, so the index is the one a single tokenizer builds, byte for byte. Then the global
   document frequencies, bm25s' idf and the average passage length.
3. score (a task a part): the part's terms renumbered to those ids (sorted again within a passage) are
   written into the shared passage-terms files at the part's offset, and the part's score matrix is filled
   from them with bm25s' own term-frequency function and the global statistics.

Before these, the cache key's corpus digest is taken the same way, a task a part (`digest_part`). Peak
memory of a task is its part's texts, one chunk's token lists, and arrays of one number a passage of the
part or a term; the corpus file is never held whole, and with Ray the driver reads no passage text.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Union

import numpy as np

from minekit.errors import ConfigError

if TYPE_CHECKING:
    import polars as pl

BUILD_CHUNK = 65_536  # passages tokenized (and scored) at a time while building
EMPTY = ""  # bm25s' token for a text with no word left; never part of a query
SCRATCH = ".parts"  # the tokenize step's files, inside the folder being built

Source = Union[Path, "pl.DataFrame"]  # a corpus parquet file, or a frame sorted by doc_id
Mapper = Callable[[Callable, list], list]  # runs fn on every item (here: a loop; on Ray: a task an item)


def local_map(fn: Callable, items: list) -> list:
    return [fn(item) for item in items]


def part_spans(doc_ids: "pl.Series", parts: int) -> list[tuple[int, int, str, str]]:
    """Each part's passages [lo, hi) in doc_id order, with its first and last doc id (what a task reading the
    corpus file looks for: no task reads the whole id column again)."""
    bounds = np.linspace(0, len(doc_ids), parts + 1).round().astype(np.int64)
    return [(int(lo), int(hi), doc_ids[int(lo)], doc_ids[int(hi) - 1]) for lo, hi in zip(bounds[:-1], bounds[1:])]


def make_tokenizer(stemmer: str | None, stopwords: str | None):
    from bm25s.tokenization import Tokenizer

    stem = None
    if stemmer:
        import Stemmer

        try:
            stem = Stemmer.Stemmer(stemmer)
        except KeyError as exc:
            raise ConfigError(
                f"stemmer: unknown language {stemmer!r}; choose one of {', '.join(Stemmer.algorithms())}, or none."
            ) from exc
    try:
        return Tokenizer(stopwords=stopwords or [], stemmer=stem)
    except Exception as exc:
        raise ConfigError(f"stopwords: {stopwords!r} is not a stopword list bm25s knows ({exc}). Fix: use one of "
                          "those languages' codes (en, fr, de, ...) or 'none'.") from exc


# -- reading a part -------------------------------------------------------------------------------------

def read_part(source: Source, span: tuple[int, int, str, str]) -> "pl.DataFrame":
    """A part's passages in doc_id order (doc_id, title, text), checked as the corpus contract says."""
    lo, hi, first, last = span
    if not isinstance(source, Path):
        return source.slice(lo, hi - lo)
    import polars as pl

    from minekit.errors import InputError
    from minekit.inputs.schema import FILE_ROW, check_texts
    from minekit.io import parquet_columns

    columns = [c for c in ("doc_id", "title", "text") if c in parquet_columns(source, what="corpus")]
    # ids are unique, so the part is the rows between its first and last id; a streaming scan keeps those
    # rows of each row group: the file is never held whole
    part = (pl.scan_parquet(source).select(columns).with_row_index(FILE_ROW, offset=1)
            .with_columns(pl.col("doc_id").cast(pl.Utf8))
            .filter(pl.col("doc_id").is_between(pl.lit(first), pl.lit(last)))
            .collect(engine="streaming").sort("doc_id"))
    if part.height != hi - lo:
        raise InputError(f"{source}: the corpus file changed while it was read ({part.height} passages between "
                         f"{first!r} and {last!r}, {hi - lo} before). Fix: run again once nothing writes it.")
    check_texts(part, source)
    title = pl.col("title").fill_null("") if "title" in part.columns else pl.lit("").alias("title")
    return part.select("doc_id", title, "text")


def part_digest(frame: "pl.DataFrame") -> str:
    """sha256 of a part as the index sees it: its doc ids and passage texts in order (the same whatever the
    chunks: byte lengths and bytes of each column are hashed as separate streams, from Arrow's buffers)."""
    import polars as pl

    from minekit.inputs.schema import passage_text

    streams = [hashlib.sha256() for _ in range(4)]
    for a in range(0, frame.height, BUILD_CHUNK):
        chunk = frame.slice(a, BUILD_CHUNK).select("doc_id", passage_text().alias("passage"))
        for i, column in enumerate(("doc_id", "passage")):
            values = chunk[column].cast(pl.Utf8).to_arrow().cast("large_string")
            offsets = np.frombuffer(values.buffers()[1], dtype=np.int64)[values.offset:values.offset + len(values) + 1]
            streams[2 * i].update(np.diff(offsets).tobytes())
            streams[2 * i + 1].update(memoryview(values.buffers()[2])[int(offsets[0]):int(offsets[-1])]
                                      if len(values) else b"")
    return hashlib.sha256("".join(s.hexdigest() for s in streams).encode()).hexdigest()


# -- the three steps --------------------------------------------------------------------------------------

def build(source: Source, doc_ids: "pl.Series", folder: Path, what: dict, *, show_progress: bool,
          mapper: Mapper = local_map) -> None:
    """Write the index of the corpus (its sorted doc ids given) into `folder` (index.json last); `mapper` runs the
    per-part steps."""
    n_docs, spans = len(doc_ids), part_spans(doc_ids, what["parts"])
    params, bounds = what["params"], [(lo, hi) for lo, hi, _, _ in spans]
    folder = folder.resolve()  # tasks elsewhere (Ray) do not run in this working folder
    source = source.resolve() if isinstance(source, Path) else source
    make_tokenizer(params["stemmer"], params["stopwords"])  # a bad stemmer or stopword list: an error here
    scratch = folder / SCRATCH
    bars = show_progress and mapper is local_map  # a task elsewhere shows none; the mapper counts the tasks
    tasks = [(source, span, str(scratch / str(i)), params, f"bm25 index {i + 1}/{len(spans)}" if bars else None)
             for i, span in enumerate(spans)]
    found = mapper(tokenize_part, tasks)
    vocab, remaps, df = _join_vocabularies([Path(t[2]) for t in tasks])
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    total_len = sum(f["length"] for f in found)
    avg_len = np.float64(total_len) / n_docs if n_docs else np.float64(0)
    np.save(scratch / "idf.npy", _idf(df, n_docs, params["method"]), allow_pickle=False)
    for i, remap in enumerate(remaps):
        np.save(scratch / str(i) / "remap.npy", remap, allow_pickle=False)
    scored = mapper(score_part, [(str(folder), i, float(avg_len), params, len(vocab)) for i in range(len(bounds))])
    _join_docs(folder, len(bounds))
    postings = sum(f["postings"] for f in found)
    files = {"docs.indptr.bin": ("int64", [n_docs + 1]), "docs.terms.bin": ("int32", [postings]),
             "docs.tf.bin": ("float32", [postings])}
    for part in scored:
        files.update(part)
    shutil.rmtree(scratch)
    _write_meta(folder, what, files, vocab, bounds, avg_len)


def _write_meta(folder: Path, what: dict, files: dict, vocab: list[str], bounds: list, avg_len) -> None:
    from minekit.io import sha256_of

    meta = {**what, "avg_len": float(avg_len), "vocabulary": len(vocab),
            "empty_id": vocab.index(EMPTY) if EMPTY in vocab else None, "parts": [list(b) for b in bounds],
            "files": {name: {"dtype": dtype, "shape": shape, "bytes": (folder / name).stat().st_size,
                             "sha256": sha256_of(folder / name)} for name, (dtype, shape) in files.items()}}
    meta["files"]["vocab.json"] = {"dtype": "json", "shape": [len(vocab)],
                                   "bytes": (folder / "vocab.json").stat().st_size,
                                   "sha256": sha256_of(folder / "vocab.json")}
    (folder / "index.json").write_text(json.dumps(meta, indent=1, sort_keys=True), encoding="utf-8")


def tokenize_part(task: tuple) -> dict:
    """Step 1 for one part: its passages tokenized a chunk at a time into its scratch folder (its own term ids)."""
    from tqdm.auto import tqdm

    from minekit.inputs.schema import passage_text

    source, span, out, params, bar_title = task
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    frame = read_part(source, span)
    tokenizer = make_tokenizer(params["stemmer"], params["stopwords"])
    lengths_all, df, offset = [], np.zeros(0, dtype=np.int64), 0
    bar = tqdm(total=frame.height, desc=bar_title, unit="passage", disable=bar_title is None)
    with open(out / "indptr.bin", "wb") as f_ptr, open(out / "terms.bin", "wb") as f_terms, \
            open(out / "tf.bin", "wb") as f_tf:
        f_ptr.write(np.zeros(1, dtype=np.int64).tobytes())
        for a in range(0, frame.height, BUILD_CHUNK):
            texts = frame.slice(a, BUILD_CHUNK).select(passage_text()).to_series().to_list()
            ids = tokenizer.tokenize(texts, update_vocab=True, return_as="ids", show_progress=False)
            del texts
            lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
            flat = np.fromiter(chain.from_iterable(ids), dtype=np.int64, count=int(lengths.sum()))
            del ids
            width = max(len(tokenizer.get_vocab_dict()), 1)
            pairs, counts = np.unique(np.repeat(np.arange(len(lengths)), lengths) * width + flat, return_counts=True)
            terms = (pairs % width).astype(np.int32)
            per_doc = np.bincount(pairs // width, minlength=len(lengths))
            f_ptr.write((offset + np.cumsum(per_doc)).astype(np.int64).tobytes())
            offset += int(per_doc.sum())
            f_terms.write(terms.tobytes())
            f_tf.write(counts.astype(np.float32).tobytes())
            df = np.concatenate([df, np.zeros(width - len(df), dtype=np.int64)]) if width > len(df) else df
            df += np.bincount(terms, minlength=len(df))
            lengths_all.append(lengths.astype(np.int32))
            bar.update(len(lengths))
    bar.close()
    vocab_map = tokenizer.get_vocab_dict()
    vocab = [""] * len(vocab_map)
    for token, i in vocab_map.items():
        vocab[i] = token
    df = np.concatenate([df, np.zeros(len(vocab) - len(df), dtype=np.int64)]) if len(vocab) > len(df) else df
    lengths = np.concatenate(lengths_all) if lengths_all else np.zeros(0, dtype=np.int32)
    (out / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    np.save(out / "df.npy", df, allow_pickle=False)
    np.save(out / "lengths.npy", lengths, allow_pickle=False)
    return {"postings": offset, "length": int(lengths.sum(dtype=np.int64))}


def _join_vocabularies(parts: list[Path]) -> tuple[list[str], list[np.ndarray], np.ndarray]:
    """Step 2: one vocabulary in first-seen order over the parts, each part's ids mapped into it, global df."""
    lookup: dict[str, int] = {}
    remaps, dfs = [], []
    for folder in parts:
        local = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
        remaps.append(np.fromiter((lookup.setdefault(token, len(lookup)) for token in local), dtype=np.int64,
                                  count=len(local)))
        dfs.append(np.load(folder / "df.npy", allow_pickle=False))
    df = np.zeros(len(lookup), dtype=np.int64)
    for remap, local_df in zip(remaps, dfs):
        np.add.at(df, remap, local_df)
    return list(lookup), remaps, df


def _idf(df: np.ndarray, n_docs: int, method: str) -> np.ndarray:
    """bm25s' idf of every term (its own function, once per distinct document frequency), as float32."""
    from bm25s.scoring import _select_idf_scorer

    score = _select_idf_scorer(method)
    values, inverse = np.unique(df, return_inverse=True)
    per_value = np.array([score(int(v), N=n_docs) if v else 0.0 for v in values], dtype=np.float64)
    return per_value.astype(np.float32)[inverse.reshape(-1)] if len(df) else np.zeros(0, dtype=np.float32)


def _renumber(scratch: Path, width: int) -> None:
    """Step 3a: the part's passage terms under global ids, sorted again within each passage (in place)."""
    remap = np.load(scratch / "remap.npy", allow_pickle=False)
    if np.array_equal(remap, np.arange(len(remap))):
        return  # the first part's ids are the global ones
    indptr = np.fromfile(scratch / "indptr.bin", dtype=np.int64)
    if not indptr[-1]:
        return
    terms = np.memmap(scratch / "terms.bin", dtype=np.int32, mode="r+")
    tf = np.memmap(scratch / "tf.bin", dtype=np.float32, mode="r+")
    for c0 in range(0, len(indptr) - 1, BUILD_CHUNK):
        c1 = min(len(indptr) - 1, c0 + BUILD_CHUNK)
        a, b = int(indptr[c0]), int(indptr[c1])
        docs = np.repeat(np.arange(c1 - c0, dtype=np.int64), np.diff(indptr[c0:c1 + 1]))
        ids = remap[terms[a:b]]
        order = np.argsort(docs * width + ids)  # distinct keys: passage, then global term
        terms[a:b], tf[a:b] = ids[order], np.asarray(tf[a:b])[order]
    terms.flush()
    tf.flush()


def score_part(task: tuple) -> dict:
    """Step 3 for one part: renumber its terms, then fill its CSR score matrix (vocabulary x its passages)."""
    from bm25s.scoring import _select_tfc_scorer

    folder, i, avg_len, params, n_terms = task
    folder = Path(folder)
    scratch = folder / SCRATCH / str(i)
    _renumber(scratch, max(n_terms, 1))
    tfc_of = _select_tfc_scorer(params["method"])
    idf = np.load(folder / SCRATCH / "idf.npy", allow_pickle=False)
    doc_len = np.load(scratch / "lengths.npy", allow_pickle=False)
    doc_indptr = np.fromfile(scratch / "indptr.bin", dtype=np.int64)
    n_docs, nnz = len(doc_len), int(doc_indptr[-1])
    terms_all = np.memmap(scratch / "terms.bin", dtype=np.int32, mode="r") if nnz else np.zeros(0, np.int32)
    tf_all = np.memmap(scratch / "tf.bin", dtype=np.float32, mode="r") if nnz else np.zeros(0, np.float32)
    idx_dtype = np.int32 if max(nnz, n_docs) < 2**31 - 1 else np.int64
    counts = np.zeros(n_terms, dtype=np.int64)
    for a in range(0, nnz, 1 << 24):
        counts += np.bincount(terms_all[a:min(nnz, a + (1 << 24))], minlength=n_terms)
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(idx_dtype)
    names = {f"part-{i}.indptr.bin": (idx_dtype, n_terms + 1), f"part-{i}.indices.bin": (idx_dtype, nnz),
             f"part-{i}.data.bin": (np.float32, nnz)}
    indptr.tofile(folder / f"part-{i}.indptr.bin")
    for name in (f"part-{i}.indices.bin", f"part-{i}.data.bin"):
        with open(folder / name, "wb") as handle:
            handle.truncate(nnz * np.dtype(names[name][0]).itemsize)
    if nnz:
        indices = np.memmap(folder / f"part-{i}.indices.bin", dtype=idx_dtype, mode="r+", shape=(nnz,))
        data = np.memmap(folder / f"part-{i}.data.bin", dtype=np.float32, mode="r+", shape=(nnz,))
        heads = indptr[:-1].astype(np.int64)
        for c0 in range(0, n_docs, BUILD_CHUNK):
            c1 = min(n_docs, c0 + BUILD_CHUNK)
            a, b = int(doc_indptr[c0]), int(doc_indptr[c1])
            terms, tf = np.asarray(terms_all[a:b]), np.asarray(tf_all[a:b])
            docs = np.repeat(np.arange(c0, c1), np.diff(doc_indptr[c0:c1 + 1]))
            tfc = tfc_of(tf_array=tf, l_d=doc_len[docs], l_avg=np.float64(avg_len), k1=params["k1"], b=params["b"])
            scores = (idf[terms] * tfc).astype(np.float32)
            order = np.argsort(terms, kind="stable")  # by term, passages ascending within a term
            sorted_terms = terms[order]
            run_starts = np.flatnonzero(np.diff(sorted_terms, prepend=-1))
            rank = np.arange(len(order)) - np.repeat(run_starts, np.diff(np.append(run_starts, len(order))))
            at = heads[sorted_terms] + rank
            data[at] = scores[order]
            indices[at] = docs[order]
            heads += np.bincount(terms, minlength=n_terms)
        data.flush()
        indices.flush()
        del data, indices
    return {name: (np.dtype(dtype).name, [shape]) for name, (dtype, shape) in names.items()}


def _join_docs(folder: Path, parts: int) -> None:
    """The parts' passage terms (global ids now) appended into the index's docs files, in part order."""
    offset = 0
    with open(folder / "docs.indptr.bin", "wb") as f_ptr, open(folder / "docs.terms.bin", "wb") as f_terms, \
            open(folder / "docs.tf.bin", "wb") as f_tf:
        f_ptr.write(np.zeros(1, dtype=np.int64).tobytes())
        for i in range(parts):
            scratch = folder / SCRATCH / str(i)
            indptr = np.fromfile(scratch / "indptr.bin", dtype=np.int64)
            f_ptr.write((indptr[1:] + offset).tobytes())
            offset += int(indptr[-1])
            for name, out in (("terms.bin", f_terms), ("tf.bin", f_tf)):
                with open(scratch / name, "rb") as part_file:
                    shutil.copyfileobj(part_file, out, 1 << 24)


def digest_part(task: tuple) -> str:
    """The digest of one part (a task of the index key)."""
    source, span = task
    return part_digest(read_part(source, span))
