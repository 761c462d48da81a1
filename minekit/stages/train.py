"""Training and evaluation stages: fine-tune a bi-encoder or a reranker on a dataset, measure retrieval,
compare evaluations.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

from minekit.errors import ConfigError
from minekit.options import EncoderOptions, TrainingOptions, check_params, none_word
from minekit.stages.base import (COMMON, every, every_but, flat, manifest_of, new_folder, params_of, read_inputs,
                                 some, stage, stage_fingerprint)
from minekit.stats import Output

logger = logging.getLogger(__name__)
PROMPTS = ("query_prompt", "corpus_prompt", "query_prompt_name", "corpus_prompt_name")


def _check_dataset_folder(dataset: Path) -> Path:
    from minekit.io import read_manifest_json

    train_file = dataset / "train.parquet"
    if not dataset.is_dir() or not train_file.is_file():
        raise ConfigError(f"dataset: {dataset} is not a dataset folder with a train.parquet. Fix: give the folder "
                          "datasets/NAME/vN that `minekit build` printed.")
    if (dataset / "manifest.json").is_file():  # a damaged manifest means a damaged dataset: stop before training
        from minekit.dataset.store import check_dataset_files

        check_dataset_files(dataset, read_manifest_json(dataset / "manifest.json"))
    return train_file


@stage("train-reranker", training=every(TrainingOptions))
def train_reranker(*, dataset: str | Path, out: str | Path, model: str = "default", training: TrainingOptions,
                   batch_size: int = 16, max_length: int = 128, instruction: str | None = None, seed: int = COMMON,
                   device: str = COMMON, trust_remote_code: bool = COMMON, show_progress: bool = COMMON) -> Output:
    """Fine-tune a one-logit CrossEncoder on a built dataset; the model folder is written as one unit."""
    from minekit.io import atomic_folder, read_parquet, write_json
    from minekit.encode.models import model_identity
    from minekit.training.reranker import train_reranker as lib

    check_params("train-reranker", locals())  # its own values; the family objects were checked when made
    values = flat(locals())
    fp = stage_fingerprint(train_reranker, values)
    kwargs = dict(model=model, epochs=training.epochs, max_steps=training.max_steps, batch_size=batch_size,
                  learning_rate=training.learning_rate, warmup_ratio=training.warmup_ratio, max_length=max_length,
                  instruction=instruction, seed=seed, device=device, trust_remote_code=trust_remote_code)
    dataset, out = Path(dataset), Path(out)
    train_file = _check_dataset_folder(dataset)
    new_folder(out, "out", " and is not empty; a model is never overwritten.")
    result = lib(read_parquet(train_file, what="train"), show_progress=show_progress, **kwargs)
    params = {**params_of(lib, **kwargs), "model_identity": model_identity(model)}
    manifest = manifest_of("train-reranker", params, {"train": train_file}, result.stats, [train_file], fp)
    with atomic_folder(out) as tmp:
        result.model.save(str(tmp))
        write_json(tmp / "manifest.json", manifest)
    return Output(out, result.stats, {"out": out}, title="train-reranker")


@stage("train", encoder=some(EncoderOptions, "model", *PROMPTS), training=every(TrainingOptions))
def train(*, dataset: str | Path, out: str | Path, encoder: EncoderOptions, loss: str = "mnrl",
          training: TrainingOptions, batch_size: int = 32, max_seq_length: int = 256,
          mini_batch_size: int | None = None, guide: str | None = None, pairs_only: bool = False,
          seed: int = COMMON, device: str = COMMON, dtype: str = "float32", trust_remote_code: bool = COMMON,
          show_progress: bool = COMMON) -> Output:
    """Fine-tune a bi-encoder on a built dataset; writes the model folder (model, manifest.json, card) as one unit."""
    import time

    from minekit._version import __version__ as version
    from minekit.encode.models import model_identity
    from minekit.dataset.store import read_dataset
    from minekit.training.train import train_bi_encoder, write_model

    check_params("train", locals())  # its own values; the family objects were checked when made
    values = flat(locals())
    fp = stage_fingerprint(train, values)
    model = encoder.model
    kwargs = dict(model=model, loss=loss, epochs=training.epochs, batch_size=batch_size,
                  learning_rate=training.learning_rate, warmup_ratio=training.warmup_ratio,
                  max_seq_length=max_seq_length, max_steps=training.max_steps, mini_batch_size=mini_batch_size,
                  guide=guide, query_prompt=encoder.query_prompt, corpus_prompt=encoder.corpus_prompt,
                  query_prompt_name=encoder.query_prompt_name, corpus_prompt_name=encoder.corpus_prompt_name,
                  seed=seed, device=device, dtype=dtype, trust_remote_code=trust_remote_code)
    out = Path(out)
    new_folder(out, "out", "; choose a new folder (models are never overwritten).")
    data = read_dataset(dataset)
    train_frame = data.train.select("anchor", "positive") if pairs_only else data.train
    started = time.perf_counter()
    result = train_bi_encoder(train_frame, data.ids, show_progress=show_progress, **kwargs)
    params = {**params_of(train_bi_encoder, **kwargs), "pairs_only": pairs_only,
              "base_model_identity": model_identity(model)}
    manifest = {
        "name": out.name,
        "stage": "train",
        "fingerprint": fp,
        "minekit_version": version,
        "dataset": {"path": str(dataset), "name": data.manifest.get("name"), "version": data.manifest.get("version"),
                    "fingerprint": data.manifest.get("fingerprint")},
        "params": params,
        "stats": result.stats,
        "wall_s": round(time.perf_counter() - started, 2),
    }
    lineage = {"model": out.name, "fingerprint": fp, "dataset": manifest["dataset"],
               "steps": data.manifest.get("steps", [])}  # how the dataset was made, step by step
    write_model(result, out, manifest=manifest, lineage=lineage)
    return Output(out, result.stats, {"out": out}, title="train")


@stage("evaluate", encoder=every_but(EncoderOptions, "model", "precision", "backend"))
def evaluate(*, model: str, queries: str | Path, positives: str | Path, corpus: str | Path,
             out: str | Path | None = None, k: str = "10,100", encoder: EncoderOptions, device: str = COMMON,
             trust_remote_code: bool = COMMON, block_size: int | None = None,
             show_progress: bool = COMMON) -> Output:
    """Exact retrieval over the corpus, scored with nDCG, MRR and recall; the metrics go to `out` as JSON."""
    from minekit.training.evaluate import evaluate_retrieval, format_metrics
    from minekit.io import file_sha256, write_json

    check_params("evaluate", locals())
    inputs = read_inputs(queries, positives, corpus)
    result = evaluate_retrieval(inputs.queries, inputs.positives, inputs.corpus, model=str(model), k=k,
                                batch_size=encoder.batch_size, max_seq_length=encoder.max_seq_length,
                                query_prompt=encoder.query_prompt, corpus_prompt=encoder.corpus_prompt,
                                query_prompt_name=encoder.query_prompt_name,
                                corpus_prompt_name=encoder.corpus_prompt_name,
                                cache_dir=none_word(encoder.cache_dir), device=device,
                                dtype=encoder.dtype,
                                trust_remote_code=trust_remote_code, block_size=block_size,
                                show_progress=show_progress)
    metrics = {**result.metrics, "positives": str(positives), "positives_sha256": file_sha256(positives)}
    out = None if out is None else write_json(out, metrics)
    return Output(out, {}, {"out": out} if out else {}, title="evaluate", text=format_metrics(metrics), data=metrics)


@stage("compare")
def compare(files: Sequence[str | Path]) -> Output:
    """Several evaluations side by side, with each one's delta to the first."""
    from minekit.training.evaluate import check_metrics, comparability_notes, compare_metrics, load_metrics

    runs = [check_metrics(load_metrics(path), str(path)) for path in files]
    labels = [Path(p).stem for p in files]
    for note in comparability_notes(runs, labels):
        logger.warning(note)
    return Output(None, text=compare_metrics(runs, labels), data=runs)
