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

Each rule is an object (minekit.clean.rules; the guide's in minekit.clean.guide) named after its
parameter; a row that breaks several rules is counted under the first, in the order of _ScoreRules.
Scores go to `ce_score` whatever the scorer, and `ce_score_kind` says what they are (ce_prob, ce_logit,
or cosine for the bi-encoder guide), so `build` carries them along without mixing kinds.
Cross-encoder scores are cached on disk by (model identity, query sha256, passage sha256).

This module runs the stage: validate -> score -> the guide's rules -> margins and marks -> LLM judge ->
pseudo-positives -> stats. Scoring lives in minekit.clean.cross_encoder and minekit.clean.guide.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from minekit.clean.cross_encoder import Pairs, score_pairs
from minekit.clean.guide import (AUTO_MAX_SHARE, BLOCK_SIZE, MIN_CALIBRATION, MaxPositiveSimilarity,
                                 PositiveNeighbours, apply_max_positive_similarity, apply_positive_neighbours,
                                 check_scorer, score_with_guide)
from minekit.clean.rules import (AUTO, MARGIN_COLUMNS, AbsoluteMargin, MaxScore, RelativeMargin, Rule, dropped,
                                 judge_margins, margin_stats, mark)
from minekit.clean.score_cache import PAIR_SCORES
from minekit.errors import ConfigError
from minekit.inputs.schema import passage_text, with_positive_lists

# Re-exported: the scorers' and the guide's names stay importable from the stage's module.
from minekit.clean.cross_encoder import HASH_SLICE, cross_encoder_kind, score_cross_encoder  # noqa: F401
from minekit.clean.guide import (AUTO_QUANTILE, CALIBRATION_PER_QUERY, CALIBRATION_QUERIES,  # noqa: F401
                                 MAX_NEIGHBOURS, NEIGHBOUR_CALIBRATION_QUERIES, NEIGHBOUR_QUANTILE,
                                 calibration_positives, positive_cosines, positive_loo_ranks,
                                 positive_neighbour_ranks, positive_pair_cosines)
from minekit.clean.score_cache import ScoreCache, text_sha256  # noqa: F401

if TYPE_CHECKING:
    import polars as pl

logger = logging.getLogger(__name__)

SCORERS = ("cross-encoder", "bi-encoder")
SCORE_CACHE_FILE = PAIR_SCORES.file


@dataclass
class DenoiseResult:
    """Kept (or marked) candidates with ce_score, the counts, and the confident pseudo-positives."""

    frame: "pl.DataFrame"
    stats: dict
    pseudo_positives: "pl.DataFrame | None" = None


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
    instruction: str | None = None,
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

    positive_neighbours and max_positive_similarity (bi-encoder guide only, see minekit.clean.guide:
    apply_positive_neighbours, apply_max_positive_similarity) calibrate "auto" on the positives file when
    it holds MIN_CALIBRATION positives (pairs of positives) of multi-positive queries. absolute_margin
    "auto" (the default) is 0, GISTEmbed's rule, unless one of those two rules judges.

    llm_judge is a callable taking (query text, passage text) pairs and answering True (relevant),
    False, or None (no usable answer, kept); see minekit.clean.llm_judge.LLMJudge. The grey zone is the
    candidates kept by the score rules with llm_min_score <= ce_score (<= llm_max_score when given).
    With min_positive_score, the candidates scored at or above it come back as pseudo_positives (and are
    dropped as negatives: drop_reason min_positive_score). instruction (cross-encoder only) is put before
    each query text the cross-encoder scores, for rerankers trained with one.
    block_size: for the bi-encoder guide, queries whose pairs are scored at a time (every text is encoded
    once before); the cross-encoder scores in its own chunks whatever it is (memory, not results).
    """
    guide = dict(dtype=dtype, max_seq_length=max_seq_length, query_prompt=query_prompt, corpus_prompt=corpus_prompt,
                 query_prompt_name=query_prompt_name, corpus_prompt_name=corpus_prompt_name)
    _check(scorer, cross_encoder, model, max_score, min_positive_score, llm_judge, llm_min_score, llm_max_score,
           batch_size, max_length, block_size, device, guide)
    rules = _ScoreRules.asked(scorer, max_score, positive_neighbours, max_positive_similarity, absolute_margin,
                              relative_margin)
    opts = _scorer_options(scorer, cross_encoder=cross_encoder, model=model, batch_size=batch_size,
                           max_length=max_length, instruction=instruction, device=device, cache_dir=cache_dir,
                           trust_remote_code=trust_remote_code, show_progress=show_progress, guide=guide)
    shared: dict = {}  # the guide's model and corpus vectors, loaded once for the scores and both rules
    live, earlier = _split_earlier(candidates)
    scores = _score(live, positives, queries, corpus, scorer, opts, block_size, shared)
    if scorer == "bi-encoder":
        scores, rules = _apply_guide_rules(scores, positives, corpus, rules, opts, block_size, shared)
    rules = rules.resolve_margin()
    marked = _mark(live, scores, rules)
    marked, llm_counts = _judge_grey_zone(marked, queries, corpus, llm_judge, llm_min_score, llm_max_score,
                                          rules.in_order())
    marked = _drop_pseudo_positives(marked, min_positive_score)
    pseudo = _pseudo_positives(scores.candidates, min_positive_score)
    stats = _stats(candidates, live, earlier, marked, scorer, scores, rules, llm_counts, pseudo)
    return DenoiseResult(_output(marked, earlier, keep_dropped), stats, pseudo)


# -- validation ------------------------------------------------------------------------------------

def _check(scorer: str, cross_encoder: str | None, model: str | None, max_score: float | None,
           min_positive_score: float | None, llm_judge: object, llm_min_score: float | None,
           llm_max_score: float | None, batch_size: int, max_length: int | None, block_size: int, device: str,
           guide_opts: dict) -> None:
    """The settings that are not a rule's value (rules check their own, minekit.clean.rules)."""
    if scorer not in SCORERS:
        raise ConfigError(f"scorer: {scorer!r} is not one of {', '.join(SCORERS)}.", param="scorer")
    if scorer == "cross-encoder" and not cross_encoder:
        raise ConfigError("cross_encoder: the cross-encoder scorer needs a model (a folder, e.g. one made by "
                          "`minekit train-reranker`); or use --scorer bi-encoder --model default.",
                          param="cross_encoder")
    if scorer == "cross-encoder" and model is not None:
        raise ConfigError("model: the bi-encoder guide model is for --scorer bi-encoder; with the cross-encoder "
                          "scorer give --cross-encoder.", param="model")
    if scorer == "bi-encoder" and cross_encoder:
        raise ConfigError("cross_encoder: given with --scorer bi-encoder, where it cannot apply; "
                          "use --model for the bi-encoder guide.", param="cross_encoder")
    if scorer == "bi-encoder" and max_length is not None:
        raise ConfigError("max_length: applies to the cross-encoder only; the bi-encoder guide takes "
                          "--max-seq-length.", param="max_length")
    if max_length is not None and max_length < 1:
        raise ConfigError(f"--max-length: must be at least 1, got {max_length}.", param="max_length")
    given = [k for k, v in guide_opts.items() if v is not None and v != "auto" and k != "dtype"]  # dtype: both
    if scorer == "cross-encoder" and given:
        raise ConfigError(f"{', '.join('--' + k.replace('_', '-') for k in given)}: apply to the bi-encoder guide "
                          "(--scorer bi-encoder), not to the cross-encoder.", param=given[0])
    if batch_size < 1:
        raise ConfigError(f"batch_size: must be at least 1, got {batch_size}.", param="batch_size")
    if min_positive_score is not None and max_score is not None and min_positive_score < max_score:
        raise ConfigError(f"min_positive_score ({min_positive_score}) is below max_score ({max_score}): "
                          "a pseudo-positive would also be kept as a negative.", param="min_positive_score")
    _check_grey_zone(llm_judge, llm_min_score, llm_max_score)
    if block_size < 1:
        raise ConfigError(f"block_size: must be at least 1, got {block_size}.", param="block_size")
    from minekit.encode.device import parse_devices

    parse_devices(device)  # a bad --device fails before any scoring


def _check_grey_zone(llm_judge: object, llm_min_score: float | None, llm_max_score: float | None) -> None:
    if llm_judge is None and (llm_min_score is not None or llm_max_score is not None):
        raise ConfigError("llm_min_score / llm_max_score: set without an LLM judge (--llm-judge URL).",
                          param="llm_min_score" if llm_min_score is not None else "llm_max_score")
    if llm_judge is not None and llm_min_score is None:
        raise ConfigError("llm_min_score: the LLM judge needs the lower end of the grey zone of scores it is "
                          "asked about (cost control), e.g. --llm-min-score 0.02 below --max-score 0.1.",
                          param="llm_min_score")
    if llm_min_score is not None and llm_max_score is not None and llm_min_score > llm_max_score:
        raise ConfigError(f"llm_min_score ({llm_min_score}) is larger than llm_max_score ({llm_max_score}).",
                          param="llm_min_score")


@dataclass(frozen=True)
class _ScoreRules:
    """denoise's score rules, in the order that gives a row breaking several its drop_reason."""

    max_score: MaxScore
    neighbours: PositiveNeighbours
    similarity: MaxPositiveSimilarity
    absolute: AbsoluteMargin
    relative: RelativeMargin

    @classmethod
    def asked(cls, scorer: str, max_score: float | None, positive_neighbours: object, max_positive_similarity: object,
              absolute_margin: object, relative_margin: float | None) -> "_ScoreRules":
        """The rules as given (each checks its value); the guide's are off with a cross-encoder."""
        relative = RelativeMargin(relative_margin)
        absolute = AbsoluteMargin(absolute_margin)
        similarity = MaxPositiveSimilarity(max_positive_similarity)
        neighbours = PositiveNeighbours(positive_neighbours)
        check_scorer(scorer, similarity, neighbours)
        if scorer != "bi-encoder":  # "auto", the default, only applies to the guide
            similarity, neighbours = MaxPositiveSimilarity(None), PositiveNeighbours(None)
        return cls(MaxScore(max_score, "ce_score"), neighbours, similarity, absolute, relative)

    def resolve_margin(self) -> "_ScoreRules":
        """absolute_margin "auto": 0 (GISTEmbed) unless a guide rule judges, which the margin would undercut."""
        if self.absolute.value != AUTO:
            return self
        judges = self.neighbours.value is not None or self.similarity.value is not None
        return replace(self, absolute=AbsoluteMargin(None if judges else 0.0))

    def in_order(self) -> list[Rule]:
        return [self.max_score, self.neighbours, self.similarity, self.absolute, self.relative]

    def resolved(self, scorer: str) -> dict:
        """The rules' values as applied ("auto" resolved); settings, not counts: shards agree on them."""
        similarity, neighbours = self.similarity, self.neighbours
        out = {"absolute_margin": self.absolute.value,
               "max_positive_similarity": None if similarity.value is None else round(similarity.value, 6)}
        if scorer == "bi-encoder":
            out["positive_neighbours"] = neighbours.value
        if neighbours.calibrated_on is not None:
            out["positive_neighbours_calibrated_on"] = neighbours.calibrated_on  # positives
            out["positive_neighbours_max_share"] = AUTO_MAX_SHARE
        if similarity.calibrated_on is not None:
            out["positive_similarity_calibrated_on"] = similarity.calibrated_on  # pairs of positives
            out["positive_similarity_max_share"] = AUTO_MAX_SHARE if similarity.value is not None else None
        return out


# -- scoring ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Scores:
    """The live candidates' distinct pairs (query_id, doc_id, ce_score, and the guide rules' columns) and
    their queries' positives (query_id, doc_id, ce_score), scored by one scorer."""

    candidates: "pl.DataFrame"
    positives: "pl.DataFrame"
    kind: str
    counts: dict


def _scorer_options(scorer: str, *, cross_encoder: str | None, model: str | None, batch_size: int,
                    max_length: int | None, instruction: str | None, device: str, cache_dir: str | Path | None, trust_remote_code: bool,
                    show_progress: bool, guide: dict) -> dict:
    common = dict(batch_size=batch_size, device=device, cache_dir=cache_dir, trust_remote_code=trust_remote_code,
                  show_progress=show_progress)
    if scorer == "cross-encoder":
        return dict(cross_encoder=cross_encoder, max_length=max_length, instruction=instruction, dtype=guide["dtype"],
                    **common)
    if instruction is not None:
        raise ConfigError("instruction: applies to the cross-encoder; the bi-encoder guide takes --query-prompt.",
                          param="instruction")
    return dict(model=model or "default", **common, **guide)


def _split_earlier(candidates: "pl.DataFrame") -> tuple["pl.DataFrame", "pl.DataFrame"]:
    """(live: the rows to judge, earlier: rows an earlier filter --keep-dropped dropped, passed through)."""
    import polars as pl

    if "drop_reason" not in candidates.columns:
        candidates = candidates.with_columns(pl.lit(None, pl.Utf8).alias("drop_reason"))
    prior = pl.col("drop_reason").is_not_null()
    live = candidates.filter(~prior).drop("drop_reason", "ce_score", "positive_cosine", "neighbour_rank", strict=False)
    return live, candidates.filter(prior)


def _score(live: "pl.DataFrame", positives: "pl.DataFrame", queries: "pl.DataFrame", corpus: "pl.DataFrame",
           scorer: str, opts: dict, block_size: int, shared: dict) -> _Scores:
    """Every distinct candidate pair and every positive pair of the live queries, scored once."""
    import polars as pl

    pos_pairs = (positives.join(live.select("query_id").unique(), on="query_id", how="semi")
                 .select("query_id", "doc_id").sort("query_id", "doc_id"))
    cand_pairs = live.select("query_id", "doc_id").unique(maintain_order=True)
    both = pl.concat([cand_pairs, pos_pairs])
    if scorer == "cross-encoder":  # one global order of pairs, texts built per scoring chunk
        # score_pairs is looked up in this module at call time: tests put a stand-in scorer here.
        opts = dict(opts)
        instruction = opts.pop("instruction", None)
        if instruction is not None:  # the texts the cross-encoder sees (and the score cache keys by)
            queries = queries.with_columns(pl.concat_str(pl.lit(instruction), "text").alias("text"))
        scores, counts = score_pairs(Pairs.from_ids(both, queries, corpus), **opts)
    else:
        scores, counts = score_with_guide(both, queries, corpus, block_size=block_size, _shared=shared, **opts)
    kind = counts.pop("score_kind")
    both = both.with_columns(pl.Series("ce_score", scores, dtype=pl.Float32))
    return _Scores(both.slice(0, cand_pairs.height), both.slice(cand_pairs.height), kind, counts)


def _apply_guide_rules(scores: _Scores, positives: "pl.DataFrame", corpus: "pl.DataFrame", rules: _ScoreRules,
                       opts: dict, block_size: int, shared: dict) -> tuple[_Scores, _ScoreRules]:
    """The guide's rules resolved ("auto" calibrated on the whole positives file, so shards agree) and their
    columns added to the candidates."""
    guide = dict(_shared=shared, **opts)
    # MIN_CALIBRATION is read here, at call time: the stage's setting, which tests lower on this module.
    candidates, neighbours = apply_positive_neighbours(scores.candidates, scores.positives, positives, corpus,
                                                       rules.neighbours, min_calibration=MIN_CALIBRATION, **guide)
    candidates, similarity = apply_max_positive_similarity(candidates, scores.positives, positives, corpus,
                                                           rules.similarity, min_calibration=MIN_CALIBRATION,
                                                           block_size=block_size, **guide)
    return replace(scores, candidates=candidates), replace(rules, neighbours=neighbours, similarity=similarity)


# -- marking ---------------------------------------------------------------------------------------

def _mark(live: "pl.DataFrame", scores: _Scores, rules: _ScoreRules) -> "pl.DataFrame":
    """live with its scores, the positives' scores, the margins judged per positive, and drop_reason."""
    import polars as pl

    scored = _with_positive_ce_scores(
        live.join(scores.candidates, on=["query_id", "doc_id"], how="left", maintain_order="left"), scores.positives)
    scored = scored.with_columns(pl.lit(scores.kind).alias("ce_score_kind"))
    judged = judge_margins(scored, absolute_margin=rules.absolute.value, relative_margin=rules.relative.value,
                           score="ce_score", positive_scores="positive_ce_scores")
    return mark(judged, rules.in_order())


def _with_positive_ce_scores(scored: "pl.DataFrame", pos_scores: "pl.DataFrame") -> "pl.DataFrame":
    """positive_ce_scores aligned with each row's positive_ids (rows without named positives get the
    query's positives from the positives file)."""
    import polars as pl

    by_query = pos_scores.group_by("query_id", maintain_order=True).agg(pl.col("doc_id").alias("_all"))
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


# -- the LLM judge ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class JudgedRelevant(Rule):
    """Drop a grey-zone candidate the LLM judge answered relevant (_relevant; no answer keeps it)."""

    param = reason = "llm_judge"

    def keep(self) -> "pl.Expr":
        import polars as pl

        return ~pl.col("_relevant").fill_null(False)


def _judge_grey_zone(marked: "pl.DataFrame", queries: "pl.DataFrame", corpus: "pl.DataFrame", judge,
                     llm_min_score: float | None, llm_max_score: float | None,
                     score_rules: list[Rule]) -> tuple["pl.DataFrame", dict]:
    """Ask the judge about the grey zone only (pairs kept by the score rules, within [min, max] score) and
    mark again with its verdict as the last rule."""
    import polars as pl

    if judge is None:
        return marked, {}
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
    marked = marked.join(judged, on=["query_id", "doc_id"], how="left", maintain_order="left")
    return mark(marked.drop("drop_reason"), [*score_rules, JudgedRelevant()]), counts


def _pair_texts(pairs: "pl.DataFrame", queries: "pl.DataFrame", corpus: "pl.DataFrame") -> "pl.DataFrame":
    """(query_id, doc_id) pairs with _q and _p texts; the passage is what models see (title + text)."""
    import polars as pl

    docs = corpus.select("doc_id", passage_text().alias("_p"))
    return (pairs.join(queries.select("query_id", pl.col("text").alias("_q")), on="query_id", how="left")
            .join(docs, on="doc_id", how="left"))


# -- results ---------------------------------------------------------------------------------------

def _drop_pseudo_positives(marked: "pl.DataFrame", min_positive_score: float | None) -> "pl.DataFrame":
    """A candidate written as a pseudo-positive is never also kept as a negative (drop_reason min_positive_score)."""
    import polars as pl

    if min_positive_score is None:
        return marked
    pseudo = pl.col("drop_reason").is_null() & (pl.col("ce_score") >= min_positive_score)
    return marked.with_columns(pl.when(pseudo).then(pl.lit("min_positive_score")).otherwise(pl.col("drop_reason"))
                               .alias("drop_reason"))


def _pseudo_positives(candidates: "pl.DataFrame", min_positive_score: float | None) -> "pl.DataFrame | None":
    import polars as pl

    if min_positive_score is None:
        return None
    return (candidates.filter(pl.col("ce_score") >= min_positive_score)
            .select("query_id", "doc_id", pl.lit(1, pl.Int64).alias("score"), "ce_score")
            .sort("query_id", "doc_id"))


def _stats(candidates: "pl.DataFrame", live: "pl.DataFrame", earlier: "pl.DataFrame", marked: "pl.DataFrame",
           scorer: str, scores: _Scores, rules: _ScoreRules, llm_counts: dict,
           pseudo: "pl.DataFrame | None") -> dict:
    import polars as pl

    kept = marked.filter(pl.col("drop_reason").is_null())
    stats = {
        "rows_in": candidates.height,
        "rows_out": kept.height,  # as filter: rows kept as negatives, even when dropped rows stay marked
        "dropped": dropped(marked),
        "queries_in": live["query_id"].n_unique(),
        "queries_without_negatives": live["query_id"].n_unique() - kept["query_id"].n_unique(),
        "positives_lost": 0,  # positives are never candidates: denoise cannot cost one
        "scorer": scorer,
        "score_kind": scores.kind,
        "positive_pairs_scored": scores.positives.height,
        **margin_stats(kept),
        **scores.counts, **llm_counts,
        "resolved": rules.resolved(scorer),
    }
    if earlier.height:
        stats["dropped_before"] = earlier.height
    if pseudo is not None:
        stats["pseudo_positives"] = pseudo.height
    return stats


def _output(marked: "pl.DataFrame", earlier: "pl.DataFrame", keep_dropped: bool) -> "pl.DataFrame":
    """The rows as written: kept ones, or every row marked (with the earlier drops) under keep_dropped."""
    import polars as pl

    internal = [*MARGIN_COLUMNS, "_relevant", "_within_share", "_closest_share"]
    out_cols = [c for c in marked.columns if c not in internal and c != "drop_reason"]
    if keep_dropped:
        frame = pl.concat([marked.select(*out_cols, "drop_reason"), earlier], how="diagonal_relaxed")
        frame = frame.select(*out_cols, "drop_reason")
    else:
        frame = marked.filter(pl.col("drop_reason").is_null()).select(out_cols)
    return frame.sort("query_id", "source", "rank", "doc_id")
