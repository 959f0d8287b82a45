#!/usr/bin/env python3
"""Self-check of the test OpenID Connect identity provider (tests/idp/oidc_idp.mjs), alone.

Usage: target/test-clients/venv/bin/python tests/idp/selfcheck.py

Plays the relying party Portcullis will be, browserlessly (httpx2 with a cookie jar, no
JavaScript): starts the IdP, reads its one stdout line, discovers it, runs the authorization code
flow with PKCE S256, state and nonce, signs in as alice on the login form, captures the code at the
redirect URI (not followed: nothing listens there), redeems it with client_secret_basic and
verifies the ID token with PyJWT against the JWKS (signature, iss, aud, nonce, exp, and the claims
sub, email, email_verified, name, tid). Then: each armed fault tampers exactly the next ID token;
Cancel ends at the redirect URI with error=access_denied; PKCE is required; a wrong client secret
is refused; an unregistered redirect URI gets an error page; the control
endpoints; SIGTERM ends the process with status 0. Prints `idp selfcheck OK`; any failure raises.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx2
import jwt

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
NODE_MODULES = os.environ.get("PORTCULLIS_TEST_NODE_MODULES", str(REPO / "target/test-clients/node/node_modules"))
CLIENT_ID = "portcullis-test"
CLIENT_SECRET = "s3cret-" + secrets.token_hex(8)
REDIRECT_URI = "http://127.0.0.1:9/authorize/federated/callback"  # port 9 (discard): nothing listens
OTHER_REDIRECT_URI = "http://127.0.0.1:10/authorize/federated/callback"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def start_idp() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        ["node", str(HERE / "oidc_idp.mjs"), "--port", "0", "--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET,
         "--redirect-uri", REDIRECT_URI, "--redirect-uri", OTHER_REDIRECT_URI],
        stdout=subprocess.PIPE, stderr=open(os.environ.get("IDP_STDERR", os.devnull), "w"), text=True,
        env={**os.environ, "PORTCULLIS_TEST_NODE_MODULES": NODE_MODULES},
    )
    line = proc.stdout.readline()
    m = re.fullmatch(r"listening on (http://127\.0\.0\.1:\d+)\n", line)
    assert m, f"unexpected first stdout line: {line!r}"
    return proc, m.group(1)


class Flow:
    """One authorization request, browserless, with its own cookie jar."""

    def __init__(self, meta: dict, *, pkce: bool = True, redirect_uri: str = REDIRECT_URI):
        self.meta = meta
        self.redirect_uri = redirect_uri
        self.state = secrets.token_urlsafe(16)
        self.nonce = secrets.token_urlsafe(16)
        self.verifier = secrets.token_urlsafe(48)
        params = {
            "client_id": CLIENT_ID, "response_type": "code", "scope": "openid email profile",
            "redirect_uri": redirect_uri, "state": self.state, "nonce": self.nonce,
        }
        if pkce:
            params.update(code_challenge=b64url(hashlib.sha256(self.verifier.encode()).digest()), code_challenge_method="S256")
        self.url = meta["authorization_endpoint"] + "?" + urlencode(params)
        self.browser = httpx2.Client(follow_redirects=False, timeout=10.0)
        self.page: httpx2.Response | None = None
        self.redirected: dict | None = None  # query of the final redirect to redirect_uri

    def follow(self, resp: httpx2.Response) -> None:
        for _ in range(10):
            if resp.status_code not in (302, 303):
                self.page = resp
                return
            location = urljoin(str(resp.request.url), resp.headers["location"])
            if location.split("?")[0] == self.redirect_uri:
                q = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
                self.redirected = q
                return
            resp = self.browser.get(location)
        raise AssertionError("too many redirects")

    def start(self) -> None:
        self.follow(self.browser.get(self.url))

    def form_action(self, button_text: str) -> str:
        for form in re.findall(r"<form\b.*?</form>", self.page.text, re.S):
            if f">{button_text}</button>" in form:
                return urljoin(str(self.page.request.url), unescape(re.search(r'action="([^"]*)"', form).group(1)))
        raise AssertionError(f"no form with a {button_text!r} button: {self.page.text[:500]}")

    def login(self, login: str, password: str = "pw") -> dict:
        self.start()
        assert self.page is not None and self.page.status_code == 200, self.page
        text = self.page.text
        assert 'name="login"' in text and 'type="password" name="password"' in text, text
        assert "<script" not in text.lower(), "the login page must not need JavaScript"
        assert re.search(r'<form method="post" action="/interaction/[\w-]+/login">', text), text
        self.follow(self.browser.post(self.form_action("Sign in"), data={"login": login, "password": password}))
        assert self.redirected is not None, f"no redirect to the client: {self.page.status_code} {self.page.text[:300]}"
        assert self.redirected.get("state") == self.state, self.redirected
        assert self.redirected.get("iss") == self.meta["issuer"], self.redirected
        return self.redirected

    def redeem(self, code: str, *, auth: str = "basic") -> httpx2.Response:
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri, "code_verifier": self.verifier}
        if auth == "basic":
            return self.browser.post(self.meta["token_endpoint"], data=data, auth=(CLIENT_ID, CLIENT_SECRET))
        return self.browser.post(self.meta["token_endpoint"], data={**data, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET})


def verify(id_token: str, jwks: dict, issuer: str, nonce: str) -> dict:
    kid = jwt.get_unverified_header(id_token)["kid"]
    key = next(jwt.PyJWK(k) for k in jwks["keys"] if k["kid"] == kid)
    claims = jwt.decode(id_token, key, algorithms=["RS256"], audience=CLIENT_ID, issuer=issuer,
                        options={"require": ["exp", "iat", "iss", "aud", "sub"]})
    if claims.get("nonce") != nonce:
        raise jwt.InvalidTokenError(f"nonce mismatch: {claims.get('nonce')!r}")
    return claims


def main() -> None:
    proc, issuer = start_idp()
    try:
        meta = httpx2.get(issuer + "/.well-known/openid-configuration").json()
        assert meta["issuer"] == issuer, meta
        assert meta["code_challenge_methods_supported"] == ["S256"], meta
        assert {"openid", "email", "profile"} <= set(meta["scopes_supported"]), meta
        jwks = httpx2.get(meta["jwks_uri"]).json()
        assert len(jwks["keys"]) == 1 and jwks["keys"][0]["kty"] == "RSA" and "d" not in jwks["keys"][0], jwks

        # --- the full flow as alice
        flow = Flow(meta)
        code = flow.login("alice")["code"]
        resp = flow.redeem(code)
        assert resp.status_code == 200, resp.text
        tokens = resp.json()
        assert tokens["token_type"].lower() == "bearer" and tokens["access_token"], tokens
        claims = verify(tokens["id_token"], jwks, issuer, flow.nonce)
        assert claims["sub"] == "alice" and claims["email"] == "alice@example.com", claims
        assert claims["email_verified"] is True and claims["name"] == "Alice" and claims["tid"] == "acme", claims
        assert claims["exp"] > time.time(), claims
        again = flow.redeem(code)  # a code is single-use
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant", again.text

        # --- other accounts, and the second registered redirect URI
        flow = Flow(meta, redirect_uri=OTHER_REDIRECT_URI)
        c = verify(flow.redeem(flow.login("mallory")["code"]).json()["id_token"], jwks, issuer, flow.nonce)
        assert (c["sub"], c["email"], c["tid"]) == ("mallory", "mallory@other.test", "evil"), c
        flow = Flow(meta)
        c = verify(flow.redeem(flow.login("carol")["code"]).json()["id_token"], jwks, issuer, flow.nonce)
        assert (c["sub"], c["email"], c["tid"], c["name"]) == ("carol", "carol@example.com", "acme", "carol"), c

        # --- faults: each armed fault changes exactly the next ID token
        for kind, claim in (("wrong_nonce", "nonce"), ("wrong_aud", "aud"), ("expired", "exp"), ("wrong_iss", "iss"), ("foreign_key", None)):
            r = httpx2.post(issuer + "/_faults/next-id-token", json={"kind": kind})
            assert r.status_code == 200 and r.json() == {"armed": kind}, r.text
            flow = Flow(meta)
            resp = flow.redeem(flow.login("bob")["code"])
            assert resp.status_code == 200 and resp.headers["content-length"] == str(len(resp.content)), resp.headers
            tampered = resp.json()["id_token"]
            assert jwt.get_unverified_header(tampered)["kid"] == jwks["keys"][0]["kid"], kind
            try:
                verify(tampered, jwks, issuer, flow.nonce)
            except jwt.InvalidSignatureError:
                assert kind == "foreign_key", f"{kind}: signature must verify"
            except jwt.InvalidTokenError as e:
                assert kind != "foreign_key", f"foreign_key failed otherwise: {e!r}"
            else:
                raise AssertionError(f"{kind}: the tampered ID token verified")
            unverified = jwt.decode(tampered, options={"verify_signature": False})
            if claim == "aud":
                assert unverified["aud"] == "someone-else", unverified
            if claim == "exp":
                assert unverified["exp"] < time.time() - 60 and unverified["iat"] < unverified["exp"], unverified
            if claim == "iss":
                assert unverified["iss"] != issuer, unverified
            if claim == "nonce":
                assert unverified["nonce"] != flow.nonce, unverified
            assert unverified["email"] == "bob@example.com" and unverified["tid"] == "acme", unverified
            # Once: the following token is genuine again.
            flow = Flow(meta)
            verify(flow.redeem(flow.login("bob")["code"]).json()["id_token"], jwks, issuer, flow.nonce)
        bad = httpx2.post(issuer + "/_faults/next-id-token", json={"kind": "nope"})
        assert bad.status_code == 400, bad.text

        # --- Cancel on the login page
        flow = Flow(meta)
        flow.start()
        flow.follow(flow.browser.post(flow.form_action("Cancel")))
        assert flow.redirected is not None and flow.redirected["error"] == "access_denied", flow.redirected
        assert flow.redirected["state"] == flow.state and "code" not in flow.redirected, flow.redirected

        # --- PKCE is required of this confidential client
        flow = Flow(meta, pkce=False)
        flow.start()
        assert flow.redirected is not None and flow.redirected["error"] == "invalid_request", flow.redirected
        assert "PKCE" in flow.redirected.get("error_description", ""), flow.redirected

        # --- client authentication: a wrong secret is refused; oidc-provider treats client_secret_basic
        # and client_secret_post as one family, so the body form is accepted too (the control
        # endpoint tells which one a relying party used)
        flow = Flow(meta)
        code_wrong = flow.login("alice")["code"]
        resp = flow.browser.post(meta["token_endpoint"], auth=(CLIENT_ID, "wrong"), data={
            "grant_type": "authorization_code", "code": code_wrong, "redirect_uri": REDIRECT_URI, "code_verifier": flow.verifier})
        assert resp.status_code == 401 and resp.json()["error"] == "invalid_client", resp.text
        flow = Flow(meta)
        resp = flow.redeem(flow.login("alice")["code"], auth="post")
        assert resp.status_code == 200, resp.text

        # --- an unregistered redirect URI: error page at the IdP, no redirect
        flow = Flow(meta, redirect_uri="http://127.0.0.1:11/authorize/federated/callback")
        flow.start()
        assert flow.redirected is None and flow.page.status_code == 400, flow.page
        assert "redirect_uri" in flow.page.text, flow.page.text

        # --- control endpoints
        seen = httpx2.get(issuer + "/_control/token-requests").json()
        assert seen[0] == {
            "fields": ["grant_type", "code", "redirect_uri", "code_verifier"], "grant_type": "authorization_code",
            "redirect_uri": REDIRECT_URI, "code_verifier": True, "client_auth": "basic", "status": 200,
        }, seen[0]
        assert seen[-2]["client_auth"] == "basic" and seen[-2]["status"] == 401, seen[-2]
        assert seen[-1]["client_auth"] == "post" and seen[-1]["status"] == 200, seen[-1]
        assert "client_id" in seen[-1]["fields"] and "client_secret" in seen[-1]["fields"], seen[-1]
        dumped = json.dumps(seen)
        assert CLIENT_SECRET not in dumped and code not in dumped and code_wrong not in dumped, "secrets or codes leaked"
        logins = httpx2.get(issuer + "/_control/logins").json()
        assert logins[:3] == ["alice", "mallory", "carol"] and logins.count("bob") == 10, logins
        assert logins[-2:] == ["alice", "alice"], logins
    finally:
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0, f"exit status {proc.returncode} after SIGTERM"
    assert rest == "", f"more stdout after the first line: {rest!r}"
    print("idp selfcheck OK")


if __name__ == "__main__":
    main()
