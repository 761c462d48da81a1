"""The common sentence-transformers layout (Transformer -> mean/CLS pooling -> Normalize) run on
plain transformers, without importing sentence-transformers.

Why: importing sentence-transformers pulls in datasets, pandas, scikit-learn, scipy and accelerate
(~520 MB RSS and 5-8 s here, against ~280 MB for torch + transformers), all unused when a cold
`mine dense` only encodes. The math is the same as sentence-transformers' modules (tokenise with
padding and truncation at max_seq_length, masked mean or CLS token, L2 normalisation); a model whose
folder says anything else (other modules, lower-casing, prompts excluded from pooling, remote code)
is loaded with sentence-transformers instead (see `plain_layout`).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

_TYPES = ("Transformer", "Pooling", "Normalize")
PAD_MULTIPLE = 32
_POOLING_KEYS = {"word_embedding_dimension", "pooling_mode_cls_token", "pooling_mode_mean_tokens",
                 "pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens", "pooling_mode_weightedmean_tokens",
                 "pooling_mode_lasttoken", "include_prompt"}


def plain_layout(folder: str | Path) -> dict | None:
    """{max_seq_length, pooling ('mean' or 'cls'), dim} when the folder is a classic Transformer +
    Pooling (+ Normalize) model that PlainEncoder reproduces exactly; None otherwise."""
    folder = Path(folder)
    try:
        modules = json.loads((folder / "modules.json").read_text())
        kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
        if kinds not in (list(_TYPES), list(_TYPES[:2])) or modules[0]["path"] != "":
            return None
        bert = json.loads((folder / "sentence_bert_config.json").read_text())
        pooling = json.loads((folder / modules[1]["path"] / "config.json").read_text())
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None
    if set(bert) != {"max_seq_length", "do_lower_case"} or bert["do_lower_case"]:
        return None
    if set(pooling) <= _POOLING_KEYS:  # the classic config: one flag per mode
        modes = [k[len("pooling_mode_"):] for k, v in pooling.items() if k.startswith("pooling_mode_") and v]
        dim = pooling.get("word_embedding_dimension")
    elif set(pooling) <= {"embedding_dimension", "pooling_mode", "include_prompt"}:  # sentence-transformers 6
        modes, dim = [pooling.get("pooling_mode")], pooling.get("embedding_dimension")
    else:
        return None
    mode = {"mean_tokens": "mean", "mean": "mean", "cls_token": "cls", "cls": "cls"}.get(modes[0]) \
        if len(modes) == 1 else None
    if mode is None or dim is None or not pooling.get("include_prompt", True):
        return None
    return {"max_seq_length": int(bert["max_seq_length"]), "pooling": mode, "dim": int(dim),
            "normalize": len(kinds) == 3}


class PlainEncoder(torch.nn.Module):
    """A SentenceTransformer stand-in for the calls minekit.encode.encoder makes (encode, dimension, max_seq_length)."""

    def __init__(self, folder: str | Path, layout: dict, *, device: str = "cpu", dtype: str = "float32") -> None:
        from transformers import AutoModel, AutoTokenizer

        super().__init__()
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder))
        self.model = AutoModel.from_pretrained(str(folder), dtype=getattr(torch, dtype)).to(device).eval()
        self.max_seq_length = layout["max_seq_length"]
        self.pooling = layout["pooling"]
        self.normalize = layout["normalize"]
        self.dim = layout["dim"]
        self.prompts: dict[str, str] = {}
        self.default_prompt_name = None

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def get_sentence_embedding_dimension(self) -> int:
        return self.dim

    @torch.inference_mode()
    def encode(self, texts: list[str], *, prompt: str | None = None, batch_size: int = 32, normalize_embeddings=False,
               **_ignored) -> torch.Tensor:
        """Embeddings of `texts` (prompt prepended), one tensor; minekit batches, so batch_size is the whole call."""
        texts = [(prompt or "") + str(t) for t in texts]
        # Lengths padded to a multiple of PAD_MULTIPLE: a handful of distinct shapes instead of one per
        # batch (oneDNN builds and caches kernels, with reordered weights, per shape: time and memory).
        batch = self.tokenizer(texts, padding=True, truncation="longest_first", max_length=self.max_seq_length,
                               pad_to_multiple_of=PAD_MULTIPLE if self.max_seq_length % PAD_MULTIPLE == 0 else None,
                               return_tensors="pt").to(self.device)
        hidden = self.model(**batch).last_hidden_state
        if self.pooling == "cls":
            vectors = hidden[:, 0]
        else:
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            vectors = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        if self.normalize or normalize_embeddings:
            vectors = torch.nn.functional.normalize(vectors, p=2, dim=1)
        return vectors
