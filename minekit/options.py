"""The allowed values of every stage parameter that its type alone cannot say: ranges and fixed choices.

Declared once, here, per command; the stage functions check them on entry, the CLI turns them into
option callbacks (so a bad flag fails while the command line is parsed), and `minekit run` checks every
step of a pipeline with them before the first step runs. Choices are read from the library module that
owns them, imported only when a value is checked, so `minekit --help` stays instant. No click here.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

from minekit.errors import ConfigError

SEED_MAX = 2**32 - 1  # numpy's and torch's seeding both accept 0 .. 2**32 - 1

Rule = Callable[[Any], Any]  # returns the value, or raises ValueError(why)


class BadValue(ConfigError):
    """A parameter value outside its range or choices; the CLI and pipelines name it as the user typed it."""

    def __init__(self, param: str, reason: str) -> None:
        self.param, self.reason = param, reason
        super().__init__(f"Invalid value for {param}: {reason}")


def one_of(module: str, constant: str) -> Rule:
    """The value must be one of `module.constant` (e.g. minekit.build.FORMATS)."""

    def check(value: Any) -> Any:
        if value is None:
            return value
        choices = getattr(importlib.import_module(module), constant)
        if value not in choices:
            raise ValueError(f"{value!r} is not one of {', '.join(choices)}.")
        return value

    check.choices = (module, constant)  # --help lists them
    return check


def between(low: float | None = None, high: float | None = None, *, low_open: bool = False,
            high_open: bool = False) -> Rule:
    """The number must lie in the interval; open ends are excluded (0 < learning rate, warmup < 1)."""

    def check(value: Any) -> Any:
        if value is None:
            return value
        bad_low = low is not None and (value <= low if low_open else value < low)
        bad_high = high is not None and (value >= high if high_open else value > high)
        if bad_low or bad_high or value != value:  # value != value: NaN
            if high is None and low is not None:
                wanted = f"x {'>' if low_open else '>='} {low}"
            else:
                left = "" if low is None else f"{low} {'<' if low_open else '<='} "
                wanted = f"{left}x{'' if high is None else f' {chr(60) if high_open else chr(60) + chr(61)} {high}'}"
            if low is None and high is None:
                raise ValueError(f"{value} is not a number; give a number.")
            raise ValueError(f"{value} is not in the range {wanted}.")
        return value

    return check


def at_least(low: int) -> Rule:
    """A whole number >= low (worded as typer words its min=)."""

    def check(value: Any) -> Any:
        if value is not None and value < low:
            raise ValueError(f"Input should be greater than or equal to {low}")
        return value

    return check


def seed_range(value: Any) -> Any:
    if value is not None and not 0 <= value <= SEED_MAX:
        raise ValueError(f"{value} is not a seed; give a whole number from 0 to {SEED_MAX}.")
    return value


def shard_spec(value: Any) -> Any:
    """'i/n' with 1 <= i <= n (minekit.shards)."""
    from minekit.shards import parse_shard

    parse_shard(value)
    return value


_SHARDS = {"shard": shard_spec, "shards": at_least(1)}
_BM25 = {**_SHARDS, "top_k": at_least(1), "k1": between(0), "b": between(0, 1), "method": one_of("minekit.mine.bm25", "METHODS")}
_ENCODER = {"batch_size": at_least(1), "precision": one_of("minekit.embed", "PRECISIONS"),
            "backend": one_of("minekit.embed", "BACKENDS")}  # dtype, max_seq_length: minekit.embed checks them
_TRAINING = {"epochs": between(0, low_open=True), "learning_rate": between(0, low_open=True),
             "warmup_ratio": between(0, 1, high_open=True), "max_steps": at_least(1), "seed": seed_range,
             "batch_size": at_least(1)}

RULES: dict[str, dict[str, Rule]] = {
    "mine.bm25": _BM25,
    "mine.passage-bm25": _BM25,
    "mine.dense": {**_ENCODER, **_SHARDS, "top_k": at_least(1), "index": one_of("minekit.mine.dense", "INDEXES"),
                   "nlist": at_least(1), "nprobe": at_least(1), "hnsw_m": at_least(2), "ef_search": at_least(1),
                   "pq_m": at_least(1), "seed": seed_range, "block_size": at_least(1),
                   "query_from": one_of("minekit.mine.dense", "QUERY_FROM")},
    "mine.cluster": {**_ENCODER, "top_k": at_least(1), "n_clusters": at_least(1), "clusters_per_query": at_least(1),
                     "niter": at_least(1), "seed": seed_range},
    "mine.random": {"top_k": at_least(1), "seed": seed_range},
    "filter": {"range_min": at_least(0), "range_max": at_least(1), "min_score": between(), "max_score": between()},
    "build": {"num_negatives": at_least(1), "format": one_of("minekit.build", "FORMATS"),
              "sampling_strategy": one_of("minekit.build", "SAMPLING_STRATEGIES"), "simans_a": between(),
              "simans_b": between(), "trisampler_angle": between(0, 180, low_open=True),
              "fill": one_of("minekit.build", "FILLS"), "seed": seed_range},
    "embed": {**_ENCODER, "shard": shard_spec},
    "denoise": {**_SHARDS, "scorer": one_of("minekit.denoise", "SCORERS"), "llm_concurrency": at_least(1),
                "llm_retries": at_least(0), "llm_timeout": between(0, low_open=True), "batch_size": at_least(1),
                "max_length": at_least(2), "max_seq_length": at_least(1),
                "block_size": at_least(1)},
    "train-reranker": {**_TRAINING, "max_length": at_least(8)},
    "train": {**_TRAINING, "loss": one_of("minekit.train", "LOSSES"), "max_seq_length": at_least(1),
              "mini_batch_size": at_least(1), "dtype": one_of("minekit.train", "TRAIN_DTYPES")},
    "evaluate": {"batch_size": at_least(1), "max_seq_length": at_least(1), "block_size": at_least(1)},
}


def check_value(kind: str, name: str, value: Any) -> Any:
    """One value against its command's rule; BadValue(name, why) when it breaks it."""
    rule = RULES.get(kind, {}).get(name)
    if rule is None:
        return value
    try:
        return rule(value)
    except (ValueError, TypeError) as exc:
        raise BadValue(name, str(exc)) from None


def check_params(kind: str, values: dict[str, Any]) -> None:
    """Every value a command's rules cover; raise BadValue for the first that breaks its rule."""
    for name in RULES.get(kind, {}):
        if name in values:
            check_value(kind, name, values[name])
