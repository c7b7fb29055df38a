"""Start the server: load the model once, then let uvicorn serve the application."""

from __future__ import annotations

import sys

from ferkit.serve import check_extra
from ferkit.serve.settings import ServeSettings


def serve(settings: ServeSettings, *, log_level: str = "info") -> None:
    """Serve until interrupted. Only this machine can connect unless ``settings.host`` says otherwise."""
    check_extra()
    import uvicorn

    from ferkit.serve.app import create_app

    if not settings.is_loopback:
        print(f"ferkit serve: listening on {settings.host}: other machines can reach this server; it has no authentication",
              file=sys.stderr)
    app = create_app(settings=settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=log_level, timeout_keep_alive=5)
