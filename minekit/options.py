"""Options and their value rules, each declared once.

Option families are options that travel together, with one default, one help line and one rule each:
EncoderOptions (how texts become embeddings), BM25Options, RunOptions (shards and Ray),
TrainingOptions, and CommonOptions (top_k, seed, device, ...). A stage takes a family whole or in
part (minekit.stages.base.stage); the CLI shows it as one option stack, pipelines as keys, the
Python API as keyword arguments. RULES holds the rules of the parameters one stage owns. The stage
functions check values on entry, the CLI turns rules into option callbacks (a bad flag fails while the
command line is parsed), and `minekit run` checks every step before the first runs. Choices are read
from the library module that owns them, imported only when a value is checked, so `minekit --help`
stays instant. No click here.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import Field, dataclass, field, fields
from typing import Any, Callable

from minekit.errors import ConfigError

SEED_MAX = 2**32 - 1  # numpy's and torch's seeding both accept 0 .. 2**32 - 1

Rule = Callable[[Any], Any]  # returns the value, or raises ValueError(why)


class BadValue(ConfigError):
    """A parameter value outside its range or choices; the CLI and pipelines name it as the user typed it."""

    def __init__(self, param: str, reason: str) -> None:
        super().__init__(f"Invalid value for {param}: {reason}", param=param)
        self.reason = reason


def one_of(module: str, constant: str) -> Rule:
    """The value must be one of `module.constant` (e.g. minekit.dataset.build.FORMATS)."""

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
        if low is None and high is None and value in (float("inf"), float("-inf")):
            raise ValueError(f"{value} is not a finite number; give a finite number.")
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
    """'i/n' with 1 <= i <= n (minekit.execution.shards)."""
    from minekit.execution.shards import parse_shard

    parse_shard(value)
    return value


# -- option families: options that travel together, each declared once ------------------------------

def option(default: Any, help: str, rule: Rule | None = None) -> Any:
    """A family member: its one default, its help line (CLI, docs) and its value rule."""
    return field(default=default, metadata={"help": help, "rule": rule})


@dataclass(frozen=True)
class EncoderOptions:
    """How texts become embeddings: shared by mine dense, mine cluster, embed, evaluate, denoise's guide and train."""

    model: str = option("default", "Bi-encoder: 'default' (packaged all-MiniLM-L6-v2), a local folder, or a hub name.")
    batch_size: int = option(64, "Texts per encoding batch.", at_least(1))
    dtype: str = option("auto", "Compute dtype: auto = bfloat16 on CPUs with AMX/AVX512-BF16 (faster, same top-10 "
                                "within 1-2%), float16 on CUDA, else float32; or float32, bfloat16, float16.")
    max_seq_length: int | None = option(None, "Tokens per text when encoding; longer texts are truncated "
                                              "(default: the model's).", at_least(1))
    query_prompt: str | None = option(None, "Text prepended to each query before encoding (e5: 'query: '; bge: its "
                                            "instruction).")
    corpus_prompt: str | None = option(None, "Text prepended to each passage before encoding (e5: 'passage: ').")
    query_prompt_name: str | None = option(None, "Name of one of the model's saved prompts to use for queries "
                                                 "(e.g. query); default: the model's own.")
    corpus_prompt_name: str | None = option(None, "Name of one of the model's saved prompts to use for passages "
                                                  "(e.g. document).")
    cache_dir: str | None = option(".minekit-cache", "Cache folder for embeddings (a text is encoded once per model, "
                                                     "prompt, dtype and precision) and BM25 indexes (one per corpus "
                                                     "and BM25 settings); 'none' = no cache.")
    precision: str = option("float32", "Stored embeddings: float32, float16 (half the disk) or int8 (a quarter; "
                                       "per-row scale).", one_of("minekit.encode.cache", "PRECISIONS"))
    backend: str = option("torch", "Encoder backend: torch.", one_of("minekit.encode.encoder", "BACKENDS"))


@dataclass(frozen=True)
class BM25Options:
    """BM25 scoring and tokenization (bm25s): shared by mine bm25 and mine passage-bm25."""

    k1: float = option(1.5, "BM25 term-frequency saturation (>= 0).", between(0))
    b: float = option(0.75, "BM25 length normalisation (0 to 1).", between(0, 1))
    method: str = option("lucene", "BM25 variant: lucene, robertson or atire.", one_of("minekit.mine.bm25", "METHODS"))
    stemmer: str = option("english", "Snowball stemmer language (PyStemmer), or 'none'.")
    stopwords: str = option("en", "Stopword list known to bm25s (en, fr, de, ...), or 'none'.")
    index_parts: int = option(1, "Build the BM25 index as this many parts by passage, with global statistics; each "
                                 "part is searched in turn and the results merged (same ranks and scores as one "
                                 "index).", at_least(1))


@dataclass(frozen=True)
class RunOptions:
    """How a stage runs, never what it writes: one shard of n, or every shard on Ray then merged."""

    shard: str | None = option(None, "Run shard i of n (i/n, e.g. 1/4): the queries whose sha256(query_id) mod n is "
                                     "i-1, against the whole corpus (embed: the distinct texts, by sha256 of the "
                                     "text, into the shared cache); `minekit merge` joins the n outputs into the "
                                     "unsharded output, byte for byte.", shard_spec)
    ray: bool = option(False, "Run on Ray (RAY_ADDRESS, or a local Ray): every shard as a task, then merged (embed: "
                              "encoding on Ray Data actors, one per GPU; index bm25: each index part tokenized and "
                              "scored as its own task, into the shared cache): pip install 'minekit[ray]'.")
    shards: int | None = option(None, "With ray: number of shards (default: the cluster's CPUs).", at_least(1))


@dataclass(frozen=True)
class TrainingOptions:
    """The optimiser's schedule: shared by train and train-reranker."""

    epochs: float = option(1.0, "Passes over train.parquet.", between(0, low_open=True))
    learning_rate: float = option(2e-5, "Peak learning rate (AdamW, linear decay).", between(0, low_open=True))
    warmup_ratio: float = option(0.1, "Share of the steps spent warming up (a run too short for it, e.g. "
                                 "--max-steps 1, warms up for all steps but the last).",
                                 between(0, 1, high_open=True))
    max_steps: int | None = option(None, "Stop after this many steps (quick runs).", at_least(1))


@dataclass(frozen=True)
class CommonOptions:
    """Options many stages take with one meaning; a stage names the ones it takes."""

    top_k: int = option(100, "Candidates kept per query (after removing its positives).", at_least(1))
    seed: int = option(0, "Seed of every random choice the command makes: the same seed gives the same output.",
                       seed_range)
    device: str = option("cpu", "torch device: cpu, cuda, cuda:1, mps; for encoding, several GPUs (cuda:0,cuda:1) "
                                "encode disjoint shares.")
    trust_remote_code: bool = option(False, "Allow model code from the model folder or hub.")
    show_progress: bool = option(True, "Progress bars on stderr.")


FAMILIES = {"encoder": EncoderOptions, "bm25": BM25Options, "run": RunOptions, "training": TrainingOptions,
            "common": CommonOptions}


def members(family: type) -> dict[str, Field]:
    return {f.name: f for f in fields(family)}


@functools.cache
def family_rules() -> dict[str, Rule]:
    """The value rule of every family member, by parameter name (static: built once)."""
    return {name: f.metadata["rule"] for family in FAMILIES.values() for name, f in members(family).items()
            if f.metadata["rule"] is not None}


# Rules of the parameters a single stage owns (family members' rules live with the family).
_TRAINING = {"batch_size": at_least(1)}

RULES: dict[str, dict[str, Rule]] = {
    "mine.dense": {"index": one_of("minekit.mine.dense", "INDEXES"), "nlist": at_least(1), "nprobe": at_least(1),
                   "hnsw_m": at_least(2), "ef_search": at_least(1), "pq_m": at_least(1), "block_size": at_least(1),
                   "query_from": one_of("minekit.mine.dense", "QUERY_FROM")},
    "mine.cluster": {"n_clusters": at_least(1), "clusters_per_query": at_least(1), "niter": at_least(1)},
    "filter": {"range_min": at_least(0), "range_max": at_least(1), "min_score": between(), "max_score": between()},
    "build": {"num_negatives": at_least(1), "format": one_of("minekit.dataset.build", "FORMATS"),
              "sampling_strategy": one_of("minekit.dataset.build", "SAMPLING_STRATEGIES"), "simans_a": between(),
              "simans_b": between(), "trisampler_angle": between(0, 180, low_open=True),
              "fill": one_of("minekit.dataset.build", "FILLS"), "chunk_queries": at_least(0)},
    "denoise": {"scorer": one_of("minekit.clean.denoise", "SCORERS"), "llm_concurrency": at_least(1),
                "llm_retries": at_least(0), "llm_timeout": between(0, low_open=True), "batch_size": at_least(1),
                "max_length": at_least(2), "block_size": at_least(1)},
    "train-reranker": {**_TRAINING, "max_length": at_least(8)},
    "train": {**_TRAINING, "loss": one_of("minekit.training.train", "LOSSES"), "max_seq_length": at_least(1),
              "mini_batch_size": at_least(1), "dtype": one_of("minekit.training.train", "TRAIN_DTYPES")},
    "evaluate": {"block_size": at_least(1)},
    "export": {"scores": one_of("minekit.handoff.export", "SCORE_CHOICES")},
    "report": {"examples": at_least(0)},
}


def rule_of(kind: str, name: str) -> Rule | None:
    """A parameter's one value rule: the stage's own, else its family's."""
    return RULES.get(kind, {}).get(name) or family_rules().get(name)


def check_value(kind: str, name: str, value: Any) -> Any:
    """One value against its command's rule; BadValue(name, why) when it breaks it."""
    rule = rule_of(kind, name)
    if rule is None:
        return value
    try:
        return rule(value)
    except (ValueError, TypeError) as exc:
        raise BadValue(name, str(exc)) from None


def check_params(kind: str, values: dict[str, Any]) -> None:
    """Every value a command's rules cover; raise BadValue for the first that breaks its rule."""
    for name, value in values.items():
        check_value(kind, name, value)


# -- words a flag or pipeline value may use for 'no value' and 'let the stage decide' ------------------

def none_word(value: str | None) -> str | None:
    """'none' (a flag or pipeline value) means no stemmer / no stopwords / no cache."""
    return None if value is None or str(value).lower() in ("none", "") else str(value)


def none_float(value: str | float | None) -> float | None:
    """'none' turns a default threshold off."""
    if value is None or str(value).lower() in ("none", ""):
        return None
    try:
        return float(value)
    except ValueError:
        raise ConfigError(f"{value!r} is not a number or 'none'.") from None


def auto_float(value: str | float | None) -> str | float | None:
    """'auto' leaves a threshold to the stage (it depends on the scorer or is calibrated on the data)."""
    if str(value).lower() == "auto":
        return "auto"
    try:
        return none_float(value)
    except ConfigError:
        raise ConfigError(f"{value!r} is not a number, 'auto' or 'none'.") from None
