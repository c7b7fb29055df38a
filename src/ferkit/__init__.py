"""ferkit: facial expression recognition that stays accurate when faces are partly hidden.

Importing ferkit only defines things: no logging set-up, no downloads, no global state.
``from ferkit import Recognizer`` is resolved lazily so that ``import ferkit`` stays light.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["Recognizer", "FacePrediction", "ImagePrediction", "__version__"]


def __getattr__(name: str) -> Any:
    if name in ("Recognizer", "FacePrediction", "ImagePrediction"):
        from ferkit import recognizer

        return getattr(recognizer, name)
    raise AttributeError(f"module 'ferkit' has no attribute {name!r}")
