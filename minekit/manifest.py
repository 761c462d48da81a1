"""Provenance: what a stage read, with which params, what it counted, and a fingerprint of all that.

A manifest holds no timestamps, so the same inputs and params give byte-identical files, and
`fingerprint` alone tells whether an output is up to date.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from minekit._version import __version__
from minekit.io import describe_file, read_manifest


def fingerprint(stage: str, params: dict, inputs: dict[str, dict]) -> str:
    """sha256 of the stage, its fully resolved params, its inputs' content hashes and minekit's version."""
    payload = {
        "stage": stage,
        "params": params,
        "inputs": {name: entry.get("sha256") for name, entry in sorted(inputs.items())},
        "minekit_version": __version__,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def describe_inputs(paths: dict[str, str | Path | list], rows: dict[str, int] | None = None) -> dict[str, dict]:
    """Lineage entries for named input files; a name may hold a list of files (name[0], name[1], ...)."""
    rows = rows or {}
    out: dict[str, dict] = {}
    for name, value in paths.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            for i, p in enumerate(value):
                out[f"{name}[{i}]"] = describe_file(p)
        else:
            out[name] = describe_file(value, rows.get(name))
    return out


def upstream_steps(paths: list[str | Path]) -> list[dict]:
    """The steps recorded in the manifests of earlier minekit outputs, in order, without repeats."""
    steps: list[dict] = []
    seen: set[str] = set()
    for path in paths:
        manifest = read_manifest(path) or {}
        for step in manifest.get("steps", []):
            key = step.get("fingerprint", json.dumps(step, sort_keys=True))
            if key not in seen:
                seen.add(key)
                steps.append(step)
    return steps


# Facts about one run, not about its output (how much came from a cache, how long it took): reported on
# stderr, never written into an output, so a rerun on a warm cache gives byte-identical files.
RUN_FACTS = frozenset({"texts_encoded", "texts_from_cache", "texts_cached", "pairs_scored", "cache_hits",
                       "llm_requests", "llm_cache_hits", "wall_s"})


def make_manifest(
    stage: str,
    params: dict,
    inputs: dict[str, dict],
    stats: dict,
    upstream: list[dict] | None = None,
    *,
    fingerprint: str | None = None,
) -> dict:
    """The manifest of one output: its own step appended to the steps that made its inputs.

    `fingerprint` is the stage's own (minekit.registry.stage_fingerprint: its flags and its inputs'
    identities), which pipelines recompute to tell whether the output is up to date.
    """
    step = {
        "stage": stage,
        "params": params,
        "inputs": inputs,
        "stats": {k: v for k, v in stats.items() if k not in RUN_FACTS},
        "fingerprint": fingerprint or _fingerprint(stage, params, inputs),
    }
    return {
        "minekit_version": __version__,
        "stage": stage,
        "fingerprint": step["fingerprint"],
        "steps": [*(upstream or []), step],
    }


_fingerprint = fingerprint  # make_manifest's parameter of the same name shadows it
