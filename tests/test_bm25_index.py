"""The on-disk BM25 index: bm25s' scores bit for bit, built a chunk at a time, cached, checked, split into parts."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import bm25s
import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

import minekit as mk
from minekit.cli import app
from minekit.errors import ConfigError, InputError
from minekit.mine import bm25_build, bm25_index
from minekit.mine.bm25 import mine_bm25, mine_passage_bm25
from minekit.mine.bm25_index import bm25_index as open_index, make_tokenizer

runner = CliRunner()


def _indexes(cache: Path) -> list[Path]:
    """The index folders of a cache (bm25/files holds the records of corpus files seen)."""
    return [f for f in (cache / "bm25").iterdir() if f.name != "files"]


def _corpus(tiny) -> pl.DataFrame:
    """The tiny corpus plus passages that keep no word after tokenizing (bm25s gives them its empty token)."""
    corpus = tiny[2]
    extra = pl.DataFrame({"doc_id": ["e1", "e2", "e3"], "title": ["", "", ""],
                          "text": ["the of and", "is it", "a an the"]})
    return pl.concat([corpus, extra])


def _bm25s_matrix(corpus: pl.DataFrame, *, method: str, stemmer: str | None, k1: float, b: float):
    ordered = corpus.sort("doc_id")
    tokenizer = make_tokenizer(stemmer, "en")
    tokens = tokenizer.tokenize(ordered["text"].to_list(), return_as="tuple", show_progress=False)
    retriever = bm25s.BM25(k1=k1, b=b, method=method)
    retriever.index(tokens, show_progress=False)
    return retriever.scores


@pytest.mark.parametrize("method, stemmer, k1, b", [("lucene", "english", 1.5, 0.75), ("robertson", None, 1.2, 0.5),
                                                    ("atire", "english", 0.9, 0.3)])
@pytest.mark.parametrize("parts", [1, 4])
def test_index_holds_bm25s_scores_bit_for_bit_whatever_the_chunk(tiny, monkeypatch, method, stemmer, k1, b, parts):
    corpus = _corpus(tiny)
    monkeypatch.setattr(bm25_build, "BUILD_CHUNK", 3)  # many chunks: vocabulary grows across them
    expected = _bm25s_matrix(corpus, method=method, stemmer=stemmer, k1=k1, b=b)
    with open_index(corpus, cache_dir=None, parts=parts, show_progress=False, k1=k1, b=b, method=method,
                    stemmer=stemmer, stopwords="en") as index:
        assert len(index.parts) == parts
        import scipy.sparse as sp

        whole = sp.hstack([p.matrix for p in index.parts]).tocsr()
        whole.sort_indices()
        assert whole.shape == (len(expected["indptr"]) - 1, expected["num_docs"])
        assert np.array_equal(whole.indptr, expected["indptr"])
        assert np.array_equal(whole.indices, expected["indices"])
        assert whole.data.dtype == np.float32
        assert whole.data.tobytes() == np.asarray(expected["data"], dtype=np.float32).tobytes()


def test_the_corpus_is_tokenized_a_chunk_at_a_time(tiny, monkeypatch):
    from bm25s.tokenization import Tokenizer

    seen = []
    original = Tokenizer.tokenize

    def spy(self, texts, *args, **kwargs):
        seen.append(len(texts))
        return original(self, texts, *args, **kwargs)

    monkeypatch.setattr(bm25_build, "BUILD_CHUNK", 4)
    monkeypatch.setattr(Tokenizer, "tokenize", spy)
    queries, positives, corpus = tiny
    mine_bm25(queries, positives, corpus, show_progress=False)
    assert corpus.height == 20 and "4,4,4,4,4" in ",".join(map(str, seen))  # the corpus, 4 passages a call
    assert max(seen) <= max(4, queries.height)  # never the whole corpus at once


@pytest.mark.parametrize("parts", [2, 3, 7, 100])
def test_parts_give_the_ranks_and_scores_of_one_index(sample_files, parts, monkeypatch):
    queries, positives, corpus = (pl.read_parquet(sample_files[n]) for n in ("queries", "positives", "corpus"))
    one = mine_bm25(queries, positives, corpus, top_k=30, show_progress=False).frame
    monkeypatch.setattr("minekit.mine.bm25.QUERY_BLOCK", 3)  # parts searched (and released) once per 3 queries
    split = mine_bm25(queries, positives, corpus, top_k=30, index_parts=parts, show_progress=False).frame
    assert split.equals(one)
    assert split.height > 0
    one_p = mine_passage_bm25(queries, positives, corpus, top_k=30, show_progress=False).frame
    split_p = mine_passage_bm25(queries, positives, corpus, top_k=30, index_parts=parts, show_progress=False).frame
    assert split_p.equals(one_p)


def test_a_warm_run_reads_the_cached_index_and_tokenizes_no_passage(tiny, tmp_path, monkeypatch):
    queries, positives, corpus = tiny
    cold = mine_bm25(queries, positives, corpus, cache_dir=tmp_path / "cache", show_progress=False)
    uncached = mine_passage_bm25(queries, positives, corpus, show_progress=False).frame
    folders = list((tmp_path / "cache" / "bm25").iterdir())
    assert len(folders) == 1 and (folders[0] / "index.json").is_file()

    def refuse(*args, **kwargs):
        raise AssertionError("the corpus was tokenized again")

    monkeypatch.setattr(bm25_build, "tokenize_part", refuse)
    warm = mine_bm25(queries, positives, corpus, cache_dir=tmp_path / "cache", show_progress=False)
    assert warm.frame.equals(cold.frame)
    passage = mine_passage_bm25(queries, positives, corpus, cache_dir=tmp_path / "cache", show_progress=False)
    assert passage.frame.equals(uncached)
    # row order of the corpus does not matter: the key is its content in doc_id order
    mine_bm25(queries, positives, corpus.reverse(), cache_dir=tmp_path / "cache", show_progress=False)


def test_the_key_follows_the_corpus_and_every_scoring_parameter(tiny, tmp_path):
    queries, positives, corpus = tiny
    cache = tmp_path / "cache"
    mine_bm25(queries, positives, corpus, cache_dir=cache, show_progress=False)
    mine_bm25(queries, positives, corpus, cache_dir=cache, k1=1.2, show_progress=False)
    mine_bm25(queries, positives, corpus, cache_dir=cache, stemmer=None, show_progress=False)
    mine_bm25(queries, positives, corpus, cache_dir=cache, index_parts=2, show_progress=False)
    changed = corpus.with_columns(pl.when(pl.col("doc_id") == "d20").then(pl.lit("a changed passage"))
                                  .otherwise(pl.col("text")).alias("text"))
    mine_bm25(queries, positives, changed, cache_dir=cache, show_progress=False)
    assert len(list((cache / "bm25").iterdir())) == 5


@pytest.mark.parametrize("damage", ["flip", "truncate", "no-index-json", "bad-json"])
def test_a_damaged_index_is_named_removed_and_rebuilt(tiny, tmp_path, caplog, damage):
    queries, positives, corpus = tiny
    cache = tmp_path / "cache"
    first = mine_bm25(queries, positives, corpus, cache_dir=cache, show_progress=False).frame
    (folder,) = (cache / "bm25").iterdir()
    data = folder / "part-0.data.bin"
    if damage == "flip":
        raw = bytearray(data.read_bytes())
        raw[5] ^= 0xFF
        data.write_bytes(bytes(raw))
    elif damage == "truncate":
        data.write_bytes(data.read_bytes()[:-8])
    elif damage == "no-index-json":
        (folder / "index.json").unlink()
    else:
        (folder / "index.json").write_text("{not json")
    with caplog.at_level(logging.WARNING, logger="minekit.mine.bm25_index"):
        again = mine_bm25(queries, positives, corpus, cache_dir=cache, show_progress=False).frame
    assert again.equals(first)
    assert str(folder) in caplog.text and "corrupt" in caplog.text
    with caplog.at_level(logging.WARNING, logger="minekit.mine.bm25_index"):
        caplog.clear()
        mine_bm25(queries, positives, corpus, cache_dir=cache, show_progress=False)
    assert "corrupt" not in caplog.text  # rebuilt intact


def test_a_cache_dir_that_is_a_file_is_a_config_error(tiny, tmp_path):
    queries, positives, corpus = tiny
    (tmp_path / "cache").write_text("not a folder")
    with pytest.raises(ConfigError, match=r"cache_dir: .*cache is a file"):
        mine_bm25(queries, positives, corpus, cache_dir=tmp_path / "cache", show_progress=False)


def test_index_bm25_command_fills_the_cache_that_shards_then_read(tiny_files, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    result = runner.invoke(app, ["index", "bm25", "--corpus", str(tiny_files["corpus"]), "--cache-dir", str(cache)])
    assert result.exit_code == 0, result.output
    (folder,) = _indexes(cache)
    assert str(folder) in result.stdout and "built" in result.stderr
    again = runner.invoke(app, ["index", "bm25", "--corpus", str(tiny_files["corpus"]), "--cache-dir", str(cache)])
    assert again.exit_code == 0 and "reused" in again.stderr

    def refuse(*args, **kwargs):
        raise AssertionError("the corpus was tokenized again")

    monkeypatch.setattr(bm25_build, "tokenize_part", refuse)
    shards = [mk.mine_bm25(**tiny_files, out=tmp_path / f"s{i}.parquet", shard=f"{i}/2", cache_dir=cache,
                           show_progress=False).path for i in (1, 2)]
    merged = mk.merge(shards, out=tmp_path / "merged.parquet")
    monkeypatch.undo()
    whole = mk.mine_bm25(**tiny_files, out=tmp_path / "whole.parquet", cache_dir="none", show_progress=False)
    assert merged.path.read_bytes() == whole.path.read_bytes()


def test_index_bm25_needs_a_cache_folder(tiny_files):
    result = runner.invoke(app, ["index", "bm25", "--corpus", str(tiny_files["corpus"]), "--cache-dir", "none"])
    assert result.exit_code == 2 and "--cache-dir" in result.stderr


def test_index_parts_and_cache_dir_change_no_output_byte(tiny_files, tmp_path):
    a = mk.mine_bm25(**tiny_files, out=tmp_path / "a.parquet", cache_dir="none", show_progress=False)
    b = mk.mine_bm25(**tiny_files, out=tmp_path / "b.parquet", cache_dir=tmp_path / "c", index_parts=3,
                     show_progress=False)
    assert a.path.read_bytes() == b.path.read_bytes()


def test_passage_bm25_makes_no_candidates_from_a_positive_without_words(tiny):
    queries, positives, corpus = _with_empty_positive(tiny)
    result = mine_passage_bm25(queries, positives, corpus, top_k=50, show_progress=False)
    frame = result.frame
    # q4's only positive (d13) keeps no word: it queries nothing, so q4 has no candidate at all,
    # in particular not the other word-less passages e1..e3 with one constant score
    assert "q4" not in frame["query_id"].to_list()
    assert not {"e1", "e2", "e3"} & set(frame["doc_id"].to_list())
    assert result.stats["queries_empty_after_tokenization"] == 1
    assert result.stats["queries_without_candidates"] == 1
    # q1 has two positives, one of them word-less: still counted as a query with words, mined from the other
    assert "q1" in frame["query_id"].to_list()


def _with_empty_positive(tiny):
    queries, positives, corpus = tiny
    corpus = _corpus(tiny).with_columns(
        pl.when(pl.col("doc_id") == "d13").then(pl.lit("and the of")).otherwise(pl.col("text")).alias("text"))
    positives = pl.concat([positives, pl.DataFrame({"query_id": ["q1"], "doc_id": ["e1"], "score": [1]})])
    return queries, positives, corpus


def test_passage_bm25_with_no_positive_that_keeps_a_word_is_an_input_error(tiny):
    queries, positives, corpus = tiny
    corpus = _corpus(tiny)
    only = pl.DataFrame({"query_id": ["q1"], "doc_id": ["e2"], "score": [1]})
    with pytest.raises(InputError, match="positives: none of the 1 queries has a positive passage that keeps a word"):
        mine_passage_bm25(queries, only, corpus, show_progress=False)


@pytest.mark.parametrize("miner", [mine_bm25, mine_passage_bm25])
def test_every_way_of_reading_back_the_scores_ranks_the_same(sample_files, monkeypatch, miner):
    """A row is read back from its postings or by one pass over the part, its postings added term by term or
    in one call: four paths, one ranking, the same scores."""
    from minekit.mine import bm25

    queries, positives, corpus = (pl.read_parquet(sample_files[n]) for n in ("queries", "positives", "corpus"))
    frames = []
    for scan, many_terms in ((0, 10**9), (10**9, 10**9), (0, 0), (10**9, 0)):
        monkeypatch.setattr(bm25, "SCAN", scan)  # 0: always from the postings; huge: always one pass
        monkeypatch.setattr(bm25, "MANY_TERMS", many_terms)  # 0: always one call; huge: a call a term
        frames.append(miner(queries, positives, corpus, top_k=40, index_parts=2, show_progress=False).frame)
    assert all(frame.equals(frames[0]) for frame in frames[1:])
    assert frames[0].height > 0
    assert frames[0].unique("query_id")["positive_scores"].list.len().sum() == positives.height


def test_a_cached_index_is_memory_mapped_not_copied(tiny, tmp_path):
    queries, positives, corpus = tiny
    mine_bm25(queries, positives, corpus, cache_dir=tmp_path / "cache", index_parts=2, show_progress=False)
    with open_index(corpus, cache_dir=tmp_path / "cache", parts=2, show_progress=False, k1=1.5, b=0.75,
                    method="lucene", stemmer="english", stopwords="en") as index:
        assert not index.built
        for part in index.parts:
            for array in (part.matrix.data, part.matrix.indices, part.matrix.indptr):
                assert _maps_a_file(array)  # a view of the file, not a copy in memory
                assert not array.flags.writeable  # read-only: shared by every process that maps it
        assert _maps_a_file(index.doc_terms)


def _maps_a_file(array: np.ndarray) -> bool:
    import mmap

    while isinstance(array, np.ndarray):
        array = array.base
    return isinstance(array.obj if isinstance(array, memoryview) else array, mmap.mmap)


def _resident_kib(name: str) -> int:
    """Resident KiB of this process' mappings of files called `name` (/proc/self/smaps)."""
    total, inside = 0, False
    for line in open("/proc/self/smaps", encoding="utf-8"):
        head = line.split()
        if head and "-" in head[0] and len(head) >= 5:  # a mapping's header line
            inside = line.rstrip().endswith("/" + name)
        elif inside and head[0] == "Rss:":
            total += int(head[1])
    return total


@pytest.mark.skipif(not Path("/proc/self/smaps").is_file(), reason="reads /proc/self/smaps (Linux)")
def test_a_searched_part_hands_its_pages_back(tmp_path):
    """A search holds the pages of one index part at a time: release() unmaps what was read (still cached)."""
    words = [f"w{i}" for i in range(3000)]
    rng = np.random.default_rng(0)
    corpus = pl.DataFrame({"doc_id": [f"d{i:05d}" for i in range(4000)], "title": [""] * 4000,
                           "text": [" ".join(rng.choice(words, 40)) for _ in range(4000)]})
    with open_index(corpus, cache_dir=tmp_path / "cache", parts=2, show_progress=False, k1=1.5, b=0.75,
                    method="lucene", stemmer=None, stopwords=None) as index:
        part = index.parts[0]
        assert float(np.asarray(part.matrix.data, dtype=np.float64).sum()) > 0  # every page read
        assert _resident_kib("part-0.data.bin") >= part.matrix.data.nbytes // 1024 - 4
        part.release()
        assert _resident_kib("part-0.data.bin") == 0
        assert float(np.asarray(part.matrix.data, dtype=np.float64).sum()) > 0  # still readable after release


def test_a_corpus_file_seen_before_is_opened_without_reading_its_texts(tiny_files, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    cold = mk.mine_bm25(**tiny_files, out=tmp_path / "cold.parquet", cache_dir=cache, show_progress=False)
    passages = mk.mine_passage_bm25(**tiny_files, out=tmp_path / "p-cold.parquet", cache_dir=cache,
                                    show_progress=False)
    assert len(list((cache / "bm25" / "files").iterdir())) == 1  # one file, one record, whichever miner

    def refuse(*args, **kwargs):
        raise AssertionError("the corpus texts were read again")

    monkeypatch.setattr(bm25_build, "read_part", refuse)  # the one reader of passage texts
    monkeypatch.setattr(bm25_index, "corpus_digest", refuse)
    warm = mk.mine_bm25(**tiny_files, out=tmp_path / "warm.parquet", cache_dir=cache, show_progress=False)
    assert warm.path.read_bytes() == cold.path.read_bytes()
    warm_p = mk.mine_passage_bm25(**tiny_files, out=tmp_path / "p-warm.parquet", cache_dir=cache,
                                  show_progress=False)
    assert warm_p.path.read_bytes() == passages.path.read_bytes()
    again = runner.invoke(app, ["index", "bm25", "--corpus", str(tiny_files["corpus"]), "--cache-dir", str(cache)])
    assert again.exit_code == 0 and "reused" in again.stderr


def test_a_cache_where_the_record_cannot_be_written_still_serves_the_index(tiny_files, tmp_path, monkeypatch,
                                                                            caplog):
    cache = tmp_path / "cache"
    mk.index_bm25(corpus=tiny_files["corpus"], cache_dir=cache, show_progress=False)
    shutil.rmtree(cache / "bm25" / "files")

    import minekit.io

    writable = minekit.io.atomic_path

    def read_only(path, *args, **kwargs):  # the cache is read-only; the output folder is not
        if Path(path).is_relative_to(cache):
            raise PermissionError(13, "Read-only file system", str(path))
        return writable(path, *args, **kwargs)

    monkeypatch.setattr(minekit.io, "atomic_path", read_only)
    with caplog.at_level(logging.WARNING, logger="minekit.mine.bm25_index"):
        out = mk.mine_bm25(**tiny_files, out=tmp_path / "a.parquet", cache_dir=cache, show_progress=False)
    assert out.stats["rows_out"] > 0 and "could not record which BM25 index" in caplog.text
    assert not list((cache / "bm25" / "files").glob("*.json"))  # no record, and the run went on


def test_a_changed_corpus_file_gets_its_own_index(tiny_files, tmp_path):
    cache = tmp_path / "cache"
    mk.mine_bm25(**tiny_files, out=tmp_path / "a.parquet", cache_dir=cache, show_progress=False)
    corpus = pl.read_parquet(tiny_files["corpus"])
    changed = corpus.with_columns(pl.when(pl.col("doc_id") == corpus["doc_id"][0]).then(pl.lit("zebra quartz"))
                                  .otherwise(pl.col("text")).alias("text"))
    changed.write_parquet(tiny_files["corpus"])  # same path, new bytes
    cached = mk.mine_bm25(**tiny_files, out=tmp_path / "b.parquet", cache_dir=cache, show_progress=False)
    fresh = mk.mine_bm25(**tiny_files, out=tmp_path / "c.parquet", cache_dir="none", show_progress=False)
    assert cached.path.read_bytes() == fresh.path.read_bytes()
    assert len(_indexes(cache)) == 2


def test_a_remembered_file_whose_index_is_gone_or_damaged_is_read_and_indexed_again(tiny_files, tmp_path):
    import shutil

    cache = tmp_path / "cache"
    first = mk.mine_bm25(**tiny_files, out=tmp_path / "a.parquet", cache_dir=cache, show_progress=False)
    (folder,) = _indexes(cache)
    data = folder / "part-0.data.bin"
    data.write_bytes(b"\0" * data.stat().st_size)  # same size, other bytes: only the checksum sees it
    damaged = mk.mine_bm25(**tiny_files, out=tmp_path / "b.parquet", cache_dir=cache, show_progress=False)
    shutil.rmtree(folder)
    gone = mk.mine_bm25(**tiny_files, out=tmp_path / "c.parquet", cache_dir=cache, show_progress=False)
    assert damaged.path.read_bytes() == first.path.read_bytes() == gone.path.read_bytes()
    assert (folder / "index.json").is_file()


def test_a_corpus_file_is_built_a_part_at_a_time_into_the_index_of_the_whole_table(tiny_files, tmp_path, monkeypatch):
    held = []
    read_part = bm25_build.read_part

    def spy(source, span):
        frame = read_part(source, span)
        held.append(frame.height)
        return frame

    monkeypatch.setattr(bm25_build, "read_part", spy)
    from_file = mk.index_bm25(corpus=tiny_files["corpus"], cache_dir=tmp_path / "file", index_parts=3,
                              show_progress=False)
    monkeypatch.undo()
    assert held and max(held) <= 7  # 20 passages in 3 parts: never the whole table
    corpus = pl.read_parquet(tiny_files["corpus"])
    from_frame = bm25_index.build_cached(corpus.sample(fraction=1.0, shuffle=True, seed=3), cache_dir=tmp_path / "frame",
                                         parts=3, show_progress=False, k1=1.5, b=0.75, method="lucene",
                                         stemmer="english", stopwords="en")
    assert Path(from_frame["folder"]).name == from_file.path.name  # one key: the content, whatever holds it
    for f in from_file.path.iterdir():
        assert f.read_bytes() == (Path(from_frame["folder"]) / f.name).read_bytes()


def test_an_empty_text_in_a_corpus_file_read_by_parts_is_named_by_its_file_row(tiny_files, tmp_path):
    corpus = pl.read_parquet(tiny_files["corpus"])
    broken = corpus.with_columns(pl.when(pl.int_range(pl.len()) == 16).then(pl.lit("  ")).otherwise(pl.col("text"))
                                 .alias("text"))
    broken.write_parquet(tiny_files["corpus"])
    result = runner.invoke(app, ["index", "bm25", "--corpus", str(tiny_files["corpus"]), "--cache-dir",
                                 str(tmp_path / "cache"), "--index-parts", "3"])
    assert result.exit_code == 2, result.output
    assert f"column 'text': 1 row(s) are null or empty: row 17 (doc_id={corpus['doc_id'][16]!r})" in result.stderr
    assert not (tmp_path / "cache" / "bm25").is_dir() or not _indexes(tmp_path / "cache")  # no index, not even half


def test_a_corpus_file_that_changes_between_reading_its_ids_and_a_part_is_an_input_error(tiny_files):
    ids = pl.read_parquet(tiny_files["corpus"])["doc_id"].sort()
    assert bm25_build.read_part(tiny_files["corpus"], (0, 5, ids[0], ids[4])).height == 5
    with pytest.raises(InputError, match=r"changed while it was read \(6 passages between .*, 5 before\)"):
        bm25_build.read_part(tiny_files["corpus"], (0, 5, ids[0], ids[5]))  # another file came in between
