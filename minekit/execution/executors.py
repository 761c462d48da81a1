"""Executors: how a stage runs, above the stages (as datatrove's executors sit above its steps).

Local: the stage function itself, whole or as one shard (`shard="i/n"`). Ray: every shard as a Ray task,
then `merge`; a stage whose spec says `prepare` has that stage run on Ray first with the same values
(mine dense: `embed`, so the shards read one shared embedding cache; mine bm25: `index bm25`, so they
memory-map one index), a stage that shards by texts (`embed`) hands its planned jobs to Ray Data, and one
that builds a cache by parts (`index bm25`) runs each part's steps as Ray tasks. What a stage needs is read from its spec
(minekit.registry); no stage imports this module and the Ray runner names no stage.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable

from minekit.registry import SPECS, Spec


def entry(kind: str) -> Callable:
    """The stage `kind` as the API and the CLI call it: on Ray when asked (ray=True), else here."""
    spec = SPECS[kind]
    fn = spec.load()

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any):
        if not kwargs.get("ray"):
            return fn(*args, **kwargs)
        bound = inspect.signature(fn).bind(*args, **kwargs)
        bound.apply_defaults()
        return on_ray(spec, dict(bound.arguments))

    return run


def on_ray(spec: Spec, values: dict):
    """Run a stage on Ray (minekit.execution.ray_runner): its shards as tasks, or its encoding on Ray Data."""
    from minekit.errors import ConfigError
    from minekit.execution import ray_runner
    from minekit.stages.base import check_run

    check_run(values)  # shard with ray is an error before Ray starts
    fn = spec.load()
    if spec.shards == "texts":
        return ray_runner.encode_stage(fn, values)
    if spec.shards == "parts":
        return ray_runner.parts_stage(fn, values)
    if spec.shards != "queries":
        raise ConfigError(f"ray: {' '.join(spec.command)} does not run on Ray.", param="ray")
    prepare = SPECS[spec.prepare].load() if spec.prepare else None
    return ray_runner.run_shards(fn, values, prepare=prepare)
