"""The `build` stage: candidates in, a versioned training dataset out (datasets/NAME/vN)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from minekit.errors import ConfigError
from minekit.guards import check_output_folder
from minekit.options import check_params, none_float
from minekit.stages.base import COMMON, params_of, read_inputs, stage, stage_fingerprint
from minekit.stats import Output


@stage("build")
def build(*, candidates: str | Path | Sequence[str | Path], queries: str | Path, positives: str | Path,
          corpus: str | Path, name: str, out_dir: str | Path = "datasets", num_negatives: int = 1,
          format: str = "n-tuple", sampling_strategy: str = "top", relative_margin: float | str | None = 0.05,
          simans_a: float = 50.0, simans_b: float = -0.05, trisampler_angle: float = 60.0,
          source_shares: str | dict | None = None, fill: str = "random", chunk_queries: int = 10_000,
          seed: int = COMMON) -> Output:
    """Write a versioned dataset out_dir/NAME/vN; the same inputs and params return the existing version."""
    from minekit.dataset.build import build_dataset, parse_shares
    from minekit.dataset.store import find_version, write_dataset
    from minekit.io import read_candidates
    from minekit.manifest import describe_inputs, make_manifest, upstream_steps
    from minekit.inputs.schema import check_candidates_ids

    candidates = [Path(candidates)] if isinstance(candidates, (str, Path)) else [Path(p) for p in candidates]
    relative_margin = none_float(relative_margin)
    source_shares = parse_shares(source_shares)
    check_params("build", locals())
    check_output_folder(Path(out_dir) / name, "--out-dir")  # datasets/NAME may exist and be read-only
    fp = stage_fingerprint(build, locals())
    kwargs = dict(num_negatives=num_negatives, format=format, sampling_strategy=sampling_strategy,
                  relative_margin=relative_margin, simans_a=simans_a, simans_b=simans_b,
                  trisampler_angle=trisampler_angle, source_shares=source_shares, fill=fill, seed=seed,
                  chunk_queries=chunk_queries)
    inputs = read_inputs(queries, positives, corpus)
    if num_negatives >= inputs.corpus.height:  # before minutes of sampling that could never fill a row
        raise ConfigError(f"num_negatives {num_negatives}: the corpus {corpus} has {inputs.corpus.height} documents, "
                          "so no row can get that many negatives besides its positive. Fix: lower num_negatives.",
                          param="num_negatives")
    frames = [check_candidates_ids(read_candidates(p), p, inputs.corpus, inputs.queries) for p in candidates]
    params = params_of(build_dataset, **kwargs)
    described = describe_inputs({**inputs.paths, "candidates": list(candidates)})
    existing = find_version(out_dir, name, fp)
    if existing is not None:
        return Output(existing, {}, {"out": existing}, title="build", reused=True,
                      notes=[f"up to date: same inputs and params as {existing}"])
    result = build_dataset(frames, inputs.queries, inputs.positives, inputs.corpus, **kwargs)
    manifest = make_manifest("build", params, described, result.stats, upstream_steps(list(candidates)), fingerprint=fp)
    manifest["score_columns"] = result.score_columns
    path = write_dataset(result, out_dir=out_dir, name=name, manifest=manifest)
    files = {"out": path, **{f: path / f for f in ("train.parquet", "ids.parquet", "manifest.json", "README.md")}}
    return Output(path, result.stats, files, title="build")
