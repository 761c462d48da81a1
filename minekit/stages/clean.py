"""Cleaning stages: `filter` (rank windows, score and margin thresholds) and `denoise` (a scorer judges
which candidates are likely false negatives: a cross-encoder, or a bi-encoder guide, and an LLM judge).
"""

from __future__ import annotations

import os
from pathlib import Path

from minekit.errors import ConfigError
from minekit.options import EncoderOptions, RunOptions, auto_float, check_params
from minekit.stages.base import (COMMON, every_but, flat, job_of, manifest_of, params_of, read_inputs, require_rows,
                                 stage, stage_fingerprint, write_frame)
from minekit.stats import Output


@stage("filter")
def filter(*, candidates: str | Path, out: str | Path, positives: str | Path | None = None, range_min: int = 0,
           range_max: int | None = None, min_score: float | None = None, max_score: float | None = None,
           absolute_margin: float | None = None, relative_margin: float | None = None,
           keep_dropped: bool = False) -> Output:
    """Drop likely false negatives by rank window, score and margin thresholds; counts each rule's drops."""
    from minekit.clean.filter import filter_candidates
    from minekit.inputs.schema import positive_pairs
    from minekit.io import read_candidates, read_parquet

    check_params("filter", locals())
    fp = stage_fingerprint(filter, locals())
    kwargs = dict(range_min=range_min, range_max=range_max, min_score=min_score, max_score=max_score,
                  absolute_margin=absolute_margin, relative_margin=relative_margin, keep_dropped=keep_dropped)
    cands = read_candidates(candidates)
    pos = None if positives is None else positive_pairs(read_parquet(positives, what="positives"), positives)
    result = filter_candidates(cands, pos, **kwargs)
    return write_frame(result, out, "filter", params_of(filter_candidates, **kwargs),
                       {"candidates": candidates, "positives": positives}, [candidates], fp=fp)


def _check_denoise_flags(scorer, cross_encoder, pseudo_positives, min_positive_score, llm_judge, llm_model,
                         shard, ray) -> None:
    if (pseudo_positives is None) != (min_positive_score is None):
        raise ConfigError("pseudo_positives and min_positive_score go together: give both or neither.",
                          param="pseudo_positives")
    if llm_judge is None and llm_model is not None:
        raise ConfigError("llm_model: set without llm_judge URL, where it cannot apply.", param="llm_model")
    if llm_judge is not None and not llm_model:
        raise ConfigError("llm_judge needs llm_model (the model name the endpoint serves).", param="llm_model")
    if scorer == "cross-encoder":
        from minekit.guards import check_cross_encoder_folder

        check_cross_encoder_folder(cross_encoder)
    if pseudo_positives is not None and (shard is not None or ray):
        raise ConfigError("pseudo_positives: a sharded denoise writes one file per shard; run denoise with "
                          "pseudo_positives unsharded.", param="pseudo_positives")


def _judge(llm_judge, llm_model, llm_api_key_env, llm_concurrency, llm_retries, llm_timeout, cache_dir,
           show_progress):
    """The LLM judge and the params its manifest records (no key: only the variable that holds it)."""
    if llm_judge is None:
        return None, None
    from minekit.clean.llm_judge import LLMJudge

    judge = LLMJudge(llm_judge, llm_model=llm_model, api_key=os.environ.get(llm_api_key_env) or None,
                     concurrency=llm_concurrency, retries=llm_retries, timeout=llm_timeout,
                     cache_dir=cache_dir, show_progress=show_progress)
    return judge, {"url": llm_judge, "llm_model": llm_model, "llm_concurrency": llm_concurrency,
                   "llm_retries": llm_retries, "llm_timeout": llm_timeout, "llm_api_key_env": llm_api_key_env}


_GUIDE = every_but(EncoderOptions, "model", "batch_size", "precision", "backend")


@stage("denoise", encoder=_GUIDE, run=every_but(RunOptions))
def denoise(*, candidates: str | Path, queries: str | Path, positives: str | Path, corpus: str | Path,
            out: str | Path, scorer: str = "cross-encoder", cross_encoder: str | None = None,
            model: str | None = None, max_score: float | None = None,
            max_positive_similarity: float | str | None = None, positive_neighbours: float | str | None = "auto",
            absolute_margin: float | str | None = "auto", relative_margin: float | None = None,
            pseudo_positives: str | Path | None = None, min_positive_score: float | None = None,
            llm_judge: str | None = None, llm_model: str | None = None, llm_api_key_env: str = "OPENAI_API_KEY",
            llm_min_score: float | None = None, llm_max_score: float | None = None, llm_concurrency: int = 4,
            llm_retries: int = 3, llm_timeout: float = 60.0, batch_size: int = 32, max_length: int | None = None,
            instruction: str | None = None, encoder: EncoderOptions, device: str = COMMON, trust_remote_code: bool = COMMON,
            keep_dropped: bool = False, run: RunOptions, block_size: int = 4096,
            show_progress: bool = COMMON) -> Output:
    """Score candidates and positives with a cross-encoder (or a bi-encoder guide); drop likely false negatives.

    With pseudo_positives, the cleaned candidates and the pseudo-positives are written together.
    """
    from minekit.clean.denoise import denoise_candidates
    from minekit.encode.models import model_identity
    from minekit.inputs.schema import check_candidates_ids
    from minekit.io import read_candidates

    absolute_margin = auto_float(absolute_margin)
    max_positive_similarity = auto_float(max_positive_similarity)
    positive_neighbours = auto_float(positive_neighbours)
    check_params("denoise", locals())  # its own values; the family objects were checked when made
    values = flat(locals())
    _check_denoise_flags(scorer, cross_encoder, pseudo_positives, min_positive_score, llm_judge, llm_model,
                         run.shard, run.ray)
    job = job_of(denoise, values)
    inputs = read_inputs(queries, positives, corpus)
    cands = check_candidates_ids(read_candidates(candidates), candidates, inputs.corpus, inputs.queries)
    cands = job.select(cands)  # a shard scores its queries' candidates
    judge, judge_params = _judge(llm_judge, llm_model, llm_api_key_env, llm_concurrency, llm_retries, llm_timeout,
                                 encoder.cache_dir, show_progress)
    kwargs = dict(scorer=scorer, cross_encoder=cross_encoder, model=model, max_score=max_score,
                  max_positive_similarity=max_positive_similarity, positive_neighbours=positive_neighbours,
                  absolute_margin=absolute_margin, relative_margin=relative_margin,
                  min_positive_score=min_positive_score, llm_min_score=llm_min_score, llm_max_score=llm_max_score,
                  batch_size=batch_size, max_length=max_length, instruction=instruction,
                  max_seq_length=encoder.max_seq_length,
                  query_prompt=encoder.query_prompt, corpus_prompt=encoder.corpus_prompt,
                  query_prompt_name=encoder.query_prompt_name, corpus_prompt_name=encoder.corpus_prompt_name,
                  device=device, dtype=_guide_dtype(scorer, encoder.dtype, device), cache_dir=str(encoder.cache_dir),
                  trust_remote_code=trust_remote_code, keep_dropped=keep_dropped, block_size=block_size)
    result = _empty_denoise(cands) if job.shard is not None and cands.height == 0 else \
        denoise_candidates(cands, inputs.queries, inputs.positives, inputs.corpus, llm_judge=judge,
                           show_progress=show_progress, **kwargs)
    scoring_model = cross_encoder if scorer == "cross-encoder" else model or "default"
    params = {**params_of(denoise_candidates, llm_judge=judge_params, **kwargs),
              "model_identity": model_identity(scoring_model, "cross_encoder" if scorer == "cross-encoder" else "model")
              if scoring_model else None}
    files = {**inputs.paths, "candidates": candidates}
    if pseudo_positives is None:
        return write_frame(result, out, "denoise", params, files, [candidates], fp=job.fp, job=job)
    return _write_with_pseudo_positives(result, out, Path(pseudo_positives), params, files, candidates, job.fp)


def _write_with_pseudo_positives(result, out, pseudo_positives: Path, params, files, candidates, fp) -> Output:
    """The cleaned candidates and the pseudo-positives, moved into place together (candidates last)."""
    from minekit.io import atomic_paths, write_parquet

    require_rows(result, "denoise")
    out = Path(out)
    manifest = manifest_of("denoise", params, files, result.stats, [candidates], fp)
    pseudo_manifest = manifest_of("denoise.pseudo-positives", params, files, result.stats, [candidates], fp)
    with atomic_paths(pseudo_positives, out) as (tmp_pseudo, tmp_out):
        write_parquet(result.pseudo_positives, tmp_pseudo, pseudo_manifest)
        write_parquet(result.frame, tmp_out, manifest)
    note = f"pseudo-positives: {result.pseudo_positives.height} pairs -> {pseudo_positives}"
    return Output(out, result.stats, {"out": out, "pseudo_positives": pseudo_positives}, title="denoise",
                  notes=[note])


def _empty_denoise(cands):
    """A shard without candidates: nothing to score (its rows, none, keep the candidates' columns)."""
    from minekit.stats import StageResult

    return StageResult(cands.drop("drop_reason", strict=False), {"rows_in": 0, "rows_out": 0})


def _guide_dtype(scorer: str, dtype: str, device: str) -> str:
    """The scorer's dtype as used (the manifest records it): the bi-encoder guide's, or the cross-encoder's
    ('auto' is float16 on GPUs, float32 on CPUs)."""
    from minekit.clean.cross_encoder import ce_dtype
    from minekit.encode.device import resolve_dtype

    return resolve_dtype(dtype, device) if scorer == "bi-encoder" else ce_dtype(dtype, device)
