"""The official MCP Python SDK (`mcp` 2.3.0) uses a REST API that Portcullis turns into tools
from its OpenAPI document (the FastAPI app tests/upstreams/fastapi_notes_api.py):

    python python_openapi_client.py MCP_URL ALICE_TOKEN BOB_TOKEN PREFIX [READER_TOKEN]

As alice it lists the generated tools and checks their schemas (real argument names and types),
creates a note and reads it back (the test may have the API drop the answer to that create: the
note must still exist once); as bob it cannot see alice's note and makes its own; a call with a
wrong argument type comes back as a `validation_error` tool error. With READER_TOKEN (read
scope only) it lists notes, then tries a create, which Portcullis must refuse with HTTP 403 and
an `insufficient_scope` challenge naming the write scope. The last stdout line is a JSON
summary; the one before, "python openapi OK".
"""

from __future__ import annotations

import json
import sys

import anyio
import httpx2
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client


def structured(result) -> dict:
    assert not result.is_error, f"tool error: {result}"
    return result.structured_content


async def session(url: str, token: str, body, seen: list | None = None):
    headers = {"Authorization": f"Bearer {token}"}

    async def record(response) -> None:
        if seen is not None:
            seen.append((response.status_code, response.headers.get("www-authenticate", "")))

    async with httpx2.AsyncClient(
        headers=headers, timeout=httpx2.Timeout(30.0), event_hooks={"response": [record]}
    ) as http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            return await body(client)


async def main(url: str, alice: str, bob: str, prefix: str, reader: str | None = None) -> None:
    summary: dict = {}

    async def as_alice(client):
        tools = {t.name: t for t in (await client.list_tools()).tools}
        create = tools[prefix + "create_note"]
        props = create.input_schema["properties"]
        assert {"title", "body", "priority", "tags"} <= set(props), props
        assert "X-User-ID" not in props and "Idempotency-Key" not in props, props
        assert create.input_schema.get("required") == ["title"], create.input_schema
        assert tools[prefix + "list_notes"].annotations.read_only_hint is True
        assert tools[prefix + "delete_note"].annotations.destructive_hint is True
        assert tools[prefix + "list_notes"].output_schema is not None
        summary["tools"] = sorted(tools)
        note = structured(
            await client.call_tool(
                prefix + "create_note", {"title": "alice's", "priority": "high", "tags": ["t"]}
            )
        )
        assert note["owner"] == "alice" and note["priority"] == "high", note
        again = structured(await client.call_tool(prefix + "get_note_notes_note_id_get", {"note_id": note["id"]}))
        assert again == note, again
        listed = structured(await client.call_tool(prefix + "list_notes", {"tag": "t"}))
        assert [n["id"] for n in listed["notes"]] == [note["id"]], listed
        bad = await client.call_tool(prefix + "create_note", {"title": 5})
        assert bad.is_error, bad
        summary["bad"] = bad.structured_content
        summary["alice_note"] = note

    async def as_bob(client):
        listed = structured(await client.call_tool(prefix + "list_notes", {}))
        assert listed["notes"] == [] and listed["owner"] == "bob", listed
        hidden = await client.call_tool(
            prefix + "get_note_notes_note_id_get", {"note_id": summary["alice_note"]["id"]}
        )
        assert hidden.is_error, hidden
        summary["hidden"] = hidden.structured_content
        mine = structured(await client.call_tool(prefix + "create_note", {"title": "bob's"}))
        assert mine["owner"] == "bob", mine

    await session(url, alice, as_alice)
    await session(url, bob, as_bob)
    if reader:
        seen: list = []

        async def as_reader(client):
            listed = structured(await client.call_tool(prefix + "list_notes", {}))
            assert listed["notes"] == [], listed
            await client.call_tool(prefix + "create_note", {"title": "not allowed"})

        try:
            await session(url, reader, as_reader, seen)
            raise AssertionError("a write with a read-only token went through")
        except AssertionError:
            raise
        except BaseException:  # the SDK raises on the 403 (possibly inside a task group)
            pass
        refused = [(status, challenge) for status, challenge in seen if status == 403]
        assert refused, seen
        status, challenge = refused[0]
        assert 'error="insufficient_scope"' in challenge and ":write" in challenge, challenge
        summary["reader_refused"] = {"status": status, "challenge": challenge}
    print("python openapi OK")
    print(json.dumps(summary))


if __name__ == "__main__":
    anyio.run(main, *sys.argv[1:6])
