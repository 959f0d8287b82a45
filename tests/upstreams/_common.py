"""Shared plumbing for the upstream MCP servers in tests/upstreams/ (not a server itself).

- `bind_socket(port)`: a listening TCP socket on 127.0.0.1 (port 0 = ephemeral, chosen by the OS).
- `serve(app, sock)`: runs an ASGI app on that socket with uvicorn and, once uvicorn is accepting,
  prints the single stdout line `listening on http://127.0.0.1:PORT/mcp` (flushed). Nothing else
  is ever written to stdout; logs go to stderr.
- `SeenTokens`: ASGI wrapper that appends the raw `Authorization` header value of every HTTP
  request (authenticated or not) to a file, one per line. Requests without the header add nothing.
- `NoteStore`: in-memory per-owner notes with one global id counter.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import sys
from collections.abc import Awaitable, Callable
from typing import Any

Scope = dict[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]

HOST = "127.0.0.1"
# The verified claims `whoami` reports on the JWT upstreams (a missing claim is null).
WHOAMI_CLAIMS = ("sub", "tenant", "scope", "client_id", "act", "iss", "aud", "exp", "jti")
MCP_PATH = "/mcp"


def setup_logging(verbose: bool = False) -> None:
    """Everything to stderr; stdout is reserved for the one `listening on` line."""
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )


def add_common_args(parser: Any, *, jwt: bool) -> None:
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (default 0: ephemeral)")
    parser.add_argument(
        "--seen-tokens",
        metavar="FILE",
        help="append the raw Authorization header value of every HTTP request to FILE, one per line",
    )
    parser.add_argument("--verbose", action="store_true", help="log at INFO to stderr")
    if jwt:
        parser.add_argument("--jwks-url", required=True, help="JWKS URL, e.g. http://127.0.0.1:P/jwks.json")
        parser.add_argument("--issuer", required=True, help="required `iss` claim")
        parser.add_argument("--audience", required=True, help="required `aud` claim (string, or member of the list)")
        parser.add_argument(
            "--algorithm",
            default="RS256",
            choices=["RS256", "ES256"],
            help="the one signing algorithm accepted (Portcullis signs ES256)",
        )
        parser.add_argument(
            "--required-scopes",
            nargs="*",
            default=[],
            metavar="SCOPE",
            help="scopes the token's `scope` claim (space-separated) must all contain",
        )
        parser.add_argument(
            "--jwks-refresh-interval",
            type=float,
            default=30.0,
            metavar="SECS",
            help="minimum seconds between JWKS refetches on an unknown kid (default 30)",
        )


def bind_socket(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def mcp_url(sock: socket.socket) -> str:
    return f"http://{HOST}:{sock.getsockname()[1]}{MCP_PATH}"


async def serve(app: ASGIApp, sock: socket.socket, path: str = MCP_PATH) -> None:
    import uvicorn

    config = uvicorn.Config(
        app,
        log_config=None,  # uvicorn's default config sends access logs to stdout
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            await task  # startup failed: re-raise
            raise SystemExit("uvicorn exited before it started listening")
        await asyncio.sleep(0.01)
    sys.stdout.write(f"listening on http://{HOST}:{sock.getsockname()[1]}{path}\n")
    sys.stdout.flush()
    await task


class SeenTokens:
    """Outermost ASGI wrapper: records each HTTP request's raw Authorization header value."""

    def __init__(self, app: ASGIApp, path: str | None):
        self.app = app
        self.path = path
        if path:
            open(path, "a").close()  # exists from startup on, empty until a request carries a token

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if self.path and scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"authorization":
                    # A header value cannot hold a newline, so one line per request is unambiguous.
                    with open(self.path, "a", encoding="latin-1") as f:
                        f.write(value.decode("latin-1") + "\n")
        await self.app(scope, receive, send)


async def send_json(send: Any, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] = ()) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


class NoteStore:
    def __init__(self) -> None:
        self._next_id = 1
        self._notes: dict[str, list[dict[str, Any]]] = {}

    def add(self, owner: str, text: str) -> dict[str, Any]:
        note = {"id": self._next_id, "text": text, "owner": owner}
        self._next_id += 1
        self._notes.setdefault(owner, []).append(note)
        return dict(note)

    def list(self, owner: str) -> list[dict[str, Any]]:
        return [dict(n) for n in self._notes.get(owner, [])]


def whoami_claims(claims: dict[str, Any]) -> dict[str, Any]:
    return {name: claims.get(name) for name in WHOAMI_CLAIMS}


def env_required(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        print(f"{name} must be set to a non-empty value", file=sys.stderr)
        raise SystemExit(2)
    return value
