#!/usr/bin/env python3
"""Upstream MCP server on the official MCP Python SDK (PyPI `mcp` 2.x `MCPServer`), stateful,
protected by the SDK's own auth hook: a `TokenVerifier` that checks RS256 JWTs against a JWKS
URL with PyJWT.

Usage:
  sdk_notes.py --jwks-url URL --issuer ISS --audience AUD [--required-scopes S ...]
               [--seen-tokens FILE] [--port N] [--allow-modern] [--jwks-refresh-interval SECS]
               [--verbose]

Streamable HTTP at http://127.0.0.1:PORT/mcp with sessions: a client must `initialize` and then
send the `Mcp-Session-Id` it got. A session is bound by the SDK to the principal that opened it
(client_id, iss, sub): the same session id under a token of another principal answers 404. The
SDK 2.x would also answer sessionless 2026-07-28 requests (`MCP-Protocol-Version: 2026-07-28`,
no initialize); this server refuses those with HTTP 400 (JSON-RPC -32600) so that it really
requires the handshake, unless --allow-modern is given. Clients in `auto` mode fall back to
`initialize` on that 400.

Auth (no token, bad signature, unknown kid, alg other than RS256, wrong iss/aud, expired, or
missing exp/iss/aud/sub: HTTP 401 `invalid_token`; token fine but missing a --required-scopes
scope: HTTP 403 `insufficient_scope`). The JWT header must carry a `kid` found in the JWKS
(fetched on the first token, cached 5 min, refetched on an unknown kid at most every
--jwks-refresh-interval seconds). Also serves RFC 9728 metadata at
/.well-known/oauth-protected-resource/mcp.

Tools (JSON object results: structuredContent plus text):
  add_note(text)  -> {"id": n, "text": text, "owner": sub}       (not read-only)
  list_notes()    -> {"owner": sub, "notes": [note, ...]}         readOnlyHint: true
  whoami()        -> {"sub", "tenant", "scope", "client_id", "act", "iss", "aud", "exp", "jti"}
                     (verified claims, null where absent)         readOnlyHint: true
Notes are kept in memory, per JWT `sub`.

Prints exactly one stdout line, `listening on http://127.0.0.1:PORT/mcp`, once accepting; logs go
to stderr. Installed by scripts/install-test-clients.sh (venv target/test-clients/venv).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from typing import Any

import anyio
import jwt
from mcp.server import MCPServer
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.types import ToolAnnotations
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from starlette.routing import Route

import _common

log = logging.getLogger("sdk_notes")

READ_ONLY = ToolAnnotations(read_only_hint=True)


class JwksTokenVerifier:
    """`mcp.server.auth.provider.TokenVerifier`: RS256 JWT against a JWKS URL (PyJWT)."""

    def __init__(self, jwks_url: str, issuer: str, audience: str, refresh_interval: float, algorithm: str = "RS256"):
        self.algorithm = algorithm
        self.issuer = issuer
        self.audience = audience
        # Fetched on the first token; the set is cached for 5 minutes and refetched on an unknown
        # kid unless the last fetch is less than `refresh_interval` seconds old.
        self._jwks = jwt.PyJWKClient(
            jwks_url, cache_keys=False, lifespan=300, timeout=10, cooldown_duration=refresh_interval
        )

    def _verify(self, token: str) -> AccessToken | None:
        try:
            header = jwt.get_unverified_header(token)
            kid = header.get("kid")
            if header.get("alg") != self.algorithm or not isinstance(kid, str) or not kid:
                log.info("rejecting token: alg %r, kid %r", header.get("alg"), kid)
                return None
            key = self._jwks.get_signing_key(kid)
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[self.algorithm],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except (jwt.PyJWTError, ValueError) as e:
            log.info("rejecting token: %s: %s", type(e).__name__, e)
            return None
        scope = claims.get("scope")
        scopes = scope.split() if isinstance(scope, str) else []
        return AccessToken(
            token=token,
            client_id=str(claims.get("client_id") or claims.get("azp") or claims["sub"]),
            scopes=scopes,
            expires_at=int(claims["exp"]),
            subject=str(claims["sub"]),
            resource=self.audience,
            claims=claims,
        )

    async def verify_token(self, token: str) -> AccessToken | None:
        # PyJWKClient fetches with blocking urllib: keep it off the event loop.
        return await anyio.to_thread.run_sync(self._verify, token)


class HandshakeOnly:
    """Refuses sessionless 2026-07-28 (modern-era) requests so that `initialize` is required.

    Sits inside the SDK's RequireAuthMiddleware, so unauthenticated requests still get 401 first.
    """

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        version = _common.header(scope, b"mcp-protocol-version")
        if scope["type"] == "http" and version is not None and version not in HANDSHAKE_PROTOCOL_VERSIONS:
            await _common.send_json(
                send,
                400,
                {
                    "jsonrpc": "2.0",
                    "id": None,
                    "error": {
                        "code": -32600,
                        "message": f"protocol version {version} is not served here: this server requires the "
                        f"initialize handshake and an Mcp-Session-Id (versions {list(HANDSHAKE_PROTOCOL_VERSIONS)})",
                    },
                },
            )
            return
        await self.app(scope, receive, send)


def caller_claims() -> dict[str, Any]:
    token = get_access_token()
    if token is None:  # unreachable behind RequireAuthMiddleware
        raise RuntimeError("no verified access token in this request")
    return dict(token.claims or {})


def build(args: argparse.Namespace, port: int) -> MCPServer:
    mcp_url = f"http://{_common.HOST}:{port}{_common.MCP_PATH}"
    mcp = MCPServer(
        "sdk-notes",
        token_verifier=JwksTokenVerifier(args.jwks_url, args.issuer, args.audience, args.jwks_refresh_interval, args.algorithm),
        auth=AuthSettings(
            issuer_url=args.issuer,  # only advertised in the protected-resource metadata
            resource_server_url=mcp_url,
            validate_token_resource=False,  # the verifier checks `aud` itself
            required_scopes=args.required_scopes or None,
        ),
        log_level="INFO" if args.verbose else "WARNING",
    )
    notes = _common.NoteStore()

    @mcp.tool()
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

    return mcp


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common.add_common_args(parser, jwt=True)
    parser.add_argument(
        "--allow-modern",
        action="store_true",
        help="also serve sessionless 2026-07-28 requests (the SDK's stock behaviour)",
    )
    args = parser.parse_args()
    _common.setup_logging(args.verbose)

    sock = _common.bind_socket(args.port)
    mcp = build(args, sock.getsockname()[1])
    app = mcp.streamable_http_app(streamable_http_path=_common.MCP_PATH, stateless_http=False)
    if not args.allow_modern:
        (route,) = [r for r in app.router.routes if isinstance(r, Route) and r.path == _common.MCP_PATH]
        require_auth = route.app  # the SDK's RequireAuthMiddleware around the session manager
        require_auth.app = HandshakeOnly(require_auth.app)
    await _common.serve(_common.SeenTokens(app, args.seen_tokens), sock)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(130)
