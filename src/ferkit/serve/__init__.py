"""``ferkit serve``: an HTTP API and a browser page over one shared Recognizer.

Needs the optional extra (``pip install 'ferkit[serve]'``). Importing this package imports neither
FastAPI nor torch, so ``ferkit`` keeps working without the extra; ``check_extra`` says what is missing.

    from ferkit.serve import ServeSettings, create_app
    app = create_app(settings=ServeSettings())        # loads the shipped model once
"""

from __future__ import annotations

import importlib.util
from typing import Any

from ferkit.errors import ConfigError
from ferkit.serve.settings import ServeSettings

__all__ = ["ServeSettings", "check_extra", "create_app"]

SERVE_EXTRA = "pip install 'ferkit[serve]'"
# import name -> distribution name, for the message
_REQUIRED = {"fastapi": "fastapi", "uvicorn": "uvicorn", "python_multipart": "python-multipart"}


def check_extra() -> None:
    """Raise ConfigError naming the extra when a package the server needs is not installed."""
    missing = [dist for module, dist in _REQUIRED.items() if importlib.util.find_spec(module) is None]
    if missing:
        raise ConfigError(f"ferkit serve needs {', '.join(missing)}; install the optional extra: {SERVE_EXTRA}")


def create_app(recognizer: Any = None, *, settings: ServeSettings | None = None) -> Any:
    """The FastAPI application (see ``ferkit.serve.app.create_app``)."""
    check_extra()
    from ferkit.serve.app import create_app as _create_app

    return _create_app(recognizer, settings=settings or ServeSettings())
