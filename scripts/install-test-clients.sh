#!/usr/bin/env bash
# Installs the official MCP client SDKs used by the third-party client tests
# (crates/portcullis/tests/third_party_clients.rs) into target/test-clients/:
#   target/test-clients/venv               Python venv with PyPI `mcp`
#   target/test-clients/node/node_modules  npm `@modelcontextprotocol/sdk`, and npm `oidc-provider`
#                                          with `jose` for the test OpenID Connect identity provider
#                                          (tests/idp/oidc_idp.mjs)
# and, into the same venv, PyPI `fastmcp` for the third-party upstream MCP servers that the
# gateway tests put behind Portcullis (tests/upstreams/*.py; the other upstreams use `mcp`
# itself, plus PyJWT/cryptography, which `mcp` already depends on), and PyPI `fastapi` for the
# REST backend behind the OpenAPI upstream tests.
# Idempotent: a marker file records the pinned versions; nothing is redone while it matches.
set -euo pipefail

PY_MCP_VERSION="2.3.0"
# Requires mcp>=2.3.0,<3 and only adds packages to the venv (changes none of mcp's).
FASTMCP_VERSION="4.2.3"
# The REST backend the OpenAPI upstream tests put behind Portcullis (tests/upstreams/fastapi_*.py).
FASTAPI_VERSION="0.165.0"
NODE_SDK_VERSION="1.32.2"
# Drives Debian's Chromium (/usr/bin/chromium) in the login-page browser test; never downloads a browser.
PLAYWRIGHT_VERSION="1.65.1"
# panva's OpenID Connect provider, the real IdP behind the federated sign-in tests
# (tests/idp/oidc_idp.mjs). 9.x is ESM-only and declares no engines; on Node 20 it prints an
# "Unsupported runtime" warning (it only vouches for Node 22 LTS and later) but works: every API it
# uses exists in Node 20.19+ (tests/idp/selfcheck.py passes there).
OIDC_PROVIDER_VERSION="9.13.3"
# Generates the IdP's signing key and signs the deliberately tampered ID tokens.
JOSE_VERSION="6.2.19"

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
DEST="$REPO_ROOT/target/test-clients"
VENV="$DEST/venv"
NODE_DIR="$DEST/node"
PY_MARKER="$DEST/.python-installed"
NODE_MARKER="$DEST/.node-installed"
UPSTREAM_MARKER="$DEST/.upstreams-installed"
PYTHON="${PYTHON:-python3}"

log() { echo "install-test-clients: $*" >&2; }

mkdir -p "$DEST"

# --- Python SDK -------------------------------------------------------------
py_want="mcp==$PY_MCP_VERSION"
if [[ -f "$PY_MARKER" && "$(cat "$PY_MARKER")" == "$py_want" && -x "$VENV/bin/python" ]]; then
    log "python: $py_want already installed in $VENV"
else
    if [[ ! -x "$VENV/bin/python" ]]; then
        log "python: creating venv $VENV"
        "$PYTHON" -m venv "$VENV"
    fi
    log "python: installing $py_want"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$py_want"
    "$VENV/bin/python" -c "import importlib.metadata as m; v = m.version('mcp'); assert v == '$PY_MCP_VERSION', v"
    echo "$py_want" > "$PY_MARKER"
fi

# --- Upstream MCP servers (tests/upstreams) ---------------------------------
upstream_want="mcp==$PY_MCP_VERSION fastmcp==$FASTMCP_VERSION fastapi==$FASTAPI_VERSION"
upstream_present() {
    # The marker alone is not enough: the venv may have been recreated by the step above.
    "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('fastmcp') != '$FASTMCP_VERSION' or m.version('fastapi') != '$FASTAPI_VERSION')" 2>/dev/null
}
if [[ -f "$UPSTREAM_MARKER" && "$(cat "$UPSTREAM_MARKER")" == "$upstream_want" ]] && upstream_present; then
    log "upstreams: $upstream_want already installed in $VENV"
else
    log "upstreams: installing $upstream_want"
    # mcp is named again so the resolver keeps it at the pinned version.
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check $upstream_want
    "$VENV/bin/python" -c "
import importlib.metadata as m
for name, want in (('mcp', '$PY_MCP_VERSION'), ('fastmcp', '$FASTMCP_VERSION'), ('fastapi', '$FASTAPI_VERSION')):
    assert m.version(name) == want, (name, m.version(name))
import fastmcp.server.auth.providers.jwt, jwt, cryptography, uvicorn, fastapi
"
    echo "$upstream_want" > "$UPSTREAM_MARKER"
fi

# --- TypeScript SDK ---------------------------------------------------------
node_want="@modelcontextprotocol/sdk@$NODE_SDK_VERSION playwright-core@$PLAYWRIGHT_VERSION oidc-provider@$OIDC_PROVIDER_VERSION jose@$JOSE_VERSION"
if [[ -f "$NODE_MARKER" && "$(cat "$NODE_MARKER")" == "$node_want" \
      && -f "$NODE_DIR/node_modules/@modelcontextprotocol/sdk/package.json" \
      && -f "$NODE_DIR/node_modules/playwright-core/package.json" \
      && -f "$NODE_DIR/node_modules/oidc-provider/package.json" \
      && -f "$NODE_DIR/node_modules/jose/package.json" ]]; then
    log "node: $node_want already installed in $NODE_DIR"
else
    mkdir -p "$NODE_DIR"
    if [[ ! -f "$NODE_DIR/package.json" ]]; then
        echo '{ "name": "portcullis-test-clients", "private": true, "type": "module" }' > "$NODE_DIR/package.json"
    fi
    log "node: installing $node_want"
    (cd "$NODE_DIR" && npm install --no-audit --no-fund --loglevel=error --save-exact $node_want >&2)
    installed="$(node -p "require('$NODE_DIR/node_modules/@modelcontextprotocol/sdk/package.json').version")"
    if [[ "$installed" != "$NODE_SDK_VERSION" ]]; then
        log "node: expected $NODE_SDK_VERSION, found $installed"
        exit 1
    fi
    installed="$(node -p "require('$NODE_DIR/node_modules/oidc-provider/package.json').version")"
    if [[ "$installed" != "$OIDC_PROVIDER_VERSION" ]]; then
        log "node: expected oidc-provider $OIDC_PROVIDER_VERSION, found $installed"
        exit 1
    fi
    echo "$node_want" > "$NODE_MARKER"
fi

log "done: $DEST"
