#!/usr/bin/env python3
"""Drives Portcullis with the official MCP Python SDK (PyPI `mcp`, 2.x).

Usage: python_client.py MCP_URL TOKEN

Connects over Streamable HTTP with `Authorization: Bearer TOKEN`, once per connect mode
(`auto`: the SDK probes `server/discover` and adopts the 2026-era protocol if offered;
`legacy`: the `initialize` handshake), and in each session lists the tools, runs a task
through create -> list -> complete -> get -> delete, and checks that an unknown task is a
tool error of type `not_found_error`. Prints the negotiated protocol version of each session.
Exits 0 on success, 1 with a message on stderr on any failure.

Installed by scripts/install-test-clients.sh; run by crates/portcullis/tests/third_party_clients.rs.
"""

from __future__ import annotations

import asyncio
import os
import sys
import traceback
import uuid
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

EXPECTED_TOOLS = {
    "list_tasks",
    "get_task",
    "create_task",
    "update_task",
    "complete_task",
    "delete_task",
    "list_workspaces",
    "create_workspace",
}

# Connect modes to exercise; override with e.g. PORTCULLIS_TEST_MCP_MODES=auto.
MODES = [m.strip() for m in os.environ.get("PORTCULLIS_TEST_MCP_MODES", "auto,legacy").split(",") if m.strip()]


class CheckFailed(Exception):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def leaf_exceptions(e: BaseException) -> list[BaseException]:
    """The exceptions inside (nested) exception groups, as raised by anyio task groups."""
    if isinstance(e, BaseExceptionGroup):
        return [leaf for sub in e.exceptions for leaf in leaf_exceptions(sub)]
    return [e]


def describe(e: BaseException) -> str:
    """An exception's message, with the JSON-RPC error code and data of an MCPError."""
    error = getattr(e, "error", None)
    if error is not None and hasattr(error, "code"):
        return f"{e} (code {error.code}, message {error.message!r}, data {error.data!r})"
    return str(e)


async def call_ok(client: Client, tool: str, arguments: dict[str, Any]) -> Any:
    result = await client.call_tool(tool, arguments)
    check(not result.is_error, f"{tool}({arguments}) returned isError=true: {result.model_dump(by_alias=True)}")
    check(
        isinstance(result.structured_content, dict),
        f"{tool}({arguments}) has no structuredContent object: {result.model_dump(by_alias=True)}",
    )
    return result.structured_content


async def run_session(url: str, token: str, mode: str) -> str:
    headers = {"Authorization": f"Bearer {token}"}
    timeout = httpx2.Timeout(30.0, read=60.0)
    async with httpx2.AsyncClient(headers=headers, timeout=timeout) as http:
        transport = streamable_http_client(url, http_client=http)
        async with Client(transport, mode=mode) as client:
            version = client.protocol_version
            print(f"[python sdk, mode={mode}] negotiated protocol version: {version}")

            tools = await client.list_tools()
            names = {tool.name for tool in tools.tools}
            missing = EXPECTED_TOOLS - names
            check(not missing, f"tools/list is missing {sorted(missing)}; got {sorted(names)}")
            print(f"[python sdk, mode={mode}] tools: {sorted(names)}")

            created = await call_ok(client, "create_task", {"title": "from python", "description": "py"})
            task = created.get("task") or {}
            task_id = task.get("id")
            check(isinstance(task_id, str) and task_id, f"create_task returned no task id: {created}")
            check(task.get("title") == "from python", f"create_task title: {task}")
            check(task.get("description") == "py", f"create_task description: {task}")

            listed = await call_ok(client, "list_tasks", {})
            ids = [t.get("id") for t in listed.get("tasks", [])]
            check(task_id in ids, f"list_tasks does not contain {task_id}: {listed}")

            done = await call_ok(client, "complete_task", {"task_id": task_id})
            check(done.get("task", {}).get("status") == "done", f"complete_task: {done}")
            check(done["task"].get("completed_at") is not None, f"complete_task set no completed_at: {done}")

            got = await call_ok(client, "get_task", {"task_id": task_id})
            check(got.get("task", {}).get("status") == "done", f"get_task after complete: {got}")

            deleted = await call_ok(client, "delete_task", {"task_id": task_id})
            check(deleted.get("deleted") is True, f"delete_task: {deleted}")

            missing_id = str(uuid.uuid4())
            result = await client.call_tool("get_task", {"task_id": missing_id})
            dump = result.model_dump(by_alias=True)
            check(result.is_error, f"get_task({missing_id}) should be a tool error: {dump}")
            error = result.structured_content if isinstance(result.structured_content, dict) else {}
            check(error.get("error_type") == "not_found_error", f"get_task({missing_id}) error_type: {dump}")

            print(f"[python sdk, mode={mode}] all checks passed")
            return version


async def main() -> int:
    if len(sys.argv) != 3:
        print(f"usage: {sys.argv[0]} MCP_URL TOKEN", file=sys.stderr)
        return 2
    url, token = sys.argv[1], sys.argv[2]
    negotiated: dict[str, str] = {}
    for mode in MODES:
        try:
            negotiated[mode] = await run_session(url, token, mode)
        except Exception as e:  # noqa: BLE001 - report check, SDK and transport errors alike
            leaves = leaf_exceptions(e)
            for leaf in leaves:
                if isinstance(leaf, CheckFailed):
                    print(f"FAIL [python sdk, mode={mode}]: {leaf}", file=sys.stderr)
                else:
                    print(f"FAIL [python sdk, mode={mode}]: {type(leaf).__name__}: {describe(leaf)}", file=sys.stderr)
            if not all(isinstance(leaf, CheckFailed) for leaf in leaves):
                traceback.print_exc()
            return 1
    summary = ", ".join(f"{mode}={version}" for mode, version in negotiated.items())
    print(f"python sdk OK; negotiated protocol versions: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
