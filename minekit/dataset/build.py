"""Turn candidates into a training dataset, in memory: build_dataset (see DESIGN.md).

One row per (query, positive). Each step has its own module beside this one: candidates.py merges
several miners' files into one pool per query (each miner's score in its own column: scores of
different kinds never share a column), negatives.py applies the margins, the sampling strategy of
sampling.py and random fill, layouts.py shapes train.parquet, and store.py writes datasets/<name>/v<N>/.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING

from minekit.dataset.candidates import row_pools, score_kinds, usable_candidates
from minekit.dataset.layouts import lay_out
from minekit.dataset.negatives import pick_negatives
from minekit.dataset.sampling import Chooser, triangle_sides, triangle_source
from minekit.dataset.store import BuildResult, score_column
from minekit.errors import ConfigError
from minekit.inputs.schema import complete_candidates


if TYPE_CHECKING:
    import polars as pl

logger = logging.getLogger(__name__)

FORMATS = ("triplet", "n-tuple", "labeled-pair")
SAMPLING_STRATEGIES = ("top", "random", "simans", "trisampler")
FILLS = ("none", "random")
CHUNK_QUERIES = 10_000  # queries a build handles at once: its working memory is that chunk's candidates


def _check_params(num_negatives: int, format: str, sampling_strategy: str, fill: str, simans_a: float,
                  relative_margin: float | None, trisampler_angle: float, source_shares: dict | None) -> None:
    if num_negatives < 1:
        raise ConfigError(f"num_negatives: must be at least 1, got {num_negatives}.")
    for name, value, choices in (("format", format, FORMATS), ("sampling_strategy", sampling_strategy,
                                 SAMPLING_STRATEGIES), ("fill", fill, FILLS)):
        if value not in choices:
            raise ConfigError(f"{name}: {value!r} is not one of {', '.join(choices)}.")
    if not simans_a > 0:
        raise ConfigError(f"simans_a: must be above 0, got {simans_a}.")
    if relative_margin is not None and not 0 <= relative_margin < 1:
        raise ConfigError(f"relative_margin: must be in [0, 1), got {relative_margin}.")
    if not 0 < trisampler_angle <= 180:
        raise ConfigError(f"trisampler_angle: must be in (0, 180] degrees, got {trisampler_angle}.")
    for source, share in (source_shares or {}).items():
        if not (isinstance(share, (int, float)) and not isinstance(share, bool) and math.isfinite(share)
                and share >= 0):
            raise ConfigError(f"source_shares: the share of {source!r} must be a number >= 0, got {share!r}.")
    if source_shares is not None and not sum(source_shares.values()) > 0:
        raise ConfigError("source_shares: at least one share must be above 0, e.g. bm25=1,dense=2.")


def parse_shares(value: "str | dict | None") -> dict[str, float] | None:
    """'bm25=1,dense=2' (the CLI form) or {'bm25': 1, 'dense': 2} (Python, TOML) as {source: share}."""
    if value is None or isinstance(value, dict):
        return value
    shares: dict[str, float] = {}
    for part in str(value).split(","):
        source, sep, share = part.partition("=")
        try:
            if not sep or not source.strip():
                raise ValueError
            shares[source.strip()] = float(share)
        except ValueError:
            raise ConfigError(f"source_shares: {value!r} is not SOURCE=SHARE[,SOURCE=SHARE...]; "
                              "e.g. bm25=1,dense=2 (one BM25 negative for two dense ones).") from None
    return shares


def build_dataset(
    candidates: list["pl.DataFrame"],
    queries: "pl.DataFrame",
    positives: "pl.DataFrame",
    corpus: "pl.DataFrame",
    *,
    num_negatives: int = 1,
    format: str = "n-tuple",
    sampling_strategy: str = "top",
    relative_margin: float | None = 0.05,
    simans_a: float = 50.0,
    simans_b: float = -0.05,
    trisampler_angle: float = 60.0,
    source_shares: "dict[str, float] | str | None" = None,
    fill: str = "random",
    seed: int = 0,
    chunk_queries: int | None = CHUNK_QUERIES,
) -> BuildResult:
    """Pick num_negatives negatives for every (query, positive) and write them out as texts and ids.

    A row's pool is its query's candidates, best rank first, minus those a margin rule excluded for
    this positive (excluded_for) and, with relative_margin, those some miner scores above
    positive - |positive| * relative_margin for this row's own positive (NV-Retriever's TopK-PercPos:
    0.05 keeps negatives below 95% of the positive's score; None turns it off). sampling_strategy "top" takes the best-ranked, "random" samples
    uniformly, "simans" samples with probability exp(-simans_a * (gap - simans_b)^2) where gap =
    (score - positive score) / |positive score| under the miner that ranked the candidate best
    (SimANS: ambiguous negatives, near the positive's score, are the informative ones). "trisampler"
    keeps the candidates inside TriSampler's quasi-triangle of query q, positive p and candidate n under
    the dense miner's cosines: |angle(q, p) - angle(q, n)| <= trisampler_angle degrees and n closer to p
    than to q, drawn with probability proportional to cos(p, n) - cos(q, n) (needs `mine dense`
    candidates, which carry positive_similarities); a short region is topped up best rank first.
    source_shares ({source: share}) splits each row's negatives between miners in those proportions
    (largest remainder); a miner short of its share leaves the rest to the others. Every draw
    uses a generator seeded by (seed, query_id, positive_id), so adding a query changes no other row.
    A row with fewer candidates than num_negatives is dropped and counted (fill="none"), or padded
    with random corpus documents that are not positives (fill="random").

    Queries are handled chunk_queries at a time (None or 0: all at once), in query_id order; every step
    is per query, so the rows and their order do not depend on the chunk size, and working memory is one
    chunk's candidates and pools (beside the inputs and the output rows).
    """
    import polars as pl

    source_shares = parse_shares(source_shares)
    _check_params(num_negatives, format, sampling_strategy, fill, simans_a, relative_margin, trisampler_angle,
                  source_shares)
    candidates = [complete_candidates(f) for f in candidates]  # frames made by hand lack the optional columns
    kinds = score_kinds(candidates)
    _check_share_sources(source_shares, kinds)
    dense = triangle_source(candidates) if sampling_strategy == "trisampler" else None
    sources = [s for s in kinds if s != "ce"]
    has_ce = any("ce_score" in f.columns for f in candidates)
    chooser = Chooser(sampling_strategy, simans_a=simans_a, simans_b=simans_b, angle=trisampler_angle,
                      triangle=None, shares=source_shares)
    picked, merged_rows, dropped, empty = _pick_by_chunks(
        candidates, positives, corpus, chunk_queries, chooser=chooser, dense=dense, sources=sources, has_ce=has_ce,
        num_negatives=num_negatives, relative_margin=relative_margin, fill=fill, seed=seed)
    merged_rows += _unused_candidates(candidates, positives)
    counts = {k: sum(p.counts[k] for p in picked) for k in picked[0].counts}
    if counts.get("positives_lost"):
        hint = "" if fill == "random" else "; --fill random pads them instead"
        logger.warning("%d (query, positive) rows had fewer than %d negatives and were dropped%s",
                       counts["positives_lost"], num_negatives, hint)
    ids, train = lay_out(pl.DataFrame([r for p in picked for r in p.rows], schema=picked[0].schema, orient="row"), queries,
                         corpus, format=format, num_negatives=num_negatives)
    stats = {
        "rows_in": sum(f.height for f in candidates),
        "rows_out": train.height,
        "candidates_unique": merged_rows,
        "dropped": dropped,
        "queries": positives["query_id"].n_unique(),
        "positives": positives.height,
        "queries_without_negatives": empty,
        **counts,
        **chooser.counts,
    }
    return BuildResult(train=train, ids=ids, stats=stats, score_columns=_described_scores(kinds, sources, has_ce, ids))


def _pick_by_chunks(candidates: list["pl.DataFrame"], positives: "pl.DataFrame", corpus: "pl.DataFrame",
                    chunk_queries: int | None, *, chooser: Chooser, dense: int | None, sources: list[str],
                    has_ce: bool, num_negatives: int, relative_margin: float | None, fill: str, seed: int):
    """Each chunk of queries picked in turn: (picked chunks, unique candidates, dropped by kind, queries
    without candidates)."""
    import polars as pl

    picked, merged_rows, dropped, empty = [], 0, {}, 0
    corpus_ids = corpus["doc_id"].sort().to_list()  # what random fill draws from
    for chunk, chunk_positives in _query_chunks(candidates, positives, chunk_queries):
        if dense is not None:
            chooser.triangle = triangle_sides(chunk[dense], candidates[dense]["source"][0])
        merged, removed = usable_candidates(chunk, chunk_positives, corpus)
        rows = row_pools(merged, chunk, chunk_positives, sources)
        picked.append(pick_negatives(rows, corpus_ids, chunk_positives, sources=sources, has_ce=has_ce,
                                     num_negatives=num_negatives, relative_margin=relative_margin, chooser=chooser,
                                     fill=fill, seed=seed))
        merged_rows += merged.height
        empty += rows.filter(pl.col("neg_ids").is_null())["query_id"].n_unique()
        dropped = {k: dropped.get(k, 0) + removed.get(k, 0) for k in ("is_positive", "same_text_as_positive")
                   if dropped.get(k, 0) + removed.get(k, 0)}
    return picked, merged_rows, dropped, empty


def _unused_candidates(candidates: list["pl.DataFrame"], positives: "pl.DataFrame") -> int:
    """Distinct (query, doc) candidates of queries without a positive: no chunk reads them, and
    candidates_unique counts them as a build over every candidate at once did."""
    import polars as pl

    known = positives["query_id"].unique().implode()
    return pl.concat([f.filter(~pl.col("query_id").is_in(known)).select("query_id", "doc_id") for f in candidates]
                     ).unique().height if candidates else 0


def _query_chunks(candidates: list["pl.DataFrame"], positives: "pl.DataFrame", size: int | None):
    """(candidates, positives) of each chunk of `size` queries, in query_id order."""
    import polars as pl

    query_ids = positives["query_id"].unique().sort()
    size = size or max(1, query_ids.len())
    for start in range(0, max(1, query_ids.len()), size):  # no positives: one empty chunk
        chunk = query_ids.slice(start, size).implode()
        yield ([f.filter(pl.col("query_id").is_in(chunk)) for f in candidates],
               positives.filter(pl.col("query_id").is_in(chunk)))


def _check_share_sources(source_shares: dict[str, float] | None, kinds: dict[str, str]) -> None:
    unknown = sorted(set(source_shares or ()) - set(kinds))
    if unknown:
        raise ConfigError(f"source_shares: no candidates come from {', '.join(map(repr, unknown))}; the sources "
                          f"are {', '.join(map(repr, sorted(s for s in kinds if s != 'ce')))}.")


def _described_scores(kinds: dict[str, str], sources: list[str], has_ce: bool, ids: "pl.DataFrame") -> dict[str, str]:
    """{ids.parquet score column: what scored it}, for the manifest and the dataset card."""
    columns = {}
    for s in sources:
        columns[f"positive_score_{score_column(s)}"] = f"{kinds[s]} ({s})"
        columns[f"negative_scores_{score_column(s)}"] = f"{kinds[s]} ({s})"
    if has_ce:
        columns["positive_ce_score"] = columns["negative_ce_scores"] = f"{kinds.get('ce', 'unknown')} (denoise)"
    return {k: v for k, v in columns.items() if k in ids.columns}
