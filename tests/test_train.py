"""minekit train: a tiny model trained for a few steps on a tiny built dataset."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from minekit.cli import app
from minekit.errors import ConfigError, InputError
from minekit.dataset.store import read_dataset
from minekit.training.train import train_bi_encoder

runner = CliRunner()


def _ok(args: list[str]):
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def dataset(tiny_files, tmp_path) -> Path:
    """datasets/tiny/v1 built from the tiny files with BM25 negatives (triplet, 1 negative)."""
    files = {k: str(v) for k, v in tiny_files.items()}
    common = ["--queries", files["queries"], "--positives", files["positives"], "--corpus", files["corpus"]]
    _ok(["-q", "mine", "bm25", *common, "--out", str(tmp_path / "bm25.parquet")])
    _ok(["-q", "build", "--candidates", str(tmp_path / "bm25.parquet"), *common, "--name", "tiny",
         "--num-negatives", "1", "--out-dir", str(tmp_path / "datasets")])
    return tmp_path / "datasets" / "tiny" / "v1"


def _with_teacher(ids: pl.DataFrame) -> pl.DataFrame:
    """ids as denoise + build write them: one teacher's scores for the positive and each negative."""
    return ids.with_columns(pl.lit(0.9, pl.Float32).alias("positive_ce_score"),
                            pl.col("negative_ids").list.eval(pl.element().str.len_bytes() * 0 + 0.25)
                            .cast(pl.List(pl.Float32)).alias("negative_ce_scores"))


def _weights(folder: Path) -> dict:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(folder), device="cpu")
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_train_cli_changes_weights_and_writes_manifest(dataset, tiny_bi_encoder, tmp_path):
    out = tmp_path / "models" / "tiny"
    result = _ok(["train", "--dataset", str(dataset), "--out", str(out), "--model", str(tiny_bi_encoder),
                  "--max-steps", "3", "--batch-size", "4", "--learning-rate", "1e-3", "--max-seq-length", "32"])
    assert result.stdout.strip() == str(out)  # trainer logs and the stats table go to stderr
    assert "steps" in result.stderr and "train_loss" in result.stderr
    before, after = _weights(tiny_bi_encoder), _weights(out)
    assert before.keys() == after.keys()
    changed = [k for k in before if not (before[k] == after[k]).all()]
    assert len(changed) > len(before) // 2  # real training moved most tensors

    manifest = json.loads((out / "manifest.json").read_text())
    built = json.loads((dataset / "manifest.json").read_text())
    assert manifest["dataset"]["fingerprint"] == built["fingerprint"]
    assert manifest["dataset"]["version"] == built["version"] and manifest["dataset"]["name"] == "tiny"
    params = manifest["params"]
    assert params["loss"] == "mnrl" and params["max_steps"] == 3 and params["batch_size"] == 4
    assert params["learning_rate"] == 1e-3 and params["seed"] == 0 and params["max_seq_length"] == 32
    assert params["base_model_identity"].startswith("sha256:")
    assert manifest["stats"]["steps"] == 3 and manifest["stats"]["rows"] == 6
    assert manifest["wall_s"] > 0 and manifest["minekit_version"]
    card = (out / "README.md").read_text()
    assert "# tiny" in card and built["fingerprint"] in card and "loss: mnrl" in card
    # the model carries the lineage of its dataset: every step that made it, mining included
    lineage = json.loads((out / "lineage.json").read_text())
    assert lineage["fingerprint"] == manifest["fingerprint"] and lineage["dataset"] == manifest["dataset"]
    assert [s["stage"] for s in lineage["steps"]] == [s["stage"] for s in built["steps"]]
    assert lineage["steps"][0]["stage"].startswith("mine.") and lineage["steps"][-1]["stage"] == "build"
    # the saved model keeps the training sequence length
    from sentence_transformers import SentenceTransformer
    assert SentenceTransformer(str(out), device="cpu").max_seq_length == 32


def test_train_refuses_existing_output(dataset, tiny_bi_encoder, tmp_path):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "x").write_text("keep me")
    result = runner.invoke(app, ["train", "--dataset", str(dataset), "--out", str(out),
                                 "--model", str(tiny_bi_encoder), "--max-steps", "1"])
    assert result.exit_code == 2
    assert "already exists" in result.output
    assert (out / "x").read_text() == "keep me"


@pytest.mark.parametrize("loss,extra", [
    ("mnrl", {}),
    ("cached-mnrl", {"mini_batch_size": 2}),
    ("gist", {"guide": "GUIDE"}),
    ("triplet", {}),
    ("margin-mse", {}),
])
def test_every_loss_trains(dataset, tiny_bi_encoder, loss, extra):
    data = read_dataset(dataset)
    extra = {k: (str(tiny_bi_encoder) if v == "GUIDE" else v) for k, v in extra.items()}
    ids = _with_teacher(data.ids) if loss == "margin-mse" else data.ids
    result = train_bi_encoder(data.train, ids, model=str(tiny_bi_encoder), loss=loss, max_steps=2,
                              batch_size=4, learning_rate=1e-3, max_seq_length=32, show_progress=False, **extra)
    assert result.stats["steps"] == 2
    assert result.stats["rows"] == data.train.height == 6
    assert result.stats["train_loss"] == result.stats["train_loss"]  # not NaN
    if loss == "margin-mse":
        assert result.stats["margin_scores"] == "positive_ce_score - negative_ce_scores"


def test_pairs_only_trains_without_negatives(dataset, tiny_bi_encoder):
    data = read_dataset(dataset)
    result = train_bi_encoder(data.train.select("anchor", "positive"), None, model=str(tiny_bi_encoder),
                              max_steps=1, batch_size=4, max_seq_length=32, show_progress=False)
    assert result.stats["negatives_per_row"] == 0 and result.stats["steps"] == 1


def test_margin_mse_uses_one_teacher_for_both_sides_or_refuses(dataset):
    from minekit.training.train import _margins

    data = read_dataset(dataset)
    # miners' scores (BM25 here) are no teacher: refused, saying what to run
    with pytest.raises(ConfigError, match="minekit denoise"):
        _margins(data.ids, 1)
    margins, source = _margins(_with_teacher(data.ids), 1)
    assert source == "positive_ce_score - negative_ce_scores"
    assert [m for (m,) in margins] == pytest.approx([0.65] * data.ids.height)


def test_gist_refuses_n_tuple_rows_clearly(tiny_files, tiny_bi_encoder, tmp_path):
    files = {k: str(v) for k, v in tiny_files.items()}
    common = ["--queries", files["queries"], "--positives", files["positives"], "--corpus", files["corpus"]]
    _ok(["-q", "mine", "bm25", *common, "--out", str(tmp_path / "bm25.parquet")])
    _ok(["-q", "build", "--candidates", str(tmp_path / "bm25.parquet"), *common, "--name", "nt", "--format",
         "n-tuple", "--num-negatives", "2", "--fill", "random", "--out-dir", str(tmp_path / "datasets")])
    result = runner.invoke(app, ["train", "--dataset", str(tmp_path / "datasets" / "nt" / "v1"), "--out",
                                 str(tmp_path / "m"), "--model", str(tiny_bi_encoder), "--loss", "gist",
                                 "--guide", str(tiny_bi_encoder)])
    assert result.exit_code == 2
    assert "gist takes (anchor, positive[, negative])" in result.output and "--format triplet" in result.output
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("kwargs,message", [
    ({"loss": "hinge"}, "loss: 'hinge' is not one of"),
    ({"loss": "gist"}, "needs a guide model"),
    ({"loss": "mnrl", "guide": "default"}, "only the gist loss"),
    ({"loss": "mnrl", "mini_batch_size": 4}, "only cached-mnrl"),
    ({"max_steps": 0}, "max_steps"),
])
def test_bad_params_are_config_errors(dataset, tiny_bi_encoder, kwargs, message):
    data = read_dataset(dataset)
    with pytest.raises(ConfigError, match=message):
        train_bi_encoder(data.train, data.ids, model=str(tiny_bi_encoder), show_progress=False, **kwargs)


def test_triplet_and_margin_need_negatives(dataset, tiny_bi_encoder):
    data = read_dataset(dataset)
    pairs = data.train.select("anchor", "positive")
    for loss in ("triplet", "margin-mse"):
        with pytest.raises(ConfigError, match="negative"):
            train_bi_encoder(pairs, None, model=str(tiny_bi_encoder), loss=loss, show_progress=False)


def test_labeled_pair_dataset_is_refused(tmp_path):
    folder = tmp_path / "lp"
    folder.mkdir()
    pl.DataFrame({"anchor": ["q"], "document": ["d"], "label": [1]}).write_parquet(folder / "train.parquet")
    data = read_dataset(folder)
    with pytest.raises(ConfigError, match="labeled-pair"):
        train_bi_encoder(data.train, None, show_progress=False)
    with pytest.raises(InputError, match="dataset folder not found"):
        read_dataset(tmp_path / "missing")


def test_bfloat16_training_moves_weights_and_is_recorded(dataset, tiny_bi_encoder, tmp_path):
    out = tmp_path / "bf16"
    _ok(["-q", "train", "--dataset", str(dataset), "--out", str(out), "--model", str(tiny_bi_encoder),
         "--max-steps", "2", "--batch-size", "4", "--learning-rate", "1e-3", "--max-seq-length", "32",
         "--dtype", "bfloat16"])
    before, after = _weights(tiny_bi_encoder), _weights(out)
    assert all(v.dtype == before[k].dtype for k, v in after.items())  # autocast: the saved weights stay float32
    assert sum(not (before[k] == after[k]).all() for k in before) > len(before) // 2
    assert json.loads((out / "manifest.json").read_text())["params"]["dtype"] == "bfloat16"


@pytest.mark.parametrize("args,message", [
    (["--dtype", "float16"], "float16 training needs a CUDA device"),
    (["--dtype", "fp8"], "'--dtype': 'fp8' is not one of float32, bfloat16, float16"),
])
def test_bad_training_dtype_is_refused_before_training(dataset, tiny_bi_encoder, tmp_path, args, message):
    result = runner.invoke(app, ["train", "--dataset", str(dataset), "--out", str(tmp_path / "m"),
                                 "--model", str(tiny_bi_encoder), "--max-steps", "1", *args])
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "m").exists()


def test_one_step_trains_at_the_learning_rate_not_zero(dataset, tiny_bi_encoder):
    """--max-steps 1 with the default warmup_ratio 0.1: transformers would warm up for that one step (rate 0)."""
    import torch
    from sentence_transformers import SentenceTransformer

    from minekit.training.train import warmup_steps

    assert warmup_steps(0.1, max_steps=1, steps_per_epoch=9, epochs=1) == 0
    assert warmup_steps(0.1, max_steps=20, steps_per_epoch=9, epochs=1) == 0.1  # transformers' own rule
    assert warmup_steps(0.9, max_steps=None, steps_per_epoch=1, epochs=2) == 1
    data = read_dataset(dataset)
    before = [p.detach().clone() for p in SentenceTransformer(str(tiny_bi_encoder), device="cpu").parameters()]
    result = train_bi_encoder(data.train, data.ids, model=str(tiny_bi_encoder), max_steps=1, batch_size=4,
                              learning_rate=1e-2, max_seq_length=32, show_progress=False)
    after = list(result.model.parameters())
    assert result.stats["steps"] == 1
    assert any(not torch.equal(a.detach().cpu(), b) for a, b in zip(after, before))


def test_one_step_reranker_trains_at_the_learning_rate_not_zero(dataset, tiny_cross_encoder):
    import torch
    from sentence_transformers import CrossEncoder

    from minekit.training.reranker import train_reranker

    data = read_dataset(dataset)
    before = [p.detach().clone() for p in CrossEncoder(str(tiny_cross_encoder), device="cpu").model.parameters()]
    result = train_reranker(data.train, model=str(tiny_cross_encoder), max_steps=1, batch_size=4,
                            learning_rate=1e-2, max_length=32, show_progress=False)
    assert any(not torch.equal(a.detach().cpu(), b) for a, b in zip(result.model.model.parameters(), before))


def test_reranker_trains_on_the_instruction_before_each_query(dataset, tiny_cross_encoder, monkeypatch):
    import datasets

    seen = []
    original = datasets.Dataset.from_dict

    def spy(mapping, *args, **kwargs):
        seen.extend(mapping.get("query", []))
        return original(mapping, *args, **kwargs)

    monkeypatch.setattr(datasets.Dataset, "from_dict", spy)
    from minekit.training.reranker import train_reranker

    data = read_dataset(dataset)
    train_reranker(data.train, model=str(tiny_cross_encoder), max_steps=1, batch_size=4, max_length=32,
                   instruction="Judge relevance: ", show_progress=False)
    assert seen and all(q.startswith("Judge relevance: ") for q in seen)
    assert {q.removeprefix("Judge relevance: ") for q in seen} == set(data.train["anchor"])
