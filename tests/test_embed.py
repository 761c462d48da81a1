"""The embedding cache: order, normalisation, cache hits (no encode call, no model load), crash safety."""

from __future__ import annotations

import re
import threading

import numpy as np
import pytest

from minekit.encode.embed import encode
from minekit.encode.encoder import Encoder
from minekit.errors import ConfigError

TEXTS = ["solar panels make electricity", "coffee beans are roasted", "solar panels make electricity",
         "a python tuple is an immutable sequence", "bread dough rises"]


@pytest.fixture
def count_encode(monkeypatch):
    """Counts texts passed to SentenceTransformer.encode."""
    from sentence_transformers import SentenceTransformer

    seen = []
    original = SentenceTransformer.encode

    def counting(self, inputs, *args, **kwargs):
        seen.extend(inputs)
        return original(self, inputs, *args, **kwargs)

    monkeypatch.setattr(SentenceTransformer, "encode", counting)
    return seen


def _reference(model_path, texts):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_path), device="cpu")
    return model.encode(texts, normalize_embeddings=True, convert_to_numpy=True), model


def test_encode_order_and_normalisation(tiny_bi_encoder):
    got = encode(TEXTS, str(tiny_bi_encoder), batch_size=2, dtype="float32", show_progress=False)
    ref, _ = _reference(tiny_bi_encoder, TEXTS)
    assert got.shape == (5, 32) and got.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(got, ref, atol=1e-5)  # length-sorted batching gives back input order
    np.testing.assert_array_equal(got[0], got[2])


def test_second_run_hits_cache_without_loading_model(tiny_bi_encoder, tmp_path, count_encode):
    first = Encoder(model=str(tiny_bi_encoder), cache_dir=tmp_path)
    a = first.encode(TEXTS, show_progress=False)
    assert sorted(count_encode) == sorted(set(TEXTS))  # the repeated text is encoded once
    assert first.stats == {"encoded": 4, "cached": 0}
    count_encode.clear()
    second = Encoder(model=str(tiny_bi_encoder), cache_dir=tmp_path)
    b = second.encode(TEXTS, show_progress=False)
    assert count_encode == [] and second._loaded is None
    assert second.stats == {"encoded": 0, "cached": 5}
    np.testing.assert_array_equal(a, b)
    # A new text alone is encoded; cached ones are not.
    c = Encoder(model=str(tiny_bi_encoder), cache_dir=tmp_path).encode(TEXTS + ["volcanoes erupt"],
                                                                        show_progress=False)
    assert count_encode == ["volcanoes erupt"]
    np.testing.assert_array_equal(c[:5], a)


def test_prompt_and_precision_are_part_of_the_key(tiny_bi_encoder, tmp_path, count_encode):
    encode(TEXTS, str(tiny_bi_encoder), cache_dir=tmp_path, show_progress=False)
    count_encode.clear()
    prompted = encode(TEXTS, str(tiny_bi_encoder), cache_dir=tmp_path, prompt="query: ", show_progress=False)
    assert len(count_encode) == 4
    plain = encode(TEXTS, str(tiny_bi_encoder), cache_dir=tmp_path, show_progress=False)
    assert not np.allclose(prompted, plain)
    count_encode.clear()
    half = encode(TEXTS, str(tiny_bi_encoder), cache_dir=tmp_path, precision="float16", show_progress=False)
    assert len(count_encode) == 4
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == 3


@pytest.mark.parametrize("precision,min_cos", [("float16", 0.9999), ("int8", 0.999)])
def test_reduced_precision_is_close_and_stable(tiny_bi_encoder, tmp_path, precision, min_cos):
    full = encode(TEXTS, str(tiny_bi_encoder), show_progress=False)
    cold = encode(TEXTS, str(tiny_bi_encoder), cache_dir=tmp_path, precision=precision, show_progress=False)
    warm = encode(TEXTS, str(tiny_bi_encoder), cache_dir=tmp_path, precision=precision, show_progress=False)
    np.testing.assert_array_equal(cold, warm)  # a cold run returns what a warm one reads back
    assert (cold * full).sum(axis=1).min() > min_cos
    np.testing.assert_allclose(np.linalg.norm(cold, axis=1), 1.0, atol=1e-5)


def test_killed_write_is_ignored(tiny_bi_encoder, tmp_path, count_encode):
    encode(TEXTS[:2], str(tiny_bi_encoder), cache_dir=tmp_path, dtype="float32", show_progress=False)
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    # A run killed mid-write: a vectors file without its keys file, and a temp file.
    (shard,) = folder.glob("*.keys.npy")
    vec = folder / shard.name.replace(".keys.npy", ".vec.npy")
    (folder / "deadbeef.vec.npy").write_bytes(vec.read_bytes()[:50])
    (folder / ".deadbeef.keys.npy.123.tmp").write_bytes(b"garbage")
    count_encode.clear()
    out = encode(TEXTS, str(tiny_bi_encoder), cache_dir=tmp_path, dtype="float32", show_progress=False)
    assert sorted(count_encode) == sorted(set(TEXTS[2:]) - set(TEXTS[:2]))
    ref, _ = _reference(tiny_bi_encoder, TEXTS)
    np.testing.assert_allclose(out, ref, atol=1e-5)


def test_two_runs_at_once_share_the_cache(tiny_bi_encoder, tmp_path, count_encode):
    results = {}

    def run(name):
        results[name] = encode(TEXTS, str(tiny_bi_encoder), cache_dir=tmp_path, show_progress=False)

    threads = [threading.Thread(target=run, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    np.testing.assert_allclose(results["a"], results["b"], atol=1e-6)
    count_encode.clear()
    again = encode(TEXTS, str(tiny_bi_encoder), cache_dir=tmp_path, show_progress=False)
    assert count_encode == []
    np.testing.assert_allclose(again, results["a"], atol=1e-6)


def test_loaded_model_object_is_accepted_and_cached(tiny_bi_encoder, tmp_path, count_encode):
    ref, model = _reference(tiny_bi_encoder, TEXTS)
    count_encode.clear()
    a = encode(TEXTS, model, cache_dir=tmp_path, dtype="float32", show_progress=False)
    b = encode(TEXTS, model, cache_dir=tmp_path, dtype="float32", show_progress=False)
    assert len(count_encode) == 4  # second call fully cached
    np.testing.assert_allclose(a, ref, atol=1e-5)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kwargs,word", [({"precision": "bf16"}, "precision"), ({"backend": "onnx"}, "backend"),
                                         ({"batch_size": 0}, "batch_size")])
def test_bad_settings_are_config_errors(kwargs, word):
    with pytest.raises(ConfigError, match=word):
        encode(["x"], "default", show_progress=False, **kwargs)


# -- compute dtype, devices, prompts, max_seq_length (issue 14, 16) ---------------------------------

def _cache_folders(root):
    return sorted(p for p in root.iterdir() if p.is_dir())


def test_dtype_is_part_of_the_key(tiny_bi_encoder, tmp_path, count_encode):
    import json

    full = encode(TEXTS, str(tiny_bi_encoder), cache_dir=tmp_path, dtype="float32", show_progress=False)
    count_encode.clear()
    half = encode(TEXTS, str(tiny_bi_encoder), cache_dir=tmp_path, dtype="bfloat16", show_progress=False)
    assert len(count_encode) == 4  # bfloat16 embeddings are other data: encoded again, not read back
    assert not np.array_equal(full, half)
    assert (full * half).sum(axis=1).min() > 0.999
    dtypes = sorted(json.loads((f / "meta.json").read_text())["dtype"] for f in _cache_folders(tmp_path))
    assert dtypes == ["bfloat16", "float32"]
    count_encode.clear()
    again = encode(TEXTS, str(tiny_bi_encoder), cache_dir=tmp_path, dtype="bfloat16", show_progress=False)
    assert count_encode == [] and np.array_equal(again, half)


def test_auto_dtype_follows_the_hardware(tmp_path):
    from minekit.encode.device import resolve_dtype

    amx = tmp_path / "amx"
    amx.write_text("processor : 0\nflags\t\t: fpu sse avx512f amx_bf16 amx_tile\n")
    plain = tmp_path / "plain"
    plain.write_text("processor : 0\nflags\t\t: fpu sse avx2\n")
    assert resolve_dtype("auto", "cpu", cpuinfo=amx) == "bfloat16"
    assert resolve_dtype("auto", "cpu", cpuinfo=plain) == "float32"
    assert resolve_dtype("auto", "cpu", cpuinfo=tmp_path / "missing") == "float32"
    assert resolve_dtype("auto", "cuda:1") == "float16"
    assert resolve_dtype("auto", "mps") == "float32"
    assert resolve_dtype("float32", "cuda") == "float32"
    with pytest.raises(ConfigError, match="--dtype: 'fp8'"):
        resolve_dtype("fp8", "cpu")


def test_top_k_overlap_counts_shared_documents():
    from minekit.encode.embed import top_k_overlap

    docs = np.eye(4, dtype=np.float32)
    q = np.array([[4, 3, 2, 1], [1, 2, 3, 4]], dtype=np.float32)
    assert top_k_overlap(q, docs, q, docs, k=2).tolist() == [1.0, 1.0]
    swapped = np.array([[4, 1, 2, 3], [1, 2, 3, 4]], dtype=np.float32)  # query 0: top-2 {0, 1} -> {0, 3}
    assert top_k_overlap(q, docs, swapped, docs, k=2).tolist() == [0.5, 1.0]
    assert top_k_overlap(q, docs, swapped, docs, k=10).tolist() == [1.0, 1.0]  # k capped at the corpus


def test_bfloat16_mines_what_float32_mines_on_a_tiny_model(tiny_bi_encoder):
    from conftest import TINY_CORPUS, TINY_QUERIES
    from minekit.encode.embed import top_k_overlap

    docs, queries = list(TINY_CORPUS.values()), list(TINY_QUERIES.values())
    ref = [encode(t, str(tiny_bi_encoder), dtype="float32", show_progress=False) for t in (queries, docs)]
    got = [encode(t, str(tiny_bi_encoder), dtype="bfloat16", show_progress=False) for t in (queries, docs)]
    assert (ref[1] * got[1]).sum(axis=1).min() > 0.999
    assert top_k_overlap(ref[0], ref[1], got[0], got[1], k=10).mean() >= 0.9


def test_two_devices_encode_disjoint_shares_into_one_cache(tiny_bi_encoder, tmp_path, monkeypatch):
    from sentence_transformers import SentenceTransformer

    texts = [f"text number {i} about solar panels and coffee" for i in range(40)]
    seen: dict[int, list[str]] = {}
    original = SentenceTransformer.encode

    def recording(self, inputs, *args, **kwargs):
        seen.setdefault(id(self), []).extend(inputs)
        return original(self, inputs, *args, **kwargs)

    monkeypatch.setattr(SentenceTransformer, "encode", recording)
    single = encode(texts, str(tiny_bi_encoder), dtype="float32", batch_size=4, show_progress=False)
    seen.clear()
    encoder = Encoder(model=str(tiny_bi_encoder), device="cpu,cpu", dtype="float32", batch_size=4,
                      cache_dir=tmp_path)
    assert encoder.devices == ["cpu", "cpu"]
    got = encoder.encode(texts, show_progress=False)
    shares = list(seen.values())
    assert len(shares) == 2 and all(shares)  # two model copies, each encoded a part
    assert not set(shares[0]) & set(shares[1]) and sorted(shares[0] + shares[1]) == sorted(texts)
    np.testing.assert_allclose(got, single, atol=1e-6)
    (folder,) = _cache_folders(tmp_path)
    assert len(list(folder.glob("*.sum.json"))) == 2  # each share committed as its own shard
    seen.clear()
    warm = Encoder(model=str(tiny_bi_encoder), dtype="float32", cache_dir=tmp_path).encode(texts, show_progress=False)
    assert seen == {} and np.array_equal(warm, got)


def test_cpu_workers_share_one_model_one_core_each(tiny_bi_encoder, tmp_path, monkeypatch):
    """On one CPU device, several threads (one core each) encode interleaved shares with the one model;
    the result equals one worker's, and torch's thread count is restored afterwards."""
    import torch
    from sentence_transformers import SentenceTransformer

    texts = [f"text {i} " + "about solar panels and coffee " * (i % 7) for i in range(40)]
    calls: list = []
    original = SentenceTransformer.encode

    def recording(self, inputs, *args, **kwargs):
        calls.append((id(self), threading.get_ident(), torch.get_num_threads(), list(inputs)))
        return original(self, inputs, *args, **kwargs)

    monkeypatch.setattr(SentenceTransformer, "encode", recording)
    monkeypatch.setattr("minekit.encode.workers.cpu_workers", lambda devices: 1)
    single = encode(texts, str(tiny_bi_encoder), dtype="float32", batch_size=4, show_progress=False)
    assert {c[1] for c in calls} == {threading.get_ident()}
    calls.clear()
    monkeypatch.setattr("minekit.encode.workers.cpu_workers", lambda devices: 2 if devices == ["cpu"] else 1)
    threads_before = torch.get_num_threads()
    got = Encoder(model=str(tiny_bi_encoder), dtype="float32", batch_size=4, cache_dir=tmp_path).encode(
        texts, show_progress=False)
    np.testing.assert_allclose(got, single, atol=1e-6)
    assert torch.get_num_threads() == threads_before
    assert len({c[0] for c in calls}) == 1  # one model object
    by_thread: dict[int, list[str]] = {}
    for _, thread, n_threads, inputs in calls:
        assert n_threads == 1 and thread != threading.get_ident()
        by_thread.setdefault(thread, []).extend(inputs)
    shares = list(by_thread.values())
    assert len(shares) == 2 and sorted(shares[0] + shares[1]) == sorted(texts)  # disjoint, complete
    (folder,) = _cache_folders(tmp_path)
    assert len(list(folder.glob("*.sum.json"))) == 2  # each share committed as its own shard


def test_interleaved_chunks_balance_lengths():
    from minekit.encode.workers import _interleaved_chunks

    order = np.arange(10)
    assert [c.tolist() for c in _interleaved_chunks(order, 1, 4)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert [c.tolist() for c in _interleaved_chunks(order, 2, 3)] == [[0, 2, 4], [1, 3, 5], [6, 8], [7, 9]]
    assert [c.tolist() for c in _interleaved_chunks(order, 3, 100)] == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]
    assert [c.tolist() for c in _interleaved_chunks(np.arange(1), 2, 4)] == [[0]]


def test_ctrl_c_keeps_the_batches_already_encoded(tiny_bi_encoder, tmp_path, monkeypatch, count_encode):
    from sentence_transformers import SentenceTransformer

    texts = [f"passage {i} on bread dough and yeast" for i in range(10)]
    calls = []
    counting = SentenceTransformer.encode

    def interrupted(self, inputs, *args, **kwargs):
        calls.append(list(inputs))
        if len(calls) == 4:
            raise KeyboardInterrupt
        return counting(self, inputs, *args, **kwargs)

    monkeypatch.setattr(SentenceTransformer, "encode", interrupted)
    monkeypatch.setattr("minekit.encode.workers.cpu_workers", lambda devices: 1)  # one worker: a fixed call order
    with pytest.raises(KeyboardInterrupt):
        encode(texts, str(tiny_bi_encoder), batch_size=2, cache_dir=tmp_path, show_progress=False)
    done = [t for batch in calls[:3] for t in batch]
    assert len(done) == 6
    monkeypatch.setattr(SentenceTransformer, "encode", counting)
    count_encode.clear()
    encode(texts, str(tiny_bi_encoder), batch_size=2, cache_dir=tmp_path, show_progress=False)
    assert sorted(count_encode) == sorted(set(texts) - set(done))  # only what was not finished


def test_max_seq_length_is_checked_and_part_of_the_key(tiny_bi_encoder, tmp_path, count_encode):
    long = ["solar panels convert sunlight into electricity using photovoltaic cells made of silicon"]
    full = encode(long, str(tiny_bi_encoder), cache_dir=tmp_path, show_progress=False)
    count_encode.clear()
    short = encode(long, str(tiny_bi_encoder), cache_dir=tmp_path, max_seq_length=4, show_progress=False)
    assert count_encode == long and not np.allclose(full, short)
    with pytest.raises(ConfigError, match="--max-seq-length: must be at least 1, got 0"):
        encode(long, str(tiny_bi_encoder), max_seq_length=0, show_progress=False)


@pytest.fixture(scope="module")
def prompted_model(tiny_bi_encoder, tmp_path_factory):
    """The tiny model saved with named prompts and a default prompt, as e5/bge-style models ship."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(tiny_bi_encoder), device="cpu",
                                prompts={"query": "query: ", "document": "passage: "}, default_prompt_name="query")
    out = tmp_path_factory.mktemp("prompted")
    model.save(str(out))
    return str(out)


def test_prompt_names_and_the_models_default_prompt(prompted_model):
    encoder = Encoder(model=prompted_model)
    assert encoder.prompt_text(None, "document") == "passage: "
    assert encoder.prompt_text("bge: ", None) == "bge: "
    assert encoder.prompt_text(None, None) == "query: "  # the model's default, as sentence-transformers does
    assert encoder._loaded is None  # read from the folder's config: a warm cache still loads nothing
    with pytest.raises(ConfigError, match="--query-prompt-name: the model has no prompt named 'passage'.*'query'"):
        encoder.prompt_text(None, "passage", flag="query-prompt")
    with pytest.raises(ConfigError, match="give one of them"):
        encoder.prompt_text("x", "query")


def test_prompt_text_reaches_the_model(prompted_model, monkeypatch):
    from sentence_transformers import SentenceTransformer

    prompts = []
    original = SentenceTransformer.encode
    monkeypatch.setattr(SentenceTransformer, "encode",
                        lambda self, x, *a, **k: prompts.append(k.get("prompt")) or original(self, x, *a, **k))
    named = encode(["a python tuple"], prompted_model, prompt="passage: ", show_progress=False)
    plain = encode(["a python tuple"], prompted_model, prompt=None, show_progress=False)
    assert prompts == ["passage: ", ""]  # "" = no prompt, explicitly (no silent default)
    assert not np.allclose(named, plain)


# -- cache damage and bad devices / models (issue 13) ------------------------------------------------

def _only_shard(root):
    (folder,) = _cache_folders(root)
    (sums,) = folder.glob("*.sum.json")
    return folder, sums.name[: -len(".sum.json")]


@pytest.mark.parametrize("damage", ["garbage", "truncate", "keys"])
def test_a_damaged_shard_is_detected_and_encoded_again(tiny_bi_encoder, tmp_path, count_encode, caplog, damage):
    clean = encode(TEXTS, str(tiny_bi_encoder), cache_dir=tmp_path, show_progress=False)
    folder, shard = _only_shard(tmp_path)
    target = folder / f"{shard}.{'keys' if damage == 'keys' else 'vec'}.npy"
    data = target.read_bytes()
    if damage == "truncate":
        target.write_bytes(data[: len(data) // 2])
    else:  # same size, garbage past the header (the .npy still parses)
        target.write_bytes(data[:128] + bytes(range(256)) * ((len(data) - 128) // 256 + 1))
        target.write_bytes(target.read_bytes()[: len(data)])
    count_encode.clear()
    with caplog.at_level("WARNING", logger="minekit.encode.cache"):
        again = encode(TEXTS, str(tiny_bi_encoder), cache_dir=tmp_path, show_progress=False)
    assert sorted(count_encode) == sorted(set(TEXTS))
    np.testing.assert_array_equal(again, clean)
    assert shard in caplog.text and "corrupt" in caplog.text and str(folder) in caplog.text
    assert not (folder / f"{shard}.sum.json").exists()  # removed: warned about once


def test_garbage_meta_json_is_rewritten(tiny_bi_encoder, tmp_path, count_encode, caplog):
    clean = encode(TEXTS, str(tiny_bi_encoder), cache_dir=tmp_path, show_progress=False)
    (folder,) = _cache_folders(tmp_path)
    (folder / "meta.json").write_text("{not json")
    count_encode.clear()
    with caplog.at_level("WARNING", logger="minekit.encode.cache"):
        again = encode(TEXTS, str(tiny_bi_encoder), cache_dir=tmp_path, show_progress=False)
    assert count_encode == []  # shards are intact: only the model's dim was needed
    np.testing.assert_array_equal(again, clean)
    assert "meta.json is unreadable" in caplog.text and str(folder) in caplog.text
    import json

    assert json.loads((folder / "meta.json").read_text())["dim"] == 32


@pytest.mark.parametrize("device,message", [
    ("foo", "--device: 'foo' is not a device"),
    ("cuda", "no cuda device is visible"),
    ("cuda:0,cpu", "mixes device kinds"),
])
def test_bad_devices_fail_before_any_work(device, message, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match=message):
        Encoder(model="default", device=device)


def test_missing_hub_model_fails_at_once_offline(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ConfigError, match="'someone/missing' is not a local folder and not in the Hugging Face "
                                          "cache.*HF_HUB_OFFLINE is set"):
        Encoder(model="someone/missing")
    with pytest.raises(ConfigError, match="folder ./models/nope not found"):
        Encoder(model="./models/nope")


def test_missing_hub_model_fails_at_once_when_the_hub_is_unreachable(monkeypatch):
    import huggingface_hub
    from huggingface_hub import constants

    asked = []

    def unreachable(name, timeout=None):
        asked.append((name, timeout))
        raise ConnectionError("no route to host")

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub, "model_info", unreachable)
    with pytest.raises(ConfigError, match="the hub cannot be reached"):
        Encoder(model="someone/missing")
    assert asked == [("someone/missing", 5)]  # one short question, no retries


# -- the same encoder options on every command that encodes (issue 16) ------------------------------

def _cache_prompts(cache):
    import json

    return sorted(json.loads(m.read_text())["prompt"] for m in cache.glob("*/meta.json"))


def test_evaluate_takes_prompts_names_and_dtype(tiny_files, prompted_model, tmp_path):
    import json

    from typer.testing import CliRunner

    from minekit.cli import app

    runner = CliRunner()
    files = ["--queries", str(tiny_files["queries"]), "--positives", str(tiny_files["positives"]),
             "--corpus", str(tiny_files["corpus"])]
    by_name, by_text = tmp_path / "name.json", tmp_path / "text.json"
    result = runner.invoke(app, ["-q", "evaluate", "--model", prompted_model, *files, "--out", str(by_name),
                                 "--query-prompt-name", "query", "--corpus-prompt-name", "document",
                                 "--dtype", "float32", "--cache-dir", str(tmp_path / "c1")])
    assert result.exit_code == 0, result.output
    assert _cache_prompts(tmp_path / "c1") == ["passage: ", "query: "]
    result = runner.invoke(app, ["-q", "evaluate", "--model", prompted_model, *files, "--out", str(by_text),
                                 "--query-prompt", "query: ", "--corpus-prompt", "passage: ", "--dtype", "float32",
                                 "--cache-dir", str(tmp_path / "c2")])
    assert result.exit_code == 0, result.output
    a, b = json.loads(by_name.read_text()), json.loads(by_text.read_text())
    assert a["dtype"] == "float32" and {k: v for k, v in a.items() if k != "positives"} == \
        {k: v for k, v in b.items() if k != "positives"}
    result = runner.invoke(app, ["evaluate", "--model", "bm25", *files, "--query-prompt", "query: "])
    assert result.exit_code == 2 and "--query-prompt: apply to dense models, not bm25" in result.output
    result = runner.invoke(app, ["evaluate", "--model", prompted_model, *files, "--max-seq-length", "0"])
    assert result.exit_code == 2 and re.search(r"--max-seq-length.*(at least|greater than or equal to) 1", result.output)


def test_denoise_guide_takes_prompts_and_refuses_them_for_the_cross_encoder(tiny, tiny_bi_encoder, tmp_path):
    import polars as pl

    from minekit.clean.denoise import denoise_candidates

    queries, positives, corpus = tiny
    cands = pl.DataFrame({"query_id": ["q1", "q2"], "doc_id": ["d02", "d05"], "source": ["bm25", "bm25"],
                          "rank": pl.Series([1, 1], dtype=pl.Int32), "score": pl.Series([1.0, 1.0], dtype=pl.Float32)})
    result = denoise_candidates(cands, queries, positives, corpus, scorer="bi-encoder", model=str(tiny_bi_encoder),
                                query_prompt="query: ", corpus_prompt="passage: ", max_seq_length=16,
                                dtype="float32", cache_dir=tmp_path / "c", show_progress=False)
    assert result.stats["dtype"] == "float32"
    assert _cache_prompts(tmp_path / "c") == ["passage: ", "query: "]
    with pytest.raises(ConfigError, match="^--query-prompt: apply to the bi-encoder guide"):
        denoise_candidates(cands, queries, positives, corpus, cross_encoder="x", dtype="bfloat16",
                           query_prompt="q: ", show_progress=False)
    with pytest.raises(ConfigError, match="--device: 'gpu' is not a device"):
        denoise_candidates(cands, queries, positives, corpus, cross_encoder="x", device="gpu", show_progress=False)


def test_train_applies_and_saves_prompts(tiny_files, tiny_bi_encoder, tmp_path):
    import json

    from sentence_transformers import SentenceTransformer
    from typer.testing import CliRunner

    from minekit.cli import app

    runner = CliRunner()
    files = ["--queries", str(tiny_files["queries"]), "--positives", str(tiny_files["positives"]),
             "--corpus", str(tiny_files["corpus"])]
    assert runner.invoke(app, ["-q", "mine", "bm25", *files, "--out", str(tmp_path / "b.parquet")]).exit_code == 0
    assert runner.invoke(app, ["-q", "build", "--candidates", str(tmp_path / "b.parquet"), *files, "--name", "t",
                               "--out-dir", str(tmp_path / "ds")]).exit_code == 0
    out = tmp_path / "model"
    result = runner.invoke(app, ["-q", "train", "--dataset", str(tmp_path / "ds" / "t" / "v1"), "--out", str(out),
                                 "--model", str(tiny_bi_encoder), "--max-steps", "1", "--batch-size", "4",
                                 "--query-prompt", "query: ", "--corpus-prompt", "passage: "])
    assert result.exit_code == 0, result.output
    assert SentenceTransformer(str(out), device="cpu").prompts == {"query": "query: ", "document": "passage: "}
    params = json.loads((out / "manifest.json").read_text())["params"]
    assert params["query_prompt"] == "query: " and params["corpus_prompt"] == "passage: "
    result = runner.invoke(app, ["train", "--dataset", str(tmp_path / "ds" / "t" / "v1"), "--out",
                                 str(tmp_path / "m2"), "--model", str(tiny_bi_encoder), "--max-seq-length", "0"])
    assert result.exit_code == 2 and re.search(r"--max-seq-length.*(at least|greater than or equal to) 1", result.output)


def test_plain_transformers_path_matches_sentence_transformers(monkeypatch):
    """The packaged default model loads without sentence-transformers and encodes as it does."""
    from sentence_transformers import SentenceTransformer

    from minekit.encode.models import resolve_model
    from minekit.encode.plain_encoder import PlainEncoder, plain_layout

    texts = ["how do solar panels make electricity", "espresso is brewed by forcing hot water through coffee",
             "a python tuple is an immutable sequence " * 40]  # the last one is truncated at max_seq_length
    encoder = Encoder(model="default", dtype="float32", batch_size=2)
    got = encoder.encode(texts, prompt="query: ", show_progress=False)
    assert isinstance(encoder._loaded, PlainEncoder)
    reference = SentenceTransformer(resolve_model("default"), device="cpu")
    want = reference.encode(texts, prompt="query: ", normalize_embeddings=True, convert_to_numpy=True)
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert plain_layout(resolve_model("default")) == {"max_seq_length": 256, "pooling": "mean", "dim": 384,
                                                      "normalize": True}


def test_plain_path_on_a_classic_folder_matches_sentence_transformers(tiny_bi_encoder, tmp_path, monkeypatch):
    """A model folder in the classic layout is encoded on plain transformers, never loading a
    SentenceTransformer, and gives the embeddings sentence-transformers gives for the same folder."""
    import json
    import shutil

    from sentence_transformers import SentenceTransformer

    from minekit.encode.plain_encoder import PlainEncoder

    classic = tmp_path / "classic"
    shutil.copytree(tiny_bi_encoder, classic)
    (classic / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 64, "do_lower_case": False}))
    encoded = []
    plain_encode = PlainEncoder.encode
    monkeypatch.setattr(PlainEncoder, "encode",
                        lambda self, texts, **kwargs: encoded.extend(texts) or plain_encode(self, texts, **kwargs))

    def no_sentence_transformers(*args, **kwargs):
        raise AssertionError("loaded with sentence-transformers, not on plain transformers")

    monkeypatch.setattr("minekit.encode.encoder.load_bi_encoder", no_sentence_transformers)
    encoder = Encoder(model=str(classic), dtype="float32", batch_size=2)
    got = encoder.encode(TEXTS, show_progress=False)
    assert isinstance(encoder._loaded, PlainEncoder) and sorted(encoded) == sorted(set(TEXTS))
    want = SentenceTransformer(str(classic), device="cpu").encode(TEXTS, normalize_embeddings=True,
                                                                   convert_to_numpy=True)
    assert got.shape == want.shape == (5, 32)
    assert (got * want).sum(axis=1).min() > 0.999


def test_other_layouts_load_with_sentence_transformers(tiny_bi_encoder, tmp_path):
    import json
    import shutil

    from minekit.encode.plain_encoder import plain_layout

    assert plain_layout(tiny_bi_encoder) is None  # sentence-transformers 6 layout: its own loader
    classic = tmp_path / "classic"
    shutil.copytree(tiny_bi_encoder, classic)
    (classic / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 64, "do_lower_case": True}))
    assert plain_layout(classic) is None  # lower-casing: not reproduced, so not taken
    (classic / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 64, "do_lower_case": False}))
    assert plain_layout(classic) == {"max_seq_length": 64, "pooling": "mean", "dim": 32, "normalize": True}


def test_return_freed_memory_applies_on_glibc():
    import platform

    from minekit.encode.device import return_freed_memory

    assert return_freed_memory() == (platform.libc_ver()[0] == "glibc")
