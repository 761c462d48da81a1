"""Remove likely false negatives with a relevance scorer: a cross-encoder, or a bi-encoder as guide.

Every (query, candidate) pair and every (query, positive) pair is scored once; a candidate is dropped
when its score is too high in absolute terms (max_score, RocketQA style) or too close to the score
of the query's positives (absolute_margin, relative_margin: NV-Retriever's positive-aware threshold;
absolute_margin=0, the default with a cross-encoder, is GISTEmbed's rule: drop a negative the scorer
puts above the query's positive; it holds for any kind of score, logit, probability or cosine, where a
fixed max_score or a relative margin depends on the scorer's scale and can drop everything a weak
scorer scores near its positives). Margins are judged per (query, positive), as in filter: a candidate
too close to one positive is left out of that positive's rows (excluded_for), and dropped when it is
too close to every positive of its query. The positives' scores are written beside (positive_ce_scores).

With the bi-encoder guide, the default rule is another: positive_neighbours drops a candidate that is
among the k corpus passages nearest to one of its query's positives. "auto" sets k by leaving one out:
k is such that 8 in 10 positives of the positives file are among the k nearest passages of another
positive of their query, so a positive missing from the file is caught as often (with too few
positives to calibrate on, one a query, k is its cap, MAX_NEIGHBOURS); and it never drops
more than a tenth of a query's candidates (with many positives a query, every candidate is near one of
them): those both nearest to a positive and closest to the query. A margin on the guide's (query,
candidate) cosine only catches what it scores above the positives, a small part of the hidden
positives; a rank among a positive's neighbours, which does not depend on how crowded the corpus is
around that positive, removes several times more while keeping about 90% of the other candidates
(benchmarks/bench_denoise.py). max_positive_similarity, a threshold on the cosine to the nearest
positive, is the cheaper rule (no corpus encoding).

Optionally an LLM judge is asked about the candidates left in a grey zone of scores
(llm_min_score <= score <= llm_max_score); those it judges relevant are dropped (llm_judge).

Each rule is a small function returning a keep-mask, named after its parameter; a row that breaks
several rules is counted under the first, in the order of the rules dict. Scores go to `ce_score`
whatever the scorer, and `ce_score_kind` says what they are (ce_prob, ce_logit, or cosine for the
bi-encoder guide), so `build` carries them along without mixing kinds.
Cross-encoder scores are cached on disk by (model identity, query sha256, passage sha256).
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from minekit import rules
from minekit.errors import ConfigError
from minekit.schema import passage_text, with_positive_lists

if TYPE_CHECKING:
    import polars as pl

logger = logging.getLogger(__name__)

SCORERS = ("cross-encoder", "bi-encoder")
SCORE_CACHE_FILE = "ce-scores.sqlite"
_CHUNK = 512  # pairs scored (and committed to the cache) at a time
BLOCK_SIZE = 4096  # queries whose pairs' texts are built and scored at a time (the default of --block-size)
HASH_SLICE = 65_536  # passages whose texts are built at a time to hash them
AUTO = "auto"
AUTO_QUANTILE = 0.9  # max_positive_similarity "auto": this quantile of the cosines between positives of a query
AUTO_MAX_SHARE = 0.1  # ... and at most this share of a query's candidates, those closest to a positive
MIN_CALIBRATION = 10  # pairs of positives (max_positive_similarity) or positives (positive_neighbours) to calibrate
CALIBRATION_QUERIES = 5_000  # multi-positive queries (the lowest sha256 of query_id) it calibrates on
CALIBRATION_PER_QUERY = 32  # positives a query (the lowest sha256 of doc_id): at most 496 pairs
_SIM_CHUNK = 65_536  # (candidate, positive) pairs whose cosines are computed at a time
NEIGHBOUR_QUANTILE = 0.8  # positive_neighbours "auto": 8 in 10 known positives are within k of another
MAX_NEIGHBOURS = 256  # the largest k "auto" gives (k nearest passages are kept per positive searched)
NEIGHBOUR_CALIBRATION_QUERIES = 1_000  # multi-positive queries whose positives "auto" searches to calibrate
_NEIGHBOUR_BLOCK = 16_384  # positives whose nearest passages are searched (and held) at a time


@dataclass
class DenoiseResult:
    """Kept (or marked) candidates with ce_score, the counts, and the confident pseudo-positives."""

    frame: "pl.DataFrame"
    stats: dict
    pseudo_positives: "pl.DataFrame | None" = None


# -- score cache ---------------------------------------------------------------------------------

def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ScoreCache:
    """Pair scores on disk (sqlite), keyed by (model key, query sha256, passage sha256).

    Each chunk of scores is one transaction, so a run killed mid-write loses at most that chunk
    and never leaves a half-written entry.
    """

    def __init__(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / SCORE_CACHE_FILE
        self._db = sqlite3.connect(self.path, timeout=60)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS scores (model TEXT, query TEXT, passage TEXT, score REAL, "
                         "PRIMARY KEY (model, query, passage)) WITHOUT ROWID")
        self._db.commit()

    def get(self, model: str, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], float]:
        found: dict[tuple[str, str], float] = {}
        by_query: dict[str, list[str]] = {}
        for q, p in keys:
            by_query.setdefault(q, []).append(p)
        for q, passages in by_query.items():
            for start in range(0, len(passages), 500):
                part = passages[start:start + 500]
                rows = self._db.execute(
                    f"SELECT passage, score FROM scores WHERE model = ? AND query = ? AND passage IN "
                    f"({','.join('?' * len(part))})", [model, q, *part]).fetchall()
                found.update(((q, p), s) for p, s in rows)
        return found

    def put(self, model: str, items: Sequence[tuple[tuple[str, str], float]]) -> None:
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO scores VALUES (?, ?, ?, ?)",
                                 [(model, q, p, float(s)) for (q, p), s in items])

    def close(self) -> None:
        self._db.close()


# -- scorers -------------------------------------------------------------------------------------

@dataclass
class Pairs:
    """(query, passage) pairs known by text codes and lengths; their texts are built on demand, a scoring
    chunk at a time, so nothing holds the texts of every pair at once.

    q_code[i] / p_code[i] index q_hex / p_hex, the sha256 of pair i's query and passage texts (equal
    texts share a code); length[i] is len(query) + len(passage) in characters; texts(idx) returns the
    (query, passage) texts of the pairs at idx.
    """

    q_hex: list[str]
    p_hex: list[str]
    q_code: np.ndarray
    p_code: np.ndarray
    length: np.ndarray
    texts: Callable[[np.ndarray], list[tuple[str, str]]]

    def __len__(self) -> int:
        return len(self.q_code)

    @classmethod
    def from_texts(cls, queries: Sequence[str], passages: Sequence[str]) -> "Pairs":
        q_hex, q_code = _codes([text_sha256(q) for q in queries])
        p_hex, p_code = _codes([text_sha256(p) for p in passages])
        length = np.fromiter((len(q) + len(p) for q, p in zip(queries, passages)), dtype=np.int64,
                             count=len(queries))
        return cls(q_hex, p_hex, q_code, p_code, length, lambda idx: [(queries[i], passages[i]) for i in idx])


def _codes(hexes: list[str]) -> tuple[list[str], np.ndarray]:
    """Distinct values and each item's code (position among them)."""
    code_of: dict[str, int] = {}
    codes = np.fromiter((code_of.setdefault(h, len(code_of)) for h in hexes), dtype=np.int64, count=len(hexes))
    return list(code_of), codes


def score_cross_encoder(queries: Sequence[str], passages: Sequence[str], **kwargs) -> tuple[np.ndarray, dict]:
    """Score (query, passage) pairs given as texts with a CrossEncoder: score_pairs on Pairs.from_texts."""
    return score_pairs(Pairs.from_texts(queries, passages), **kwargs)


def score_pairs(
    pairs: Pairs,
    *,
    cross_encoder: str,
    batch_size: int = 32,
    max_length: int | None = None,
    device: str = "cpu",
    cache_dir: str | Path | None = ".minekit-cache",
    trust_remote_code: bool = False,
    show_progress: bool = True,
    _shared: dict | None = None,
) -> tuple[np.ndarray, dict]:
    """Score (query, passage) pairs with a CrossEncoder (its own activation: sigmoid for 1 logit).

    Repeated pairs are scored once; with a cache_dir, pairs scored before (same model content, same
    max_length) are read back instead. The rest are scored in one order, shortest first (similar
    lengths batch well), _CHUNK pairs at a time, their texts built per chunk: a batch, and so its
    padding and its scores, is the same however the caller split its work. Returns float32 scores
    and {pairs_scored, cache_hits}.
    """
    from tqdm.auto import tqdm

    from minekit.models import load_cross_encoder, model_identity

    uniq, first, inverse = np.unique(pairs.q_code * max(len(pairs.p_hex), 1) + pairs.p_code, return_index=True,
                                     return_inverse=True)
    order = np.argsort(first, kind="stable")  # distinct pairs in order of first occurrence
    rep = first[order]  # a pair standing for each distinct one
    slot = np.empty(len(order), dtype=np.int64)
    slot[order] = np.arange(len(order))
    scores = np.zeros(len(rep), dtype=np.float32)
    have = np.zeros(len(rep), dtype=bool)

    def hex_keys(idx: np.ndarray) -> list[tuple[str, str]]:
        return [(pairs.q_hex[q], pairs.p_hex[p]) for q, p in zip(pairs.q_code[rep[idx]], pairs.p_code[rep[idx]])]

    model_key = f"{model_identity(cross_encoder)}|max_length={max_length}"
    cache = ScoreCache(cache_dir) if cache_dir is not None else None
    try:
        for a in range(0, len(rep) if cache else 0, 100_000):
            idx = np.arange(a, min(a + 100_000, len(rep)))
            keys = hex_keys(idx)
            known = cache.get(model_key, keys)
            for i, key in zip(idx, keys):
                if key in known:
                    scores[i], have[i] = known[key], True
        todo = np.flatnonzero(~have)
        todo = todo[np.argsort(pairs.length[rep[todo]], kind="stable")]
        if len(todo):
            model = (_shared or {}).get("cross_encoder")
            if model is None:
                model = load_cross_encoder(cross_encoder, device=device, trust_remote_code=trust_remote_code)
                if max_length is not None:
                    model.max_length = max_length
                if _shared is not None:
                    _shared["cross_encoder"] = model
            with tqdm(total=len(todo), desc="cross-encoder", unit="pair", disable=not show_progress) as bar:
                for start in range(0, len(todo), _CHUNK):
                    part = todo[start:start + _CHUNK]
                    got = model.predict(pairs.texts(rep[part]), batch_size=batch_size, show_progress_bar=False)
                    scores[part] = np.asarray(got, dtype=np.float32).reshape(len(part), -1)[:, -1]
                    if cache:
                        cache.put(model_key, list(zip(hex_keys(part), scores[part].tolist())))
                    bar.update(len(part))
    finally:
        if cache:
            cache.close()
    counts = {"pairs_scored": len(todo), "cache_hits": len(rep) - len(todo),
              "score_kind": cross_encoder_kind(cross_encoder)}
    return scores[slot[inverse.reshape(-1)]], counts


def cross_encoder_kind(name: str) -> str:
    """What a cross-encoder's predict() returns: ce_prob after a sigmoid/softmax (the default for one
    label), ce_logit with an identity activation. Read from the saved config, so cached scores need no load."""
    import json

    from minekit.models import resolve_model

    config = Path(resolve_model(name)) / "config.json"
    activation = ""
    if config.is_file():
        try:
            activation = str((json.loads(config.read_text()).get("sentence_transformers") or {})
                             .get("activation_fn") or "")
        except (OSError, ValueError):
            activation = ""
    return "ce_logit" if activation.endswith("Identity") else "ce_prob"


def score_bi_encoder(
    queries: Sequence[str],
    passages: Sequence[str],
    *,
    model: str = "default",
    batch_size: int = 64,
    device: str = "cpu",
    dtype: str = "auto",
    max_seq_length: int | None = None,
    query_prompt: str | None = None,
    corpus_prompt: str | None = None,
    query_prompt_name: str | None = None,
    corpus_prompt_name: str | None = None,
    cache_dir: str | Path | None = ".minekit-cache",
    trust_remote_code: bool = False,
    show_progress: bool = True,
    _shared: dict | None = None,
) -> tuple[np.ndarray, dict]:
    """Cosine similarity of (query, passage) pairs under a bi-encoder guide; each text is encoded once
    (and, with a cache_dir, read back from minekit.embed's embedding cache on a rerun). Prompts, dtype
    and max_seq_length are as for mine dense, so a guide shares mine dense's cached embeddings."""
    q_texts = list(dict.fromkeys(queries))
    p_texts = list(dict.fromkeys(passages))
    encoder = _guide_encoder(_shared, model=model, batch_size=batch_size, device=device, dtype=dtype,
                             max_seq_length=max_seq_length, cache_dir=cache_dir, trust_remote_code=trust_remote_code)
    before = dict(encoder.stats)
    q_prompt = encoder.prompt_text(query_prompt, query_prompt_name, flag="query-prompt")
    p_prompt = encoder.prompt_text(corpus_prompt, corpus_prompt_name, flag="corpus-prompt")
    q_emb = encoder.encode(q_texts, prompt=q_prompt, show_progress=show_progress, desc="guide: queries")
    p_emb = encoder.encode(p_texts, prompt=p_prompt, show_progress=show_progress, desc="guide: passages")
    q_index = {t: i for i, t in enumerate(q_texts)}
    p_index = {t: i for i, t in enumerate(p_texts)}
    qi = np.fromiter((q_index[t] for t in queries), dtype=np.int64, count=len(queries))
    pi = np.fromiter((p_index[t] for t in passages), dtype=np.int64, count=len(passages))
    scores = np.einsum("ij,ij->i", q_emb[qi], p_emb[pi]).astype(np.float32)
    return scores, {"texts_encoded": encoder.stats["encoded"] - before["encoded"],
                    "texts_cached": encoder.stats["cached"] - before["cached"],
                    "dtype": encoder.dtype, "score_kind": "cosine"}


def _guide_encoder(shared: dict | None, **kwargs):
    """The bi-encoder guide's Encoder, made once and kept in `shared` across blocks and rules."""
    from minekit.embed import Encoder

    encoder = (shared or {}).get("encoder")
    if encoder is None:
        encoder = Encoder(**kwargs)
        if shared is not None:
            shared["encoder"] = encoder
    return encoder


def positive_cosines(candidates: "pl.DataFrame", positives: "pl.DataFrame", corpus: "pl.DataFrame", *,
                     block_size: int = BLOCK_SIZE, show_progress: bool = True, _shared: dict | None = None,
                     **guide) -> np.ndarray:
    """For each (query_id, doc_id) row of candidates, the highest cosine between its passage and the passage
    of one of its query's positives under the bi-encoder guide (NaN when the query has no other positive).

    guide: the Encoder's options (model, batch_size, device, dtype, max_seq_length, cache_dir,
    trust_remote_code) and corpus_prompt / corpus_prompt_name; passages are encoded with the corpus
    prompt, the pairs of block_size queries at a time (memory, not results). A positive is never compared
    with itself.
    """
    import polars as pl

    rows, pairs = _candidate_positive_pairs(candidates, positives)
    sims = _pair_cosines(pairs, corpus, block_size, show_progress, _shared, guide)
    top = pairs.select("_c").with_columns(pl.Series("_s", sims)).group_by("_c").agg(pl.col("_s").max())
    best = np.full(rows.height, np.nan, dtype=np.float32)
    best[top["_c"].to_numpy()] = top["_s"].to_numpy()
    return best


def positive_pair_cosines(positives: "pl.DataFrame", corpus: "pl.DataFrame", *, block_size: int = BLOCK_SIZE,
                          show_progress: bool = True, _shared: dict | None = None, **guide) -> np.ndarray:
    """The cosine of every pair of positives of the same query (each pair once) among calibration_positives:
    what max_positive_similarity "auto" takes the AUTO_QUANTILE of."""
    pairs = _pairs_of_positives(calibration_positives(positives), each_once=True)
    return _pair_cosines(pairs, corpus, block_size, show_progress, _shared, guide)


def _candidate_positive_pairs(candidates: "pl.DataFrame", positives: "pl.DataFrame"):
    """(rows: candidates numbered _c, pairs: each row with every other positive _pos of its query)."""
    import polars as pl

    rows = candidates.select(pl.int_range(pl.len(), dtype=pl.UInt32).alias("_c"), "query_id", "doc_id")
    pairs = (rows.join(positives.select("query_id", pl.col("doc_id").alias("_pos")).unique(), on="query_id")
             .filter(pl.col("doc_id") != pl.col("_pos")))
    return rows, pairs


def _pairs_of_positives(picked: "pl.DataFrame", *, each_once: bool) -> "pl.DataFrame":
    """(query_id, doc_id, _pos) for positives of the same query: each unordered pair once, or both ways."""
    import polars as pl

    other = pl.col("doc_id") < pl.col("_pos") if each_once else pl.col("doc_id") != pl.col("_pos")
    return (picked.join(picked.rename({"doc_id": "_pos"}), on="query_id").filter(other)
            .sort("query_id", "doc_id", "_pos"))


def calibration_positives(positives: "pl.DataFrame", max_queries: int = CALIBRATION_QUERIES,
                          per_query: int = CALIBRATION_PER_QUERY) -> "pl.DataFrame":
    """The positives "auto" calibrates on: those of queries with several, at most max_queries queries and
    per_query positives a query (the lowest sha256 of query_id, then of doc_id: every shard of a run picks
    the same ones, and a query with hundreds of positives does not outweigh the others)."""
    import polars as pl

    pos = positives.select("query_id", "doc_id").unique()
    pos = pos.join(pos.group_by("query_id").len().filter(pl.col("len") >= 2), on="query_id", how="semi")
    pos = pos.with_columns(pl.Series("_h", [text_sha256(d) for d in pos["doc_id"].to_list()], dtype=pl.Utf8))
    pos = pos.sort("query_id", "_h").group_by("query_id", maintain_order=True).head(per_query)
    multi = pos.group_by("query_id").len().filter(pl.col("len") >= 2).select("query_id")
    if multi.height > max_queries:
        digest = [text_sha256(q) for q in multi["query_id"].to_list()]
        multi = multi.with_columns(pl.Series("_h", digest)).sort("_h").head(max_queries).select("query_id")
    return pos.join(multi, on="query_id", how="semi").select("query_id", "doc_id").sort("query_id", "doc_id")


def _pair_cosines(pairs: "pl.DataFrame", corpus: "pl.DataFrame", block_size: int, show_progress: bool,
                  shared: dict | None, guide: dict) -> np.ndarray:
    """Cosines of the (doc_id, _pos) passages of each row of pairs, block_size queries' pairs at a time."""
    import polars as pl

    encoder, prompt = _passage_encoder(shared, guide)
    passages = corpus.select("doc_id", passage_text().alias("_t"))
    pairs = pairs.select("query_id", "doc_id", "_pos").with_row_index("_row")
    sims = np.empty(pairs.height, dtype=np.float32)
    qids = pairs["query_id"].unique().sort()
    for a in range(0, len(qids), block_size):
        block = pairs.join(qids.slice(a, block_size).to_frame(), on="query_id", how="semi", maintain_order="left")
        docs = pl.concat([block["doc_id"], block["_pos"]]).unique(maintain_order=True).to_frame("doc_id")
        texts = docs.join(passages, on="doc_id", how="left", maintain_order="left")["_t"].to_list()
        vectors = encoder.encode(texts, prompt=prompt, show_progress=show_progress, desc="guide: passages")
        index = docs.with_row_index("_i")
        left = block.join(index, on="doc_id", how="left", maintain_order="left")["_i"].to_numpy()
        right = block.join(index.rename({"doc_id": "_pos"}), on="_pos", how="left", maintain_order="left")["_i"]
        right, rows = right.to_numpy(), block["_row"].to_numpy()
        for start in range(0, block.height, _SIM_CHUNK):
            part = slice(start, start + _SIM_CHUNK)
            sims[rows[part]] = np.einsum("ij,ij->i", vectors[left[part]], vectors[right[part]])
    return sims


def positive_neighbour_ranks(candidates: "pl.DataFrame", positives: "pl.DataFrame", corpus: "pl.DataFrame", *,
                             k: int, show_progress: bool = True, _shared: dict | None = None,
                             **guide) -> np.ndarray:
    """For each (query_id, doc_id) row of candidates, its best rank among the k corpus passages nearest to one of
    its query's positives under the bi-encoder guide (1 = the nearest; the positive itself is not counted),
    0 when it is among none of them. A rank, unlike a cosine, does not depend on how crowded the corpus is
    around a positive. guide: as positive_cosines; the whole corpus is encoded (through the cache)."""
    import polars as pl

    rows, pairs = _candidate_positive_pairs(candidates, positives)
    ranks = _neighbour_ranks(pairs, corpus, k, show_progress, _shared, guide)
    best = (pairs.select("_c").with_columns(pl.Series("_r", ranks)).filter(pl.col("_r") > 0)
            .group_by("_c").agg(pl.col("_r").min()))
    out = np.zeros(rows.height, dtype=np.int32)
    out[best["_c"].to_numpy()] = best["_r"].to_numpy()
    return out


def positive_loo_ranks(positives: "pl.DataFrame", corpus: "pl.DataFrame", *, show_progress: bool = True,
                       _shared: dict | None = None, **guide) -> np.ndarray:
    """Leave one out: for each calibration positive (calibration_positives, at most NEIGHBOUR_CALIBRATION_QUERIES
    queries), its best rank among the MAX_NEIGHBOURS passages nearest to another positive of its query, or
    MAX_NEIGHBOURS + 1 beyond them. A positive hidden from the positives file would rank as these do: what
    positive_neighbours "auto" takes the NEIGHBOUR_QUANTILE of."""
    import polars as pl

    pairs = _pairs_of_positives(calibration_positives(positives, max_queries=NEIGHBOUR_CALIBRATION_QUERIES),
                                each_once=False)
    ranks = _neighbour_ranks(pairs, corpus, MAX_NEIGHBOURS, show_progress, _shared, guide, keep=True)
    best = (pairs.select("query_id", "doc_id").with_columns(
        pl.Series("_r", ranks).replace(0, MAX_NEIGHBOURS + 1)).group_by("query_id", "doc_id", maintain_order=True)
        .agg(pl.col("_r").min()))
    return best["_r"].to_numpy()


def _neighbour_ranks(pairs: "pl.DataFrame", corpus: "pl.DataFrame", k: int, show_progress: bool,
                     shared: dict | None, guide: dict, *, keep: bool = False) -> np.ndarray:
    """For each row of pairs, the rank of doc_id among the k corpus passages nearest to _pos (0: not among them).

    keep holds the lists searched in shared (the calibration's: NEIGHBOUR_CALIBRATION_QUERIES queries at most,
    k ints a positive, small beside the corpus vectors), so a later call at k or less does not search those
    positives again."""
    import polars as pl

    from minekit.embed import TextColumn
    from minekit.mine.exact import search_exact

    out = np.zeros(pairs.height, dtype=np.int32)
    if pairs.height == 0:  # nothing to rank (e.g. one positive a query): the corpus is not encoded
        return out
    encoder, prompt = _passage_encoder(shared, guide)
    shared = shared if shared is not None else {}
    if "corpus" not in shared:  # one encoding (and one cache lookup) for calibration and candidates
        ordered = corpus.sort("doc_id")
        vectors = encoder.encode_stored(TextColumn(ordered, passage_text()), prompt=prompt,
                                        show_progress=show_progress, desc="guide: corpus")
        where = pl.DataFrame({"_pos": ordered["doc_id"], "_at": np.arange(ordered.height, dtype=np.int64)})
        shared["corpus"] = vectors, where
    vectors, where = shared["corpus"]
    # corpus positions (ints) rather than ids: lighter to hold and to join
    rows = (pairs.select("doc_id", "_pos").with_row_index("_row")
            .join(where.rename({"_pos": "doc_id", "_at": "_d"}), on="doc_id", how="inner")
            .join(where.rename({"_at": "_p"}), on="_pos", how="inner").select("_row", "_p", "_d"))

    def record(lists: "pl.DataFrame") -> None:
        found = rows.join(lists, on=["_p", "_d"], how="inner")
        out[found["_row"].to_numpy()] = found["_rank"].to_numpy()

    searched = rows.select("_p").unique().sort("_p")
    known_k, known = shared.get("neighbours", (0, None))
    if known is not None and k <= known_k:
        record(known.filter(pl.col("_rank") <= k))
        searched = searched.join(known.select("_p").unique(), on="_p", how="anti")
    kept = []
    for a in range(0, searched.height, _NEIGHBOUR_BLOCK):
        at = searched["_p"].slice(a, _NEIGHBOUR_BLOCK).to_numpy()
        hits = search_exact(vectors, np.arange(len(at)), vectors, [np.array([i]) for i in at], top_k=k, row_index=at,
                            desc="guide: neighbours of positives", show_progress=show_progress)
        group, doc, rank = hits.arrays()
        lists = pl.DataFrame({"_p": at[group], "_d": doc, "_rank": rank}, schema_overrides={"_rank": pl.Int32})
        record(lists)
        if keep:
            kept.append(lists)
    if kept:
        shared["neighbours"] = k, pl.concat(kept)
    return out


def _first_share(order: "pl.Expr") -> "pl.Expr":
    """True for the AUTO_MAX_SHARE of a query's candidates (rounded down, at least one) that come first in
    order (ties: the first row): the most an "auto" rule drops of a query."""
    import polars as pl

    cap = (pl.len() * AUTO_MAX_SHARE).floor().clip(lower_bound=1)
    return order.rank("ordinal").over("query_id") <= cap.over("query_id")


def _passage_encoder(shared: dict | None, guide: dict):
    """The guide's Encoder and its corpus prompt text (both sides of a passage-to-passage cosine are passages)."""
    guide = dict(guide)
    prompt_opts = {k: guide.pop(k, None) for k in ("corpus_prompt", "corpus_prompt_name")}
    for unused in ("query_prompt", "query_prompt_name"):
        guide.pop(unused, None)
    encoder = _guide_encoder(shared, **guide)
    return encoder, encoder.prompt_text(prompt_opts["corpus_prompt"], prompt_opts["corpus_prompt_name"],
                                        flag="corpus-prompt")


# -- keep-mask rules (the score rules are shared with filter, in minekit.rules) -------------------
# A candidate whose query has no scored positive cannot be judged by a margin: it is kept.

def _llm_judge(judged: "pl.DataFrame | None") -> "pl.Expr | None":
    """judged: (query_id, doc_id, _relevant) for the grey-zone pairs the judge answered."""
    import polars as pl

    return None if judged is None else ~pl.col("_relevant").fill_null(False)


def _check(scorer: str, cross_encoder: str | None, model: str | None, max_score: float | None,
           relative_margin: float | None, min_positive_score: float | None, llm_judge: object, llm_min_score: float | None,
           llm_max_score: float | None, batch_size: int, max_length: int | None, guide_opts: dict) -> None:
    if scorer not in SCORERS:
        raise ConfigError(f"scorer: {scorer!r} is not one of {', '.join(SCORERS)}.")
    if scorer == "cross-encoder" and not cross_encoder:
        raise ConfigError("cross_encoder: the cross-encoder scorer needs a model (a folder, e.g. one made by "
                          "`minekit train-reranker`); or use --scorer bi-encoder --model default.")
    if scorer == "cross-encoder" and model is not None:
        raise ConfigError("model: the bi-encoder guide model is for --scorer bi-encoder; with the cross-encoder "
                          "scorer give --cross-encoder.")
    if scorer == "bi-encoder" and cross_encoder:
        raise ConfigError("cross_encoder: given with --scorer bi-encoder, where it cannot apply; "
                          "use --model for the bi-encoder guide.")
    if scorer == "bi-encoder" and max_length is not None:
        raise ConfigError("max_length: applies to the cross-encoder only; the bi-encoder guide takes "
                          "--max-seq-length.")
    if max_length is not None and max_length < 1:
        raise ConfigError(f"--max-length: must be at least 1, got {max_length}.")
    given = [f"--{k.replace('_', '-')}" for k, v in guide_opts.items() if v is not None and v != "auto"]
    if scorer == "cross-encoder" and given:
        raise ConfigError(f"{', '.join(given)}: apply to the bi-encoder guide (--scorer bi-encoder), not to the "
                          "cross-encoder.")
    if relative_margin is not None and not 0 <= relative_margin < 1:
        raise ConfigError(f"relative_margin: must be in [0, 1), got {relative_margin}.")
    if batch_size < 1:
        raise ConfigError(f"batch_size: must be at least 1, got {batch_size}.")
    if min_positive_score is not None and max_score is not None and min_positive_score < max_score:
        raise ConfigError(f"min_positive_score ({min_positive_score}) is below max_score ({max_score}): "
                          "a pseudo-positive would also be kept as a negative.")
    if llm_judge is None and (llm_min_score is not None or llm_max_score is not None):
        raise ConfigError("llm_min_score / llm_max_score: set without an LLM judge (--llm-judge URL).")
    if llm_judge is not None and llm_min_score is None:
        raise ConfigError("llm_min_score: the LLM judge needs the lower end of the grey zone of scores it is "
                          "asked about (cost control), e.g. --llm-min-score 0.02 below --max-score 0.1.")
    if llm_min_score is not None and llm_max_score is not None and llm_min_score > llm_max_score:
        raise ConfigError(f"llm_min_score ({llm_min_score}) is larger than llm_max_score ({llm_max_score}).")


def _check_rule_values(scorer: str, max_positive_similarity: object, positive_neighbours: object,
                       absolute_margin: object) -> int | str | None:
    """Checks the rules' values; returns positive_neighbours as an int (or 'auto', or None)."""
    if isinstance(absolute_margin, str) and absolute_margin != AUTO:
        raise ConfigError(f"absolute_margin: must be a number, 'auto' or none, got {absolute_margin!r}.")
    if max_positive_similarity not in (None, AUTO) and (
            isinstance(max_positive_similarity, str) or not -1 <= max_positive_similarity <= 1):
        raise ConfigError(f"max_positive_similarity: a cosine in [-1, 1], 'auto' or none, got "
                          f"{max_positive_similarity!r}.")
    if positive_neighbours not in (None, AUTO) and (
            isinstance(positive_neighbours, (str, bool)) or not float(positive_neighbours).is_integer()
            or positive_neighbours < 1):
        got = repr(positive_neighbours) if isinstance(positive_neighbours, str) else f"{positive_neighbours:g}"
        raise ConfigError(f"positive_neighbours: a whole number of passages (at least 1), 'auto' or none, got {got}.")
    for name, value in (("max_positive_similarity", max_positive_similarity),
                        ("positive_neighbours", positive_neighbours)):
        if value not in (None, AUTO) and scorer != "bi-encoder":
            raise ConfigError(f"{name}: compares passages with the query's positives as bi-encoder embeddings; "
                              "use it with --scorer bi-encoder (and --model).")
    return positive_neighbours if positive_neighbours in (None, AUTO) else int(positive_neighbours)


def _pair_texts(pairs: "pl.DataFrame", queries: "pl.DataFrame", corpus: "pl.DataFrame") -> "pl.DataFrame":
    """(query_id, doc_id) pairs with _q and _p texts; the passage is what models see (title + text)."""
    import polars as pl

    docs = corpus.select("doc_id", passage_text().alias("_p"))
    return (pairs.join(queries.select("query_id", pl.col("text").alias("_q")), on="query_id", how="left")
            .join(docs, on="doc_id", how="left"))


def _pairs(pairs: "pl.DataFrame", queries: "pl.DataFrame", corpus: "pl.DataFrame") -> Pairs:
    """Pairs of (query_id, doc_id) for score_pairs: queries' and passages' sha256 and lengths, the passages
    hashed HASH_SLICE at a time; texts built only for the pairs asked for."""
    import polars as pl

    q_rows = pairs.join(queries.select("query_id").with_row_index("_r"), on="query_id", how="left",
                        maintain_order="left")["_r"].to_numpy().astype(np.int64)
    q_texts = queries["text"].to_list()
    q_hex, q_code = _codes([text_sha256(t) for t in q_texts])
    q_len = np.fromiter((len(t) for t in q_texts), dtype=np.int64, count=len(q_texts))
    docs = pairs.select("doc_id").unique(maintain_order=True).join(
        corpus.select("doc_id").with_row_index("_r"), on="doc_id", how="left", maintain_order="left")
    doc_rows = docs["_r"].to_numpy().astype(np.int64)
    hexes: list[str] = []
    p_len = np.zeros(len(doc_rows), dtype=np.int64)
    for a in range(0, len(doc_rows), HASH_SLICE):
        texts = corpus[doc_rows[a:a + HASH_SLICE]].select(passage_text()).to_series().to_list()
        hexes.extend(text_sha256(t) for t in texts)
        p_len[a:a + len(texts)] = [len(t) for t in texts]
    p_hex, p_code = _codes(hexes)
    d_index = pairs.join(docs.select("doc_id").with_row_index("_d"), on="doc_id", how="left",
                         maintain_order="left")["_d"].to_numpy().astype(np.int64)

    def texts(idx: np.ndarray) -> list[tuple[str, str]]:
        passages = corpus[doc_rows[d_index[idx]]].select(passage_text()).to_series().to_list()
        return [(q_texts[q], p) for q, p in zip(q_rows[idx], passages)]

    return Pairs(q_hex, p_hex, q_code[q_rows], p_code[d_index], q_len[q_rows] + p_len[d_index], texts)


def _score_in_blocks(pairs: "pl.DataFrame", queries: "pl.DataFrame", corpus: "pl.DataFrame", opts: dict,
                     block_size: int, shared: dict) -> tuple[np.ndarray, dict]:
    """Bi-encoder scores of (query_id, doc_id) pairs, the texts of block_size queries' pairs at a time (the
    texts of every pair at once would grow with queries x candidates); one model serves every block."""
    import polars as pl

    ranked = pairs.select(pl.col("query_id").rank("dense").cast(pl.Int64).alias("_b") - 1)["_b"].to_numpy()
    block_of = ranked // block_size
    scores = np.zeros(pairs.height, dtype=np.float32)
    counts: dict = {}
    for b in np.unique(block_of):
        rows = np.flatnonzero(block_of == b)
        texts = _pair_texts(pairs[rows], queries, corpus)
        part, got = _score(texts, opts, shared)
        scores[rows] = part
        for key, value in got.items():
            counts[key] = counts.get(key, 0) + value if isinstance(value, int) and key in counts else value
    if not counts:
        counts = _score(pairs.head(0).with_columns(pl.lit("").alias("_q"), pl.lit("").alias("_p")), opts, shared)[1]
    return scores, counts


def _score(pairs: "pl.DataFrame", opts: dict, shared: dict) -> tuple[np.ndarray, dict]:
    opts = {k: v for k, v in opts.items() if k not in ("cross_encoder", "max_length")}
    return score_bi_encoder(pairs["_q"].to_list(), pairs["_p"].to_list(), **opts, _shared=shared)





def denoise_candidates(
    candidates: "pl.DataFrame",
    queries: "pl.DataFrame",
    positives: "pl.DataFrame",
    corpus: "pl.DataFrame",
    *,
    scorer: str = "cross-encoder",
    cross_encoder: str | None = None,
    model: str | None = None,
    max_score: float | None = None,
    max_positive_similarity: float | str | None = None,
    positive_neighbours: int | str | None = AUTO,
    absolute_margin: float | str | None = AUTO,
    relative_margin: float | None = None,
    min_positive_score: float | None = None,
    llm_judge: Callable[[list[tuple[str, str]]], list[bool | None]] | None = None,
    llm_min_score: float | None = None,
    llm_max_score: float | None = None,
    batch_size: int = 32,
    max_length: int | None = None,
    max_seq_length: int | None = None,
    query_prompt: str | None = None,
    corpus_prompt: str | None = None,
    query_prompt_name: str | None = None,
    corpus_prompt_name: str | None = None,
    device: str = "cpu",
    dtype: str = "auto",
    cache_dir: str | Path | None = ".minekit-cache",
    trust_remote_code: bool = False,
    keep_dropped: bool = False,
    block_size: int = BLOCK_SIZE,
    show_progress: bool = True,
) -> DenoiseResult:
    """Score candidates and the queries' positives; drop candidates by max_score, positive_neighbours,
    max_positive_similarity, absolute_margin, relative_margin, then (optionally) by an LLM judge on the grey
    zone; write ce_score on every row (and neighbour_rank / positive_cosine when those rules judge).

    positive_neighbours (bi-encoder guide only): drop a candidate among the k corpus passages nearest to one
    of its query's positives (neighbour_rank: its best rank, null beyond k). "auto" (the default) is the
    NEIGHBOUR_QUANTILE of positive_loo_ranks, at most MAX_NEIGHBOURS (MAX_NEIGHBOURS with fewer than
    MIN_CALIBRATION calibration positives), and drops at most AUTO_MAX_SHARE of a query's candidates: those
    within k with the lowest log(neighbour_rank) minus the z-score of ce_score among the query's candidates.
    max_positive_similarity (bi-encoder guide only): drop a candidate whose cosine to one of its query's
    positives (passage to passage, under the guide) is above it; "auto" calibrates it on the positives file:
    the AUTO_QUANTILE of the cosines between positives of the same query (needs MIN_CALIBRATION such pairs),
    and drops at most AUTO_MAX_SHARE of a query's candidates, those with the highest positive_cosine.
    absolute_margin "auto" (the default) is 0, GISTEmbed's rule, unless one of those two rules judges.

    llm_judge is a callable taking (query text, passage text) pairs and answering True (relevant),
    False, or None (no usable answer, kept); see minekit.llm_judge.LLMJudge. The grey zone is the
    candidates kept by the score rules with llm_min_score <= ce_score (<= llm_max_score when given).
    With min_positive_score, the candidates scored at or above it come back as pseudo_positives.
    block_size: for the bi-encoder guide, queries whose pairs' texts are built and scored at a time; the
    cross-encoder builds texts per scoring chunk (_CHUNK pairs) whatever it is (memory, not results).
    """
    import polars as pl

    guide = dict(dtype=dtype, max_seq_length=max_seq_length, query_prompt=query_prompt, corpus_prompt=corpus_prompt,
                 query_prompt_name=query_prompt_name, corpus_prompt_name=corpus_prompt_name)
    _check(scorer, cross_encoder, model, max_score, relative_margin, min_positive_score, llm_judge, llm_min_score,
           llm_max_score, batch_size, max_length, guide)
    positive_neighbours = _check_rule_values(scorer, max_positive_similarity, positive_neighbours, absolute_margin)
    if block_size < 1:
        raise ConfigError(f"block_size: must be at least 1, got {block_size}.")
    from minekit.embed import parse_devices

    parse_devices(device)  # a bad --device fails before any scoring
    opts = dict(cross_encoder=cross_encoder, model=model or "default", batch_size=batch_size, max_length=max_length,
                device=device, cache_dir=cache_dir, trust_remote_code=trust_remote_code, show_progress=show_progress)
    opts.pop("model" if scorer == "cross-encoder" else "cross_encoder")
    if scorer == "bi-encoder":
        opts.update(guide)
    shared: dict = {}  # the guide's model, loaded once for scores and positive cosines
    if "drop_reason" not in candidates.columns:
        candidates = candidates.with_columns(pl.lit(None, pl.Utf8).alias("drop_reason"))
    prior = pl.col("drop_reason").is_not_null()  # dropped by an earlier filter --keep-dropped: passed through
    earlier = candidates.filter(prior)
    live = candidates.filter(~prior).drop("drop_reason", "ce_score", "positive_cosine", "neighbour_rank", strict=False)

    pos_pairs = (positives.join(live.select("query_id").unique(), on="query_id", how="semi")
                 .select("query_id", "doc_id").sort("query_id", "doc_id"))
    cand_pairs = live.select("query_id", "doc_id").unique(maintain_order=True)
    both = pl.concat([cand_pairs, pos_pairs])
    if scorer == "cross-encoder":  # one global order of pairs, texts built per scoring chunk
        scores, score_counts = score_pairs(_pairs(both, queries, corpus), **opts)
    else:
        scores, score_counts = _score_in_blocks(both, queries, corpus, opts, block_size, shared)
    kind = score_counts.pop("score_kind")
    both = both.with_columns(pl.Series("ce_score", scores, dtype=pl.Float32))
    cand_scores, pos_scores = both.slice(0, cand_pairs.height), both.slice(cand_pairs.height)
    guide_opts = dict(show_progress=show_progress, _shared=shared,
                      **{k: v for k, v in opts.items() if k not in ("show_progress", "max_length")})
    similarity, calibrated_on, neighbours, neighbours_calibrated_on = None, None, None, None
    if scorer == "bi-encoder" and positive_neighbours is not None:
        neighbours = positive_neighbours
        if neighbours == AUTO:
            loo = positive_loo_ranks(positives, corpus, **guide_opts)
            neighbours_calibrated_on = len(loo)
            # Too few positives to calibrate on (one a query, as in most click data): every candidate within
            # MAX_NEIGHBOURS may go, and the share bound alone limits what does.
            neighbours = (min(int(np.quantile(loo, NEIGHBOUR_QUANTILE, method="inverted_cdf")), MAX_NEIGHBOURS)
                          if len(loo) >= MIN_CALIBRATION else MAX_NEIGHBOURS)
        ranks = positive_neighbour_ranks(cand_pairs, pos_pairs, corpus, k=neighbours, **guide_opts)
        cand_scores = cand_scores.with_columns(pl.Series("neighbour_rank", ranks, dtype=pl.UInt32).replace(0, None))
        if positive_neighbours == AUTO:
            # As max_positive_similarity "auto", at most AUTO_MAX_SHARE of a query's candidates (rounded down,
            # at least one): of those within k, the likeliest positives, near a positive *and* close to the
            # query (log rank minus the z-score of the guide's query cosine among the query's candidates;
            # either signal alone removes fewer hidden positives at the same share, bench_denoise.py).
            q = pl.col("ce_score")
            z = ((q - q.mean().over("query_id")) / q.std().over("query_id")).fill_nan(0).fill_null(0)
            nearness = pl.Series(np.where(ranks > 0, np.log(np.maximum(ranks, 1)), np.inf))
            cand_scores = cand_scores.with_columns((pl.lit(nearness) - z).alias("_within_share")).with_columns(
                _first_share(pl.col("_within_share")))
    if scorer == "bi-encoder" and max_positive_similarity is not None:
        cosine_opts = dict(block_size=block_size, **guide_opts)
        similarity = max_positive_similarity
        if similarity == AUTO:
            between = positive_pair_cosines(positives, corpus, **cosine_opts)
            calibrated_on = len(between)
            if calibrated_on >= MIN_CALIBRATION:
                similarity = float(np.quantile(between, AUTO_QUANTILE))
            else:
                similarity = None
        if similarity is not None:
            cosines = positive_cosines(cand_pairs, pos_pairs, corpus, **cosine_opts)
            cand_scores = cand_scores.with_columns(
                pl.Series("positive_cosine", cosines, dtype=pl.Float32).fill_nan(None))
            if max_positive_similarity == AUTO:
                # Many positives a query lift every candidate's nearest-positive cosine: "auto" never drops
                # more than AUTO_MAX_SHARE of a query's candidates (its own, so shards agree), the closest.
                cand_scores = cand_scores.with_columns(_first_share(-pl.col("positive_cosine")).alias("_closest_share"))
    if absolute_margin == AUTO:
        absolute_margin = None if similarity is not None or neighbours is not None else 0.0
    scored = _with_positive_ce_scores(
        live.join(cand_scores, on=["query_id", "doc_id"], how="left", maintain_order="left"), pos_pairs, pos_scores)
    scored = scored.with_columns(pl.lit(kind).alias("ce_score_kind"))
    judged = rules.judge_margins(scored, absolute_margin=absolute_margin, relative_margin=relative_margin,
                                 score="ce_score", positive_scores="positive_ce_scores")
    similar_keep = None
    if similarity is not None:
        similar_keep = pl.col("positive_cosine").is_null() | (pl.col("positive_cosine") <= similarity)
        if max_positive_similarity == AUTO:
            similar_keep = similar_keep | ~pl.col("_closest_share").fill_null(False)
    neighbour_keep = None
    if neighbours is not None:
        neighbour_keep = pl.col("neighbour_rank").is_null()
        if positive_neighbours == AUTO:
            neighbour_keep = neighbour_keep | ~pl.col("_within_share")
    score_rules = {"max_score": rules.max_score(max_score, "ce_score"),
                   "positive_neighbours": neighbour_keep,
                   "max_positive_similarity": similar_keep,
                   **rules.margin_rules(absolute_margin, relative_margin)}
    marked = rules.mark(judged, score_rules)
    judged_llm, llm_counts = _ask_judge(marked, queries, corpus, llm_judge, llm_min_score, llm_max_score)
    if judged_llm is not None:
        marked = marked.join(judged_llm, on=["query_id", "doc_id"], how="left", maintain_order="left")
        marked = rules.mark(marked.drop("drop_reason"), {**score_rules, "llm_judge": _llm_judge(judged_llm)})
    pseudo = None
    if min_positive_score is not None:
        pseudo = (cand_scores.filter(pl.col("ce_score") >= min_positive_score)
                  .select("query_id", "doc_id", pl.lit(1, pl.Int64).alias("score"), "ce_score")
                  .sort("query_id", "doc_id"))
    kept = marked.filter(pl.col("drop_reason").is_null())
    stats = {
        "rows_in": candidates.height,
        "rows_out": kept.height,  # as filter: rows kept as negatives, even when dropped rows stay marked
        "dropped": rules.dropped(marked),
        "queries_in": live["query_id"].n_unique(),
        "queries_without_negatives": live["query_id"].n_unique() - kept["query_id"].n_unique(),
        "positives_lost": 0,  # positives are never candidates: denoise cannot cost one
        "scorer": scorer,
        "score_kind": kind,
        "positive_pairs_scored": pos_pairs.height,
        **rules.margin_stats(kept),
        **score_counts, **llm_counts,
    }
    # the rules' values as applied ("auto" resolved); settings, not counts: shards agree on them
    stats["resolved"] = {"absolute_margin": absolute_margin,
                         "max_positive_similarity": None if similarity is None else round(similarity, 6)}
    if scorer == "bi-encoder":
        stats["resolved"]["positive_neighbours"] = neighbours
    if neighbours_calibrated_on is not None:
        stats["resolved"]["positive_neighbours_calibrated_on"] = neighbours_calibrated_on  # positives
        stats["resolved"]["positive_neighbours_max_share"] = AUTO_MAX_SHARE
    if calibrated_on is not None:
        stats["resolved"]["positive_similarity_calibrated_on"] = calibrated_on  # pairs of positives
        stats["resolved"]["positive_similarity_max_share"] = AUTO_MAX_SHARE if similarity is not None else None
    if earlier.height:
        stats["dropped_before"] = earlier.height
    if pseudo is not None:
        stats["pseudo_positives"] = pseudo.height
    internal = [*rules.MARGIN_COLUMNS, "_relevant", "_within_share", "_closest_share"]
    out_cols = [c for c in marked.columns if c not in internal and c != "drop_reason"]
    if keep_dropped:
        frame = pl.concat([marked.select(*out_cols, "drop_reason"), earlier], how="diagonal_relaxed")
        frame = frame.select(*out_cols, "drop_reason")
    else:
        frame = kept.select(out_cols)
    return DenoiseResult(frame.sort("query_id", "source", "rank", "doc_id"), stats, pseudo)


def _with_positive_ce_scores(scored: "pl.DataFrame", pos_pairs: "pl.DataFrame",
                             pos_scores: "pl.DataFrame") -> "pl.DataFrame":
    """positive_ce_scores aligned with each row's positive_ids (rows without named positives get the
    query's positives from the positives file)."""
    import polars as pl

    by_query = pos_pairs.group_by("query_id", maintain_order=True).agg(pl.col("doc_id").alias("_all"))
    unnamed = pl.col("positive_ids").list.drop_nulls().list.len() == 0
    scored = (with_positive_lists(scored).join(by_query, on="query_id", how="left", maintain_order="left")
              .with_columns(pl.when(unnamed).then(pl.col("positive_score").repeat_by(pl.col("_all").list.len())
                                                  .cast(pl.List(pl.Float32)))
                            .otherwise(pl.col("positive_scores")).alias("positive_scores"),
                            pl.when(unnamed).then(pl.col("_all")).otherwise(pl.col("positive_ids"))
                            .alias("positive_ids"))
              .drop("_all"))
    lookup = pos_scores.rename({"doc_id": "positive_ids", "ce_score": "positive_ce_scores"})
    aligned = (scored.select(pl.int_range(pl.len(), dtype=pl.UInt32).alias("_r"), "query_id", "positive_ids")
               .explode("positive_ids")
               .join(lookup, on=["query_id", "positive_ids"], how="left", maintain_order="left")
               .group_by("_r", maintain_order=True).agg("positive_ce_scores").sort("_r"))
    return scored.with_columns(aligned["positive_ce_scores"].list.eval(pl.element().cast(pl.Float32)))


def _ask_judge(marked: "pl.DataFrame", queries: "pl.DataFrame", corpus: "pl.DataFrame", judge,
               llm_min_score: float | None, llm_max_score: float | None) -> tuple["pl.DataFrame | None", dict]:
    """Ask the judge about the grey zone only: pairs kept by the score rules, within [min, max] score."""
    import polars as pl

    if judge is None:
        return None, {}
    grey = pl.col("drop_reason").is_null() & (pl.col("ce_score") >= llm_min_score)
    if llm_max_score is not None:
        grey = grey & (pl.col("ce_score") <= llm_max_score)
    pairs = marked.filter(grey).select("query_id", "doc_id").unique(maintain_order=True)
    texts = _pair_texts(pairs, queries, corpus)
    answers = judge(list(zip(texts["_q"].to_list(), texts["_p"].to_list()))) if pairs.height else []
    judged = pairs.with_columns(pl.Series("_relevant", answers, dtype=pl.Boolean))
    counts = {"llm_asked": pairs.height, "llm_relevant": int(judged["_relevant"].sum() or 0),
              "llm_unanswered": int(judged["_relevant"].is_null().sum())}
    counts.update(getattr(judge, "counts", {}))
    return judged, counts
