"""Where encoder weights come from: local folders, the Hugging Face cache, or the network.

Every by-name load checks first whether the weights are on disk or their host answers within
seconds, and otherwise raises :class:`EncoderUnavailableError` naming the offline encoders.
Nothing falls back to another model.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .core import OFFLINE_ENCODERS, EncoderUnavailableError

__all__ = ["local_model_dir", "model_type", "require_hf", "require_url", "dir_fingerprint"]

HF_HOST = "huggingface.co"


def _offline_hint(name: str) -> str:
    return (f"Offline, use the packaged encoders ({OFFLINE_ENCODERS}), or download {name!r} once "
            "while online (it is cached), or pass a local folder that holds it.")


def local_model_dir(name: str) -> Path | None:
    """``name`` as a folder when it is one (a saved transformers / sentence-transformers model)."""
    p = Path(os.path.expanduser(name))
    return p if p.is_dir() else None


def model_type(name: str) -> str | None:
    """The ``model_type`` of a local model folder's ``config.json`` (e.g. "clip", "bert")."""
    folder = local_model_dir(name)
    if folder is None or not (folder / "config.json").is_file():
        return None
    try:
        return json.loads((folder / "config.json").read_text()).get("model_type")
    except (OSError, ValueError):
        return None


def dir_fingerprint(folder: Path) -> str:
    """Names, sizes and modification times of the files in a model folder (cache identity)."""
    from .cache import _hash_lines
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return _hash_lines(f"{p.relative_to(folder)}\t{p.stat().st_size}\t{p.stat().st_mtime_ns}" for p in files)


def _hf_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on")


def require_hf(name: str) -> None:
    """Raise fast when hub model ``name`` is neither a local folder, nor cached, nor reachable."""
    if local_model_dir(name) is not None:
        return
    try:
        from huggingface_hub import try_to_load_from_cache
        cached = isinstance(try_to_load_from_cache(name, "config.json"), str)
    except Exception:  # noqa: BLE001 - an odd repo id is simply "not cached"
        cached = False
    if cached:
        return
    if _hf_offline():
        raise EncoderUnavailableError(f"{name!r} is not in the Hugging Face cache and HF_HUB_OFFLINE=1 "
                                      f"forbids downloading it. {_offline_hint(name)}")
    from ..datasets.download import is_reachable
    if not is_reachable(HF_HOST):
        raise EncoderUnavailableError(f"Cannot reach {HF_HOST} to download {name!r} (offline?). "
                                      f"{_offline_hint(name)}")


def require_url(url: str, target: Path, name: str) -> None:
    """Raise fast when ``target`` (where ``url`` would be saved) is absent and its host is down."""
    if target.is_file():
        return
    from ..datasets.download import is_reachable
    if not is_reachable(url):
        raise EncoderUnavailableError(f"The {name!r} weights are not in {target.parent} and "
                                      f"{url.split('/')[2]} cannot be reached (offline?). "
                                      f"{_offline_hint(name)} For testing the pipeline only, "
                                      "weights=None builds the network with random weights.")


def hf_load(loader: Any, name: str, **kwargs: Any) -> Any:
    """``loader.from_pretrained(name)`` with a clear error instead of a long stack trace."""
    require_hf(name)
    try:
        return loader.from_pretrained(name, **kwargs)
    except OSError as exc:
        raise EncoderUnavailableError(f"Could not load {name!r} with {loader.__name__}: {exc}. "
                                      f"{_offline_hint(name)}") from exc
