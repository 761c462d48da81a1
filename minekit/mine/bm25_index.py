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

Building (minekit.mine.bm25_build) reads the corpus a part at a time and tokenizes each part a chunk at
a time, the parts side by side where a mapper runs them so (Ray tasks); the parts' vocabularies are
joined into the ids bm25s gives the whole corpus, and each part's score matrix is filled with bm25s' own
idf and term-frequency functions and the global passage count, average length and document frequencies.
The scores are bit for bit the ones bm25s computes for the whole corpus at once.

A corpus given as a parquet file is also remembered by the file's sha256 (`<cache_dir>/bm25/files/`): a
later run on the same file opens its index from the doc_id column alone and never reads the passage texts,
so a warm search holds the doc ids, the query side and the index pages it touches (one part at a time:
a part's pages are handed back to the OS page cache before the next part is searched).

The folder is built under a hidden temp name and renamed into place as one unit. A folder whose files do
not match index.json (a truncated copy, a flipped byte) is removed with a warning naming it and rebuilt.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import mmap
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import numpy as np

from minekit.errors import ConfigError
from minekit.io import sha256_of
from minekit.mine.bm25_build import EMPTY, Mapper, Source, build, digest_part, local_map, make_tokenizer, part_spans

if TYPE_CHECKING:
    import polars as pl
    import scipy.sparse as sp

logger = logging.getLogger(__name__)

METHODS = ("lucene", "robertson", "atire")
FORMAT = 2  # 2: the corpus digest is taken part by part


class CorruptIndex(Exception):
    pass


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
    maps: list = field(default_factory=list, repr=False)  # the mmaps under matrix

    def release(self) -> None:
        """Unmap the pages read so far from this process; they stay in the page cache for the next read."""
        for mapped in self.maps:
            if hasattr(mapped, "madvise"):  # not on Windows
                mapped.madvise(mmap.MADV_DONTNEED)


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

def corpus_digest(source: Source, doc_ids: "pl.Series", parts: int, mapper: Mapper = local_map) -> str:
    """sha256 of the corpus as the index sees it: each part's doc ids and passage texts in doc_id order (each
    part hashed where the mapper runs it)."""
    digests = mapper(digest_part, [(source, span) for span in part_spans(doc_ids, parts)])
    return hashlib.sha256("".join(digests).encode()).hexdigest()


def index_key(source: Source, doc_ids: "pl.Series", params: dict, parts: int, mapper: Mapper = local_map
              ) -> tuple[str, dict]:
    import bm25s

    digest = corpus_digest(source.resolve() if isinstance(source, Path) else source, doc_ids, parts, mapper)
    what = {"format": FORMAT, "bm25s": bm25s.__version__, "corpus_sha256": digest,
            "passages": len(doc_ids), "params": params, "parts": parts}
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:24], what


# -- opening (and building when missing or corrupt) --------------------------------------------------------

@contextlib.contextmanager
def bm25_index(corpus: "pl.DataFrame | str | Path", *, cache_dir: str | Path | None, parts: int = 1,
               show_progress: bool = True, mapper: Mapper = local_map, **params) -> Iterator[Index]:
    """The index of `corpus` (a frame, or a corpus parquet file) for these BM25 params: from `cache_dir` (built
    there first when missing or corrupt), or, without a cache, built in a temporary folder removed on leaving.

    A corpus file is read a part at a time (never whole); one whose index is cached is opened from its doc ids
    alone. `mapper` runs the per-part build steps (minekit.mine.bm25_build), e.g. as Ray tasks."""
    check_params(**params)
    if parts < 1:
        raise ConfigError(f"index_parts: must be at least 1, got {parts}.")
    corpus_file, requested = None, parts
    if isinstance(corpus, (str, Path)):
        from minekit.io import read_corpus_ids

        corpus_file = Path(corpus)
        if cache_dir is not None:
            index = _open_by_file(corpus_file, Path(cache_dir), parts, params)
            if index is not None:
                yield index
                return
        doc_ids = read_corpus_ids(corpus_file)["doc_id"].sort()
        source: Source = corpus_file
    else:
        source = corpus.sort("doc_id")
        doc_ids = source["doc_id"]
    parts = min(parts, max(len(doc_ids), 1))
    if cache_dir is None:
        with tempfile.TemporaryDirectory(prefix="minekit-bm25-") as tmp:
            folder = Path(tmp) / "index"
            folder.mkdir()
            what = {"format": FORMAT, "passages": len(doc_ids), "params": params, "parts": parts}  # no key needed
            build(source, doc_ids, folder, what, show_progress=show_progress, mapper=mapper)
            index = open_folder(folder, doc_ids, verify=False)
            index.built = True
            yield index
        return
    index = open_cached(source, doc_ids, Path(cache_dir), parts, params, show_progress, mapper)
    if corpus_file is not None:
        _remember_file(corpus_file, Path(cache_dir), requested, params, index.folder.name)
    yield index


def build_cached(corpus: "pl.DataFrame | str | Path", *, cache_dir: str | Path, parts: int = 1,
                 show_progress: bool = True, mapper: Mapper = local_map, **params) -> dict:
    """Build the index of `corpus` into `cache_dir` unless it is there and intact; say what it holds."""
    with bm25_index(corpus, cache_dir=cache_dir, parts=parts, show_progress=show_progress, mapper=mapper,
                    **params) as index:
        files = index.meta["files"].values()
        return {"folder": str(index.folder), "index": "built" if index.built else "reused",
                "passages": len(index.doc_ids),
                "vocabulary": index.vocab_size, "postings": int(sum(p.matrix.nnz for p in index.parts)),
                "parts": len(index.parts), "bytes": int(sum(f["bytes"] for f in files))}


def open_cached(source: Source, doc_ids: "pl.Series", cache_dir: Path, parts: int, params: dict,
                show_progress: bool, mapper: Mapper = local_map) -> Index:
    from minekit.io import atomic_folder

    key, what = index_key(source, doc_ids, params, parts, mapper)
    folder = cache_dir / "bm25" / key
    if folder.exists():
        try:
            return open_folder(folder, doc_ids)
        except CorruptIndex as exc:
            logger.warning("BM25 index %s is corrupt (%s); removing it and building it again", folder, exc)
            shutil.rmtree(folder, ignore_errors=True)
    _check_cache_dir(cache_dir)
    try:
        with atomic_folder(folder) as tmp:
            build(source, doc_ids, tmp, what, show_progress=show_progress, mapper=mapper)
    except OSError:
        if not (folder / "index.json").is_file():  # not another process that built the same index meanwhile
            raise
    index = open_folder(folder, doc_ids, verify=False)
    index.built = True
    return index


def _file_record(corpus_file: Path, cache_dir: Path, parts: int, params: dict) -> Path:
    import bm25s

    from minekit.io import file_sha256

    what = {"format": FORMAT, "bm25s": bm25s.__version__, "file_sha256": file_sha256(corpus_file),
            "params": params, "parts": parts}
    return cache_dir / "bm25" / "files" / (hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:24]
                                           + ".json")


def _remember_file(corpus_file: Path, cache_dir: Path, parts: int, params: dict, key: str) -> None:
    """Record which index this corpus file (these exact bytes) has, so that the next run need not read its texts."""
    from minekit.io import atomic_path

    record = _file_record(corpus_file, cache_dir, parts, params)
    if record.is_file():
        return
    try:
        record.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(record) as tmp:
            tmp.write_text(json.dumps({"index": key}), encoding="utf-8")
    except OSError as exc:  # a cache others filled, mounted read-only: the index is there, only the shortcut is not
        logger.warning("could not record which BM25 index %s has (%s): the next run reads its texts again",
                       corpus_file, exc)


def _open_by_file(corpus_file: Path, cache_dir: Path, parts: int, params: dict) -> Index | None:
    """The cached index of a corpus file seen before, opened from its doc ids; None when there is none (or it
    is damaged: the caller then reads the texts and opens or rebuilds it the usual way)."""
    from minekit.io import read_corpus_ids

    if not corpus_file.is_file():
        return None  # the caller's read says why
    record = _file_record(corpus_file, cache_dir, parts, params)
    try:
        key = json.loads(record.read_text(encoding="utf-8"))["index"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    folder = cache_dir / "bm25" / str(key)
    doc_ids = read_corpus_ids(corpus_file)["doc_id"].sort()
    try:
        return open_folder(folder, doc_ids)
    except CorruptIndex:
        return None


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

    maps: dict[str, mmap.mmap] = {}

    def array(name: str) -> np.ndarray:
        facts = meta["files"][name]
        if facts["shape"][0] == 0:
            return np.zeros(0, dtype=facts["dtype"])
        with open(folder / name, "rb") as handle:
            maps[name] = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        return np.frombuffer(maps[name], dtype=facts["dtype"], count=facts["shape"][0])

    try:
        vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CorruptIndex(f"vocab.json is unreadable: {exc}") from None
    parts = []
    for i, (start, end) in enumerate(meta["parts"]):
        matrix = sp.csr_matrix((array(f"part-{i}.data.bin"), array(f"part-{i}.indices.bin"),
                                array(f"part-{i}.indptr.bin")), shape=(len(vocab), end - start), copy=False)
        parts.append(Part(start, end, matrix, [maps[f"part-{i}.{n}.bin"] for n in ("data", "indices", "indptr")
                                               if f"part-{i}.{n}.bin" in maps]))
    return Index(folder, doc_ids, parts, array("docs.indptr.bin"), array("docs.terms.bin"), array("docs.tf.bin"),
                 vocab, meta)
