"""Fine-tune a bi-encoder on a built dataset (datasets/<name>/v<N>) with sentence-transformers' trainer.

train.parquet is read as it is: its columns are already in trainer order (anchor, positive,
negative[_1..n]). The loss decides what else is needed:

- mnrl (default): MultipleNegativesRankingLoss, in-batch negatives plus the row's hard negatives, with
  the no-duplicates batch sampler so a hard negative never shows up as another row's positive in the
  same batch. Works on (anchor, positive) pairs alone too.
- cached-mnrl: the same loss with gradient caching (mini_batch_size), for large batches on small memory.
- gist: GISTEmbedLoss; a guide model (--guide default) masks in-batch negatives it scores above the positive.
- triplet: TripletLoss on (anchor, positive, negative); one negative per row.
- margin-mse: MarginMSELoss on margins positive_ce_score - negative_ce_scores from ids.parquet: one
  teacher (denoise's scorer) for both sides; a dataset without them is refused.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from minekit.errors import ConfigError, InputError
from minekit.options import check_params

if TYPE_CHECKING:
    import polars as pl

logger = logging.getLogger(__name__)

# The choices minekit.options checks loss and dtype against.
LOSSES = ("mnrl", "cached-mnrl", "gist", "triplet", "margin-mse")
TRAIN_DTYPES = ("float32", "bfloat16", "float16")
IN_BATCH = ("mnrl", "cached-mnrl", "gist")  # losses that use the other rows of a batch as negatives


@dataclass
class TrainResult:
    model: Any  # the fine-tuned SentenceTransformer
    stats: dict[str, Any] = field(default_factory=dict)


def _text_columns(train: "pl.DataFrame") -> list[str]:
    cols = train.columns
    if "document" in cols and "label" in cols:
        raise ConfigError("dataset: a labeled-pair dataset (anchor, document, label) trains a cross-encoder; "
                          "build --format triplet or n-tuple for a bi-encoder.")
    if cols[:2] != ["anchor", "positive"]:
        raise InputError(f"train.parquet: columns must start with anchor, positive; got {', '.join(cols)}.")
    negs = [c for c in cols[2:] if c == "negative" or c.startswith("negative_")]
    extra = [c for c in cols[2:] if c not in negs]
    if extra:
        raise InputError(f"train.parquet: unexpected columns {', '.join(extra)} (expected negative or negative_1..n).")
    for c in ["anchor", "positive", *negs]:
        nulls = train[c].null_count()
        if nulls:
            raise InputError(f"train.parquet: column {c} has {nulls} null texts (rebuild with --fill random).")
    return ["anchor", "positive", *negs]


def _margins(ids: "pl.DataFrame | None", n_neg: int) -> tuple[list[list[float]], str]:
    """Per row, positive - negative teacher score for each negative, all from ONE teacher: the scores
    denoise wrote (positive_ce_score, negative_ce_scores). Miners' scores are not a teacher: a BM25
    score and a cosine cannot make one margin."""
    import polars as pl

    if ids is None:
        raise ConfigError("loss: margin-mse needs ids.parquet (the scores) beside train.parquet.")
    pos, neg = "positive_ce_score", "negative_ce_scores"
    if pos not in ids.columns or neg not in ids.columns:
        raise ConfigError("loss: margin-mse needs one teacher's scores for the positive and every negative, and "
                          "this dataset has none (no positive_ce_score / negative_ce_scores in ids.parquet). "
                          "Run `minekit denoise` (a cross-encoder) on the candidates before `minekit build`, "
                          "or choose --loss mnrl.")
    bad = ids.with_row_index("row").filter(
        pl.col(pos).is_null() | pl.col(pos).is_nan() | (pl.col(neg).list.len() != n_neg)
        | pl.col(neg).list.eval(pl.element().is_null() | pl.element().is_nan()).list.any())
    if bad.height:
        raise InputError(f"ids.parquet: {bad.height} rows lack a {pos} or {n_neg} {neg} for margin-mse "
                         f"(rows {bad['row'].head(5).to_list()}; random fill negatives have no teacher score); "
                         "rebuild with --fill none, or choose another --loss.")
    rows = [[float(p) - float(n) for n in negs] for p, negs in zip(ids[pos].to_list(), ids[neg].to_list())]
    return rows, f"{pos} - {neg}"


def _check(loss: str, columns: list[str], *, guide: str | None, mini_batch_size: int | None, device: str,
           dtype: str) -> None:
    """What the values alone cannot tell (minekit.options checks those): how they fit together and the data."""
    if guide is not None and loss != "gist":
        raise ConfigError(f"guide: only the gist loss uses a guide model (got --loss {loss}).")
    if loss == "gist" and guide is None:
        raise ConfigError("guide: the gist loss needs a guide model, e.g. --guide default.")
    if mini_batch_size is not None and loss != "cached-mnrl":
        raise ConfigError(f"mini_batch_size: only cached-mnrl uses it (got --loss {loss}).")
    n_neg = len(columns) - 2
    if loss == "triplet" and n_neg != 1:
        raise ConfigError(f"loss: triplet needs exactly one negative column; this dataset has {n_neg} "
                          "(use mnrl, or build --format triplet).")
    if loss == "gist" and n_neg > 1:
        raise ConfigError(f"loss: gist takes (anchor, positive[, negative]) rows; this dataset has {n_neg} negatives "
                          "per row. Build it with --format triplet, or train with --loss mnrl (which uses them all).")
    if loss == "margin-mse" and n_neg < 1:
        raise ConfigError("loss: margin-mse needs negatives; this dataset has none.")
    if dtype == "float16" and not device.startswith("cuda"):
        raise ConfigError(f"dtype: float16 training needs a CUDA device, got device {device!r}; use bfloat16.")


def _column_prompts(model, columns: list[str], query_prompt: str | None, query_prompt_name: str | None,
                    corpus_prompt: str | None, corpus_prompt_name: str | None) -> dict[str, str]:
    """{column: prompt} for the trainer (anchor: the query prompt, the rest: the corpus prompt); the
    prompts are also saved on the model as "query" and "document"."""
    texts = {}
    for role, text, name in (("query", query_prompt, query_prompt_name), ("document", corpus_prompt,
                                                                            corpus_prompt_name)):
        flag = "query-prompt" if role == "query" else "corpus-prompt"
        if text is not None and name is not None:
            raise ConfigError(f"--{flag} and --{flag}-name: give one of them.")
        if name is not None:
            if name not in (model.prompts or {}):
                raise ConfigError(f"--{flag}-name: the model has no prompt named {name!r} "
                                  f"(it has: {', '.join(map(repr, model.prompts or {})) or 'none'}).")
            text = model.prompts[name]
        if text:
            texts[role] = text
            model.prompts = {**(model.prompts or {}), role: text}
    return {c: texts[role] for c in columns
            if (role := "query" if c == "anchor" else "document") in texts}


def _make_loss(loss: str, model, *, guide, mini_batch_size: int | None):
    from sentence_transformers.sentence_transformer import losses

    if loss == "mnrl":
        return losses.MultipleNegativesRankingLoss(model)
    if loss == "cached-mnrl":
        return losses.CachedMultipleNegativesRankingLoss(model, mini_batch_size=mini_batch_size or 32)
    if loss == "gist":
        return losses.GISTEmbedLoss(model, guide=guide)
    if loss == "triplet":
        return losses.TripletLoss(model)
    return losses.MarginMSELoss(model)


def train_bi_encoder(
    train: "pl.DataFrame",
    ids: "pl.DataFrame | None" = None,
    *,
    model: Any = "default",
    loss: str = "mnrl",
    epochs: float = 1,
    batch_size: int = 32,
    learning_rate: float = 2e-5,
    warmup_ratio: float = 0.1,
    max_seq_length: int = 256,
    max_steps: int | None = None,
    mini_batch_size: int | None = None,
    guide: str | None = None,
    query_prompt: str | None = None,
    corpus_prompt: str | None = None,
    query_prompt_name: str | None = None,
    corpus_prompt_name: str | None = None,
    seed: int = 0,
    device: str = "cpu",
    dtype: str = "float32",
    trust_remote_code: bool = False,
    show_progress: bool = True,
) -> TrainResult:
    """Fine-tune `model` (a name for minekit.encode.models, or a loaded SentenceTransformer) on train rows.

    query_prompt is prepended to the anchor column, corpus_prompt to positives and negatives (or give
    the names of prompts saved with the model); they are saved with the trained model as its "query"
    and "document" prompts, so `--query-prompt-name query` finds them again at evaluate or mine time.

    dtype "bfloat16" trains with bfloat16 autocast (the weights stay float32): about twice as fast on
    CPUs with AMX and on recent GPUs; "float16" is for CUDA only.

    Returns the trained model (not saved: see write_model) and stats: rows, steps, final training loss.
    """
    import transformers

    from minekit.encode.device import parse_devices
    from minekit.encode.models import load_bi_encoder

    columns = _text_columns(train)
    check_params("train", dict(loss=loss, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                               warmup_ratio=warmup_ratio, max_seq_length=max_seq_length, max_steps=max_steps,
                               mini_batch_size=mini_batch_size, seed=seed, dtype=dtype))
    _check(loss, columns, guide=guide, mini_batch_size=mini_batch_size, device=device, dtype=dtype)
    if train.height == 0:
        raise InputError("train.parquet: no rows to train on.")
    data = {c: train[c].to_list() for c in columns}
    margin_source = None
    if loss == "margin-mse":
        data["label"], margin_source = _margins(ids, len(columns) - 2)
    transformers.set_seed(seed)
    parse_devices(device)
    if isinstance(model, str):
        model = load_bi_encoder(model, device=device, trust_remote_code=trust_remote_code)
    model.max_seq_length = max_seq_length
    prompts = _column_prompts(model, columns, query_prompt, query_prompt_name, corpus_prompt, corpus_prompt_name)
    guide_model = load_bi_encoder(guide, device=device, trust_remote_code=trust_remote_code) if guide else None
    loss_fn = _make_loss(loss, model, guide=guide_model, mini_batch_size=mini_batch_size)
    steps, train_loss, wall = _fit(
        model, loss_fn, data, epochs=epochs, max_steps=max_steps, batch_size=batch_size, learning_rate=learning_rate,
        warmup_ratio=warmup_ratio, seed=seed, in_batch=loss in IN_BATCH, show_progress=show_progress, device=device,
        dtype=dtype, prompts=prompts, steps_per_epoch=max(1, -(-train.height // batch_size)))
    stats = {"rows": train.height, "negatives_per_row": len(columns) - 2, "steps": steps,
             "train_loss": round(train_loss, 6), "wall_s": round(wall, 2)}
    if margin_source:
        stats["margin_scores"] = margin_source
    logger.info("trained %d steps on %d rows in %.1fs (loss %s)", stats["steps"], train.height, wall, loss)
    return TrainResult(model=model, stats=stats)


def warmup_steps(warmup_ratio: float, *, max_steps: int | None, steps_per_epoch: int, epochs: float) -> float | int:
    """The trainer's warmup_steps: the ratio as it is (transformers warms up ceil(ratio * steps) steps), unless
    that warmup would take the whole run, which then trains at learning rate 0 (a 1-step run warms up for
    its one step): then every step but the last warms up, and a 1-step run none."""
    total = max_steps if max_steps is not None else math.ceil(steps_per_epoch * epochs)
    if warmup_ratio > 0 and math.ceil(total * warmup_ratio) >= total:
        return max(total - 1, 0)  # an int: transformers takes whole numbers >= 1 as steps, and 0 as none
    return warmup_ratio


def _fit(model, loss_fn, data: dict[str, list], *, epochs: float, max_steps: int | None, batch_size: int,
         learning_rate: float, warmup_ratio: float, seed: int, in_batch: bool, show_progress: bool, device: str,
         dtype: str, prompts: dict[str, str], steps_per_epoch: int) -> tuple[int, float, float]:
    """Run sentence-transformers' trainer on the columns in `data`; (steps, final training loss, seconds)."""
    import datasets as hf_datasets
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.sentence_transformer.training_args import BatchSamplers

    with tempfile.TemporaryDirectory(prefix="minekit-train-") as scratch:
        args = SentenceTransformerTrainingArguments(
            output_dir=scratch,
            num_train_epochs=epochs,
            max_steps=max_steps if max_steps is not None else -1,
            per_device_train_batch_size=batch_size,
            learning_rate=learning_rate,
            warmup_steps=warmup_steps(warmup_ratio, max_steps=max_steps, steps_per_epoch=steps_per_epoch,
                                      epochs=epochs),
            seed=seed,
            data_seed=seed,
            # no duplicates: a row's hard negative must not be another row's in-batch positive
            batch_sampler=BatchSamplers.NO_DUPLICATES if in_batch else BatchSamplers.BATCH_SAMPLER,
            save_strategy="no",
            report_to="none",
            logging_steps=max(1, min(50, steps_per_epoch // 5)),
            disable_tqdm=not show_progress,
            use_cpu=device == "cpu",
            bf16=dtype == "bfloat16",
            fp16=dtype == "float16",
            prompts=prompts or None,
        )
        trainer = SentenceTransformerTrainer(model=model, args=args, loss=loss_fn,
                                             train_dataset=hf_datasets.Dataset.from_dict(data))
        if not show_progress:
            from transformers.trainer_callback import PrinterCallback

            trainer.remove_callback(PrinterCallback)  # it prints every log dict
        started = time.perf_counter()
        with contextlib.redirect_stdout(sys.stderr):  # the trainer's log lines; stdout carries results only
            output = trainer.train()
        wall = time.perf_counter() - started
    return int(trainer.state.global_step), float(output.training_loss), wall


def write_model(result: TrainResult, out: str | Path, *, manifest: dict, lineage: dict | None = None) -> Path:
    """Save the model folder with manifest.json, lineage.json and a model card; atomic (temp folder + rename).

    lineage.json holds every step that made the training data (mining, cleaning, build), so a model handed
    to another team still says where its negatives came from. An existing non-empty `out` is never
    overwritten.
    """
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"out: {out} already exists; choose a new folder (models are never overwritten).")
    from minekit.io import atomic_folder

    with atomic_folder(out) as tmp:
        result.model.save(str(tmp))
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n")
        if lineage is not None:
            (tmp / "lineage.json").write_text(json.dumps(lineage, indent=2, sort_keys=True, default=str) + "\n")
        card = tmp / "README.md"
        generated = card.read_text(encoding="utf-8") if card.is_file() else ""
        card.write_text(model_card(manifest) + ("\n---\n\n" + _strip_front_matter(generated) if generated else ""),
                        encoding="utf-8")
    return out


def _strip_front_matter(text: str) -> str:
    if text.startswith("---"):
        end = text.find("\n---", 3)
        if end != -1:
            return text[end + 4:].lstrip()
    return text


def model_card(manifest: dict) -> str:
    """A short card a person can read: what it was trained on, how, and how long it took."""
    data = manifest.get("dataset", {})
    params = manifest.get("params", {})
    stats = manifest.get("stats", {})
    lines = [
        f"# {manifest.get('name', 'minekit model')}",
        "",
        f"A sentence-transformers bi-encoder fine-tuned with minekit {manifest.get('minekit_version')}.",
        "",
        "## Training data",
        f"- dataset: `{data.get('path')}` ({data.get('name')} v{data.get('version')})",
        f"- dataset fingerprint: `{data.get('fingerprint')}`",
        f"- rows: {stats.get('rows')}, negatives per row: {stats.get('negatives_per_row')}",
        "",
        "## Training",
        *(f"- {k}: {v}" for k, v in params.items()),
        f"- steps: {stats.get('steps')}, final training loss: {stats.get('train_loss')}",
        f"- wall time: {manifest.get('wall_s')} s",
        "",
        "Reproduce: `minekit train --dataset " + str(data.get("path")) + " --out OUT` with the params above.",
        "",
    ]
    return "\n".join(lines)
