"""The BM25 index on disk: built once per corpus and BM25 settings, memory-mapped by every reader.

Layout (one folder per key under `<cache_dir>/bm25/`; the key is a hash of the corpus content (doc ids and
passage texts), k1, b, method, stemmer, stopwords, the number of parts and the bm25s version):

    vocab.json                      the token of every term id (the tokenizer's vocabulary)
    docs.indptr.bin                 int64, passages + 1: where each passage's terms start
    docs.terms.bin / docs.tf.bin    each passage's distinct term ids (int32) and their counts (float32)
    part-<i>.indptr.bin             part i: vocabulary x its passages in CSR form, bm25s' per-term scores
    part-<i>.indices.bin / .data.bin
    index.json                      what the key stands for, the global statistics, every file's size and
                                    sha256; written last, so a folder without it is never read

Building reads the corpus a chunk of BUILD_CHUNK passages at a time: the chunk is tokenized (bm25s'
tokenizer, one vocabulary for all chunks, so ids are the ones bm25s gives the whole corpus), its distinct
(passage, term) counts are appended to the docs files and the document frequencies summed; then every
part's score matrix is filled from the docs files, again a chunk at a time, with bm25s' own idf and
term-frequency functions and the global passage count, average length and document frequencies. Peak
memory is one chunk plus a few arrays of vocabulary or passage length; there are no per-passage Python
lists. The scores are bit for bit the ones bm25s computes for the whole corpus at once.

The folder is built under a hidden temp name and renamed into place as one unit. A folder whose files do
not match index.json (a truncated copy, a flipped byte) is removed with a warning naming it and rebuilt.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import numpy as np

from minekit.errors import ConfigError
from minekit.io import sha256_of

if TYPE_CHECKING:
    import polars as pl
    import scipy.sparse as sp

logger = logging.getLogger(__name__)

METHODS = ("lucene", "robertson", "atire")
FORMAT = 1
BUILD_CHUNK = 65_536  # passages tokenized (and scored) at a time while building
EMPTY = ""  # bm25s' token for a text with no word left; never part of a query


class CorruptIndex(Exception):
    pass


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


def check_params(*, k1: float, b: float, method: str, stemmer: str | None, stopwords: str | None) -> None:
    if method not in METHODS:
        raise ConfigError(f"method: {method!r} is not supported; choose one of {', '.join(METHODS)}.")
    if not k1 >= 0:  # also NaN
        raise ConfigError(f"k1: must be >= 0, got {k1}.")
    if not 0 <= b <= 1:
        raise ConfigError(f"b: must be between 0 and 1, got {b}.")
    make_tokenizer(stemmer, stopwords)


@dataclass
class Part:
    """Passages [start, end) of the corpus (doc_id order): vocabulary x passages, per-term scores."""

    start: int
    end: int
    matrix: "sp.csr_matrix"


@dataclass
class Index:
    """An opened index: memory-mapped arrays, the corpus' doc ids in index order and the tokenizer's vocabulary."""

    folder: Path
    doc_ids: "pl.Series"  # sorted, so a document's position is also its tie-break order
    parts: list[Part]
    doc_indptr: np.ndarray
    doc_terms: np.ndarray
    doc_tf: np.ndarray
    vocab: list[str]
    meta: dict
    built: bool = False  # this call built it (else it was found in the cache)
    _doc_freq: np.ndarray | None = field(default=None, repr=False)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    @property
    def empty_id(self) -> int | None:
        return self.meta.get("empty_id")

    @property
    def doc_freq(self) -> np.ndarray:
        """Passages holding each term (all parts together)."""
        if self._doc_freq is None:
            self._doc_freq = sum(np.diff(p.matrix.indptr).astype(np.int64) for p in self.parts)
        return self._doc_freq

    def tokenize(self, texts: list[str]) -> list[list[int]]:
        """Query texts as term ids, as bm25s tokenizes them against the corpus vocabulary (no empty token)."""
        tokenizer = make_tokenizer(self.meta["params"]["stemmer"], self.meta["params"]["stopwords"])
        lookup = {token: i for i, token in enumerate(self.vocab)}
        if tokenizer.stemmer is None:
            tokenizer.word_to_id = lookup
        else:
            tokenizer.stem_to_sid = lookup
            tokenizer.word_to_id = {EMPTY: lookup[EMPTY]} if EMPTY in lookup else {}
        ids = tokenizer.tokenize(texts, update_vocab=False, return_as="ids", show_progress=False)
        return [[t for t in ts if t != self.empty_id] for ts in ids]

    def passage_rows(self, docs: np.ndarray) -> "sp.csr_matrix":
        """Term counts of passages (by position) as query rows; the empty token left out."""
        import scipy.sparse as sp

        docs = np.asarray(docs, dtype=np.int64)
        starts, ends = self.doc_indptr[docs], self.doc_indptr[docs + 1]
        lengths = ends - starts
        at = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths) + np.arange(lengths.sum())
        terms, counts = np.asarray(self.doc_terms[at], np.int64), np.asarray(self.doc_tf[at], np.float32)
        keep = terms != (-1 if self.empty_id is None else self.empty_id)
        rows = np.repeat(np.arange(len(docs)), lengths)[keep]
        indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=len(docs)))])
        return sp.csr_matrix((counts[keep], terms[keep], indptr), shape=(len(docs), self.vocab_size))


# -- the key ----------------------------------------------------------------------------------------------

def corpus_digest(corpus: "pl.DataFrame") -> str:
    """sha256 of the corpus as the index sees it: doc ids and passage texts in doc_id order (a chunk at a time)."""
    import polars as pl

    from minekit.inputs.schema import passage_text

    digest = hashlib.sha256()
    for a in range(0, corpus.height, BUILD_CHUNK):
        chunk = corpus.slice(a, BUILD_CHUNK).select("doc_id", passage_text().alias("passage"))
        for column in ("doc_id", "passage"):
            # the byte lengths, then the UTF-8 bytes of every value, read from Arrow's buffers (no Python str)
            values = chunk[column].cast(pl.Utf8).to_arrow().cast("large_string")
            offsets = np.frombuffer(values.buffers()[1], dtype=np.int64)[values.offset:values.offset + len(values) + 1]
            digest.update(np.diff(offsets).tobytes())
            digest.update(memoryview(values.buffers()[2])[int(offsets[0]):int(offsets[-1])] if len(values) else b"")
    return digest.hexdigest()


def index_key(corpus: "pl.DataFrame", params: dict, parts: int) -> tuple[str, dict]:
    import bm25s

    what = {"format": FORMAT, "bm25s": bm25s.__version__, "corpus_sha256": corpus_digest(corpus),
            "passages": corpus.height, "params": params, "parts": parts}
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:24], what


# -- opening (and building when missing or corrupt) --------------------------------------------------------

@contextlib.contextmanager
def bm25_index(corpus: "pl.DataFrame", *, cache_dir: str | Path | None, parts: int = 1, show_progress: bool = True,
               **params) -> Iterator[Index]:
    """The index of `corpus` for these BM25 params: from `cache_dir` (built there first when missing or corrupt),
    or, without a cache, built in a temporary folder removed on leaving."""
    check_params(**params)
    if parts < 1:
        raise ConfigError(f"index_parts: must be at least 1, got {parts}.")
    corpus = corpus.sort("doc_id")
    parts = min(parts, max(corpus.height, 1))
    if cache_dir is None:
        with tempfile.TemporaryDirectory(prefix="minekit-bm25-") as tmp:
            folder = Path(tmp) / "index"
            folder.mkdir()
            what = {"format": FORMAT, "passages": corpus.height, "params": params, "parts": parts}  # no key needed
            build(corpus, folder, what, show_progress=show_progress)
            index = open_folder(folder, corpus["doc_id"], verify=False)
            index.built = True
            yield index
        return
    yield open_cached(corpus, Path(cache_dir), parts, params, show_progress)


def build_cached(corpus: "pl.DataFrame", *, cache_dir: str | Path, parts: int = 1, show_progress: bool = True,
                 **params) -> dict:
    """Build the index of `corpus` into `cache_dir` unless it is there and intact; say what it holds."""
    with bm25_index(corpus, cache_dir=cache_dir, parts=parts, show_progress=show_progress, **params) as index:
        files = index.meta["files"].values()
        return {"folder": str(index.folder), "index": "built" if index.built else "reused",
                "passages": len(index.doc_ids),
                "vocabulary": index.vocab_size, "postings": int(sum(p.matrix.nnz for p in index.parts)),
                "parts": len(index.parts), "bytes": int(sum(f["bytes"] for f in files))}


def open_cached(corpus: "pl.DataFrame", cache_dir: Path, parts: int, params: dict, show_progress: bool) -> Index:
    from minekit.io import atomic_folder

    key, what = index_key(corpus, params, parts)
    folder = cache_dir / "bm25" / key
    if folder.exists():
        try:
            return open_folder(folder, corpus["doc_id"])
        except CorruptIndex as exc:
            logger.warning("BM25 index %s is corrupt (%s); removing it and building it again", folder, exc)
            shutil.rmtree(folder, ignore_errors=True)
    _check_cache_dir(cache_dir)
    try:
        with atomic_folder(folder) as tmp:
            build(corpus, tmp, what, show_progress=show_progress)
    except OSError:
        if not (folder / "index.json").is_file():  # not another process that built the same index meanwhile
            raise
    index = open_folder(folder, corpus["doc_id"], verify=False)
    index.built = True
    return index


def _check_cache_dir(cache_dir: Path) -> None:
    for place in (cache_dir, *cache_dir.parents):
        if place.exists():
            if not place.is_dir():
                raise ConfigError(f"cache_dir: {place} is a file, not a folder. Fix: give a folder for the cache "
                                  "(it is created when missing), or 'none'.", param="cache_dir")
            return



def _read_meta(folder: Path, doc_ids: "pl.Series", verify: bool) -> dict:
    try:
        meta = json.loads((folder / "index.json").read_text(encoding="utf-8"))
        files = meta["files"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CorruptIndex(f"index.json is missing or unreadable: {exc}") from None
    if meta.get("format") != FORMAT or meta.get("passages") != len(doc_ids):
        raise CorruptIndex("index.json describes another index")
    for name, facts in files.items():
        path = folder / name
        if not path.is_file() or path.stat().st_size != facts["bytes"]:
            raise CorruptIndex(f"{name} is missing or has the wrong size")
        if verify and sha256_of(path) != facts["sha256"]:
            raise CorruptIndex(f"{name} does not match its checksum (truncated or overwritten)")
    return meta


def open_folder(folder: Path, doc_ids: "pl.Series", *, verify: bool = True) -> Index:
    """Memory-map an index folder (its files checked against index.json; CorruptIndex when they differ)."""
    import scipy.sparse as sp

    meta = _read_meta(folder, doc_ids, verify)

    def array(name: str) -> np.ndarray:
        facts = meta["files"][name]
        if facts["shape"][0] == 0:
            return np.zeros(0, dtype=facts["dtype"])
        return np.memmap(folder / name, dtype=facts["dtype"], mode="r", shape=tuple(facts["shape"]))

    try:
        vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CorruptIndex(f"vocab.json is unreadable: {exc}") from None
    parts = []
    for i, (start, end) in enumerate(meta["parts"]):
        matrix = sp.csr_matrix((array(f"part-{i}.data.bin"), array(f"part-{i}.indices.bin"),
                                array(f"part-{i}.indptr.bin")), shape=(len(vocab), end - start), copy=False)
        parts.append(Part(start, end, matrix))
    return Index(folder, doc_ids, parts, array("docs.indptr.bin"), array("docs.terms.bin"), array("docs.tf.bin"),
                 vocab, meta)


# -- building ---------------------------------------------------------------------------------------------

def build(corpus: "pl.DataFrame", folder: Path, what: dict, *, show_progress: bool) -> None:
    """Write the index of `corpus` (sorted by doc_id) into `folder`; index.json last."""
    params = what["params"]
    tokenizer = make_tokenizer(params["stemmer"], params["stopwords"])
    doc_len, df = _tokenize_corpus(corpus, folder, tokenizer, show_progress)
    vocab_map = tokenizer.get_vocab_dict()
    vocab = [""] * len(vocab_map)
    for token, i in vocab_map.items():
        vocab[i] = token
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    n_docs = corpus.height
    avg_len = np.float64(doc_len.sum()) / n_docs if n_docs else np.float64(0)
    idf = _idf(df, n_docs, params["method"])
    bounds = np.linspace(0, n_docs, what["parts"] + 1).round().astype(np.int64)
    doc_indptr = np.fromfile(folder / "docs.indptr.bin", dtype=np.int64)
    files = {"docs.indptr.bin": ("int64", [n_docs + 1]), "docs.terms.bin": ("int32", [int(doc_indptr[-1])]),
             "docs.tf.bin": ("float32", [int(doc_indptr[-1])])}
    for i in range(what["parts"]):
        files.update(_score_part(folder, i, int(bounds[i]), int(bounds[i + 1]), doc_indptr, doc_len, idf, avg_len,
                                 params))
    meta = {**what, "avg_len": float(avg_len), "vocabulary": len(vocab), "empty_id": vocab_map.get(EMPTY),
            "parts": [[int(bounds[i]), int(bounds[i + 1])] for i in range(what["parts"])],
            "files": {name: {"dtype": dtype, "shape": shape, "bytes": (folder / name).stat().st_size,
                             "sha256": sha256_of(folder / name)} for name, (dtype, shape) in files.items()}}
    meta["files"]["vocab.json"] = {"dtype": "json", "shape": [len(vocab)],
                                   "bytes": (folder / "vocab.json").stat().st_size,
                                   "sha256": sha256_of(folder / "vocab.json")}
    (folder / "index.json").write_text(json.dumps(meta, indent=1, sort_keys=True), encoding="utf-8")


def _tokenize_corpus(corpus: "pl.DataFrame", folder: Path, tokenizer, show_progress: bool
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Pass 1: tokenize a chunk at a time into the docs files; return passage lengths and document frequencies."""
    from tqdm.auto import tqdm

    from minekit.inputs.schema import passage_text

    lengths_all, df, offset = [], np.zeros(0, dtype=np.int64), 0
    bar = tqdm(total=corpus.height, desc="bm25 index", unit="passage", disable=not show_progress)
    with open(folder / "docs.indptr.bin", "wb") as f_ptr, open(folder / "docs.terms.bin", "wb") as f_terms, \
            open(folder / "docs.tf.bin", "wb") as f_tf:
        f_ptr.write(np.zeros(1, dtype=np.int64).tobytes())
        for a in range(0, corpus.height, BUILD_CHUNK):
            texts = corpus.slice(a, BUILD_CHUNK).select(passage_text()).to_series().to_list()
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
    size = len(tokenizer.get_vocab_dict())
    df = np.concatenate([df, np.zeros(size - len(df), dtype=np.int64)]) if size > len(df) else df
    doc_len = np.concatenate(lengths_all) if lengths_all else np.zeros(0, dtype=np.int32)
    return doc_len, df


def _idf(df: np.ndarray, n_docs: int, method: str) -> np.ndarray:
    """bm25s' idf of every term (its own function, once per distinct document frequency), as float32."""
    from bm25s.scoring import _select_idf_scorer

    score = _select_idf_scorer(method)
    values, inverse = np.unique(df, return_inverse=True)
    per_value = np.array([score(int(v), N=n_docs) if v else 0.0 for v in values], dtype=np.float64)
    return per_value.astype(np.float32)[inverse.reshape(-1)] if len(df) else np.zeros(0, dtype=np.float32)


def _score_part(folder: Path, i: int, start: int, end: int, doc_indptr: np.ndarray, doc_len: np.ndarray,
                idf: np.ndarray, avg_len: np.float64, params: dict) -> dict:
    """Pass 2 for part i: the CSR matrix of passages [start, end), filled a chunk of passages at a time."""
    from bm25s.scoring import _select_tfc_scorer

    tfc_of = _select_tfc_scorer(params["method"])
    n_terms = len(idf)
    terms_all = np.memmap(folder / "docs.terms.bin", dtype=np.int32, mode="r") if doc_indptr[-1] else \
        np.zeros(0, dtype=np.int32)
    tf_all = np.memmap(folder / "docs.tf.bin", dtype=np.float32, mode="r") if doc_indptr[-1] else \
        np.zeros(0, dtype=np.float32)
    lo, hi = int(doc_indptr[start]), int(doc_indptr[end])
    nnz = hi - lo
    idx_dtype = np.int32 if max(nnz, end - start) < 2**31 - 1 else np.int64
    counts = np.zeros(n_terms, dtype=np.int64)
    for a in range(lo, hi, 1 << 24):
        counts += np.bincount(terms_all[a:min(hi, a + (1 << 24))], minlength=n_terms)
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(idx_dtype)
    names = {f"part-{i}.indptr.bin": (idx_dtype, n_terms + 1), f"part-{i}.indices.bin": (idx_dtype, nnz),
             f"part-{i}.data.bin": (np.float32, nnz)}
    indptr.tofile(folder / f"part-{i}.indptr.bin")
    for name in (f"part-{i}.indices.bin", f"part-{i}.data.bin"):
        (folder / name).write_bytes(b"")
        if nnz:
            with open(folder / name, "r+b") as handle:
                handle.truncate(nnz * np.dtype(names[name][0]).itemsize)
    if nnz:
        indices = np.memmap(folder / f"part-{i}.indices.bin", dtype=idx_dtype, mode="r+", shape=(nnz,))
        data = np.memmap(folder / f"part-{i}.data.bin", dtype=np.float32, mode="r+", shape=(nnz,))
        heads = indptr[:-1].astype(np.int64)
        for c0 in range(start, end, BUILD_CHUNK):
            c1 = min(end, c0 + BUILD_CHUNK)
            a, b = int(doc_indptr[c0]), int(doc_indptr[c1])
            terms, tf = np.asarray(terms_all[a:b]), np.asarray(tf_all[a:b])
            docs = np.repeat(np.arange(c0, c1), np.diff(doc_indptr[c0:c1 + 1]))
            tfc = tfc_of(tf_array=tf, l_d=doc_len[docs], l_avg=avg_len, k1=params["k1"], b=params["b"])
            scores = (idf[terms] * tfc).astype(np.float32)
            order = np.argsort(terms, kind="stable")  # by term, passages ascending within a term
            sorted_terms = terms[order]
            run_starts = np.flatnonzero(np.diff(sorted_terms, prepend=-1))
            rank = np.arange(len(order)) - np.repeat(run_starts, np.diff(np.append(run_starts, len(order))))
            at = heads[sorted_terms] + rank
            data[at] = scores[order]
            indices[at] = (docs - start)[order]
            heads += np.bincount(terms, minlength=n_terms)
        data.flush()
        indices.flush()
        del data, indices
    return {name: (np.dtype(dtype).name, [shape]) for name, (dtype, shape) in names.items()}
