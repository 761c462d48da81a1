"""minekit: offline hard-negative mining and training-data building for retrieval models.

The stages are the Python API, one function per command (minekit.api, declared in minekit.registry)::

    import minekit as mk
    mk.mine_bm25(queries="q.parquet", positives="p.parquet", corpus="c.parquet", out="bm25.parquet")

They load on first use, so `import minekit` stays light. The API names never clash with the
subpackages (inputs, mine, clean, dataset, training, handoff, execution, encode, stages).
"""

from minekit._version import __version__  # noqa: F401  (minekit.__version__)


def __getattr__(name: str):
    from minekit.registry import API

    if name in API:
        from minekit import api

        return getattr(api, name)
    raise AttributeError(f"module 'minekit' has no attribute {name!r}")


def __dir__():
    from minekit.registry import API

    return sorted(set(globals()) | set(API))
