#!/usr/bin/env python3
"""Upstream MCP server on FastMCP (PyPI `fastmcp`), protected by FastMCP's own `JWTVerifier`.

Usage:
  fastmcp_notes.py --jwks-url URL --issuer ISS --audience AUD [--required-scopes S ...]
                   [--seen-tokens FILE] [--port N] [--stateless] [--jwks-refresh-interval SECS]
                   [--verbose]

Streamable HTTP at http://127.0.0.1:PORT/mcp (stateful by default: FastMCP's session manager; it
also answers sessionless 2026-07-28 requests, as the SDK does). Bearer tokens must be RS256 JWTs
whose `kid` is in the JWKS at --jwks-url (fetched on the first token, cached for an hour, refetched
on an unknown kid at most every --jwks-refresh-interval seconds), with `iss` == --issuer, `aud`
== (or containing) --audience and every --required-scopes in `scope`; otherwise HTTP 401.

Tools (results are JSON objects, returned as structuredContent and as text):
  add_note(text)  -> {"id": n, "text": text, "owner": sub}       (not read-only)
  list_notes()    -> {"owner": sub, "notes": [note, ...]}         readOnlyHint: true
  whoami()        -> {"sub", "tenant", "scope", "client_id", "act", "iss", "aud", "exp", "jti"}
                     (the verified claims, null where absent)     readOnlyHint: true
  countdown(steps) -> {"steps": steps}, after a progress notification and an info log message
                     per step                                     readOnlyHint: true
  sleep(seconds)  -> {"slept": seconds}; a cancelled call is counted   readOnlyHint: true
  cancellations() -> {"cancelled": n}, the sleep calls cancelled so far  readOnlyHint: true
Resources: notes://readme ("readme for <sub>") and the template notes://{note_id} (that note's
text). Prompt: summarize(topic) -> "Summarize <topic> for <sub>".
Notes are kept in memory, per JWT `sub`.

Prints exactly one stdout line, `listening on http://127.0.0.1:PORT/mcp`, once accepting; logs go
to stderr. Installed by scripts/install-test-clients.sh (venv target/test-clients/venv).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any

os.environ.setdefault("FASTMCP_CHECK_FOR_UPDATES", "off")
os.environ.setdefault("FASTMCP_LOG_LEVEL", "DEBUG" if "--verbose" in sys.argv else "WARNING")

from fastmcp import Context, FastMCP  # noqa: E402
from fastmcp.server.auth.providers.jwt import JWTVerifier  # noqa: E402
from fastmcp.server.dependencies import get_access_token  # noqa: E402

import _common  # noqa: E402

READ_ONLY = {"readOnlyHint": True}


def caller_claims() -> dict[str, Any]:
    token = get_access_token()
    if token is None:  # unreachable behind RequireAuthMiddleware
        raise RuntimeError("no verified access token in this request")
    return dict(token.claims or {})


def build(args: argparse.Namespace) -> FastMCP:
    verifier = JWTVerifier(
        jwks_uri=args.jwks_url,
        issuer=args.issuer,
        audience=args.audience,
        algorithm=args.algorithm,
        required_scopes=args.required_scopes or None,
        jwks_refresh_interval=args.jwks_refresh_interval,
    )
    mcp = FastMCP("fastmcp-notes", auth=verifier)
    notes = _common.NoteStore()

    @mcp.tool(annotations={"readOnlyHint": False})
    async def add_note(text: str) -> dict[str, Any]:
        """Store a note for the calling user (the token's `sub`)."""
        return notes.add(str(caller_claims().get("sub")), text)

    @mcp.tool(annotations=READ_ONLY)
    async def list_notes() -> dict[str, Any]:
        """List the calling user's notes."""
        owner = str(caller_claims().get("sub"))
        return {"owner": owner, "notes": notes.list(owner)}

    @mcp.tool(annotations=READ_ONLY)
    async def whoami() -> dict[str, Any]:
        """The verified JWT claims of this request."""
        return _common.whoami_claims(caller_claims())

    @mcp.tool(annotations=READ_ONLY)
    async def countdown(steps: int, ctx: Context) -> dict[str, Any]:
        """Report progress and a log message for each of `steps` steps, then return."""
        for step in range(1, steps + 1):
            await ctx.report_progress(step, steps, f"step {step} of {steps}")
            await ctx.info(f"countdown step {step}")
            await asyncio.sleep(0.02)
        return {"steps": steps}

    cancelled = {"count": 0}

    @mcp.tool(annotations=READ_ONLY)
    async def sleep(seconds: float) -> dict[str, Any]:
        """Sleep, counting the calls cancelled before they finish (see `cancellations`)."""
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            cancelled["count"] += 1
            raise
        return {"slept": seconds}

    @mcp.resource("notes://readme")
    async def readme() -> str:
        """A resource naming the caller."""
        return f"readme for {caller_claims().get('sub')}"

    @mcp.resource("notes://{note_id}")
    async def note(note_id: str) -> str:
        """One of the caller's notes by id (a resource template)."""
        owner = str(caller_claims().get("sub"))
        return next((n["text"] for n in notes.list(owner) if str(n["id"]) == note_id), "")

    @mcp.prompt()
    async def summarize(topic: str) -> str:
        """A prompt naming the caller."""
        return f"Summarize {topic} for {caller_claims().get('sub')}"

    @mcp.tool(annotations=READ_ONLY)
    async def cancellations() -> dict[str, Any]:
        """How many `sleep` calls were cancelled so far."""
        return {"cancelled": cancelled["count"]}

    return mcp


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common.add_common_args(parser, jwt=True)
    parser.add_argument("--stateless", action="store_true", help="FastMCP stateless_http (no Mcp-Session-Id)")
    args = parser.parse_args()
    _common.setup_logging(args.verbose)

    mcp = build(args)
    sock = _common.bind_socket(args.port)
    app = mcp.http_app(path=_common.MCP_PATH, stateless_http=args.stateless)
    await _common.serve(_common.SeenTokens(app, args.seen_tokens), sock)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(130)
