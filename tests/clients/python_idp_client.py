"""The official MCP Python SDK (`mcp` 2.3.0) logs in to Portcullis's built-in authorization server
where the user signs in at the company's OpenID Connect identity provider (tests/idp/oidc_idp.mjs):
the SDK's 401 / discovery / registration / PKCE as in python_oauth_client.py (whose classes this
reuses), then, browserlessly: Portcullis's sign-in page -> its "Sign in with IDP_NAME" form ->
the IdP's login form (LOGIN, any password) -> back to Portcullis's federated callback -> its
consent page -> Approve -> the code at the client's redirect URI. Each host (host:port) gets its own
cookie jar. Then it lists the tools and calls `whoami` if there is one, else `list_tasks`.

    python python_idp_client.py MCP_URL IDP_NAME LOGIN [--expect-refused]

Prints one JSON line {"tools": [...], "username": ..., "called": NAME, "result": {...}} ("username"
is whoami's `username`, else its `sub`, else null), then "python idp OK".
With --expect-refused the login must end on a Portcullis page with an HTTP 4xx instead (not a
redirect to the client); prints {"refused_status": N, "refused_text": "..."} (the page's visible
text, first 500 characters), then "python idp refused OK". Any other outcome raises.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import anyio
import httpx2
from mcp.client import Client
from mcp.client.auth import OAuthFlowError
from mcp.client.streamable_http import streamable_http_client
from python_oauth_client import REDIRECT_STATUSES, BrowserlessLogin, _parse_forms, oauth_client, structured

PASSWORD = "any non-empty password"


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs) -> None:
        self._skip += tag in ("script", "style", "title")

    def handle_endtag(self, tag) -> None:
        self._skip -= tag in ("script", "style", "title") and self._skip > 0

    def handle_data(self, data) -> None:
        if not self._skip:
            self.parts.append(data)


def visible_text(body: str) -> str:
    p = _Text()
    p.feed(body)
    return re.sub(r"\s+", " ", " ".join(p.parts)).strip()


class IdpLogin(BrowserlessLogin):
    """redirect_handler walks Portcullis -> IdP -> Portcullis; callback_handler is inherited."""

    def __init__(self, idp_name: str, login: str, *, expect_refused: bool = False) -> None:
        super().__init__(login, PASSWORD)
        self.idp_name = idp_name
        self.expect_refused = expect_refused
        self.refused: tuple[int, str] | None = None
        self._browsers: dict[str, httpx2.AsyncClient] = {}

    async def redirect_handler(self, authorization_url: str) -> None:
        self.authorization_urls.append(authorization_url)
        self._result = None
        portcullis = urlsplit(authorization_url).netloc
        async with contextlib.AsyncExitStack() as stack:
            self._stack = stack
            self._browsers = {}
            # 1. Portcullis's sign-in page: post the form whose button is "Sign in with IDP_NAME".
            resp = await self._go("GET", authorization_url)
            form, button = self._idp_form(resp)
            resp = await self._go("POST", urljoin(str(resp.request.url), form.action), {**form.fields, button[0]: button[1]})
            # 2. The IdP's login page (another host).
            if urlsplit(str(resp.request.url)).netloc == portcullis:
                raise OAuthFlowError(f"expected the IdP's login page, still at {resp.request.url}: HTTP {resp.status_code}")
            form = self._pick_form(resp, must_have="password")
            form.fields.update(login=self.username, password=self.password)
            resp = await self._go("POST", urljoin(str(resp.request.url), form.action or ""), form.fields)
            # 3. Back at Portcullis: a refusal page, or the consent page.
            if self._result is None and urlsplit(str(resp.request.url)).netloc == portcullis and resp.status_code >= 400:
                self.refused = (resp.status_code, visible_text(resp.text)[:500])
                if self.expect_refused:
                    raise OAuthFlowError(f"refused by Portcullis as expected: HTTP {resp.status_code}")
            if self._result is None and self.refused is None:
                form = self._pick_form(resp, must_have=None)
                button = self._consent_button(form)
                data = {**form.fields, **({button[0]: button[1]} if button else {})}
                resp = await self._go("POST", urljoin(str(resp.request.url), form.action or ""), data)
            if self._result is None:
                at = urlsplit(str(resp.request.url))  # without the query: it may hold the IdP's code
                raise OAuthFlowError(f"login did not end at {self.redirect_uri}: HTTP {resp.status_code} at {at.netloc}{at.path}: "
                                     f"{visible_text(resp.text)[:300]}")

    async def _go(self, method: str, url: str, data: dict | None = None) -> httpx2.Response:
        """One request and its redirects (a new GET each), each host with its own cookie jar.
        Stops at a page, or at a redirect to the client's redirect_uri (captured, not followed)."""
        for _ in range(12):
            host = urlsplit(url).netloc
            if host not in self._browsers:
                self._browsers[host] = await self._stack.enter_async_context(httpx2.AsyncClient(follow_redirects=False, timeout=10.0))
            browser = self._browsers[host]
            resp = await (browser.post(url, data=data) if method == "POST" else browser.get(url))
            if resp.status_code not in REDIRECT_STATUSES:
                return resp
            url = urljoin(str(resp.request.url), resp.headers["location"])
            if self._is_redirect_uri(url):
                self._capture(url)
                return resp
            method, data = "GET", None
        raise OAuthFlowError("too many redirects during login")

    def _idp_form(self, resp: httpx2.Response):
        if resp.status_code != 200:
            raise OAuthFlowError(f"expected Portcullis's sign-in page, got HTTP {resp.status_code}: {visible_text(resp.text)[:300]}")
        for form in _parse_forms(resp.text):
            if form.method == "post" and (form.action or "").endswith("/authorize/federated"):
                for name, value in form.buttons:
                    if name == "idp" and value == self.idp_name:
                        return form, (name, value)
        raise OAuthFlowError(f"no 'Sign in with {self.idp_name}' form on {resp.request.url}: {visible_text(resp.text)[:300]}")


async def main(server_url: str, idp_name: str, login_name: str, expect_refused: bool) -> None:
    login = IdpLogin(idp_name, login_name, expect_refused=expect_refused)
    provider, storage, _ = oauth_client(server_url, "", "", "MCP Python SDK (Portcullis IdP test)", login=login)
    try:
        async with httpx2.AsyncClient(auth=provider, timeout=httpx2.Timeout(30.0)) as http:
            async with Client(streamable_http_client(server_url, http_client=http), mode="legacy") as client:
                tools = sorted(t.name for t in (await client.list_tools()).tools)
                called = "whoami" if "whoami" in tools else "list_tasks"
                result = structured(await client.call_tool(called, {}))
    except Exception:
        if expect_refused and login.refused is not None:
            print(json.dumps({"refused_status": login.refused[0], "refused_text": login.refused[1]}))
            print("python idp refused OK")
            return
        raise
    if expect_refused:
        raise AssertionError(f"the login was expected to be refused, but it succeeded: {login.authorization_urls}")
    assert len(login.authorization_urls) == 1 and storage.tokens is not None, login.authorization_urls
    username = (result.get("username") or result.get("sub")) if called == "whoami" else None
    print(json.dumps({"tools": tools, "username": username, "called": called, "result": result}))
    print("python idp OK")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--expect-refused"]
    if len(args) != 3:
        sys.exit("usage: python_idp_client.py MCP_URL IDP_NAME LOGIN [--expect-refused]")
    anyio.run(main, *args, "--expect-refused" in sys.argv[1:])
