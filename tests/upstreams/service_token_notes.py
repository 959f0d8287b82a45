#!/usr/bin/env python3
"""Upstream MCP server on the official MCP Python SDK (PyPI `mcp` 2.x `MCPServer`), stateless,
authenticated by a static service token plus a trusted user header (no JWT).

Usage:
  UPSTREAM_SERVICE_TOKEN=SECRET service_token_notes.py [--key-header NAME] [--seen-tokens FILE]
                                                       [--port N] [--verbose]
With --key-header the token is expected raw in header NAME (an API key) instead of as a bearer.

Streamable HTTP at http://127.0.0.1:PORT/mcp, stateless (no Mcp-Session-Id; `initialize` is
accepted but not required, and sessionless 2026-07-28 requests work too). Every HTTP request must
carry `Authorization: Bearer <UPSTREAM_SERVICE_TOKEN>` (compared with hmac.compare_digest) and a
non-empty `X-User-ID`; `X-Tenant-ID` is optional. Otherwise: HTTP 401 with a JSON body
{"error": "invalid_token" | "missing_user", "error_description": ...}. The server refuses to
start (exit 2) when UPSTREAM_SERVICE_TOKEN is unset or empty.

Tools (JSON object results: structuredContent plus text):
  add_note(text)  -> {"id": n, "text": text, "owner": user}      (not read-only)
  list_notes()    -> {"owner": user, "notes": [note, ...]}        readOnlyHint: true
  whoami()        -> {"user": X-User-ID, "tenant": X-Tenant-ID or null}   readOnlyHint: true
Notes are kept in memory, per X-User-ID.

Prints exactly one stdout line, `listening on http://127.0.0.1:PORT/mcp`, once accepting; logs go
to stderr. Installed by scripts/install-test-clients.sh (venv target/test-clients/venv).
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import sys
from typing import Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.types import ToolAnnotations

import _common

READ_ONLY = ToolAnnotations(read_only_hint=True)
TOKEN_ENV = "UPSTREAM_SERVICE_TOKEN"


class RequireServiceToken:
    """ASGI middleware: `Authorization: Bearer <service token>` and a non-empty `X-User-ID`."""

    def __init__(self, app: Any, token: str, key_header: str | None = None):
        self.app = app
        self.expected = token.encode()
        self.key_header = key_header.lower().encode() if key_header else None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.key_header:  # a static API key in its own header (design document 001)
            scheme, presented = "bearer", _common.header(scope, self.key_header) or ""
        else:
            auth = _common.header(scope, b"authorization") or ""
            scheme, _, presented = auth.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(presented.encode("latin-1"), self.expected):
            await _common.send_json(
                send,
                401,
                {"error": "invalid_token", "error_description": "a valid service token is required"},
                [(b"www-authenticate", b'Bearer error="invalid_token"')],
            )
            return
        if not (_common.header(scope, b"x-user-id") or "").strip():
            await _common.send_json(
                send, 401, {"error": "missing_user", "error_description": "the X-User-ID header is required"}
            )
            return
        await self.app(scope, receive, send)


def caller(ctx: Context) -> tuple[str, str | None]:
    headers = ctx.headers or {}
    user = (headers.get("x-user-id") or "").strip()
    if not user:  # unreachable behind RequireServiceToken
        raise RuntimeError("no X-User-ID on this request")
    tenant = (headers.get("x-tenant-id") or "").strip() or None
    return user, tenant


def build(verbose: bool) -> MCPServer:
    mcp = MCPServer("service-token-notes", log_level="INFO" if verbose else "WARNING")
    notes = _common.NoteStore()

    @mcp.tool()
    async def add_note(text: str, ctx: Context) -> dict[str, Any]:
        """Store a note for the calling user (X-User-ID)."""
        return notes.add(caller(ctx)[0], text)

    @mcp.tool(annotations=READ_ONLY)
    async def list_notes(ctx: Context) -> dict[str, Any]:
        """List the calling user's notes."""
        user = caller(ctx)[0]
        return {"owner": user, "notes": notes.list(user)}

    @mcp.tool(annotations=READ_ONLY)
    async def whoami(ctx: Context) -> dict[str, Any]:
        """The user and tenant this request was made for."""
        user, tenant = caller(ctx)
        return {"user": user, "tenant": tenant}

    return mcp


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common.add_common_args(parser, jwt=False)
    parser.add_argument(
        "--key-header",
        metavar="NAME",
        help="expect the token as a raw API key in header NAME instead of Authorization: Bearer",
    )
    args = parser.parse_args()
    _common.setup_logging(args.verbose)
    token = _common.env_required(TOKEN_ENV)

    sock = _common.bind_socket(args.port)
    mcp = build(args.verbose)
    app = mcp.streamable_http_app(streamable_http_path=_common.MCP_PATH, stateless_http=True)
    await _common.serve(_common.SeenTokens(RequireServiceToken(app, token, args.key_header), args.seen_tokens), sock)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(130)
