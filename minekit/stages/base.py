"""What every stage shares: the @stage decorator that gives it its option families, and the writing of outputs.

A stage function declares its own parameters in its signature; the parameters of an option family
(minekit.options: EncoderOptions, BM25Options, RunOptions) arrive as one object, and a parameter whose
default is COMMON takes the default of minekit.options.CommonOptions. The decorator publishes the flat
signature (`mk.mine_dense(batch_size=32)`), so the CLI, pipelines and the API see every option once,
with its one default.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from minekit.errors import ConfigError, InputError
from minekit.guards import check_outputs
from minekit.options import CommonOptions, check_params, members
from minekit.registry import SPECS, stage_fingerprint
from minekit.stats import Output


class _Common:
    def __repr__(self) -> str:
        return "COMMON"


COMMON: Any = _Common()  # this parameter's default is CommonOptions' (one default for every stage)


def every(family: type) -> tuple[type, tuple[str, ...]]:
    return family, tuple(members(family))


def some(family: type, *names: str) -> tuple[type, tuple[str, ...]]:
    return family, names


def every_but(family: type, *left_out: str) -> tuple[type, tuple[str, ...]]:
    return family, tuple(n for n in members(family) if n not in left_out)


def _family_params(family: type, names: Sequence[str]) -> list[inspect.Parameter]:
    hints, fields = typing.get_type_hints(family), members(family)
    return [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=fields[n].default, annotation=hints[n])
            for n in names]


def _public_signature(fn: Callable, groups: dict) -> tuple[inspect.Signature, dict]:
    """fn's parameters with each family object spread into its members, and COMMON defaults filled in."""
    hints = typing.get_type_hints(fn)
    common, common_hints = members(CommonOptions), typing.get_type_hints(CommonOptions)
    params, annotations, declared = [], {}, {}
    for p in inspect.signature(fn).parameters.values():
        if p.name.startswith("_"):  # an executor's hook, not an option
            continue
        if p.name in groups:
            spread = _family_params(*groups[p.name])
            declared.update({n: members(groups[p.name][0])[n] for n in groups[p.name][1]})
        elif p.default is COMMON:
            spread = [p.replace(default=common[p.name].default, annotation=common_hints[p.name])]
            declared[p.name] = common[p.name]
        else:
            spread = [p.replace(annotation=hints.get(p.name, p.annotation))]
        params += spread
        annotations.update({q.name: q.annotation for q in spread})
    annotations["return"] = hints.get("return", Output)
    return inspect.signature(fn).replace(parameters=params), annotations, declared


def stage(kind: str, **groups: tuple[type, tuple[str, ...]]) -> Callable:
    """Register fn as the stage `kind` (minekit.registry.SPECS), its family parameters spread into options."""
    spec = SPECS[kind]

    def decorate(fn: Callable) -> Callable:
        signature, annotations, declared = _public_signature(fn, groups)

        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> Output:
            hooks = {k: kwargs.pop(k) for k in list(kwargs) if k.startswith("_")}  # executors' hooks
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            values = dict(bound.arguments)
            check_outputs(spec, values)  # before any work: nothing an output would destroy
            for name, (family, names) in groups.items():
                picked = {n: values.pop(n) for n in names}
                check_params(kind, picked)
                values[name] = family(**picked)
            return fn(**values, **hooks)

        call.__signature__ = signature
        call.__annotations__ = annotations
        # family members by name, each with its one default, help and rule (dataclasses.Field)
        call.kind, call.spec, call.family_options = kind, spec, declared
        return call

    return decorate


def flat(values: dict) -> dict:
    """A stage's locals as its public values again (family objects spread into their members)."""
    out = {}
    for name, value in values.items():
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            out.update(dataclasses.asdict(value))
        else:
            out[name] = value
    return out


# -- shards: a stage run on one share of its queries ----------------------------------------------------

@dataclass
class Job:
    """How a stage runs: whole, or as one shard of n (minekit.execution.shards)."""

    shard: Any  # minekit.execution.shards.Shard | None
    fp: str  # this output's fingerprint
    base: str  # the unsharded output's fingerprint

    def select(self, frame, column: str = "query_id"):
        from minekit.execution.shards import select

        return select(frame, column, self.shard)

    def mark(self, manifest: dict) -> None:
        from minekit.execution.shards import SHARD_KEY, shard_facts

        if self.shard is not None:
            manifest[SHARD_KEY] = shard_facts(self.base, self.shard, "query_id")


def job_of(fn: Callable, values: dict) -> Job:
    """The shard and fingerprints of a stage call (its values already checked)."""
    from minekit.execution.shards import parse_shard

    check_run(values)
    local_only(fn.__name__, values.get("ray"))
    shard = values.get("shard")
    fp = stage_fingerprint(fn, values)
    base = fp if shard is None else stage_fingerprint(fn, {**values, "shard": None})
    return Job(parse_shard(shard), fp, base)


def local_only(function: str, ray: bool) -> None:
    """A stage function runs here; Ray is an executor's business (minekit.execution.executors)."""
    if ray:
        raise ConfigError(f"ray: Ray runs go through minekit's executors: call mk.{function} (or the command "
                          "line), not the stage module directly.", param="ray")


def check_run(values: dict) -> None:
    """shard, ray and shards that cannot go together: an error before any work (and before Ray starts)."""
    shard, ray, shards = values.get("shard"), values.get("ray"), values.get("shards")
    if shard is not None and ray:
        raise ConfigError("shard and ray: give one of them (ray runs every shard, then merges).", param="shard")
    if shards is not None and not ray:
        raise ConfigError("shards and ray: the number of shards applies only to a Ray run; give both, or run one "
                          "shard with shard i/n.", param="shards")


def no_queries(queries, positives) -> bool:
    """A shard none of whose queries has a positive: nothing to mine (the miners expect at least one)."""
    return not queries["query_id"].is_in(positives["query_id"].implode()).any()


def empty_shard():
    from minekit.inputs.schema import empty_candidates
    from minekit.stats import StageResult

    return StageResult(empty_candidates(), {"queries": 0, "rows_out": 0})


# -- outputs --------------------------------------------------------------------------------------------

def params_of(fn: Callable, **kwargs) -> dict:
    """The fully resolved params of a library call (defaults included), as the manifest records them."""
    from minekit.registry import UNHASHED

    signature = inspect.signature(fn)
    bound = signature.bind_partial(**kwargs)
    bound.apply_defaults()
    return {k: v for k, v in bound.arguments.items()
            if k not in UNHASHED and signature.parameters[k].kind == inspect.Parameter.KEYWORD_ONLY}


def require_rows(result, stage: str) -> None:
    """An output with no row is an error that says why (a 0-row file only fails the next step)."""
    if result.frame.height:
        return
    stats = result.stats
    dropped = {k: v for k, v in (stats.get("dropped") or {}).items() if v}
    if dropped:
        flags = [("--" + k.replace("_", "-")) if k != "is_positive" else "is_positive (--positives)" for k in dropped]
        why = (f"all {stats.get('rows_in', sum(dropped.values()))} candidates were dropped ("
               + ", ".join(f"{f}: {n}" for f, n in zip(flags, dropped.values())) + ")")
        fix = f"loosen {', '.join(flags)}"
    else:
        why = f"none of the {stats.get('queries', 'given')} queries got a candidate"
        fix = "check that --positives names queries of --queries and the corpus has documents besides the positives"
    raise InputError(f"{stage}: nothing to write: {why}. No output was written. Fix: {fix}.")


def manifest_of(stage: str, params: dict, inputs: dict, stats: dict, upstream_from: Sequence = (),
                fp: str | None = None) -> dict:
    from minekit.manifest import describe_inputs, make_manifest, upstream_steps

    return make_manifest(stage, params, describe_inputs(inputs), stats, upstream_steps(list(upstream_from)),
                         fingerprint=fp)


def write_frame(result, out: str | Path, stage: str, params: dict, inputs: dict, upstream_from: Sequence = (),
                *, fp: str, job: Job | None = None) -> Output:
    """A stage's frame with its manifest, written atomically; a shard's manifest says which shard it is.

    A shard may hold no row (its queries got no candidate): only the merged output must have rows.
    """
    from minekit.io import write_parquet

    if job is None or job.shard is None:
        require_rows(result, stage)
    out = Path(out)
    manifest = manifest_of(stage, params, inputs, result.stats, upstream_from, fp)
    if job is not None:
        job.mark(manifest)
    write_parquet(result.frame, out, manifest)
    title = stage if job is None or job.shard is None else f"{stage} (shard {job.shard})"
    return Output(out, result.stats, {"out": out}, title=title)


def read_inputs(queries, positives, corpus, *, corpus_texts: bool = True):
    from minekit.io import read_inputs as read

    return read(queries, positives, corpus, corpus_texts=corpus_texts)


def new_folder(out: Path, flag: str, why: str) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"{flag}: {out} already exists{why}", param=flag)
