"""Shared fixtures: tiny hand-made frames, the sample data, and tiny models built once per test session.

Nothing downloads: HF_HUB_OFFLINE is set before any Hugging Face library loads.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import polars as pl
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"

TINY_CORPUS = {
    "d01": "solar panels convert sunlight into electricity using photovoltaic cells",
    "d02": "wind turbines convert wind energy into electricity",
    "d03": "the history of solar energy research began in the nineteenth century",
    "d04": "photovoltaic cells are made of silicon semiconductors",
    "d05": "coffee beans are roasted to develop flavour",
    "d06": "espresso is brewed by forcing hot water through finely ground coffee",
    "d07": "coffee consumption and heart health in large cohort studies",
    "d08": "tea contains less caffeine than coffee per cup",
    "d09": "python lists are mutable sequences of objects",
    "d10": "python dictionaries map keys to values with hashing",
    "d11": "a python tuple is an immutable sequence",
    "d12": "snakes such as the python constrict their prey",
    "d13": "the marathon distance is forty two kilometres",
    "d14": "marathon runners train with long slow runs",
    "d15": "sprinters need explosive power rather than endurance",
    "d16": "bread dough rises because yeast produces carbon dioxide",
    "d17": "sourdough bread uses a wild yeast starter",
    "d18": "gluten gives bread dough its elasticity",
    "d19": "volcanoes erupt when magma reaches the surface",
    "d20": "the moon orbits the earth every twenty seven days",
}
TINY_QUERIES = {
    "q1": "how do solar panels make electricity",
    "q2": "how is espresso coffee brewed",
    "q3": "is a python tuple mutable",
    "q4": "how long is a marathon",
    "q5": "why does bread dough rise",
}
TINY_POSITIVES = [("q1", "d01"), ("q1", "d04"), ("q2", "d06"), ("q3", "d11"), ("q4", "d13"), ("q5", "d16")]


def cli_commands(group=None, prefix=()):
    """Every command of the CLI as (path, click command): ("mine", "bm25"), ..."""
    if group is None:
        import typer

        from minekit.cli import app

        group = typer.main.get_command(app)
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):  # a group (typer's own class in recent versions)
            yield from cli_commands(cmd, (*prefix, name))
        else:
            yield (*prefix, name), cmd


@pytest.fixture(autouse=True)
def _work_in_tmp(tmp_path, monkeypatch):
    """Each test runs in its own folder, so default outputs (.minekit-cache, datasets/, runs/) stay out of the repo."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def tiny():
    """(queries, positives, corpus) frames small enough to reason about by hand."""
    queries = pl.DataFrame({"query_id": list(TINY_QUERIES), "text": list(TINY_QUERIES.values())})
    corpus = pl.DataFrame({"doc_id": list(TINY_CORPUS), "title": [""] * len(TINY_CORPUS),
                           "text": list(TINY_CORPUS.values())})
    positives = pl.DataFrame({"query_id": [q for q, _ in TINY_POSITIVES], "doc_id": [d for _, d in TINY_POSITIVES],
                              "score": [1] * len(TINY_POSITIVES)})
    return queries, positives, corpus


@pytest.fixture
def tiny_files(tiny, tmp_path):
    """The tiny frames written as input parquet files: dict with queries, positives, corpus paths."""
    return write_inputs(tiny, tmp_path)


@pytest.fixture
def tiny_inputs(tiny, tmp_path):
    """The tiny input files in tmp/in/, so anything written elsewhere under tmp is an output."""
    return write_inputs(tiny, tmp_path / "in")


def write_inputs(frames, folder: Path) -> dict[str, Path]:
    """queries, positives and corpus frames as parquet files in folder: their paths by name."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, frame in zip(("queries", "positives", "corpus"), frames):
        paths[name] = folder / f"{name}.parquet"
        frame.write_parquet(paths[name])
    return paths


@pytest.fixture(scope="session")
def sample_files():
    """The README demo's sample data."""
    return {name: SAMPLE / f"{name}.parquet" for name in ("queries", "positives", "corpus")}


def _vocabulary() -> list[str]:
    texts = list(TINY_CORPUS.values()) + list(TINY_QUERIES.values())
    for name, column in (("corpus", "text"), ("queries", "text")):
        path = SAMPLE / f"{name}.parquet"
        if path.is_file():
            texts += pl.read_parquet(path)[column].to_list()
    words = sorted({w for t in texts for w in re.findall(r"\w+|[^\w\s]", t.lower())})
    return ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]


def _save_tiny_bert(folder: Path, *, num_labels: int | None) -> None:
    """A 2-layer BERT with a word-level tokenizer and seeded random weights, saved as a HF folder."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertForSequenceClassification, BertModel, PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(_vocabulary())}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
    hf_tok = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                     sep_token="[SEP]", mask_token="[MASK]", model_max_length=128)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128, num_labels=num_labels or 2)
    torch.manual_seed(0)
    model = BertModel(config) if num_labels is None else BertForSequenceClassification(config)
    model.save_pretrained(folder)
    hf_tok.save_pretrained(folder)


@pytest.fixture(scope="session")
def tiny_bi_encoder(tmp_path_factory) -> Path:
    """Folder of a tiny SentenceTransformer (BERT + mean pooling + normalize), dim 32."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer import modules as models

    base = tmp_path_factory.mktemp("tiny-bert")
    _save_tiny_bert(base, num_labels=None)
    transformer = models.Transformer(str(base), max_seq_length=64)
    model = SentenceTransformer(modules=[transformer, models.Pooling(32, "mean"), models.Normalize()], device="cpu")
    out = tmp_path_factory.mktemp("tiny-bi-encoder")
    model.save(str(out))
    return out


@pytest.fixture(scope="session")
def tiny_cross_encoder(tmp_path_factory) -> Path:
    """Folder of a tiny CrossEncoder (BERT with one output logit)."""
    from sentence_transformers import CrossEncoder

    base = tmp_path_factory.mktemp("tiny-ce-base")
    _save_tiny_bert(base, num_labels=1)
    model = CrossEncoder(str(base), num_labels=1, device="cpu")
    out = tmp_path_factory.mktemp("tiny-cross-encoder")
    model.save(str(out))
    return out
