"""An ASGI middleware that refuses request bodies over a size limit before they are read into memory.

A declared Content-Length over the limit is answered at once (413); a body streamed without one is
counted as it arrives and stopped when it passes the limit.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from ferkit.serve.errors import PayloadTooLarge

Scope = dict[str, Any]


class BodySizeLimit:
    """Wrap ``app``; ``limit_for(path)`` gives the largest body in bytes a path accepts."""

    def __init__(self, app: Any, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _send_413(send, f"the request body is {int(declared)} bytes; the limit is {limit} bytes")
            return
        received = 0

        async def limited_receive() -> dict[str, Any]:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLarge(f"the request body passed the limit of {limit} bytes")
            return message

        await self.app(scope, limited_receive, send)


async def _send_413(send: Callable, detail: str) -> None:
    body = json.dumps({"detail": detail, "code": PayloadTooLarge.code}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
