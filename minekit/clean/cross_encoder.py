"""Score (query, passage) pairs with a cross-encoder, in one global order whatever the caller's blocks.

Repeated pairs are scored once; with a cache_dir, pairs scored before (same model content, same
max_length) are read back from the score cache (minekit.clean.score_cache). The rest are scored
shortest first, _CHUNK pairs at a time, their texts built per chunk, in batches of one fixed shape per
length bucket (predict_fixed_shapes): a pair's score is the same however the work was split (query
blocks, shards).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from minekit.clean.score_cache import PAIR_SCORES, ScoreCache, text_sha256
from minekit.inputs.schema import passage_text

if TYPE_CHECKING:
    import polars as pl

_CHUNK = 512  # pairs scored (and committed to the cache) at a time
_BUCKET = 16  # tokens: a pair is padded to its length rounded up to this (fixed shapes, see predict_fixed_shapes)
HASH_SLICE = 65_536  # passages whose texts are built at a time to hash them
_LOOKUP = 100_000  # pairs looked up in the cache at a time


@dataclass
class Pairs:
    """(query, passage) pairs known by text codes and lengths; their texts are built on demand, a scoring
    chunk at a time, so nothing holds the texts of every pair at once.

    q_code[i] / p_code[i] index q_hex / p_hex, the sha256 of pair i's query and passage texts (equal
    texts share a code); length[i] is len(query) + len(passage) in characters; texts(idx) returns the
    (query, passage) texts of the pairs at idx.
    """

    q_hex: list[str]
    p_hex: list[str]
    q_code: np.ndarray
    p_code: np.ndarray
    length: np.ndarray
    texts: Callable[[np.ndarray], list[tuple[str, str]]]

    def __len__(self) -> int:
        return len(self.q_code)

    @classmethod
    def from_texts(cls, queries: Sequence[str], passages: Sequence[str]) -> "Pairs":
        q_hex, q_code = _codes([text_sha256(q) for q in queries])
        p_hex, p_code = _codes([text_sha256(p) for p in passages])
        length = np.fromiter((len(q) + len(p) for q, p in zip(queries, passages)), dtype=np.int64,
                             count=len(queries))
        return cls(q_hex, p_hex, q_code, p_code, length, lambda idx: [(queries[i], passages[i]) for i in idx])

    @classmethod
    def from_ids(cls, pairs: "pl.DataFrame", queries: "pl.DataFrame", corpus: "pl.DataFrame") -> "Pairs":
        """Pairs of (query_id, doc_id): queries' and passages' sha256 and lengths, the passages hashed
        HASH_SLICE at a time; texts built only for the pairs asked for."""
        q_rows = pairs.join(queries.select("query_id").with_row_index("_r"), on="query_id", how="left",
                            maintain_order="left")["_r"].to_numpy().astype(np.int64)
        q_texts = queries["text"].to_list()
        q_hex, q_code = _codes([text_sha256(t) for t in q_texts])
        q_len = np.fromiter((len(t) for t in q_texts), dtype=np.int64, count=len(q_texts))
        docs = pairs.select("doc_id").unique(maintain_order=True).join(
            corpus.select("doc_id").with_row_index("_r"), on="doc_id", how="left", maintain_order="left")
        doc_rows = docs["_r"].to_numpy().astype(np.int64)
        p_hex, p_code, p_len = _passage_codes(corpus, doc_rows)
        d_index = pairs.join(docs.select("doc_id").with_row_index("_d"), on="doc_id", how="left",
                             maintain_order="left")["_d"].to_numpy().astype(np.int64)

        def texts(idx: np.ndarray) -> list[tuple[str, str]]:
            passages = corpus[doc_rows[d_index[idx]]].select(passage_text()).to_series().to_list()
            return [(q_texts[q], p) for q, p in zip(q_rows[idx], passages)]

        return cls(q_hex, p_hex, q_code[q_rows], p_code[d_index], q_len[q_rows] + p_len[d_index], texts)


def _codes(hexes: list[str]) -> tuple[list[str], np.ndarray]:
    """Distinct values and each item's code (position among them)."""
    code_of: dict[str, int] = {}
    codes = np.fromiter((code_of.setdefault(h, len(code_of)) for h in hexes), dtype=np.int64, count=len(hexes))
    return list(code_of), codes


def _passage_codes(corpus: "pl.DataFrame", doc_rows: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Distinct sha256 of the passages at doc_rows, each one's code and its length, HASH_SLICE at a time."""
    hexes: list[str] = []
    length = np.zeros(len(doc_rows), dtype=np.int64)
    for a in range(0, len(doc_rows), HASH_SLICE):
        texts = corpus[doc_rows[a:a + HASH_SLICE]].select(passage_text()).to_series().to_list()
        hexes.extend(text_sha256(t) for t in texts)
        length[a:a + len(texts)] = [len(t) for t in texts]
    p_hex, p_code = _codes(hexes)
    return p_hex, p_code, length


def score_cross_encoder(queries: Sequence[str], passages: Sequence[str], **kwargs) -> tuple[np.ndarray, dict]:
    """Score (query, passage) pairs given as texts with a CrossEncoder: score_pairs on Pairs.from_texts."""
    return score_pairs(Pairs.from_texts(queries, passages), **kwargs)


@dataclass
class _Distinct:
    """The distinct pairs of a Pairs, each stood for by its first occurrence (rep), and their scores."""

    pairs: Pairs
    rep: np.ndarray  # a pair standing for each distinct one, in order of first occurrence
    back: np.ndarray  # for each pair, the position of its distinct pair in rep
    scores: np.ndarray
    have: np.ndarray  # scores read from the cache

    @classmethod
    def of(cls, pairs: Pairs) -> "_Distinct":
        _, first, inverse = np.unique(pairs.q_code * max(len(pairs.p_hex), 1) + pairs.p_code, return_index=True,
                                      return_inverse=True)
        order = np.argsort(first, kind="stable")
        slot = np.empty(len(order), dtype=np.int64)
        slot[order] = np.arange(len(order))
        return cls(pairs, first[order], slot[inverse.reshape(-1)], np.zeros(len(order), dtype=np.float32),
                   np.zeros(len(order), dtype=bool))

    def hex_keys(self, idx: np.ndarray) -> list[tuple[str, str]]:
        p, rep = self.pairs, self.rep[idx]
        return [(p.q_hex[q], p.p_hex[d]) for q, d in zip(p.q_code[rep], p.p_code[rep])]


def score_pairs(
    pairs: Pairs,
    *,
    cross_encoder: str,
    batch_size: int = 32,
    max_length: int | None = None,
    device: str = "cpu",
    dtype: str = "auto",
    cache_dir: str | Path | None = ".minekit-cache",
    trust_remote_code: bool = False,
    show_progress: bool = True,
    _shared: dict | None = None,
) -> tuple[np.ndarray, dict]:
    """Score (query, passage) pairs with a CrossEncoder (its own activation: sigmoid for 1 logit).

    See the module docstring for the order of work. dtype "auto" is float16 on GPUs and float32 on CPUs
    (see ce_dtype). Returns float32 scores and {pairs_scored, cache_hits, score_kind}.
    """
    from minekit.encode.models import model_identity

    distinct = _Distinct.of(pairs)
    dtype = ce_dtype(dtype, device)
    # a score depends on the compute dtype: float16 scores are cached apart (float32 keeps its old key)
    model_key = (f"{model_identity(cross_encoder, 'cross_encoder')}|max_length={max_length}"
                 + (f"|{dtype}" if dtype != "float32" else ""))
    cache = ScoreCache(cache_dir, PAIR_SCORES) if cache_dir is not None else None
    try:
        if cache:
            _read_cache(distinct, cache, model_key)
        todo = np.flatnonzero(~distinct.have)
        todo = todo[np.argsort(pairs.length[distinct.rep[todo]], kind="stable")]
        if len(todo):
            model = _model(cross_encoder, max_length, device, dtype, trust_remote_code, _shared)
            _score_missing(distinct, todo, model, batch_size, cache, model_key, show_progress)
    finally:
        if cache:
            cache.close()
    counts = {"pairs_scored": len(todo), "cache_hits": len(distinct.rep) - len(todo),
              "score_kind": cross_encoder_kind(cross_encoder)}
    return distinct.scores[distinct.back], counts


def _read_cache(distinct: _Distinct, cache: ScoreCache, model_key: str) -> None:
    for a in range(0, len(distinct.rep), _LOOKUP):
        idx = np.arange(a, min(a + _LOOKUP, len(distinct.rep)))
        keys = [(model_key, q, p) for q, p in distinct.hex_keys(idx)]
        known = cache.get(keys)
        for i, key in zip(idx, keys):
            if key in known:
                distinct.scores[i], distinct.have[i] = known[key], True


def ce_dtype(dtype: str, device: str) -> str:
    """The cross-encoder's compute dtype: "auto" is float16 on GPUs (tensor cores, half the memory) and
    float32 on CPUs, where a teacher's scores keep their precision; other values as given (checked)."""
    from minekit.encode.device import resolve_dtype

    resolved = resolve_dtype(dtype, device)
    return "float32" if dtype == "auto" and resolved != "float16" else resolved


def _model(cross_encoder: str, max_length: int | None, device: str, dtype: str, trust_remote_code: bool,
           shared: dict | None):
    """The CrossEncoder in `dtype`, loaded once a run (kept in `shared`) and only when a pair is not cached."""
    import torch

    from minekit.encode.models import load_cross_encoder

    model = (shared or {}).get("cross_encoder")
    if model is None:
        model = load_cross_encoder(cross_encoder, device=device, trust_remote_code=trust_remote_code)
        if dtype != "float32":
            model.model.to(getattr(torch, dtype))
        if max_length is not None:  # sentence-transformers 5.x named it max_length, later max_seq_length
            setattr(model, "max_seq_length" if hasattr(type(model), "max_seq_length") else "max_length", max_length)
        if shared is not None:
            shared["cross_encoder"] = model
    return model


def _score_missing(distinct: _Distinct, todo: np.ndarray, model, batch_size: int, cache: ScoreCache | None,
                   model_key: str, show_progress: bool) -> None:
    """Score the distinct pairs at todo (in that order), _CHUNK at a time, each chunk cached when done."""
    from tqdm.auto import tqdm

    with tqdm(total=len(todo), desc="cross-encoder", unit="pair", disable=not show_progress) as bar:
        for start in range(0, len(todo), _CHUNK):
            part = todo[start:start + _CHUNK]
            distinct.scores[part] = predict_fixed_shapes(model, distinct.pairs.texts(distinct.rep[part]), batch_size)
            if cache:
                cache.put([((model_key, q, p), s)
                           for (q, p), s in zip(distinct.hex_keys(part), distinct.scores[part].tolist())])
            bar.update(len(part))


def predict_fixed_shapes(model, texts: Sequence, batch_size: int) -> np.ndarray:
    """Each pair's score, independent of the pairs it is scored with.

    A forward pass's floating-point result for one row depends on the tensor's shape (the kernels block
    by it), not on the other rows. So every batch has exactly batch_size rows (a short one is filled with
    copies of its first pair) and one padded length, the pair's token length rounded up to _BUCKET: a
    pair scores the same bits in the whole run, in any shard and in any query block.
    """
    if not hasattr(model, "preprocess"):  # sentence-transformers before 6: its own batching (length-sorted)
        got = model.predict(list(texts), batch_size=batch_size, show_progress_bar=False)
        return np.asarray(got, dtype=np.float32).reshape(len(texts), -1)[:, -1]
    lengths = model.preprocess(list(texts))["attention_mask"].sum(dim=1).tolist()
    limit = model.max_seq_length if hasattr(type(model), "max_seq_length") else getattr(model, "max_length", None)
    buckets: dict[int, list[int]] = {}
    for i, n in enumerate(lengths):
        padded = -(-int(n) // _BUCKET) * _BUCKET
        buckets.setdefault(min(padded, limit) if limit else padded, []).append(i)
    scores = np.empty(len(texts), dtype=np.float32)
    for length, rows in sorted(buckets.items()):
        for a in range(0, len(rows), batch_size):
            idx = rows[a:a + batch_size]
            batch = [texts[i] for i in idx]
            batch += [batch[0]] * (batch_size - len(batch))
            got = model.predict(batch, batch_size=batch_size, show_progress_bar=False,
                                processing_kwargs={"text": {"padding": "max_length", "max_length": length}})
            scores[idx] = np.asarray(got, dtype=np.float32).reshape(batch_size, -1)[:len(idx), -1]
    return scores


def cross_encoder_kind(name: str) -> str:
    """What a cross-encoder's predict() returns: ce_prob after a sigmoid/softmax (the default for one
    label), ce_logit with an identity activation. Read from the saved configuration (sentence-transformers
    4+ writes activation_fn to config_sentence_transformers.json, earlier versions to config.json), in the
    model's folder or, for a hub name, in the local hub cache, so cached scores need no load."""
    activation = _saved(name, "config_sentence_transformers.json").get("activation_fn") or \
        (_saved(name, "config.json").get("sentence_transformers") or {}).get("activation_fn") or ""
    return "ce_logit" if str(activation).endswith("Identity") else "ce_prob"


def _saved(name: str, file: str) -> dict:
    """A model's saved JSON file, from its folder or the local hub cache; {} where there is none."""
    import json

    from minekit.encode.models import resolve_model

    folder = Path(resolve_model(name, "cross_encoder"))
    path = folder / file if folder.is_dir() else None
    if path is None:
        try:
            from huggingface_hub import try_to_load_from_cache

            found = try_to_load_from_cache(str(name), file)
            path = Path(found) if isinstance(found, str) else None
        except Exception:  # not a repo id (a path that does not exist): nothing saved to read
            path = None
    try:
        return json.loads(path.read_text()) if path is not None and path.is_file() else {}
    except (OSError, ValueError):
        return {}
