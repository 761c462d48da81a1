"""The bi-encoder guide: cosine scores of (query, passage) pairs, and its two calibrated rules.

positive_neighbours drops a candidate among the k corpus passages nearest to one of its query's
positives (a rank, which does not depend on how crowded the corpus is around that positive);
max_positive_similarity drops one whose cosine to a positive of its query is above a threshold.
"auto" calibrates each on the positives file (calibration_positives: the same ones in every shard)
and then drops at most AUTO_MAX_SHARE of a query's candidates.

Every text is encoded once, in one call, before any block of queries is scored: an embedding depends
on the batch it was encoded in (padding, and bfloat16 on CPU), so encoding per block would make the
scores depend on block_size. The guide's Encoder, and the corpus vectors of positive_neighbours, are
kept in `shared` so the scores and both rules load one model and encode the corpus once.

guide options (model, batch_size, device, dtype, max_seq_length, cache_dir, trust_remote_code, the
prompts) are as for mine dense, so the guide shares mine dense's cached embeddings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

import numpy as np

from minekit.clean.rules import AUTO, Rule
from minekit.clean.score_cache import text_sha256
from minekit.errors import ConfigError
from minekit.inputs.schema import passage_text

if TYPE_CHECKING:
    import polars as pl

    from minekit.encode.vectors import Vectors

BLOCK_SIZE = 4096  # queries whose pairs are scored at a time (the default of --block-size)
AUTO_QUANTILE = 0.9  # max_positive_similarity "auto": this quantile of the cosines between positives of a query
AUTO_MAX_SHARE = 0.1  # ... and at most this share of a query's candidates, those closest to a positive
MIN_CALIBRATION = 10  # pairs of positives (max_positive_similarity) or positives (positive_neighbours) to calibrate
CALIBRATION_QUERIES = 5_000  # multi-positive queries (the lowest sha256 of query_id) it calibrates on
CALIBRATION_PER_QUERY = 32  # positives a query (the lowest sha256 of doc_id): at most 496 pairs
_SIM_CHUNK = 65_536  # pairs whose cosines are computed at a time
NEIGHBOUR_QUANTILE = 0.8  # positive_neighbours "auto": 8 in 10 known positives are within k of another
MAX_NEIGHBOURS = 256  # the largest k "auto" gives (k nearest passages are kept per positive searched)
NEIGHBOUR_CALIBRATION_QUERIES = 1_000  # multi-positive queries whose positives "auto" searches to calibrate
_NEIGHBOUR_BLOCK = 16_384  # positives whose nearest passages are searched (and held) at a time
_PROMPTS = ("query_prompt", "query_prompt_name", "corpus_prompt", "corpus_prompt_name")


# -- the rules -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PositiveNeighbours(Rule):
    """Drop a candidate within k of a positive (neighbour_rank not null). value: k, "auto" or None (off).
    calibrated_on: the positives "auto" set k on; then only the _within_share of a query may go."""

    param = reason = "positive_neighbours"
    value: int | str | None = AUTO
    calibrated_on: int | None = None

    def __post_init__(self) -> None:
        k = self.value
        if k not in (None, AUTO) and (isinstance(k, (str, bool)) or not float(k).is_integer() or k < 1):
            got = repr(k) if isinstance(k, str) else f"{k:g}"
            raise ConfigError(f"positive_neighbours: a whole number of passages (at least 1), 'auto' or none, "
                              f"got {got}.", param=self.param)
        if k not in (None, AUTO):
            object.__setattr__(self, "value", int(k))

    def keep(self) -> "pl.Expr | None":
        import polars as pl

        if self.value is None:
            return None
        keep = pl.col("neighbour_rank").is_null()
        return keep if self.calibrated_on is None else keep | ~pl.col("_within_share")


@dataclass(frozen=True)
class MaxPositiveSimilarity(Rule):
    """Drop a candidate whose positive_cosine is above value (a cosine, "auto" or None: off).
    calibrated_on: the pairs of positives "auto" set it on; then only the _closest_share of a query may go."""

    param = reason = "max_positive_similarity"
    value: float | str | None = None
    calibrated_on: int | None = None

    def __post_init__(self) -> None:
        v = self.value
        if v not in (None, AUTO) and (isinstance(v, str) or not -1 <= v <= 1):
            raise ConfigError(f"max_positive_similarity: a cosine in [-1, 1], 'auto' or none, got {v!r}.",
                              param=self.param)

    def keep(self) -> "pl.Expr | None":
        import polars as pl

        if self.value is None:
            return None
        keep = pl.col("positive_cosine").is_null() | (pl.col("positive_cosine") <= self.value)
        return keep if self.calibrated_on is None else keep | ~pl.col("_closest_share").fill_null(False)


def check_scorer(scorer: str, *rules: Rule) -> None:
    """The guide's rules compare passages as bi-encoder embeddings: with another scorer they cannot apply."""
    for rule in rules:
        if rule.value not in (None, AUTO) and scorer != "bi-encoder":
            raise ConfigError(f"{rule.param}: compares passages with the query's positives as bi-encoder "
                              "embeddings; use it with --scorer bi-encoder (and --model).", param=rule.param)


def apply_positive_neighbours(candidates: "pl.DataFrame", query_positives: "pl.DataFrame",
                              positives: "pl.DataFrame", corpus: "pl.DataFrame", rule: PositiveNeighbours, *,
                              min_calibration: int, **guide) -> tuple["pl.DataFrame", PositiveNeighbours]:
    """candidates (query_id, doc_id, ce_score) with neighbour_rank (null beyond k), and the rule with k set.

    "auto": k is the NEIGHBOUR_QUANTILE of positive_loo_ranks over the positives file, at most
    MAX_NEIGHBOURS (MAX_NEIGHBOURS with fewer than min_calibration positives to calibrate on), and
    _within_share marks the AUTO_MAX_SHARE of a query's candidates (rounded down, at least one) that
    may go: of those within k, the likeliest positives, near a positive *and* close to the query (log
    rank minus the z-score of the guide's query cosine among the query's candidates; either signal
    alone removes fewer hidden positives at the same share, bench_denoise.py).
    """
    import polars as pl

    if rule.value is None:
        return candidates, rule
    if rule.value == AUTO:
        loo = positive_loo_ranks(positives, corpus, **guide)
        # Too few positives to calibrate on (one a query, as in most click data): every candidate within
        # MAX_NEIGHBOURS may go, and the share bound alone limits what does.
        k = (min(int(np.quantile(loo, NEIGHBOUR_QUANTILE, method="inverted_cdf")), MAX_NEIGHBOURS)
             if len(loo) >= min_calibration else MAX_NEIGHBOURS)
        rule = PositiveNeighbours(k, calibrated_on=len(loo))
    ranks = positive_neighbour_ranks(candidates, query_positives, corpus, k=rule.value, **guide)
    candidates = candidates.with_columns(pl.Series("neighbour_rank", ranks, dtype=pl.UInt32).replace(0, None))
    if rule.calibrated_on is not None:
        q = pl.col("ce_score")
        z = ((q - q.mean().over("query_id")) / q.std().over("query_id")).fill_nan(0).fill_null(0)
        nearness = pl.Series(np.where(ranks > 0, np.log(np.maximum(ranks, 1)), np.inf))
        candidates = candidates.with_columns((pl.lit(nearness) - z).alias("_within_share")).with_columns(
            _first_share(pl.col("_within_share")))
    return candidates, rule


def apply_max_positive_similarity(candidates: "pl.DataFrame", query_positives: "pl.DataFrame",
                                  positives: "pl.DataFrame", corpus: "pl.DataFrame", rule: MaxPositiveSimilarity, *,
                                  min_calibration: int, **guide) -> tuple["pl.DataFrame", MaxPositiveSimilarity]:
    """candidates with positive_cosine (the cosine to the nearest positive of the query), and the rule with
    its threshold set. "auto": the AUTO_QUANTILE of positive_pair_cosines (None, the rule off, with fewer
    than min_calibration pairs), and _closest_share marks the AUTO_MAX_SHARE of a query's candidates, the
    closest to a positive, that may go (many positives a query lift every candidate's nearest-positive
    cosine; the query's own candidates, so shards agree)."""
    import polars as pl

    if rule.value == AUTO:
        between = positive_pair_cosines(positives, corpus, **guide)
        threshold = float(np.quantile(between, AUTO_QUANTILE)) if len(between) >= min_calibration else None
        rule = MaxPositiveSimilarity(threshold, calibrated_on=len(between))
    if rule.value is None:
        return candidates, rule
    cosines = positive_cosines(candidates, query_positives, corpus, **guide)
    candidates = candidates.with_columns(pl.Series("positive_cosine", cosines, dtype=pl.Float32).fill_nan(None))
    if rule.calibrated_on is not None:
        candidates = candidates.with_columns(_first_share(-pl.col("positive_cosine")).alias("_closest_share"))
    return candidates, rule


def _first_share(order: "pl.Expr") -> "pl.Expr":
    """True for the AUTO_MAX_SHARE of a query's candidates (rounded down, at least one) that come first in
    order (ties: the first row): the most an "auto" rule drops of a query."""
    import polars as pl

    cap = (pl.len() * AUTO_MAX_SHARE).floor().clip(lower_bound=1)
    return order.rank("ordinal").over("query_id") <= cap.over("query_id")


# -- encoding --------------------------------------------------------------------------------------

def _guide_encoder(shared: dict | None, **kwargs):
    """The bi-encoder guide's Encoder, made once and kept in `shared` across blocks and rules."""
    from minekit.encode.encoder import Encoder

    encoder = (shared or {}).get("encoder")
    if encoder is None:
        encoder = Encoder(**kwargs)
        if shared is not None:
            shared["encoder"] = encoder
    return encoder


def _passage_encoder(shared: dict | None, guide: dict):
    """The guide's Encoder and its corpus prompt text (both sides of a passage-to-passage cosine are passages)."""
    encoder = _guide_encoder(shared, **{k: v for k, v in guide.items() if k not in _PROMPTS})
    return encoder, encoder.prompt_text(guide.get("corpus_prompt"), guide.get("corpus_prompt_name"),
                                        flag="corpus-prompt")


def _encode_once(encoder, frame: "pl.DataFrame", text: "pl.Expr", prompt: str | None, show_progress: bool,
                 desc: str) -> tuple["Vectors", np.ndarray]:
    """The `text` of each row of frame encoded, each distinct text once and all in one call (so its batch is
    the same however the caller blocks its work): the vectors, and each row's position among them."""
    from minekit.encode.encoder import TextColumn

    _, first, inverse = np.unique(TextColumn(frame, text).keys(), return_index=True, return_inverse=True)
    reps = np.sort(first)  # a row for each distinct text, in order of first occurrence
    vectors = encoder.encode_stored(TextColumn(frame[reps], text), prompt=prompt, show_progress=show_progress,
                                    desc=desc)
    return vectors, np.searchsorted(reps, first[inverse.reshape(-1)])


def _row_dots(left: "Vectors", left_at: np.ndarray, right: "Vectors", right_at: np.ndarray) -> np.ndarray:
    """The dot product of left[left_at[i]] and right[right_at[i]] for each i, _SIM_CHUNK pairs at a time."""
    out = np.empty(len(left_at), dtype=np.float32)
    for start in range(0, len(left_at), _SIM_CHUNK):
        part = slice(start, start + _SIM_CHUNK)
        out[part] = np.einsum("ij,ij->i", left.gather(left_at[part]), right.gather(right_at[part]))
    return out


def _query_blocks(query_id: "pl.Series", block_size: int) -> Iterator[np.ndarray]:
    """Row numbers of the rows of block_size queries at a time (queries in sorted order)."""
    import polars as pl

    block_of = (query_id.rank("dense").cast(pl.Int64).to_numpy() - 1) // block_size
    for b in np.unique(block_of):
        yield np.flatnonzero(block_of == b)


def _positions(rows: "pl.DataFrame", distinct: "pl.DataFrame", on: str) -> np.ndarray:
    """For each row, the position of its `on` value in distinct (a frame of distinct `on` values)."""
    return rows.select(on).join(distinct.select(on).with_row_index("_i"), on=on, how="left",
                                maintain_order="left")["_i"].to_numpy().astype(np.int64)


def score_with_guide(pairs: "pl.DataFrame", queries: "pl.DataFrame", corpus: "pl.DataFrame", *,
                     block_size: int = BLOCK_SIZE, show_progress: bool = True, _shared: dict | None = None,
                     **guide) -> tuple[np.ndarray, dict]:
    """Cosine of each (query_id, doc_id) pair under the guide, block_size queries' pairs at a time; every
    distinct query and passage text is encoded once before (read back from the embedding cache on a rerun).
    Returns float32 scores and {texts_encoded, texts_cached, dtype, score_kind}."""
    import polars as pl

    encoder = _guide_encoder(_shared, **{k: v for k, v in guide.items() if k not in _PROMPTS})
    before = dict(encoder.stats)
    q_prompt = encoder.prompt_text(guide.get("query_prompt"), guide.get("query_prompt_name"), flag="query-prompt")
    p_prompt = encoder.prompt_text(guide.get("corpus_prompt"), guide.get("corpus_prompt_name"), flag="corpus-prompt")
    counts = {"dtype": encoder.dtype, "score_kind": "cosine"}
    if pairs.height == 0:
        return np.zeros(0, dtype=np.float32), {"texts_encoded": 0, "texts_cached": 0, **counts}
    q_ids = pairs.select("query_id").unique(maintain_order=True)
    doc_ids = pairs.select("doc_id").unique(maintain_order=True)
    q_texts = q_ids.join(queries.select("query_id", "text"), on="query_id", how="left", maintain_order="left")
    docs = doc_ids.join(corpus, on="doc_id", how="left", maintain_order="left")
    q_vectors, q_at = _encode_once(encoder, q_texts, pl.col("text"), q_prompt, show_progress, "guide: queries")
    p_vectors, p_at = _encode_once(encoder, docs, passage_text(), p_prompt, show_progress, "guide: passages")
    q_at, p_at = q_at[_positions(pairs, q_ids, "query_id")], p_at[_positions(pairs, doc_ids, "doc_id")]
    scores = np.zeros(pairs.height, dtype=np.float32)
    for rows in _query_blocks(pairs["query_id"], block_size):
        scores[rows] = _row_dots(q_vectors, q_at[rows], p_vectors, p_at[rows])
    return scores, {"texts_encoded": encoder.stats["encoded"] - before["encoded"],
                    "texts_cached": encoder.stats["cached"] - before["cached"], **counts}


# -- max_positive_similarity: cosines between passages ----------------------------------------------

def positive_cosines(candidates: "pl.DataFrame", positives: "pl.DataFrame", corpus: "pl.DataFrame", *,
                     block_size: int = BLOCK_SIZE, show_progress: bool = True, _shared: dict | None = None,
                     **guide) -> np.ndarray:
    """For each (query_id, doc_id) row of candidates, the highest cosine between its passage and the passage
    of one of its query's positives under the bi-encoder guide (NaN when the query has no other positive).

    guide: the Encoder's options (model, batch_size, device, dtype, max_seq_length, cache_dir,
    trust_remote_code) and corpus_prompt / corpus_prompt_name; passages are encoded with the corpus
    prompt, each once, then the pairs of block_size queries are compared at a time (memory, not results).
    A positive is never compared with itself.
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
    """Cosines of the (doc_id, _pos) passages of each row of pairs: every passage encoded once, then
    block_size queries' pairs compared at a time."""
    import polars as pl

    encoder, prompt = _passage_encoder(shared, guide)
    if pairs.height == 0:  # nothing to compare (e.g. one positive a query): no model to load
        return np.zeros(0, dtype=np.float32)
    doc_ids = pl.concat([pairs["doc_id"], pairs["_pos"]]).unique(maintain_order=True).to_frame("doc_id")
    docs = doc_ids.join(corpus, on="doc_id", how="left", maintain_order="left")
    vectors, at = _encode_once(encoder, docs, passage_text(), prompt, show_progress, "guide: passages")
    left = at[_positions(pairs, doc_ids, "doc_id")]
    right = at[_positions(pairs.select(pl.col("_pos").alias("doc_id")), doc_ids, "doc_id")]
    sims = np.empty(pairs.height, dtype=np.float32)
    for rows in _query_blocks(pairs["query_id"], block_size):
        sims[rows] = _row_dots(vectors, left[rows], vectors, right[rows])
    return sims


# -- positive_neighbours: ranks among a positive's nearest passages ---------------------------------

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


def _corpus_vectors(encoder, prompt: str | None, corpus: "pl.DataFrame", show_progress: bool, shared: dict):
    """The guide's vectors of the whole corpus (sorted by doc_id) and (_pos: doc_id, _at: position), encoded
    once a run and kept in shared: one encoding (and one cache lookup) for calibration and candidates."""
    import polars as pl

    from minekit.encode.encoder import TextColumn

    if "corpus" not in shared:
        ordered = corpus.sort("doc_id")
        vectors = encoder.encode_stored(TextColumn(ordered, passage_text()), prompt=prompt,
                                        show_progress=show_progress, desc="guide: corpus")
        where = pl.DataFrame({"_pos": ordered["doc_id"], "_at": np.arange(ordered.height, dtype=np.int64)})
        shared["corpus"] = vectors, where
    return shared["corpus"]


def _neighbour_ranks(pairs: "pl.DataFrame", corpus: "pl.DataFrame", k: int, show_progress: bool,
                     shared: dict | None, guide: dict, *, keep: bool = False) -> np.ndarray:
    """For each row of pairs, the rank of doc_id among the k corpus passages nearest to _pos (0: not among them).

    keep holds the lists searched in shared (the calibration's: NEIGHBOUR_CALIBRATION_QUERIES queries at most,
    k ints a positive, small beside the corpus vectors), so a later call at k or less does not search those
    positives again."""
    import polars as pl

    from minekit.mine.exact import search_exact

    out = np.zeros(pairs.height, dtype=np.int32)
    if pairs.height == 0:  # nothing to rank (e.g. one positive a query): the corpus is not encoded
        return out
    encoder, prompt = _passage_encoder(shared, guide)
    shared = shared if shared is not None else {}
    vectors, where = _corpus_vectors(encoder, prompt, corpus, show_progress, shared)
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
