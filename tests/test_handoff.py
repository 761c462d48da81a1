"""The hand-off users make: the README's default recipe (BM25 + dense, several positives for some queries,
duplicate passage texts) exported to every layout, read by the trainers' own code, and imported back."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from minekit.cli import app
from minekit.handoff.export import export_dataset

runner = CliRunner()
LAYOUTS = {"flagembedding": "fe.jsonl", "tevatron": "tev.jsonl", "hf": "hf", "jsonl": "plain.jsonl"}


def _ok(*args: str) -> str:
    result = runner.invoke(app, ["-q", *args])
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""


def _inputs_with_duplicates(sample_files, folder: Path) -> dict[str, Path]:
    """The sample data plus 12 documents whose texts (and titles) repeat other documents' texts."""
    corpus = pl.read_parquet(sample_files["corpus"])
    positive_docs = pl.read_parquet(sample_files["positives"])["doc_id"]
    copies = (corpus.filter(~pl.col("doc_id").is_in(positive_docs.implode())).head(12)
              .with_columns(pl.concat_str(pl.lit("copy-"), "doc_id").alias("doc_id")))
    paths = {"queries": sample_files["queries"], "positives": sample_files["positives"],
             "corpus": folder / "corpus.parquet"}
    pl.concat([corpus, copies]).write_parquet(paths["corpus"])
    return paths


# Several negatives a row: the hard case for the readers of FlagEmbedding and sentence-transformers.
FIVE = ("--num-negatives", "5")


def _recipe(paths: dict, folder: Path, model: Path, name: str = "readme", *extra: str) -> Path:
    """README: mine bm25 and dense (top 30), build with the default recipe at five negatives a row."""
    data = ["--queries", str(paths["queries"]), "--positives", str(paths["positives"]),
            "--corpus", str(paths["corpus"])]
    bm25, dense = folder / "bm25.parquet", folder / "dense.parquet"
    if not dense.exists():
        _ok("mine", "bm25", *data, "--out", str(bm25), "--top-k", "30")
        _ok("mine", "dense", *data, "--out", str(dense), "--top-k", "30", "--model", str(model),
            "--cache-dir", str(folder / "cache"))
    return Path(_ok("build", "--candidates", str(bm25), "--candidates", str(dense), *data, "--name", name,
                    "--out-dir", str(folder / "datasets"), *FIVE, *extra))


@pytest.fixture(scope="module")
def readme(sample_files, tiny_bi_encoder, tmp_path_factory):
    folder = tmp_path_factory.mktemp("readme-recipe")
    paths = _inputs_with_duplicates(sample_files, folder)
    dataset = _recipe(paths, folder, tiny_bi_encoder)
    return {"folder": folder, "paths": paths, "dataset": dataset}


def _rows(path):
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def _dataset_rows(path: Path) -> list[tuple]:
    """(query_id, positive_id, negative_ids) of a dataset folder, in its order."""
    ids = pl.read_parquet(path / "ids.parquet")
    return list(ids.select("query_id", "positive_id", "negative_ids").iter_rows())


def test_the_readme_dataset_is_the_hard_case(readme):
    ids = pl.read_parquet(readme["dataset"] / "ids.parquet")
    assert ids.columns[5:9] == ["positive_score_bm25", "negative_scores_bm25", "positive_score_dense",
                                "negative_scores_dense"]
    assert ids.group_by("query_id").len()["len"].max() >= 2  # several positives for some queries
    corpus = pl.read_parquet(readme["paths"]["corpus"])
    copies = set(corpus.filter(pl.col("doc_id").str.starts_with("copy-"))["doc_id"])
    negatives = set(ids["negative_ids"].explode())
    assert copies & negatives and {c.removeprefix("copy-") for c in copies} & negatives


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_every_layout_exports_a_two_miner_dataset(readme, tmp_path, layout):
    out = tmp_path / LAYOUTS[layout]
    result = runner.invoke(app, ["export", str(readme["dataset"]), "--to", layout, "--out", str(out)])
    assert result.exit_code == 0, result.output
    train = pl.read_parquet(readme["dataset"] / "train.parquet")
    if layout == "hf":
        import datasets

        assert datasets.load_from_disk(str(out)).num_rows == train.height
    else:
        assert len(_rows(out)) == train.height  # one record per (query, positive) row


IMPORTERS = {"flagembedding": "flagembedding", "tevatron": "tevatron", "hf": "hf", "jsonl": "pairs"}


@pytest.mark.parametrize("format", ["n-tuple", "triplet"])
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_export_import_build_gives_back_the_same_rows(readme, tmp_path, layout, format):
    """export -> import -> build with the same recipe and seed: the same (query, positive, negatives) rows."""
    extra = [] if format == "n-tuple" else ["--format", format]
    dataset = _recipe(readme["paths"], readme["folder"], Path("unused"), f"readme-{format}", *extra)
    out = tmp_path / LAYOUTS[layout]
    export_dataset(dataset, out, to=layout)
    _ok("import", IMPORTERS[layout], str(out), "--out", str(tmp_path / "imported"))
    folder = tmp_path / "imported"
    again = Path(_ok("build", "--candidates", str(folder / "negatives.parquet"), "--queries",
                     str(folder / "queries.parquet"), "--positives", str(folder / "positives.parquet"),
                     "--corpus", str(folder / "corpus.parquet"), "--name", "again", "--out-dir", str(tmp_path / "ds"),
                     *FIVE, *extra))
    assert _dataset_rows(again) == _dataset_rows(dataset)
    assert pl.read_parquet(again / "train.parquet").equals(pl.read_parquet(dataset / "train.parquet"))
    # The import says where the file came from: the dataset's steps, then the export, then the import.
    from minekit.io import read_manifest

    stages = [s["stage"] for s in read_manifest(folder / "negatives.parquet")["steps"]]
    assert stages == ["mine.bm25", "mine.dense", "build", "export", f"import.{IMPORTERS[layout]}"]


def test_flagembedding_scores_without_a_teacher_are_left_out_and_the_command_says_why(readme, tmp_path):
    out = tmp_path / "fe.jsonl"
    result = runner.invoke(app, ["export", str(readme["dataset"]), "--to", "flagembedding", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "pos_scores/neg_scores: left out: the dataset has no denoise teacher" in result.stderr
    assert all("pos_scores" not in r and "neg_scores" not in r for r in _rows(out))
    step = json.loads((tmp_path / "fe.jsonl.manifest.json").read_text())["steps"][-1]
    assert step["stats"]["scores_written"] is False and "no denoise teacher" in step["stats"]["scores"]
    # Raw scores of two miners are of two kinds: asked for, they are refused, naming the flag and the miners.
    miner = runner.invoke(app, ["export", str(readme["dataset"]), "--to", "flagembedding", "--out",
                                str(tmp_path / "m.jsonl"), "--scores", "miner"])
    assert miner.exit_code == 2 and "--scores miner: needs exactly one miner's scores" in miner.output
    assert "bm25, dense" in miner.output and not (tmp_path / "m.jsonl").exists()


@pytest.fixture(scope="module")
def taught(readme, tiny_cross_encoder, tmp_path_factory) -> Path:
    """The README recipe with a denoise step (the tiny cross-encoder as teacher) before build, no random fill."""
    folder, paths, work = readme["folder"], readme["paths"], tmp_path_factory.mktemp("taught")
    data = ["--queries", str(paths["queries"]), "--positives", str(paths["positives"]), "--corpus", str(paths["corpus"])]
    clean = []
    for miner in ("bm25", "dense"):
        clean.append(work / f"{miner}-ce.parquet")
        _ok("denoise", "--candidates", str(folder / f"{miner}.parquet"), *data, "--out", str(clean[-1]),
            "--cross-encoder", str(tiny_cross_encoder), "--cache-dir", str(work / "cache"))
    return Path(_ok("build", *[a for c in clean for a in ("--candidates", str(c))], *data, "--name", "taught",
                    "--out-dir", str(work / "ds"), "--fill", "none", *FIVE))


def test_flagembedding_scores_are_the_denoise_teachers_as_it_scored_them(taught, tmp_path):
    dataset = taught
    out = tmp_path / "fe.jsonl"
    result = runner.invoke(app, ["export", str(dataset), "--to", "flagembedding", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "the denoise teacher's scores as it scored them: ce_" in result.stderr
    ids = pl.read_parquet(dataset / "ids.parquet")
    rows = _rows(out)
    assert [r["pos_scores"] for r in rows] == [[s] for s in ids["positive_ce_score"].to_list()]
    assert [r["neg_scores"] for r in rows] == ids["negative_ce_scores"].to_list()
    step = json.loads((tmp_path / "fe.jsonl.manifest.json").read_text())["steps"][-1]
    assert step["stats"]["scores_written"] is True and step["stats"]["scores"].startswith("the denoise teacher's")


@pytest.mark.slow
def test_flagembeddings_own_dataset_and_runner_read_the_export(readme, taught, tmp_path):
    """FlagEmbedding 1.4.2's AbsEmbedderTrainDataset loads the export; its encoder-only runner trains a step on it."""
    pytest.importorskip("FlagEmbedding", reason="FlagEmbedding is not installed (`pip install -e .[dev]` has it)")
    import subprocess
    import sys

    from FlagEmbedding.abc.finetune.embedder import AbsEmbedderDataArguments, AbsEmbedderTrainDataset
    from transformers import AutoTokenizer

    from conftest import _save_tiny_bert

    out = tmp_path / "fe.jsonl"
    export_dataset(readme["dataset"], out, to="flagembedding", prompt="Represent this query: ")
    bert = tmp_path / "bert"
    _save_tiny_bert(bert, num_labels=None)
    args = AbsEmbedderDataArguments(train_data=[str(out)], train_group_size=4, cache_path=str(tmp_path / "cache"),
                                    query_instruction_for_retrieval="unused: each record has its prompt")
    dataset = AbsEmbedderTrainDataset(args, AutoTokenizer.from_pretrained(str(bert)))
    train = pl.read_parquet(readme["dataset"] / "train.parquet")
    assert len(dataset) == train.height
    query, passages, teacher = dataset[0]
    first = train.row(0, named=True)
    assert query == "Represent this query: " + first["anchor"] and teacher is None
    assert passages[0] == first["positive"] and set(passages[1:]) <= {first[f"negative_{i}"] for i in range(1, 6)}
    # With the teacher's scores, its knowledge-distillation reader hands them over as they are.
    export_dataset(taught, tmp_path / "kd.jsonl", to="flagembedding")
    args.train_data, args.knowledge_distillation = [str(tmp_path / "kd.jsonl")], True
    kd = AbsEmbedderTrainDataset(args, AutoTokenizer.from_pretrained(str(bert)))
    ids = pl.read_parquet(taught / "ids.parquet").row(0, named=True)
    _, passages, teacher = kd[0]
    assert teacher[0] == pytest.approx(ids["positive_ce_score"])
    assert all(any(t == pytest.approx(s) for s in ids["negative_ce_scores"]) for t in teacher[1:])
    run = subprocess.run(
        [sys.executable, "-m", "FlagEmbedding.finetune.embedder.encoder_only.base", "--model_name_or_path", str(bert),
         "--train_data", str(out), "--output_dir", str(tmp_path / "model"), "--max_steps", "1",
         "--per_device_train_batch_size", "2", "--train_group_size", "3", "--query_max_len", "16",
         "--passage_max_len", "32", "--use_cpu", "true", "--report_to", "none", "--save_strategy", "no",
         "--cache_path", str(tmp_path / "cache")], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "train_loss" in run.stdout + run.stderr and (tmp_path / "model" / "config.json").is_file()


def test_sentence_transformers_trainer_runs_on_the_hf_export(readme, tiny_bi_encoder, tmp_path):
    import datasets
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.sentence_transformer import losses

    export_dataset(readme["dataset"], tmp_path / "hf", to="hf")
    data = datasets.load_from_disk(str(tmp_path / "hf"))
    assert data.column_names == ["anchor", "positive", *(f"negative_{i}" for i in range(1, 6))]
    model = SentenceTransformer(str(tiny_bi_encoder), device="cpu")
    args = SentenceTransformerTrainingArguments(output_dir=str(tmp_path / "out"), max_steps=2,
                                                per_device_train_batch_size=4, report_to="none", save_strategy="no",
                                                use_cpu=True)
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=data,
                                         loss=losses.MultipleNegativesRankingLoss(model))
    result = trainer.train()
    assert result.global_step == 2 and result.training_loss > 0


@pytest.mark.parametrize("format", ["triplet", "labeled-pair"])
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_every_layout_exports_the_other_formats_of_a_two_miner_dataset(readme, tmp_path, format, layout):
    dataset = _recipe(readme["paths"], readme["folder"], Path("unused"), f"readme-{format}", "--format", format)
    out = tmp_path / LAYOUTS[layout]
    result = runner.invoke(app, ["export", str(dataset), "--to", layout, "--out", str(out)])
    assert result.exit_code == 0, result.output
    if layout in ("flagembedding", "tevatron"):
        ids = pl.read_parquet(dataset / "ids.parquet")
        keys = ["query_id"] if format == "labeled-pair" else ["query_id", "positive_id"]
        assert len(_rows(out)) == ids.select(keys).unique().height  # one record per (query, positive) / query
