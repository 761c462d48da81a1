"""Stages that read what users bring: validate, info and the importers."""

from __future__ import annotations

import json
from pathlib import Path

from minekit.errors import ConfigError, InputError
from minekit.stages.base import read_inputs, stage
from minekit.stats import Output


# -- validate / info -------------------------------------------------------------------------------

@stage("validate")
def validate(*, queries: str | Path, positives: str | Path, corpus: str | Path) -> Output:
    """Check the three input files against minekit's data contract, and nothing else."""
    inputs = read_inputs(queries, positives, corpus)
    counts = {"queries": inputs.queries.height, "documents": inputs.corpus.height,
              "positives": inputs.positives.height, "queries_with_positives": inputs.positives["query_id"].n_unique()}
    text = (f"ok: {counts['queries']} queries, {counts['documents']} documents, "
            f"{counts['positives']} positives for {counts['queries_with_positives']} queries")
    return Output(None, text=text, data=counts)


@stage("info")
def info(path: str | Path) -> Output:
    """The manifest (how it was made) that travels inside a minekit file or dataset folder."""
    from minekit.io import read_manifest

    manifest = read_manifest(path)
    if manifest is not None and Path(path).is_dir():  # a dataset folder: its files must be the ones built
        from minekit.dataset.store import check_dataset_files

        check_dataset_files(Path(path), manifest)
    if manifest is None:
        raise ConfigError(f"{path}: carries no minekit manifest (was it written by minekit?). Fix: give a parquet "
                          "file minekit wrote (candidates, filter or denoise output) or a dataset folder datasets/NAME/vN.")
    return Output(None, text=json.dumps(manifest, indent=2, sort_keys=True), data=manifest)


# -- import ----------------------------------------------------------------------------------------

def _write_import(result, out: str | Path, stage: str, params: dict, source: str | Path, overwrite: bool) -> Output:
    """The import's three (or four) files, written into one temp folder and moved in together."""
    from minekit.inputs.importers import write_inputs

    out = Path(out)
    write_inputs(result, out, stage=stage, params=params, source=source, overwrite=overwrite)
    names = ["queries", "positives", "corpus"] + (["negatives"] if result.negatives is not None else [])
    return Output(out, result.stats, {n: out / f"{n}.parquet" for n in names}, title=stage.replace(".", " "))


def _corpus_of(corpus: str | Path | None):
    from minekit.inputs.importers import read_corpus

    return None if corpus is None else read_corpus(corpus)


@stage("import.beir")
def import_beir(folder: str | Path, *, out: str | Path, split: str = "test", overwrite: bool = False) -> Output:
    """Import a BEIR data set folder; only the split's queries are kept."""
    from minekit.inputs.importers import import_beir as read_beir

    return _write_import(read_beir(folder, split=split), out, "import.beir", {"split": split}, folder, overwrite)


def _pairs_params(anchor_column: str, positive_column: str, corpus) -> dict:
    return {"anchor_column": anchor_column, "positive_column": positive_column,
            "corpus": None if corpus is None else str(corpus)}


@stage("import.pairs")
def import_pairs(file: str | Path, *, out: str | Path, anchor_column: str = "anchor",
                 positive_column: str = "positive", corpus: str | Path | None = None,
                 overwrite: bool = False) -> Output:
    """Import (anchor, positive) text pairs; ids are content hashes, repeated texts are merged."""
    from minekit.inputs.importers import import_pairs as read_pairs

    corpus = None if corpus is None else Path(corpus)
    result = read_pairs(file, anchor_column=anchor_column, positive_column=positive_column,
                        corpus=_corpus_of(corpus), corpus_path=corpus)
    return _write_import(result, out, "import.pairs", _pairs_params(anchor_column, positive_column, corpus), file,
                         overwrite)


@stage("import.hf")
def import_hf(folder: str | Path, *, out: str | Path, anchor_column: str = "anchor",
              positive_column: str = "positive", corpus: str | Path | None = None, overwrite: bool = False) -> Output:
    """Import a Hugging Face datasets folder of (anchor, positive[, negatives]) texts."""
    from minekit.inputs.importers import import_pairs as read_pairs

    folder, corpus = Path(folder), None if corpus is None else Path(corpus)
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder; `import hf` reads a datasets folder written by save_to_disk.")
    result = read_pairs(folder, anchor_column=anchor_column, positive_column=positive_column,
                        corpus=_corpus_of(corpus), corpus_path=corpus)
    return _write_import(result, out, "import.hf", _pairs_params(anchor_column, positive_column, corpus), folder,
                         overwrite)


@stage("import.flagembedding")
def import_flagembedding(file: str | Path, *, out: str | Path, corpus: str | Path | None = None,
                         overwrite: bool = False) -> Output:
    """Import FlagEmbedding fine-tuning JSONL; content-hash ids, neg lists become negatives.parquet."""
    from minekit.inputs.importers import import_flagembedding as read_flagembedding

    corpus = None if corpus is None else Path(corpus)
    result = read_flagembedding(file, corpus=_corpus_of(corpus), corpus_path=corpus)
    return _write_import(result, out, "import.flagembedding", {"corpus": None if corpus is None else str(corpus)},
                         file, overwrite)


@stage("import.tevatron")
def import_tevatron(file: str | Path, *, out: str | Path, overwrite: bool = False) -> Output:
    """Import Tevatron training JSONL; its query and passage ids are kept."""
    from minekit.inputs.importers import import_tevatron as read_tevatron

    return _write_import(read_tevatron(file), out, "import.tevatron", {}, file, overwrite)
