#!/usr/bin/env python3
"""Self-check of the upstream MCP servers in tests/upstreams/, without Portcullis.

Usage: target/test-clients/venv/bin/python tests/upstreams/selfcheck.py [-v]

Plays the part Portcullis will play: makes an RSA key (kid "k1"), serves its JWKS from a local
http.server thread, mints RS256 tokens with PyJWT, starts each server as a child process, reads
the `listening on http://127.0.0.1:PORT/mcp` line from its stdout, and drives it with the official
MCP Python SDK client (mcp 2.x: streamable HTTP and stdio) plus raw HTTP requests. It checks:

- tools/list: the expected tools; readOnlyHint true on the read-only tools and not on add_note;
- add_note / list_notes / whoami as two users: per-user notes, the claims whoami reports;
- auth: no token, wrong aud/iss, expired, forged signature, unknown kid, HS256 -> 401 (the SDK
  server also wants kid and exp; FastMCP does not); missing scope -> 401 (FastMCP) or 403 (SDK);
  the service-token server's 401s;
- sessions (both JWT servers are stateful): initialize required, a session bound to the principal
  (client_id, iss, sub) that opened it (404 otherwise), whoami seeing the current request's token;
  sessionless 2026-07-28 requests served by FastMCP (and sdk_notes --allow-modern), refused by
  sdk_notes (400); the SDK's Host/Origin checks (421/403), absent in FastMCP;
- the --seen-tokens file records every Authorization header value that reached the server;
- nothing but the one line ever appears on an HTTP server's stdout;
- stdio: the tools, pid(), and crash() ending the process with status 3.

Exits 0 when every check passes, 1 otherwise. Prints `N passed, N failed` at the end.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import httpx2
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

HERE = Path(__file__).resolve().parent
PY = sys.executable
VERBOSE = "-v" in sys.argv[1:]
AUDIENCE = "urn:portcullis:upstream:notes"
SCOPE_REQUIRED = "notes:read"
SERVICE_TOKEN = "svc-" + uuid.uuid4().hex
LISTENING = re.compile(r"^listening on (http://127\.0\.0\.1:(\d+)/mcp)$")
INIT_BODY = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "selfcheck", "version": "1"},
    },
}
ACCEPT = "application/json, text/event-stream"

passed = 0
failed = 0


def info(msg: str) -> None:
    print(f"  info: {msg}")


def check(cond: bool, what: str, detail: Any = "") -> bool:
    global passed, failed
    if cond:
        passed += 1
        if VERBOSE:
            print(f"  ok: {what}")
    else:
        failed += 1
        print(f"  FAIL: {what} {detail!r}" if detail != "" else f"  FAIL: {what}")
    return cond


# --- keys, JWKS, tokens -----------------------------------------------------------------------------


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


KEY = new_key()  # published in the JWKS as kid "k1"
OTHER_KEY = new_key()  # never published


class Jwks:
    """A JWKS document at http://127.0.0.1:PORT/jwks.json, served from a thread."""

    def __init__(self) -> None:
        jwk = RSAAlgorithm.to_jwk(KEY.public_key(), as_dict=True)
        jwk.update({"kid": "k1", "alg": "RS256", "use": "sig"})
        body = json.dumps({"keys": [jwk]}).encode()
        self.fetches = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                if self.path != "/jwks.json":
                    self.send_error(404)
                    return
                outer.fetches += 1
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.url = f"{self.base}/jwks.json"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


JWKS = Jwks()
ISSUER = JWKS.base  # like Portcullis: the issuer is the base URL that serves /jwks.json


def claims_for(sub: str, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": sub,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
        "tenant": f"tenant-of-{sub}",
        "scope": f"{SCOPE_REQUIRED} notes:write",
        "client_id": "selfcheck-client",
        "act": {"sub": "portcullis"},
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def mint(claims: dict[str, Any], *, key: Any = KEY, kid: str | None = "k1", alg: str = "RS256") -> str:
    headers = {"kid": kid} if kid is not None else {}
    return jwt.encode(claims, key, algorithm=alg, headers=headers)


# --- child processes --------------------------------------------------------------------------------


class Upstream:
    """A server child process whose stdout's one line tells its URL."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str] | None = None, tmp: Path | None = None):
        self.name = name
        self.stderr_path = (tmp or Path(tempfile.gettempdir())) / f"{name}.stderr"
        self.stderr = open(self.stderr_path, "wb")
        started = time.monotonic()
        self.proc = subprocess.Popen(
            [PY, *argv],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            env={**os.environ, **(env or {})},
        )
        self.first_line = self._read_line(timeout=60)
        self.startup_s = time.monotonic() - started
        m = LISTENING.match(self.first_line)
        if not m:
            self.stop()
            raise RuntimeError(f"{name}: unexpected first stdout line {self.first_line!r}; stderr: {self.tail()}")
        self.url, self.port = m.group(1), int(m.group(2))
        info(f"{name}: {self.first_line!r} after {self.startup_s:.1f}s")

    def _read_line(self, timeout: float) -> str:
        box: list[bytes] = []
        reader = threading.Thread(target=lambda: box.append(self.proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        if not box:
            self.proc.kill()
            raise RuntimeError(f"{self.name}: no stdout line within {timeout}s; stderr: {self.tail()}")
        return box[0].decode().rstrip("\n")

    def tail(self) -> str:
        self.stderr.flush()
        return self.stderr_path.read_text(errors="replace")[-3000:]

    def stop(self) -> bytes:
        """Terminates the child; returns whatever it printed on stdout after the first line."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rest = self.proc.stdout.read()
        self.proc.stdout.close()
        self.stderr.close()
        return rest


@asynccontextmanager
async def mcp_client(url: str, headers: dict[str, str], mode: str = "legacy"):
    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0, read=60.0)) as http:
        async with Client(streamable_http_client(url, http_client=http), mode=mode) as client:
            yield client


async def call(client: Client, tool: str, args: dict[str, Any] | None = None) -> Any:
    result = await client.call_tool(tool, args or {})
    if not check(not result.is_error, f"{tool} is not a tool error", result.model_dump(by_alias=True)):
        return {}
    check(isinstance(result.structured_content, dict), f"{tool} has a structuredContent object")
    texts = [c.text for c in result.content if getattr(c, "type", None) == "text"]
    if isinstance(result.structured_content, dict):
        check(
            any(_json_or_none(t) == result.structured_content for t in texts),
            f"{tool} also returns the structured result as text",
            texts,
        )
    return result.structured_content or {}


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


async def check_tools(client: Client, expected: set[str], read_only: set[str], label: str) -> None:
    tools = {t.name: t for t in (await client.list_tools()).tools}
    check(set(tools) == expected, f"{label}: tools/list names", sorted(tools))
    for name, tool in tools.items():
        hint = tool.annotations.read_only_hint if tool.annotations else None
        if name in read_only:
            check(hint is True, f"{label}: {name} has readOnlyHint true", hint)
        else:
            check(hint is not True, f"{label}: {name} is not readOnlyHint true", hint)
    if VERBOSE:
        for name, tool in tools.items():
            info(f"{label}: {name} outputSchema={tool.output_schema} annotations={tool.annotations}")


def post(url: str, body: Any, headers: dict[str, str]) -> httpx2.Response:
    with httpx2.Client(timeout=30.0) as http:
        return http.post(url, json=body, headers={"accept": ACCEPT, **headers})


def modern_whoami(url: str, token: str) -> httpx2.Response:
    """A self-contained 2026-07-28 tools/call (no initialize, no session)."""
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "selfcheck", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    body = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "whoami", "arguments": {}, "_meta": meta}}
    headers = {"mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call", "mcp-name": "whoami"}
    return post(url, body, {**bearer(token), **headers})


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def seen_lines(path: Path) -> list[str]:
    return path.read_text(encoding="latin-1").splitlines()


# --- the JWT servers --------------------------------------------------------------------------------


async def check_jwt_server(script: str, tmp: Path) -> None:
    label = script.removesuffix(".py")
    is_sdk = script == "sdk_notes.py"
    print(f"{label}:")
    seen = tmp / f"{label}.seen"
    up = Upstream(
        label,
        [
            str(HERE / script),
            "--jwks-url", JWKS.url,
            "--issuer", ISSUER,
            "--audience", AUDIENCE,
            "--required-scopes", SCOPE_REQUIRED,
            "--seen-tokens", str(seen),
        ],
        tmp=tmp,
    )  # fmt: skip
    try:
        check(seen.exists() and seen.read_text() == "", f"{label}: --seen-tokens file exists and is empty at start")
        alice_claims, bob_claims = claims_for("alice"), claims_for("bob", tenant=None)
        alice, bob = mint(alice_claims), mint(bob_claims)

        async with mcp_client(up.url, bearer(alice)) as a, mcp_client(up.url, bearer(bob)) as b:
            info(f"{label}: legacy mode negotiated {a.protocol_version}")
            extra = {"countdown", "sleep", "cancellations"} if script.startswith("fastmcp") else set()
            await check_tools(a, {"add_note", "list_notes", "whoami"} | extra, {"list_notes", "whoami"} | extra, label)
            note = await call(a, "add_note", {"text": "alice 1"})
            check(
                isinstance(note.get("id"), int) and note.get("text") == "alice 1" and note.get("owner") == "alice",
                f"{label}: add_note as alice",
                note,
            )
            note_b = await call(b, "add_note", {"text": "bob 1"})
            check(note_b.get("owner") == "bob" and note_b.get("id") != note.get("id"), f"{label}: add_note as bob", note_b)
            await call(a, "add_note", {"text": "alice 2"})
            listed_a = await call(a, "list_notes")
            listed_b = await call(b, "list_notes")
            check(
                [n.get("text") for n in listed_a.get("notes", [])] == ["alice 1", "alice 2"],
                f"{label}: list_notes as alice shows only alice's notes",
                listed_a,
            )
            check(
                [n.get("text") for n in listed_b.get("notes", [])] == ["bob 1"],
                f"{label}: list_notes as bob shows only bob's notes",
                listed_b,
            )
            who = await call(a, "whoami")
            want = {k: alice_claims.get(k) for k in ("sub", "tenant", "scope", "client_id", "act", "iss", "aud", "exp", "jti")}
            check(who == want, f"{label}: whoami as alice returns the verified claims", who)
            who_b = await call(b, "whoami")
            check(who_b.get("sub") == "bob" and who_b.get("tenant") is None, f"{label}: whoami as bob", who_b)

        # A new session (mode auto: the 2026 probe first, handshake fallback) still sees alice's notes.
        async with mcp_client(up.url, bearer(mint(claims_for("alice"))), mode="auto") as a2:
            info(f"{label}: auto mode negotiated {a2.protocol_version}")
            listed = await call(a2, "list_notes")
            check(len(listed.get("notes", [])) == 2, f"{label}: notes outlive the session (auto mode)", listed)

        # Raw HTTP: what gets a 401 (or 403).
        rejected = {
            "no token": {},
            "not a JWT": bearer("not-a-jwt"),
            "wrong aud": bearer(mint(claims_for("alice", aud="urn:someone-else"))),
            "wrong iss": bearer(mint(claims_for("alice", iss="http://evil.example"))),
            "expired": bearer(mint(claims_for("alice", iat=int(time.time()) - 600, exp=int(time.time()) - 60))),
            "forged signature": bearer(mint(claims_for("alice"), key=OTHER_KEY)),
            "unknown kid": bearer(mint(claims_for("alice"), key=OTHER_KEY, kid="k-unknown")),
            "HS256": bearer(mint(claims_for("alice"), key="x" * 32, alg="HS256")),
            "basic auth": {"authorization": "Basic YWxpY2U6cHc="},
        }
        if is_sdk:  # FastMCP accepts these two, see the info lines below
            rejected["no kid"] = bearer(mint(claims_for("alice"), kid=None))
            rejected["no exp"] = bearer(mint(claims_for("alice", exp=None)))
        for what, headers in rejected.items():
            r = post(up.url, INIT_BODY, headers)
            check(r.status_code == 401, f"{label}: {what} -> 401", (r.status_code, r.text[:200]))
            check("bearer" in r.headers.get("www-authenticate", "").lower(), f"{label}: {what} -> WWW-Authenticate")
            if VERBOSE:
                info(f"{label}: {what}: {r.status_code} {r.headers.get('www-authenticate')} {r.text[:120]}")
        if not is_sdk:
            for what, token in (
                ("no kid", mint(claims_for("alice"), kid=None)),
                ("no exp", mint(claims_for("alice", exp=None))),
            ):
                status = post(up.url, INIT_BODY, bearer(token)).status_code
                info(f"{label}: token with {what}: HTTP {status} (FastMCP's JWTVerifier does not require it)")
        no_scope = post(up.url, INIT_BODY, bearer(mint(claims_for("alice", scope="notes:write"))))
        want_status = 403 if is_sdk else 401
        check(
            no_scope.status_code == want_status,
            f"{label}: token without required scope -> {want_status}",
            (no_scope.status_code, no_scope.text[:200]),
        )
        carol = bearer(mint(claims_for("carol")))
        ok = post(up.url, INIT_BODY, carol)
        check(ok.status_code == 200, f"{label}: raw initialize with a good token -> 200", (ok.status_code, ok.text[:200]))
        # DNS-rebinding protection: the SDK's (on for 127.0.0.1) checks Host and Origin; FastMCP's
        # http_app() has its own guard off by default.
        foreign_host = post(up.url, INIT_BODY, {**carol, "host": "gateway.example"}).status_code
        foreign_origin = post(up.url, INIT_BODY, {**carol, "origin": "http://gateway.example"}).status_code
        want_host, want_origin = (421, 403) if is_sdk else (200, 200)
        check(foreign_host == want_host, f"{label}: Host: gateway.example -> {want_host}", foreign_host)
        check(foreign_origin == want_origin, f"{label}: Origin: http://gateway.example -> {want_origin}", foreign_origin)
        local_host = post(up.url, INIT_BODY, {**carol, "host": "localhost:1"}).status_code
        check(local_host == 200, f"{label}: Host: localhost:1 -> 200", local_host)

        modern = modern_whoami(up.url, alice)
        if is_sdk:
            check(
                modern.status_code == 400 and "initialize handshake" in modern.text,
                f"{label}: sessionless 2026-07-28 request -> 400",
                (modern.status_code, modern.text[:200]),
            )
        else:
            body = _json_or_none(modern.text) or {}
            sub = ((body.get("result") or {}).get("structuredContent") or {}).get("sub")
            check(
                modern.status_code == 200 and sub == "alice",
                f"{label}: sessionless 2026-07-28 tools/call is served (stock FastMCP)",
                (modern.status_code, modern.text[:200]),
            )

        await check_sessions(label, up.url, alice, bob)

        # Every Authorization header value that reached the server was recorded, one per line.
        lines = seen_lines(seen)
        check(f"Bearer {alice}" in lines and f"Bearer {bob}" in lines, f"{label}: seen-tokens has alice's and bob's tokens")
        for what, headers in rejected.items():
            if "authorization" in headers:
                check(headers["authorization"] in lines, f"{label}: seen-tokens has the {what} header value")
        check(all(line for line in lines), f"{label}: seen-tokens has no empty lines")
        info(f"{label}: {len(lines)} Authorization headers recorded; JWKS fetched {JWKS.fetches} times so far")
    finally:
        rest = up.stop()
        check(rest == b"", f"{label}: nothing on stdout but the listening line", rest[:300])


def rpc_result(r: httpx2.Response) -> dict[str, Any]:
    """The JSON-RPC message of a POST answer, sent as application/json or as one SSE event."""
    if r.headers.get("content-type", "").startswith("text/event-stream"):
        for line in r.text.splitlines():
            if line.startswith("data:") and line[5:].strip():
                return _json_or_none(line[5:].strip()) or {}
        return {}
    return _json_or_none(r.text) or {}


async def check_sessions(label: str, url: str, alice: str, bob: str) -> None:
    """Raw Streamable HTTP session handling (both JWT servers are stateful)."""
    init = post(url, INIT_BODY, bearer(alice))
    sid = init.headers.get("mcp-session-id")
    check(init.status_code == 200 and bool(sid), f"{label}: initialize returns an Mcp-Session-Id", dict(init.headers))
    listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}
    proto = {"mcp-protocol-version": "2025-11-25"}
    no_session = post(url, listing, {**bearer(alice), **proto})
    check(no_session.status_code == 400, f"{label}: tools/list without a session -> 400", (no_session.status_code, no_session.text[:200]))
    post(url, {"jsonrpc": "2.0", "method": "notifications/initialized"}, {**bearer(alice), **proto, "mcp-session-id": sid})
    own = post(url, listing, {**bearer(alice), **proto, "mcp-session-id": sid})
    check(own.status_code == 200 and "list_notes" in own.text, f"{label}: tools/list in the session -> 200", own.status_code)
    # Another token of the same principal (sub, iss, client_id) keeps the session, and whoami
    # reports the claims of the token on *this* request.
    fresh_claims = claims_for("alice")
    fresh = post(
        url,
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "whoami", "arguments": {}}},
        {**bearer(mint(fresh_claims)), **proto, "mcp-session-id": sid},
    )
    who = (rpc_result(fresh).get("result") or {}).get("structuredContent") or {}
    check(fresh.status_code == 200, f"{label}: a new token of the same principal keeps the session", fresh.status_code)
    check(who.get("jti") == fresh_claims["jti"], f"{label}: whoami sees the token of the current request", who)
    hijack = post(url, listing, {**bearer(bob), **proto, "mcp-session-id": sid})
    check(hijack.status_code == 404, f"{label}: another principal's token on the session -> 404", hijack.status_code)
    other_client = mint(claims_for("alice", client_id="another-client"))
    moved = post(url, listing, {**bearer(other_client), **proto, "mcp-session-id": sid})
    check(moved.status_code == 404, f"{label}: same sub, other client_id on the session -> 404", moved.status_code)
    unknown = post(url, listing, {**bearer(alice), **proto, "mcp-session-id": "f" * 32})
    check(unknown.status_code == 404, f"{label}: unknown session id -> 404", unknown.status_code)
    with httpx2.Client(timeout=30.0) as http:
        gone = http.delete(url, headers={**bearer(alice), **proto, "mcp-session-id": sid})
    check(gone.status_code in (200, 204), f"{label}: DELETE ends the session", gone.status_code)
    after = post(url, listing, {**bearer(alice), **proto, "mcp-session-id": sid})
    check(after.status_code == 404, f"{label}: a deleted session -> 404", after.status_code)


async def check_sdk_allow_modern(tmp: Path) -> None:
    label = "sdk_notes --allow-modern"
    print(f"{label}:")
    argv = [str(HERE / "sdk_notes.py"), "--jwks-url", JWKS.url, "--issuer", ISSUER, "--audience", AUDIENCE, "--allow-modern"]
    up = Upstream("sdk_notes_allow_modern", argv, tmp=tmp)
    try:
        r = modern_whoami(up.url, mint(claims_for("alice")))
        body = _json_or_none(r.text) or {}
        sub = ((body.get("result") or {}).get("structuredContent") or {}).get("sub")
        check(r.status_code == 200 and sub == "alice", f"{label}: sessionless 2026-07-28 tools/call is served", r.text[:200])
        r = modern_whoami(up.url, mint(claims_for("alice", aud="urn:other")))
        check(r.status_code == 401, f"{label}: ... and still needs a valid token", r.status_code)
    finally:
        check(up.stop() == b"", f"{label}: nothing on stdout but the listening line")


async def check_fastmcp_stateless(tmp: Path) -> None:
    label = "fastmcp_notes --stateless"
    print(f"{label}:")
    argv = [str(HERE / "fastmcp_notes.py"), "--jwks-url", JWKS.url, "--issuer", ISSUER, "--audience", AUDIENCE, "--stateless"]
    up = Upstream("fastmcp_notes_stateless", argv, tmp=tmp)
    try:
        alice = mint(claims_for("alice"))
        init = post(up.url, INIT_BODY, bearer(alice))
        check(init.status_code == 200 and "mcp-session-id" not in init.headers, f"{label}: no Mcp-Session-Id", dict(init.headers))
        async with mcp_client(up.url, bearer(alice)) as a:
            await call(a, "add_note", {"text": "stateless"})
            listed = await call(a, "list_notes")
            check([n["text"] for n in listed.get("notes", [])] == ["stateless"], f"{label}: notes", listed)
        check(post(up.url, INIT_BODY, {}).status_code == 401, f"{label}: no token -> 401")
    finally:
        check(up.stop() == b"", f"{label}: nothing on stdout but the listening line")


# --- the service-token server -----------------------------------------------------------------------


async def check_service_token_server(tmp: Path) -> None:
    label = "service_token_notes"
    print(f"{label}:")
    script = str(HERE / "service_token_notes.py")
    refused = subprocess.run(
        [PY, script], env={k: v for k, v in os.environ.items() if k != "UPSTREAM_SERVICE_TOKEN"},
        capture_output=True, timeout=60,
    )  # fmt: skip
    check(refused.returncode == 2 and refused.stdout == b"", f"{label}: refuses to start without UPSTREAM_SERVICE_TOKEN", refused.returncode)

    seen = tmp / f"{label}.seen"
    up = Upstream(label, [script, "--seen-tokens", str(seen)], env={"UPSTREAM_SERVICE_TOKEN": SERVICE_TOKEN}, tmp=tmp)
    try:
        svc = bearer(SERVICE_TOKEN)
        alice_h = {**svc, "x-user-id": "alice", "x-tenant-id": "acme"}
        bob_h = {**svc, "x-user-id": "bob"}
        async with mcp_client(up.url, alice_h) as a, mcp_client(up.url, bob_h, mode="auto") as b:
            info(f"{label}: legacy mode negotiated {a.protocol_version}, auto mode {b.protocol_version}")
            await check_tools(a, {"add_note", "list_notes", "whoami"}, {"list_notes", "whoami"}, label)
            n = await call(a, "add_note", {"text": "alice 1"})
            check(n.get("owner") == "alice" and isinstance(n.get("id"), int), f"{label}: add_note as alice", n)
            n = await call(b, "add_note", {"text": "bob 1"})
            check(n.get("owner") == "bob", f"{label}: add_note as bob", n)
            la, lb = await call(a, "list_notes"), await call(b, "list_notes")
            check([x["text"] for x in la.get("notes", [])] == ["alice 1"], f"{label}: alice sees only hers", la)
            check([x["text"] for x in lb.get("notes", [])] == ["bob 1"], f"{label}: bob sees only his", lb)
            wa, wb = await call(a, "whoami"), await call(b, "whoami")
            check(wa == {"user": "alice", "tenant": "acme"}, f"{label}: whoami as alice", wa)
            check(wb == {"user": "bob", "tenant": None}, f"{label}: whoami as bob", wb)

        cases = {
            "no token": {"x-user-id": "alice"},
            "wrong token": {**bearer("svc-wrong"), "x-user-id": "alice"},
            "token as Basic": {"authorization": f"Basic {SERVICE_TOKEN}", "x-user-id": "alice"},
            "no X-User-ID": svc,
            "empty X-User-ID": {**svc, "x-user-id": ""},
        }
        for what, headers in cases.items():
            r = post(up.url, INIT_BODY, headers)
            body = _json_or_none(r.text) or {}
            want = "missing_user" if "X-User-ID" in what else "invalid_token"
            check(r.status_code == 401 and body.get("error") == want, f"{label}: {what} -> 401 {want}", (r.status_code, r.text[:200]))
        ok = post(up.url, INIT_BODY, alice_h)
        check(ok.status_code == 200, f"{label}: raw initialize with token and user -> 200", ok.status_code)

        lines = seen_lines(seen)
        check(f"Bearer {SERVICE_TOKEN}" in lines, f"{label}: seen-tokens has the service token")
        check("Bearer svc-wrong" in lines, f"{label}: seen-tokens has the wrong token too")
        info(f"{label}: {len(lines)} Authorization headers recorded")
    finally:
        rest = up.stop()
        check(rest == b"", f"{label}: nothing on stdout but the listening line", rest[:300])


# --- the stdio server -------------------------------------------------------------------------------


async def check_stdio_server() -> None:
    label = "stdio_notes"
    print(f"{label}:")
    params = StdioServerParameters(command=PY, args=[str(HERE / "stdio_notes.py")])
    async with Client(params) as client:
        info(f"{label}: auto mode negotiated {client.protocol_version}")
        await check_tools(
            client,
            {"echo", "add_note", "list_notes", "pid", "crash"},
            {"echo", "list_notes", "pid"},
            label,
        )
        echoed = await client.call_tool("echo", {"text": "hello, upstream"})
        texts = [c.text for c in echoed.content if getattr(c, "type", None) == "text"]
        check(texts == ["hello, upstream"], f"{label}: echo returns the text", texts)
        n = await call(client, "add_note", {"text": "stdio 1"})
        check(n.get("text") == "stdio 1" and isinstance(n.get("id"), int), f"{label}: add_note", n)
        listed = await call(client, "list_notes")
        check([x["text"] for x in listed.get("notes", [])] == ["stdio 1"], f"{label}: list_notes", listed)
        pid1 = (await call(client, "pid")).get("pid")
        check(isinstance(pid1, int) and pid1 != os.getpid(), f"{label}: pid", pid1)

        # crash() through the SDK client: the call fails (the server never answers), it does not hang.
        try:
            with anyio.fail_after(30):
                await client.call_tool("crash", {})
            check(False, f"{label}: crash() through the SDK client fails")
        except TimeoutError:
            check(False, f"{label}: crash() through the SDK client fails instead of hanging")
        except Exception as e:  # noqa: BLE001
            check(True, f"{label}: crash() through the SDK client fails")
            info(f"{label}: the SDK client saw crash() as {type(e).__name__}: {e}")
        await asyncio.sleep(0.5)
        check(not _alive(pid1), f"{label}: the crashed process is gone", pid1)

    # The exit status, with the process under our own control: a raw JSON-RPC session.
    proc = subprocess.Popen(
        [PY, str(HERE / "stdio_notes.py")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    try:
        def send(msg: dict[str, Any]) -> None:
            proc.stdin.write((json.dumps(msg) + "\n").encode())
            proc.stdin.flush()

        send(INIT_BODY)
        init = json.loads(proc.stdout.readline())
        check("result" in init, f"{label}: raw initialize", init)
        send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        send({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "pid", "arguments": {}}})
        pid2 = json.loads(proc.stdout.readline())["result"]["structuredContent"]["pid"]
        check(pid2 == proc.pid and pid2 != pid1, f"{label}: a restarted server has a new pid", (pid2, proc.pid, pid1))
        send({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "list_notes", "arguments": {}}})
        notes = json.loads(proc.stdout.readline())["result"]["structuredContent"]["notes"]
        check(notes == [], f"{label}: a restarted server starts with no notes", notes)
        send({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "crash", "arguments": {}}})
        status = proc.wait(30)
        check(status == 3, f"{label}: crash() exits with status 3", status)
        check(proc.stdout.read() == b"", f"{label}: crash() sends no answer")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# ------------------------------------------------------------------------------------------------------


def leaf_exceptions(e: BaseException) -> list[BaseException]:
    if isinstance(e, BaseExceptionGroup):
        return [leaf for sub in e.exceptions for leaf in leaf_exceptions(sub)]
    return [e]


async def run(name: str, fn: Callable[[], Awaitable[None]]) -> None:
    global failed
    started = time.monotonic()
    try:
        await fn()
    except Exception as e:  # noqa: BLE001
        failed += 1
        for leaf in leaf_exceptions(e):
            print(f"  FAIL: {name} raised {type(leaf).__name__}: {leaf}")
        traceback.print_exc()
    info(f"{name} took {time.monotonic() - started:.1f}s")


async def main() -> int:
    with tempfile.TemporaryDirectory(prefix="upstreams-selfcheck-") as d:
        tmp = Path(d)
        await run("fastmcp_notes", lambda: check_jwt_server("fastmcp_notes.py", tmp))
        await run("sdk_notes", lambda: check_jwt_server("sdk_notes.py", tmp))
        await run("fastmcp_notes --stateless", lambda: check_fastmcp_stateless(tmp))
        await run("sdk_notes --allow-modern", lambda: check_sdk_allow_modern(tmp))
        await run("service_token_notes", lambda: check_service_token_server(tmp))
        await run("stdio_notes", check_stdio_server)
        if failed:
            for p in sorted(tmp.glob("*.stderr")):
                print(f"--- {p.name} (last 3000 chars) ---\n{p.read_text(errors='replace')[-3000:]}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
