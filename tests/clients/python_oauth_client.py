"""The official MCP Python SDK (`mcp` 2.3.0) logs in to Portcullis's built-in authorization
server the way a real client does: a 401 from /mcp, protected resource metadata, authorization
server metadata, dynamic client registration, PKCE, the login and consent forms (posted
browserlessly: a cookie jar and the forms' hidden fields, no JavaScript), the code exchange,
tool calls, then a refresh.

    python python_oauth_client.py MCP_URL USERNAME PASSWORD

Prints "python oauth OK" on success; any failure raises.
"""

from __future__ import annotations

import html
import sys
import time
from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlsplit

import anyio
import httpx2
from mcp.client import Client
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider, OAuthFlowError, TokenStorage
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

# Loopback redirect URI. Nothing listens on it: the login never follows the final redirect.
REDIRECT_URI = "http://127.0.0.1:53682/callback"
REDIRECT_STATUSES = {301, 302, 303, 307, 308}


# --------------------------------------------------------------------------- storage
class InMemoryTokenStorage(TokenStorage):
    """Implements the TokenStorage protocol (4 async methods). Keeps a history for assertions."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None
        self.token_history: list[OAuthToken] = []

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens
        self.token_history.append(tokens)

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


# --------------------------------------------------------------------------- HTML forms
class _Form:
    def __init__(self, action: str | None, method: str) -> None:
        self.action = action
        self.method = method
        self.fields: dict[str, str] = {}  # hidden/text/password inputs
        self.buttons: list[tuple[str, str]] = []  # submit (name, value) pairs


class _FormParser(HTMLParser):
    """Collects <form>s with their <input>s and submit <button>s (stdlib html.parser, no deps)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[_Form] = []
        self._current: _Form | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v or "") for k, v in attrs}
        if tag == "form":
            self._current = _Form(a.get("action"), a.get("method", "get").lower())
            self.forms.append(self._current)
            return
        if self._current is None or "name" not in a:
            return
        if tag == "input":
            kind = a.get("type", "text").lower()
            if kind in ("submit", "image"):
                self._current.buttons.append((a["name"], a.get("value", "")))
            elif kind not in ("checkbox", "radio") or "checked" in a:
                self._current.fields[a["name"]] = a.get("value", "")
        elif tag == "button" and a.get("type", "submit").lower() == "submit":
            self._current.buttons.append((a["name"], a.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def _parse_forms(body: str) -> list[_Form]:
    p = _FormParser()
    p.feed(body)
    return p.forms


# --------------------------------------------------------------------------- browserless login
class BrowserlessLogin:
    """Provides the redirect_handler and callback_handler pair for OAuthClientProvider.

    redirect_handler(url) does the whole user interaction and stores the result. callback_handler()
    returns it. Both are `async` with no extra arguments. The SDK awaits redirect_handler and then
    callback_handler, one after the other, under its own lock. Step-up (403 insufficient_scope) and
    a 401 seen while a token is held both call them again, so this object can be reused.
    """

    def __init__(self, username: str, password: str, *, approve: bool = True, redirect_uri: str = REDIRECT_URI):
        self.username = username
        self.password = password
        self.approve = approve
        self.redirect_uri = redirect_uri
        self.authorization_urls: list[str] = []  # one per interactive authorization, for assertions
        self._result: AuthorizationCodeResult | None = None

    async def redirect_handler(self, authorization_url: str) -> None:
        self.authorization_urls.append(authorization_url)
        self._result = None
        # New cookie jar for each login. follow_redirects=False so that redirects are handled by hand.
        async with httpx2.AsyncClient(follow_redirects=False, timeout=10.0) as browser:
            resp = await self._follow(browser, await browser.get(authorization_url))
            if self._result is None:  # login page
                form = self._pick_form(resp, must_have="password")
                form.fields.update(username=self.username, password=self.password)
                resp = await self._follow(browser, await self._submit(browser, resp, form, button=None))
            if self._result is None:  # consent page
                form = self._pick_form(resp, must_have=None)
                button = self._consent_button(form)
                resp = await self._follow(browser, await self._submit(browser, resp, form, button=button))
            if self._result is None:
                raise OAuthFlowError(f"login did not end in a redirect to {self.redirect_uri}: HTTP {resp.status_code}")

    async def callback_handler(self) -> AuthorizationCodeResult:
        if self._result is None:
            raise OAuthFlowError("callback_handler called before redirect_handler finished")
        result, self._result = self._result, None
        return result

    # ---- helpers
    async def _follow(self, browser: httpx2.AsyncClient, resp: httpx2.Response) -> httpx2.Response:
        """Follow redirects on the AS until a page loads or until the Location is the client's redirect_uri."""
        for _ in range(10):
            if resp.status_code not in REDIRECT_STATUSES:
                return resp
            location = urljoin(str(resp.request.url), resp.headers["location"])
            if self._is_redirect_uri(location):
                self._capture(location)
                return resp
            resp = await browser.get(location)  # 302/303 after POST -> GET
        raise OAuthFlowError("too many redirects during login")

    def _is_redirect_uri(self, url: str) -> bool:
        a, b = urlsplit(url), urlsplit(self.redirect_uri)
        return (a.scheme, a.netloc, a.path) == (b.scheme, b.netloc, b.path)

    def _capture(self, location: str) -> None:
        q = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        if "error" in q:
            raise OAuthFlowError(f"authorization error: {q['error']} {q.get('error_description', '')}")
        # The SDK checks state and iss itself. Give them back exactly as received.
        self._result = AuthorizationCodeResult(code=q["code"], state=q.get("state"), iss=q.get("iss"))

    def _pick_form(self, resp: httpx2.Response, must_have: str | None) -> _Form:
        if resp.status_code != 200:
            raise OAuthFlowError(f"expected an HTML page, got HTTP {resp.status_code}: {resp.text[:300]}")
        forms = _parse_forms(resp.text)
        for f in forms:
            if must_have is None or must_have in f.fields:
                return f
        raise OAuthFlowError(f"no suitable form on {resp.request.url}: {html.unescape(resp.text[:300])}")

    def _consent_button(self, form: _Form) -> tuple[str, str] | None:
        wanted = ("approve", "allow", "accept", "yes") if self.approve else ("deny", "reject", "cancel", "no")
        for name, value in form.buttons:
            if value.lower() in wanted or name.lower() in wanted:
                return name, value
        return form.buttons[0] if (form.buttons and self.approve) else None

    async def _submit(
        self, browser: httpx2.AsyncClient, page: httpx2.Response, form: _Form, button: tuple[str, str] | None
    ) -> httpx2.Response:
        data = dict(form.fields)  # includes the hidden CSRF token
        if button is not None:
            data[button[0]] = button[1]
        target = urljoin(str(page.request.url), form.action or str(page.request.url))
        if form.method == "post":
            return await browser.post(target, data=data)  # application/x-www-form-urlencoded
        return await browser.get(target, params=data)


# --------------------------------------------------------------------------- the run
def structured(result) -> dict:
    assert not result.is_error, f"tool error: {result}"
    return result.structured_content


def oauth_client(
    server_url: str, username: str, password: str, client_name: str, login: BrowserlessLogin | None = None
) -> tuple[OAuthClientProvider, InMemoryTokenStorage, BrowserlessLogin]:
    """The SDK's OAuth provider for a public client that signs in as USERNAME, browserlessly
    (or the way LOGIN, a BrowserlessLogin subclass, signs in; then USERNAME and PASSWORD are unused)."""
    storage = InMemoryTokenStorage()
    login = login or BrowserlessLogin(username, password)
    provider = OAuthClientProvider(
        server_url=server_url,
        client_metadata=OAuthClientMetadata(
            client_name=client_name,
            redirect_uris=[REDIRECT_URI],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
        ),
        storage=storage,
        redirect_handler=login.redirect_handler,
        callback_handler=login.callback_handler,
    )
    return provider, storage, login


async def main(server_url: str, username: str, password: str) -> None:
    provider, storage, login = oauth_client(server_url, username, password, "MCP Python SDK (Portcullis test)")
    async with httpx2.AsyncClient(auth=provider, timeout=httpx2.Timeout(30.0)) as http:
        async with Client(streamable_http_client(server_url, http_client=http), mode="legacy") as client:
            tools = {t.name for t in (await client.list_tools()).tools}
            assert {"list_tasks", "create_task"} <= tools, tools
            assert len(login.authorization_urls) == 1, login.authorization_urls
            auth_url = login.authorization_urls[0]
            query = parse_qs(urlsplit(auth_url).query)
            assert query["code_challenge_method"] == ["S256"], auth_url
            assert query["resource"] == [server_url], auth_url
            assert storage.client_info is not None and storage.client_info.client_id, "no registration"

            created = structured(await client.call_tool("create_task", {"title": "via OAuth"}))
            listed = structured(await client.call_tool("list_tasks", {}))
            assert [t["id"] for t in listed["tasks"]] == [created["task"]["id"]], listed

            # Refresh: the SDK refreshes before a request once the token has expired.
            first_access = storage.tokens.access_token
            first_refresh = storage.tokens.refresh_token
            assert first_refresh, "no refresh token was issued"
            provider.context.token_expiry_time = time.time() - 1
            listed = structured(await client.call_tool("list_tasks", {}))
            assert len(listed["tasks"]) == 1
            assert storage.tokens.access_token != first_access, "no refresh happened"
            assert storage.tokens.refresh_token not in (None, first_refresh), "refresh token not rotated"
            assert len(login.authorization_urls) == 1, "refresh must not log in again"

    # The spent refresh token presented again within the grace window (an answer lost on the
    # way) gets the answer the SDK got; once that answer's refresh token is used, it is refused.
    meta = httpx2.get(urljoin(server_url, "/.well-known/oauth-authorization-server")).json()
    info = storage.client_info
    auth = (info.client_id, info.client_secret) if info.client_secret else None

    def refresh(token: str) -> httpx2.Response:
        data = {"grant_type": "refresh_token", "refresh_token": token, "resource": server_url}
        if auth is None:
            data["client_id"] = info.client_id
        return httpx2.post(meta["token_endpoint"], data=data, auth=auth)

    again = refresh(first_refresh)
    assert again.status_code == 200, again.status_code
    assert again.json()["refresh_token"] == storage.tokens.refresh_token, "not the same answer"
    assert refresh(storage.tokens.refresh_token).status_code == 200
    reused = refresh(first_refresh)
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant", reused.status_code
    print("python oauth OK")


if __name__ == "__main__":
    anyio.run(main, *sys.argv[1:4])
