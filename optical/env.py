"""Environment helpers, a leaf module (imports nothing from the package): hub reachability, device, cache.

Callers use ``env.hub_reachable()`` through the module, so that one monkeypatch covers them all in tests.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

HUB_HOST = "huggingface.co"


def hub_reachable(timeout: float = 3.0) -> bool:
    """True when the Hugging Face hub answers (and ``HF_HUB_OFFLINE`` is not set)."""
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        return False
    try:
        socket.create_connection((HUB_HOST, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def default_device() -> str:
    """``"cuda"`` when a GPU is visible, else ``"cpu"``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def cache_dir() -> Path:
    """Cache for document matrices, teacher outputs and converted models: ``$OPTICAL_CACHE_DIR`` or
    ``~/.cache/optical``."""
    path = Path(os.environ.get("OPTICAL_CACHE_DIR", Path.home() / ".cache" / "optical"))
    path.mkdir(parents=True, exist_ok=True)
    return path
