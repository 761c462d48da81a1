"""Encoding options for MiniLM on CPU: speed and what they do to mined ranks (top-10 overlap with float32).

On NFCorpus (a seeded sample of `--passages` passages and the test split's queries), each option
encodes the same passages; speed is passages/s (wall and CPU time, same process, interleaved with the
float32 baseline), quality is the mean overlap of each query's top-10 passages with float32's.
minekit offers an option only if the overlap is >= 0.90.

  - storage float16 / int8 (minekit --precision): float32 embeddings rounded as the cache stores them
  - torch dynamic int8 quantization of the Linear layers (torch.ao.quantization.quantize_dynamic)
  - onnxruntime: the transformer exported with torch.onnx (TorchScript exporter), mean pooling in numpy
    (needs `pip install onnx onnxruntime`; skipped if missing)

    nice -n 10 python benchmarks/bench_encode.py --passages 300
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
NFCORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "nfcorpus"


def cpu() -> float:
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def timed(fn, *args):
    w, c = time.perf_counter(), cpu()
    out = fn(*args)
    return out, time.perf_counter() - w, cpu() - c


def top10_overlap(q: np.ndarray, d_ref: np.ndarray, q_ref: np.ndarray, d: np.ndarray) -> float:
    ref = np.argsort(-(q_ref @ d_ref.T), axis=1, kind="stable")[:, :10]
    got = np.argsort(-(q @ d.T), axis=1, kind="stable")[:, :10]
    return float(np.mean([len(np.intersect1d(a, b)) / 10 for a, b in zip(ref, got)]))


def onnx_encoder(model_path: str, work: Path, max_len: int):
    import onnxruntime as ort
    import torch
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_path)
    model = AutoModel.from_pretrained(model_path).eval()

    class Hidden(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.m(input_ids=input_ids, attention_mask=attention_mask,
                          token_type_ids=token_type_ids).last_hidden_state

    names = ["input_ids", "attention_mask", "token_type_ids"]
    sample = tok(["a b c", "d"], padding=True, return_tensors="pt")
    path = work / "model.onnx"
    torch.onnx.export(Hidden(model), tuple(sample[n] for n in names), str(path), input_names=names,
                      output_names=["hidden"], dynamic_axes={n: {0: "b", 1: "s"} for n in [*names, "hidden"]},
                      opset_version=17, dynamo=False)
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def encode(texts: list[str], batch_size: int) -> np.ndarray:
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
        for a in range(0, len(texts), batch_size):
            idx = order[a:a + batch_size]
            enc = tok([texts[i] for i in idx], padding=True, truncation=True, max_length=max_len, return_tensors="np")
            hidden = session.run(None, {n: enc[n].astype(np.int64) for n in names})[0]
            mask = enc["attention_mask"][..., None].astype(np.float32)
            vec = (hidden * mask).sum(axis=1) / mask.sum(axis=1)
            out[idx] = vec / np.linalg.norm(vec, axis=1, keepdims=True)
        return out

    return encode


def main() -> None:
    import polars as pl
    import torch
    from sentence_transformers import SentenceTransformer

    from minekit.embed import _quantize, _normalize
    from minekit.models import resolve_model

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passages", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()

    corpus = pl.read_parquet(NFCORPUS / "corpus.parquet").sample(args.passages, seed=0)
    test = pl.read_parquet(NFCORPUS / "qrels-test.parquet")["query_id"].unique()
    queries = pl.read_parquet(NFCORPUS / "queries.parquet").filter(pl.col("query_id").is_in(test.implode()))
    passages, qtexts = corpus["text"].to_list(), queries["text"].to_list()
    path = resolve_model("default")
    model = SentenceTransformer(path, device="cpu")

    def st_encode(m, texts):
        return m.encode(texts, batch_size=args.batch_size, normalize_embeddings=True, convert_to_numpy=True)

    print(f"{len(passages)} NFCorpus passages, {len(qtexts)} test queries, torch threads {torch.get_num_threads()}")
    q32 = st_encode(model, qtexts)
    d32, w32, c32 = timed(st_encode, model, passages)
    print(f"float32 torch            {len(passages) / w32:6.1f} passages/s wall  {len(passages) / c32:6.1f} /CPU-s"
          f"  overlap 1.000")
    for precision in ("float16", "int8"):
        stored, scale = _quantize(d32, precision)
        d = _normalize(stored.astype(np.float32) * (scale[:, None] if scale is not None else 1.0))
        qs, qscale = _quantize(q32, precision)
        q = _normalize(qs.astype(np.float32) * (qscale[:, None] if qscale is not None else 1.0))
        print(f"storage {precision:8s}         (no encoding cost)              overlap "
              f"{top10_overlap(q, d32, q32, d):.3f}  min cos {(d * d32).sum(1).min():.4f}")

    qmodel = torch.ao.quantization.quantize_dynamic(SentenceTransformer(path, device="cpu"), {torch.nn.Linear},
                                                    dtype=torch.qint8)
    q8 = st_encode(qmodel, qtexts)
    d8, w8, c8 = timed(st_encode, qmodel, passages)
    print(f"torch dynamic int8       {len(passages) / w8:6.1f} passages/s wall  {len(passages) / c8:6.1f} /CPU-s"
          f"  overlap {top10_overlap(q8, d32, q32, d8):.3f}  mean cos {(d8 * d32).sum(1).mean():.4f}"
          f"  speed-up {w32 / w8:.2f}x wall {c32 / c8:.2f}x CPU")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            enc = onnx_encoder(path, Path(tmp), model.max_seq_length)
            qo = enc(qtexts, args.batch_size)
            do, wo, co = timed(enc, passages, args.batch_size)
            _, w32b, c32b = timed(st_encode, model, passages)  # baseline again, next to it
            print(f"onnxruntime float32      {len(passages) / wo:6.1f} passages/s wall  {len(passages) / co:6.1f} "
                  f"/CPU-s  overlap {top10_overlap(qo, d32, q32, do):.3f}  min cos {(do * d32).sum(1).min():.4f}"
                  f"  speed-up {w32b / wo:.2f}x wall {c32b / co:.2f}x CPU (vs float32 torch rerun)")
    except ImportError as exc:
        print(f"onnxruntime: skipped ({exc})")


if __name__ == "__main__":
    main()
