#!/usr/bin/env python3
"""Upstream MCP server on the official MCP Python SDK (PyPI `mcp` 2.x `MCPServer`) over stdio.

Usage: stdio_notes.py      (JSON-RPC on stdin/stdout; logs on stderr; no arguments)

Tools (besides echo, JSON object results: structuredContent plus the same JSON as text):
  echo(text)      -> text (content[0].text == text; structuredContent {"result": text})
                                                                  readOnlyHint: true
  add_note(text)  -> {"id": n, "text": text, "owner": "stdio"}    (not read-only)
  list_notes()    -> {"owner": "stdio", "notes": [note, ...]}     readOnlyHint: true
  pid()           -> {"pid": os.getpid()}                         readOnlyHint: true
  crash()         -> never answers: the process exits at once with status 3 (for restart tests)
Notes live in this process's memory only, so a restarted server starts with none.

Installed by scripts/install-test-clients.sh (venv target/test-clients/venv).
"""

from __future__ import annotations

import os
import sys
from typing import Any

from mcp.server import MCPServer
from mcp.types import ToolAnnotations

import _common

READ_ONLY = ToolAnnotations(read_only_hint=True)
OWNER = "stdio"
CRASH_STATUS = 3


def build() -> MCPServer:
    mcp = MCPServer("stdio-notes", log_level="WARNING")
    notes = _common.NoteStore()

    @mcp.tool(annotations=READ_ONLY)
    async def echo(text: str) -> str:
        """Return the text unchanged."""
        return text

    @mcp.tool()
    async def add_note(text: str) -> dict[str, Any]:
        """Store a note (in this process's memory)."""
        return notes.add(OWNER, text)

    @mcp.tool(annotations=READ_ONLY)
    async def list_notes() -> dict[str, Any]:
        """List the notes stored since this process started."""
        return {"owner": OWNER, "notes": notes.list(OWNER)}

    @mcp.tool(annotations=READ_ONLY)
    async def pid() -> dict[str, Any]:
        """This server process's id."""
        return {"pid": os.getpid()}

    @mcp.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=True))
    async def crash() -> dict[str, Any]:
        """Exit the server process immediately with status 3, without answering."""
        print(f"stdio_notes: crash() called, exiting with status {CRASH_STATUS}", file=sys.stderr, flush=True)
        os._exit(CRASH_STATUS)

    return mcp


if __name__ == "__main__":
    _common.setup_logging()
    build().run("stdio")
