"""The embedding cache: order, normalisation, cache hits (no encode call, no model load), crash safety."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from minekit.embed import Encoder, encode
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
