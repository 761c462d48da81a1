"""Ray: the shard contract (minekit.execution.shards) run on a Ray cluster. Optional: pip install "minekit[ray]".

`ray=True` (`--ray`) on mine bm25, mine passage-bm25, mine dense, denoise and embed runs the same stage
functions, not a second implementation:

- encoding (`embed`, and the first step of `mine dense`): the texts the cache lacks go through Ray
  Data `map_batches` over actors, one per GPU where the cluster has GPUs, else one per CPU; each actor
  encodes its batches into the shared embedding cache (a folder every node can read: local disk for a
  local Ray, a shared file system for a cluster);
- the BM25 index (`index bm25`, and the first step of `mine bm25` and `mine passage-bm25`): its parts
  (`--index-parts`) are tokenized and scored as Ray tasks side by side, each reading only its part of the
  corpus file, into the shared cache (or it is found there) before any shard starts; every shard
  memory-maps it;
- mining and denoising: one Ray task per shard calls the stage with shard="i/n", writing a shard file
  in a hidden folder beside `out`; then `merge` writes `out`, byte-identical to the unsharded run.

Ray is found as `ray.init()` finds it: RAY_ADDRESS (a cluster), else a new local Ray on this machine
(stopped again when the stage ends). The compute dtype is resolved once, for the encoding actors' devices
(float16 on GPUs), and passed to every task, so shards read exactly the vectors the actors cached. Each
task runs in the driver's working folder, so relative paths (inputs, cache) mean what they mean here.
`import ray` happens only inside these functions.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from minekit.errors import ConfigError, MinekitError

if TYPE_CHECKING:
    from minekit.encode.encoder import Encoder
    from minekit.encode.fill_cache import Job
    from minekit.stats import Output

logger = logging.getLogger(__name__)

ENCODE_BATCH = 2048  # texts per Ray Data batch (an actor commits each batch to the cache as one chunk)


def _ray():
    try:
        import ray
    except ImportError:
        raise ConfigError("ray: Ray is not installed. Fix: pip install 'minekit[ray]' (or run without --ray, or "
                          "run the shards yourself with --shard i/n and `minekit merge`).") from None
    return ray


@contextlib.contextmanager
def session() -> Iterator[Any]:
    """Ray, connected (RAY_ADDRESS, or a new local Ray); a Ray started here is stopped on leaving."""
    ray = _ray()
    started = not ray.is_initialized()
    if started:
        ray.init(include_dashboard=False, configure_logging=False)
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def cluster_gpus(ray) -> int:
    return int(ray.cluster_resources().get("GPU", 0))


def ray_dtype(ray, dtype: str, device: str) -> str:
    """The compute dtype every Ray worker uses: 'auto' resolved for the encoding actors (GPUs if the cluster has any)."""
    from minekit.encode.device import resolve_dtype

    return resolve_dtype(dtype, "cuda" if cluster_gpus(ray) else str(device).split(",")[0].strip())


# -- shards as tasks -------------------------------------------------------------------------------

def _run_shard(kind: str, kwargs: dict, cwd: str) -> str:
    """One shard in a Ray worker: the stage function itself, in the driver's working folder. Returns the node
    it ran on."""
    import ray

    from minekit.registry import load

    here = os.getcwd()
    os.chdir(cwd)
    try:
        load(kind)(**kwargs)
    finally:
        os.chdir(here)
    return ray.get_runtime_context().get_node_id()


def alive_nodes(ray) -> int:
    return sum(1 for node in ray.nodes() if node.get("Alive"))


def _refuse_shared_sqlite(ray, kind: str, values: dict) -> None:
    """SQLite's locks do not hold on a file system shared by several machines: on a cluster of more than one
    node, a stage that writes a score cache (cross-encoder scores, LLM answers) refuses to share one."""
    from minekit.options import none_word
    from minekit.registry import SPECS

    users = [p for p in SPECS[kind].sqlite_caches if values.get(p) not in (None, "", False)]
    if not users or none_word(values.get("cache_dir")) is None or alive_nodes(ray) < 2:
        return
    raise ConfigError(
        f"cache_dir: {'/'.join(users)} keeps its scores in SQLite files under {values['cache_dir']}, and SQLite is not "
        f"safe on a folder shared by the {alive_nodes(ray)} nodes of this Ray cluster (its locks do not hold across "
        f"machines). Fix: --cache-dir none (nothing is cached), or run `minekit {' '.join(SPECS[kind].command)}` without --ray, or with "
        "--shard i/n on each machine with a local --cache-dir, then `minekit merge`.", param="cache_dir")


def run_shards(fn: Callable, values: dict, *, prepare: Callable | None = None) -> "Output":
    """Run a stage's shards as Ray tasks (after `prepare` on Ray, e.g. encoding), then merge them into `out`."""
    from minekit.registry import load, stage_fingerprint
    from minekit.stats import Output

    merge = load("merge")
    began = time.perf_counter()
    with session() as ray:
        count = values.get("shards") or max(1, int(ray.cluster_resources().get("CPU", 1)))
        values = {**values, "ray": False, "shards": None, "shard": None}
        _refuse_shared_sqlite(ray, fn.kind, values)
        notes = []
        if prepare is not None:
            notes += _shared_dtype(ray, values) if prepare.spec.shards == "texts" else []
            notes += _prepare(prepare, values)
        out = Path(values["out"])
        folder = out.parent / f".{out.name}.shards"
        folder.mkdir(parents=True, exist_ok=True)
        files = [folder / f"{i}-of-{count}.parquet" for i in range(1, count + 1)]
        base = stage_fingerprint(fn, values)
        todo = [(i, f) for i, f in enumerate(files, 1) if not _finished(f, base, i, count)]
        if len(todo) < count:
            notes.append(f"ray: {count - len(todo)} of {count} shards were done by an earlier, interrupted run")
        task = ray.remote(num_cpus=1)(_run_shard)
        placement = _round_robin(ray)
        refs = [task.options(scheduling_strategy=placement(i)).remote(
                    fn.kind, {**values, "shard": f"{i}/{count}", "out": str(f), "show_progress": False}, os.getcwd())
                for i, f in todo]
        nodes = set(_wait(ray, refs, fn.kind, values.get("show_progress", True)))  # each shard returns its node
        merged = merge(files, out=out)
        shutil.rmtree(folder, ignore_errors=True)
    where = f" on {len(nodes)} node{'s' if len(nodes) != 1 else ''}" if nodes else ""
    notes.append(f"ray: {count} shards of {fn.kind}{where} in {time.perf_counter() - began:.1f} s, merged into {out}")
    return Output(merged.path, merged.stats, merged.files, title=f"{fn.kind} (ray, {count} shards)", notes=notes)


def _round_robin(ray) -> Callable[[int], Any]:
    """Shard i goes to node i mod n (nodes with CPUs, in node-id order). Ray's SPREAD is best effort and puts
    short shards on the driver's node while it still has a free CPU; a fixed placement splits the work on
    every run. Soft: a shard whose node is gone runs elsewhere."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    nodes = sorted(node["NodeID"] for node in ray.nodes()
                   if node.get("Alive") and node.get("Resources", {}).get("CPU", 0) >= 1)
    if len(nodes) < 2:
        return lambda i: "DEFAULT"
    return lambda i: NodeAffinitySchedulingStrategy(nodes[(i - 1) % len(nodes)], soft=True)


def _finished(path: Path, base: str, index: int, count: int) -> bool:
    """A shard file an earlier run completed (written atomically, so its manifest marks it done) for these values."""
    from minekit.io import read_manifest
    from minekit.execution.shards import SHARD_KEY

    try:
        facts = (read_manifest(path) or {}).get(SHARD_KEY) if path.is_file() else None
    except MinekitError:
        return False
    return bool(facts) and facts.get("of") == base and (facts.get("index"), facts.get("count")) == (index, count)


def _wait(ray, refs: list, kind: str, show_progress: bool, unit: str = "shard") -> list:
    """Wait for every task; a task's MinekitError is raised here as itself (one clear line, not a Ray traceback).
    Returns what the tasks returned, in the order they finished."""
    from tqdm.auto import tqdm

    results: list = []
    pending = list(refs)
    with tqdm(total=len(refs), desc=f"{kind} {unit}s", unit=unit, disable=not show_progress) as bar:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            try:
                results += ray.get(done)
            except ray.exceptions.RayTaskError as exc:
                for ref in pending:
                    ray.cancel(ref)
                cause = getattr(exc, "cause", None)
                if isinstance(cause, MinekitError):
                    raise cause from None
                raise
            bar.update(len(done))
    return results


# -- encoding on Ray Data --------------------------------------------------------------------------

def _shared_dtype(ray, values: dict) -> list[str]:
    """The mining tasks must read what the encoding actors cached: where 'auto' means another dtype on the actors'
    devices (float16 on GPUs) than on the tasks' (`device`), the tasks get it explicitly (and the output says so)."""
    from minekit.encode.device import resolve_dtype

    on_actors = ray_dtype(ray, values["dtype"], values["device"])
    if resolve_dtype(values["dtype"], values["device"]) == on_actors:
        return []
    values["dtype"] = on_actors
    return [f"ray: dtype {on_actors} (the encoding actors' GPUs); the same run on one machine is --dtype {on_actors}"]


def _prepare(prepare: Callable, values: dict) -> list[str]:
    """What the shards read, made first on Ray with the same values (the embedding cache: the texts, once)."""
    import inspect

    from minekit.options import none_word

    taken = inspect.signature(prepare).parameters
    kwargs = {k: v for k, v in values.items() if k in taken}
    if prepare.spec.shards != "texts":
        if none_word(values.get("cache_dir")) is None:
            return [f"ray: no cache (cache_dir none): every shard builds its own {' '.join(prepare.spec.command)}"]
        stats = parts_stage(prepare, kwargs).stats
        how = "built into" if stats.get("index") == "built" else "found in"
        return [f"ray: {' '.join(prepare.spec.command)}: {how} the cache before the shards started"]
    if none_word(values.get("cache_dir")) is None:
        return ["ray: no embedding cache (cache_dir none): every shard encodes the whole corpus itself"]
    done = encode_stage(prepare, kwargs)
    return [f"ray: encoded {done.stats.get('texts_encoded', 0)} texts on Ray Data "
            f"({done.stats.get('texts_from_cache', 0)} were cached)"]


def parts_stage(fn: Callable, values: dict) -> "Output":
    """A stage that builds a cache part by part (index bm25), its parts' steps run as Ray tasks."""
    import functools

    with session():
        return fn(**{**values, "ray": False},
                  _map=functools.partial(map_tasks, show_progress=values.get("show_progress", True)))


def map_tasks(fn: Callable, items: list, *, show_progress: bool = False) -> list:
    """fn(item) for every item, each a Ray task (item i on node i mod n); the results in item order."""
    with session() as ray:
        task = ray.remote(num_cpus=1)(fn)
        placement = _round_robin(ray)
        refs = [task.options(scheduling_strategy=placement(i)).remote(item) for i, item in enumerate(items, 1)]
        kind, _, unit = fn.__name__.partition("_")  # tokenize_part: a bar of "tokenize parts"
        _wait(ray, refs, kind, show_progress, unit or "task")
        return ray.get(refs)


def encode_stage(fn: Callable, values: dict) -> "Output":
    """A stage that encodes texts into the shared cache, with its encoding done by Ray Data actors.

    The workers' devices decide what dtype 'auto' means; this process only plans the jobs.
    """
    with session() as ray:
        values = {**values, "dtype": ray_dtype(ray, values["dtype"], values["device"]), "device": "cpu",
                  "ray": False}
        return fn(**values, _encode=encode_on_ray)


class _EncodeActor:
    """A Ray Data actor: one model, loaded once, encoding its batches (texts of several jobs, each with its
    prompt) into the shared cache."""

    def __init__(self, config: dict, prompts: list, cwd: str) -> None:
        from minekit.encode.encoder import Encoder

        os.chdir(cwd)
        self.encoder = Encoder(**config)
        self.prompts = prompts

    def __call__(self, batch: dict) -> dict:
        import numpy as np

        texts, jobs = batch["text"], np.asarray(batch["job"])
        for job in np.unique(jobs):
            self.encoder.encode([str(t) for t in texts[jobs == job]], prompt=self.prompts[int(job)],
                                show_progress=False)
        return {"encoded": np.array([len(texts)], dtype=np.int64)}


def encode_on_ray(jobs: list["Job"], encoder: "Encoder", *, show_progress: bool = True) -> dict:
    """Encode the jobs' texts on Ray Data actors (one per GPU, else one per CPU) into `encoder`'s cache."""
    import pyarrow as pa

    from minekit.encode.fill_cache import counts

    texts = [t for job in jobs for t in job.texts]
    if not texts:
        return counts(jobs)
    job_of = [i for i, job in enumerate(jobs) for _ in job.texts]
    with session() as ray:
        gpus = cluster_gpus(ray)
        workers = gpus or max(1, int(ray.cluster_resources().get("CPU", 1)))
        config = dict(model=_absolute(encoder.model), batch_size=encoder.batch_size,
                      device="cuda" if gpus else "cpu", dtype=encoder.dtype, max_seq_length=encoder.max_seq_length,
                      cache_dir=str(Path(encoder.cache_dir).resolve()), precision=encoder.precision,
                      backend=encoder.backend, trust_remote_code=encoder.trust_remote_code)
        ray.data.DataContext.get_current().enable_progress_bars = show_progress
        table = pa.table({"text": texts, "job": job_of})
        size = -(-len(texts) // max(1, min(workers * 4, -(-len(texts) // ENCODE_BATCH))))
        data = ray.data.from_arrow([table.slice(a, size) for a in range(0, len(texts), size)])
        actors = min(workers, data.num_blocks())
        encoded = data.map_batches(_EncodeActor, batch_size=ENCODE_BATCH, compute=ray.data.ActorPoolStrategy(size=actors),
                                   num_gpus=1 if gpus else 0, num_cpus=0 if gpus else 1,
                                   fn_constructor_kwargs={"config": config, "prompts": [j.prompt for j in jobs],
                                                          "cwd": os.getcwd()})
        total = sum(int(row["encoded"]) for row in encoded.iter_rows())
        logger.info("ray: %d texts encoded on %d %s actors", total, actors, "GPU" if gpus else "CPU")
    return counts(jobs)


def _absolute(model):
    """A model folder given relative to this process's folder, as the actors (elsewhere) must find it."""
    return str(Path(model).resolve()) if isinstance(model, (str, Path)) and Path(model).is_dir() else model


def local_ray(num_cpus: int | None = None, **kwargs: Any):
    """Start a local Ray for tests and benchmarks (no dashboard); returns the ray module."""
    ray = _ray()
    if not ray.is_initialized():
        ray.init(num_cpus=num_cpus, include_dashboard=False, configure_logging=False, **kwargs)
    return ray
