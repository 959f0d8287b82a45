"""The official MCP Python SDK (`mcp` 2.3.0) logs in to Portcullis's built-in authorization
server and uses the tools of an upstream MCP server that Portcullis fronts (the gateway):

    python python_gateway_client.py MCP_URL USERNAME PASSWORD PREFIX TOKENS_FILE

It signs in with the scope the first 401 asks for, lists the federated tools (the upstream's,
renamed with PREFIX, next to the built-in ones), then calls PREFIX+"whoami", PREFIX+"add_note" and
PREFIX+"list_notes" (were a scope missing, Portcullis would answer 403 insufficient_scope and the
SDK would step up; the summary counts the authorizations). Every access
token it held is written to TOKENS_FILE, one per line, so the caller can check none of them
reached the upstream. The last stdout line is a JSON summary; the one before, "python gateway OK".
"""

from __future__ import annotations

import json
import sys

import anyio
import httpx2
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

from python_oauth_client import oauth_client, structured


async def main(server_url: str, username: str, password: str, prefix: str, tokens_file: str) -> None:
    provider, storage, login = oauth_client(
        server_url, username, password, "MCP Python SDK (Portcullis gateway test)"
    )
    try:
        async with httpx2.AsyncClient(auth=provider, timeout=httpx2.Timeout(30.0)) as http:
            async with Client(streamable_http_client(server_url, http_client=http), mode="legacy") as client:
                tools = {t.name for t in (await client.list_tools()).tools}
                wanted = {prefix + "whoami", prefix + "add_note", prefix + "list_notes"}
                assert wanted <= tools, f"federated tools missing: {sorted(tools)}"
                first_scope = storage.tokens.scope
                whoami = structured(await client.call_tool(prefix + "whoami", {}))
                note = structured(await client.call_tool(prefix + "add_note", {"text": "via the gateway"}))
                notes = structured(await client.call_tool(prefix + "list_notes", {}))
                assert [n["id"] for n in notes["notes"]] == [note["id"]], notes
    finally:
        with open(tokens_file, "w") as f:
            for token in storage.token_history:
                f.write(token.access_token + "\n")
    print("python gateway OK")
    print(
        json.dumps(
            {
                "first_scope": first_scope,
                "final_scope": storage.tokens.scope,
                "authorizations": len(login.authorization_urls),
                "whoami": whoami,
                "note": note,
            }
        )
    )


if __name__ == "__main__":
    anyio.run(main, *sys.argv[1:6])
