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
from minekit.dataset.sampling import Chooser, triangle_sides
from minekit.dataset.store import BuildResult, score_column
from minekit.errors import ConfigError
from minekit.inputs.schema import complete_candidates


if TYPE_CHECKING:
    import polars as pl

logger = logging.getLogger(__name__)

FORMATS = ("triplet", "n-tuple", "labeled-pair")
SAMPLING_STRATEGIES = ("top", "random", "simans", "trisampler")
FILLS = ("none", "random")


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
    num_negatives: int = 5,
    format: str = "n-tuple",
    sampling_strategy: str = "top",
    relative_margin: float | None = 0.05,
    simans_a: float = 50.0,
    simans_b: float = -0.05,
    trisampler_angle: float = 60.0,
    source_shares: "dict[str, float] | str | None" = None,
    fill: str = "random",
    seed: int = 0,
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
    """
    import polars as pl

    source_shares = parse_shares(source_shares)
    _check_params(num_negatives, format, sampling_strategy, fill, simans_a, relative_margin, trisampler_angle,
                  source_shares)
    candidates = [complete_candidates(f) for f in candidates]  # frames made by hand lack the optional columns
    kinds = score_kinds(candidates)
    _check_share_sources(source_shares, kinds)
    triangle = triangle_sides(candidates) if sampling_strategy == "trisampler" else None
    merged, dropped = usable_candidates(candidates, positives, corpus)
    sources = [s for s in kinds if s != "ce"]
    has_ce = "ce_score" in merged.columns
    rows = row_pools(merged, candidates, positives, sources)
    chooser = Chooser(sampling_strategy, simans_a=simans_a, simans_b=simans_b, angle=trisampler_angle,
                      triangle=triangle, shares=source_shares)
    picked = pick_negatives(rows, corpus, positives, sources=sources, has_ce=has_ce, num_negatives=num_negatives,
                            relative_margin=relative_margin, chooser=chooser, fill=fill, seed=seed)
    if picked.counts["positives_lost"]:
        hint = "" if fill == "random" else "; --fill random pads them instead"
        logger.warning("%d (query, positive) rows had fewer than %d negatives and were dropped%s",
                       picked.counts["positives_lost"], num_negatives, hint)
    ids, train = lay_out(pl.DataFrame(picked.rows, schema=picked.schema, orient="row"), queries, corpus,
                         format=format, num_negatives=num_negatives)
    stats = {
        "rows_in": sum(f.height for f in candidates),
        "rows_out": train.height,
        "candidates_unique": merged.height,
        "dropped": dropped,
        "queries": positives["query_id"].n_unique(),
        "positives": positives.height,
        "queries_without_negatives": rows.filter(pl.col("neg_ids").is_null())["query_id"].n_unique(),
        **picked.counts,
        **chooser.counts,
    }
    return BuildResult(train=train, ids=ids, stats=stats, score_columns=_described_scores(kinds, sources, has_ce, ids))


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
