"""Encoder options for MiniLM on CPU: speed and what they do to mined ranks (top-10 overlap with float32).

On NFCorpus (a seeded sample of `--passages` passages, title + text as minekit encodes them, and the
test split's queries), each option encodes the same passages; speed is passages/s (wall and CPU time,
same process; float32 and the best torch option are timed twice, interleaved with the others, and
their best run is kept), quality is each query's top-10 passages compared with float32's
(minekit.encode.embed.top_k_overlap): the mean and the 5th percentile over queries. minekit offers an option
only if the mean overlap is >= 0.95, and a runtime other than torch only if it is also >= 1.3x faster
than the best torch option.

  - torch compute dtype (minekit --dtype): float32, bfloat16 (AMX / AVX512-BF16), float16
  - storage float16 / int8 (minekit --precision): float32 embeddings rounded as the cache stores them
  - torch dynamic int8 quantization of the Linear layers (torch.ao.quantization.quantize_dynamic)
  - onnxruntime: the transformer exported with torch.onnx, then onnxruntime's transformer graph
    optimisations (fused attention / layer norm / GELU, onnxruntime.transformers.optimizer); float32
    and dynamic int8 (needs `pip install onnx onnxruntime`; skipped if missing)

    nice -n 10 python benchmarks/bench_encode.py --passages 1000
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
BAR = 0.95


def cpu() -> float:
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def timed(fn, *args):
    w, c = time.perf_counter(), cpu()
    out = fn(*args)
    return out, time.perf_counter() - w, cpu() - c


def onnx_encoder(model_path: str, work: Path, max_len: int, *, int8: bool):
    import onnxruntime as ort
    import torch
    from onnxruntime.transformers.optimizer import optimize_model
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
    raw, path = work / "model.onnx", work / "model-opt.onnx"
    torch.onnx.export(Hidden(model), tuple(sample[n] for n in names), str(raw), input_names=names,
                      output_names=["hidden"], dynamic_axes={n: {0: "b", 1: "s"} for n in [*names, "hidden"]},
                      opset_version=17, dynamo=False)
    optimized = optimize_model(str(raw), model_type="bert", num_heads=model.config.num_attention_heads,
                               hidden_size=model.config.hidden_size)
    optimized.save_model_to_file(str(path))
    if int8:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        import onnx

        # The fused graph's custom ops defeat shape inference: name the default tensor type.
        quantize_dynamic(str(path), str(work / "model-int8.onnx"), weight_type=QuantType.QInt8,
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
        path = work / "model-int8.onnx"
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
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

    from minekit.encode.cache import normalize as _normalize, quantize as _quantize
    from minekit.encode.device import cpu_has_bf16
    from minekit.encode.embed import top_k_overlap
    from minekit.encode.encoder import Encoder
    from minekit.inputs.schema import passage_text

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passages", type=int, default=1000, help="Seeded sample of the corpus; 0 = all.")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--skip-onnx", action="store_true")
    args = parser.parse_args()

    corpus = pl.read_parquet(NFCORPUS / "corpus.parquet")
    if args.passages:
        corpus = corpus.sample(args.passages, seed=0)
    test = pl.read_parquet(NFCORPUS / "qrels-test.parquet")["query_id"].unique()
    queries = pl.read_parquet(NFCORPUS / "queries.parquet").filter(pl.col("query_id").is_in(test.implode()))
    passages, qtexts = corpus.select(passage_text()).to_series().to_list(), queries["text"].to_list()
    print(f"{len(passages)} NFCorpus passages, {len(qtexts)} test queries, torch threads {torch.get_num_threads()}, "
          f"native bf16: {cpu_has_bf16()}, load average {os.getloadavg()[0]:.2f} (shared machine)", flush=True)

    encoders = {dtype: Encoder(model="default", dtype=dtype, batch_size=args.batch_size)
                for dtype in ("float32", "bfloat16", "float16")}
    for enc in encoders.values():
        enc.load()
        enc.encode(passages[:16], show_progress=False)  # warm-up

    def run(dtype):
        return encoders[dtype].encode(passages, show_progress=False)

    q32 = encoders["float32"].encode(qtexts, show_progress=False)
    d32, w32, c32 = timed(run, "float32")
    results = {}

    def report(name, q, d, wall, cpu_s, base=None):
        ov = top_k_overlap(q32, d32, q, d, 10)
        speed = f"{len(passages) / wall:6.1f} passages/s wall  {len(passages) / cpu_s:6.1f} /CPU-s" if wall else \
            "      (no encoding cost)                 "
        ratio = f"  {base[0] / wall:.2f}x wall {base[1] / cpu_s:.2f}x CPU vs {base[2]}" if base and wall else ""
        offered = "offered" if ov.mean() >= BAR else "below the bar"
        print(f"{name:26s} {speed}  top-10 overlap {ov.mean():.3f} (p5 {np.percentile(ov, 5):.1f})  "
              f"min cos {(d * d32).sum(1).min():.4f}  {offered}{ratio}", flush=True)
        results[name] = (ov.mean(), wall)

    report("torch float32", q32, d32, w32, c32)
    for dtype in ("bfloat16", "float16"):
        q = encoders[dtype].encode(qtexts, show_progress=False)
        d, w, c = timed(run, dtype)
        report(f"torch {dtype}", q, d, w, c, (w32, c32, "float32"))
    _, w32b, c32b = timed(run, "float32")
    # interleaved rerun of the baseline and bf16, so a load change shows
    qb = encoders["bfloat16"].encode(qtexts, show_progress=False)
    db, wb, cb = timed(run, "bfloat16")
    w32, c32 = min(w32, w32b), min(c32, c32b)
    print(f"rerun: float32 {len(passages) / w32b:.1f} passages/s, bfloat16 {len(passages) / wb:.1f} passages/s; "
          f"best of two: bfloat16 {w32 / min(wb, results['torch bfloat16'][1]):.2f}x float32 (wall)", flush=True)
    best_torch = min(wb, results["torch bfloat16"][1])
    for precision in ("float16", "int8"):
        stored, scale = _quantize(d32, precision)
        d = _normalize(stored.astype(np.float32) * (scale[:, None] if scale is not None else 1.0))
        qs, qscale = _quantize(q32, precision)
        q = _normalize(qs.astype(np.float32) * (qscale[:, None] if qscale is not None else 1.0))
        report(f"storage {precision}", q, d, 0, 0)

    from minekit.encode.models import resolve_model
    from sentence_transformers import SentenceTransformer

    path = resolve_model("default")
    qmodel = torch.ao.quantization.quantize_dynamic(SentenceTransformer(path, device="cpu"), {torch.nn.Linear},
                                                    dtype=torch.qint8)

    def st_encode(texts):
        return qmodel.encode(texts, batch_size=args.batch_size, normalize_embeddings=True, convert_to_numpy=True)

    q8 = st_encode(qtexts)
    d8, w8, c8 = timed(st_encode, passages)
    report("torch dynamic int8", q8, d8, w8, c8, (w32, c32, "float32"))
    if args.skip_onnx:
        return
    for int8 in (False, True):
        name = f"onnxruntime opt {'int8' if int8 else 'float32'}"
        try:
            with tempfile.TemporaryDirectory() as tmp:
                enc = onnx_encoder(path, Path(tmp), encoders["float32"].load().max_seq_length, int8=int8)
                qo = enc(qtexts, args.batch_size)
                do, wo, co = timed(enc, passages, args.batch_size)
                report(name, qo, do, wo, co, (best_torch, cb, "torch bfloat16"))
        except ImportError as exc:
            print(f"{name}: skipped ({exc})")
        except RuntimeError as exc:  # an export or quantisation step this onnxruntime cannot do
            print(f"{name}: failed ({str(exc)[:200]})")
    print(f"offered: options with mean top-10 overlap >= {BAR}; another runtime also needs >= 1.3x the best torch "
          f"option ({len(passages) / best_torch:.1f} passages/s)")


if __name__ == "__main__":
    main()
