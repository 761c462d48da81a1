"""minekit: offline hard-negative mining and training-data building for retrieval models.

The stages are the Python API, one function per command (see minekit/stages.py)::

    import minekit as mk
    mk.mine_bm25(queries="q.parquet", positives="p.parquet", corpus="c.parquet", out="bm25.parquet")

They load on first use, so `import minekit` stays light. Some share a name with the library module
that does the work (mk.build is the stage, minekit/build.py its library): `minekit.build` is the
stage function; import the module with `from minekit.build import ...`.
"""

import sys
import types

__version__ = "0.1.0"

_API = frozenset({
    "validate", "info", "import_beir", "import_pairs", "import_hf", "import_flagembedding", "import_tevatron",
    "mine_bm25", "mine_passage_bm25", "mine_dense", "embed_corpus", "merge", "mine_cluster", "mine_random", "filter",
    "denoise",
    "train_reranker", "build", "export", "report", "train", "evaluate", "compare", "run", "Output",
})


class _Package(types.ModuleType):
    """Stage names resolve to the stage functions even after a same-named submodule was imported."""

    def __getattribute__(self, name: str):
        if name in _API:
            from minekit import stages

            return getattr(stages, name)
        return super().__getattribute__(name)

    def __dir__(self):
        return sorted(set(super().__dir__()) | _API)


sys.modules[__name__].__class__ = _Package
