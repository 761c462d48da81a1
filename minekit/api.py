"""The Python API: every stage by its function name (minekit.registry), run by the executor its values ask for.

    import minekit as mk
    mk.mine_bm25(queries="q.parquet", positives="p.parquet", corpus="c.parquet", out="bm25.parquet")

Each function has the stage's signature (its flags, one to one) and returns a minekit.stats.Output.
`run` runs a pipeline file. Names resolve on first use, so `import minekit` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

from minekit.registry import API, SPECS

__all__ = sorted(API)
_FUNCTIONS = {spec.function: kind for kind, spec in SPECS.items() if spec.step}


def function(name: str) -> Callable:
    """The API function `name`: a stage through the executors, or `run` / `Output` as they are."""
    if name in _FUNCTIONS:
        from minekit.execution.executors import entry

        return entry(_FUNCTIONS[name])
    return getattr(importlib.import_module(API[name]), name)


def __getattr__(name: str) -> Any:
    if name not in API:
        raise AttributeError(f"module 'minekit.api' has no attribute {name!r}")
    value = function(name)
    globals()[name] = value
    return value
