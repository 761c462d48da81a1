"""Fine-tune a CrossEncoder on a built dataset, so an offline user can bootstrap a reranker for denoise.

The dataset's train.parquet (triplet, n-tuple or labeled-pair) becomes (query, passage, label) pairs:
each positive once with label 1, each distinct negative with label 0. Training uses
sentence-transformers' CrossEncoderTrainer with BinaryCrossEntropyLoss (pos_weight = negatives per
positive), one output logit, so the saved model scores with a sigmoid (probabilities) and works as
`minekit denoise --cross-encoder`. Starting from a bi-encoder folder ("default") is fine: its BERT
weights are reused and a fresh classification head is added.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import tempfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from minekit.errors import ConfigError, InputError

if TYPE_CHECKING:
    import polars as pl

logger = logging.getLogger(__name__)


@dataclass
class RerankerResult:
    """The trained CrossEncoder (save it with .save(folder)) and the training counts."""

    model: Any
    stats: dict


def labeled_pairs(train: "pl.DataFrame", *, what: str = "train.parquet") -> "pl.DataFrame":
    """(anchor, document, label) pairs from any of build's formats, each distinct pair once."""
    import polars as pl

    cols = train.columns
    if {"anchor", "document", "label"} <= set(cols):
        pairs = train.select("anchor", "document", pl.col("label").cast(pl.Float32))
    elif {"anchor", "positive"} <= set(cols) and any(c.startswith("negative") for c in cols):
        negs = [c for c in cols if c == "negative" or c.startswith("negative_")]
        pos = train.select("anchor", pl.col("positive").alias("document"), pl.lit(1.0, pl.Float32).alias("label"))
        neg = pl.concat([train.select("anchor", pl.col(c).alias("document"), pl.lit(0.0, pl.Float32).alias("label"))
                         for c in negs])
        pairs = pl.concat([pos, neg])
    else:
        raise InputError(f"{what}: columns {', '.join(cols)} are not a minekit dataset (anchor, positive, "
                         "negative[_i]) or (anchor, document, label). Build one with `minekit build`.")
    pairs = pairs.drop_nulls()
    # A pair seen both as positive and as negative counts as positive.
    return pairs.group_by("anchor", "document", maintain_order=True).agg(pl.col("label").max())


def train_reranker(
    train: "pl.DataFrame",
    *,
    model: str = "default",
    epochs: float = 1.0,
    max_steps: int | None = None,
    batch_size: int = 16,
    learning_rate: float = 2e-5,
    warmup_ratio: float = 0.1,
    max_length: int = 128,
    instruction: str | None = None,
    seed: int = 0,
    device: str = "cpu",
    trust_remote_code: bool = False,
    show_progress: bool = True,
) -> RerankerResult:
    """Fine-tune a one-logit CrossEncoder from `model` (a bi-encoder or cross-encoder folder, or "default").

    instruction is put before every query text, as `denoise --instruction` puts it when the model scores."""
    import torch
    import transformers
    from datasets import Dataset
    from sentence_transformers.cross_encoder import (CrossEncoderTrainer, CrossEncoderTrainingArguments)
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss

    from sentence_transformers import CrossEncoder

    from minekit.encode.models import resolve_model
    from minekit.training.train import warmup_steps

    if not 0 <= warmup_ratio < 1:
        raise ConfigError(f"warmup_ratio: must be in [0, 1), got {warmup_ratio}.")
    if batch_size < 1 or max_length < 8 or epochs <= 0 or (max_steps is not None and max_steps < 1):
        raise ConfigError("train-reranker: batch_size >= 1, max_length >= 8, epochs > 0 and max_steps >= 1 needed.")
    pairs = labeled_pairs(train).sample(fraction=1.0, shuffle=True, seed=seed)
    n_pos = int(pairs["label"].sum())
    n_neg = pairs.height - n_pos
    if n_pos == 0 or n_neg == 0:
        raise InputError(f"train.parquet: {n_pos} positive and {n_neg} negative pairs; both kinds are needed.")
    torch.manual_seed(seed)
    try:
        ce = CrossEncoder(resolve_model(model), num_labels=1, max_length=max_length, device=device,
                          trust_remote_code=trust_remote_code)
    except OSError as exc:
        raise ConfigError(f"model: cannot load {model!r} as a cross-encoder ({exc}).") from exc
    queries = [(instruction or "") + q for q in pairs["anchor"].to_list()]
    dataset = Dataset.from_dict({"query": queries, "passage": pairs["document"].to_list(),
                                 "label": pairs["label"].to_list()})
    loss = BinaryCrossEntropyLoss(ce, pos_weight=torch.tensor(n_neg / n_pos))
    # transformers 5 takes the ratio as a float warmup_steps and deprecates warmup_ratio.
    steps = warmup_steps(warmup_ratio, max_steps=max_steps, steps_per_epoch=-(-pairs.height // batch_size),
                         epochs=epochs)
    warmup = ({"warmup_steps": steps if isinstance(steps, int) else float(warmup_ratio)}
              if int(transformers.__version__.split(".")[0]) >= 5 or isinstance(steps, int)
              else {"warmup_ratio": warmup_ratio})
    with tempfile.TemporaryDirectory(prefix="minekit-reranker-") as tmp:
        args = CrossEncoderTrainingArguments(
            output_dir=tmp, num_train_epochs=epochs, max_steps=max_steps if max_steps is not None else -1,
            per_device_train_batch_size=batch_size, learning_rate=learning_rate, **warmup,
            seed=seed, data_seed=seed, save_strategy="no", report_to="none", logging_steps=50,
            disable_tqdm=not show_progress, use_cpu=device == "cpu", dataloader_num_workers=0)
        trainer = CrossEncoderTrainer(model=ce, args=args, train_dataset=dataset, loss=loss)
        if not show_progress:
            from transformers.trainer_callback import PrinterCallback

            trainer.remove_callback(PrinterCallback)  # it prints every log dict
        with contextlib.redirect_stdout(sys.stderr):  # the trainer's log dicts; stdout carries results only
            output = trainer.train()
    stats = {"pairs": pairs.height, "positive_pairs": n_pos, "negative_pairs": n_neg,
             "steps": int(output.global_step), "train_loss": round(float(output.training_loss), 6)}
    return RerankerResult(ce, stats)
