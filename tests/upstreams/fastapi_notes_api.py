#!/usr/bin/env python3
"""A REST backend in FastAPI (PyPI `fastapi`) with design document 000's dual authentication,
for the OpenAPI upstream tests: Portcullis turns its /openapi.json into MCP tools.

Usage:
  SERVICE_AUTH_TOKEN=SECRET fastapi_notes_api.py [--port N] [--seen-tokens FILE] [--verbose]

Every request except GET /openapi.json must carry `Authorization: Bearer <SERVICE_AUTH_TOKEN>`
(compared with hmac.compare_digest: who is calling) and a non-empty `X-User-ID` (on whose
behalf): otherwise 401 (bad token) or 400 (no user). Data is per X-User-ID: one user never sees
another's notes (404, as if they did not exist).

Writes honour `Idempotency-Key`: a repeated key (per user) gets the first answer again and
creates nothing. Test controls (service token required, no user):
  POST /_faults/drop-next-create   the next POST /notes is done, then its answer is dropped
                                   (headers sent, the connection closed before the body)
  GET  /_faults/requests           {"requests": N}: requests that reached the notes routes

Prints exactly one stdout line, `listening on http://127.0.0.1:PORT`, once accepting.
"""

from __future__ import annotations

import argparse
import hmac
import os
import sys
from enum import Enum
from typing import Annotated, Any, Optional

from fastapi import Depends, FastAPI, Header, HTTPException, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

import _common

TOKEN = os.environ.get("SERVICE_AUTH_TOKEN", "")


class Priority(str, Enum):
    low = "low"
    normal = "normal"
    high = "high"


class NewNote(BaseModel):
    title: str = Field(min_length=1, max_length=200, description="What the note is about")
    body: Optional[str] = Field(default=None, description="The text")
    priority: Priority = Priority.normal
    tags: list[str] = Field(default_factory=list, max_length=10)


class Note(NewNote):
    id: int
    owner: str


class NoteList(BaseModel):
    notes: list[Note]
    owner: str


class State:
    notes: dict[str, dict[int, Note]] = {}
    next_id = 1
    replies: dict[tuple[str, str], tuple[int, Any]] = {}
    requests = 0
    drop_next_create = False


def service_user(
    authorization: Annotated[Optional[str], Header()] = None,
    x_user_id: Annotated[Optional[str], Header(alias="X-User-ID")] = None,
) -> str:
    """Design document 000: the service token says who calls, X-User-ID for whom."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), TOKEN.encode()):
        raise HTTPException(status_code=401, detail="invalid service token")
    if not x_user_id:
        raise HTTPException(status_code=400, detail="Missing X-User-ID header")
    State.requests += 1
    return x_user_id


def service_only(authorization: Annotated[Optional[str], Header()] = None) -> None:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), TOKEN.encode()):
        raise HTTPException(status_code=401, detail="invalid service token")


User = Annotated[str, Depends(service_user)]
app = FastAPI(title="Notes API", version="1.0.0")


def replay(user: str, key: Optional[str]) -> Optional[JSONResponse]:
    if key and (user, key) in State.replies:
        status, body = State.replies[(user, key)]
        return JSONResponse(body, status_code=status)
    return None


@app.post("/notes", operation_id="create_note", status_code=201, tags=["notes"], summary="Create a note")
def create_note(
    new: NewNote,
    user: User,
    idempotency_key: Annotated[Optional[str], Header(alias="Idempotency-Key")] = None,
) -> Any:
    """Creates a note owned by the calling user."""
    if (again := replay(user, idempotency_key)) is not None:
        return again
    note = Note(id=State.next_id, owner=user, **new.model_dump())
    State.next_id += 1
    State.notes.setdefault(user, {})[note.id] = note
    body = note.model_dump(mode="json")
    if idempotency_key:
        State.replies[(user, idempotency_key)] = (201, body)
    return JSONResponse(body, status_code=201)


@app.get("/notes", operation_id="list_notes", tags=["notes"], summary="List my notes")
def list_notes(
    user: User,
    tag: Annotated[Optional[str], Query(description="Only notes with this tag")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> NoteList:
    notes = [n for n in State.notes.get(user, {}).values() if tag is None or tag in n.tags]
    return NoteList(notes=notes[:limit], owner=user)


@app.get("/notes/{note_id}", tags=["notes"], summary="Read one note")
def get_note(note_id: Annotated[int, Path(ge=1)], user: User) -> Note:
    """No operationId given: Portcullis names it from FastAPI's generated one."""
    note = State.notes.get(user, {}).get(note_id)
    if note is None:
        raise HTTPException(status_code=404, detail=f"note {note_id} not found")
    return note


@app.delete("/notes/{note_id}", operation_id="delete_note", status_code=204, tags=["notes"])
def delete_note(note_id: int, user: User) -> Response:
    if State.notes.get(user, {}).pop(note_id, None) is None:
        raise HTTPException(status_code=404, detail=f"note {note_id} not found")
    return Response(status_code=204)


@app.post(
    "/notes/{note_id}/rename",
    operation_id="rename_note",
    tags=["notes"],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "required": ["title"],
                        "properties": {"title": {"type": "string", "minLength": 1}},
                    }
                }
            },
        }
    },
)
async def rename_note(note_id: int, request: Request, user: User) -> Note:
    """A form body (read by hand: no python-multipart needed)."""
    from urllib.parse import parse_qs

    if request.headers.get("content-type", "").split(";")[0] != "application/x-www-form-urlencoded":
        raise HTTPException(status_code=415, detail="send a form")
    fields = parse_qs((await request.body()).decode())
    note = State.notes.get(user, {}).get(note_id)
    if note is None:
        raise HTTPException(status_code=404, detail=f"note {note_id} not found")
    note.title = fields["title"][0]
    return note


@app.get("/labels/{label}", operation_id="echo_label", tags=["misc"])
def echo_label(label: str, user: User) -> dict[str, str]:
    """Echoes a path parameter, to show it arrives percent-decoded and whole."""
    return {"label": label, "user": user}


@app.get("/status/{code}", operation_id="answer_with", tags=["misc"])
def answer_with(code: Annotated[int, Path(ge=400, le=599)], user: User) -> dict[str, str]:
    """Fails with the given status (and `Retry-After: 7` for 429), to show how each maps."""
    headers = {"Retry-After": "7"} if code == 429 else None
    raise HTTPException(status_code=code, detail=f"status {code} as asked", headers=headers)


@app.post("/_faults/drop-next-create", include_in_schema=False, dependencies=[Depends(service_only)])
def drop_next_create() -> dict[str, bool]:
    State.drop_next_create = True
    return {"armed": True}


@app.get("/_faults/requests", include_in_schema=False, dependencies=[Depends(service_only)])
def requests_seen() -> dict[str, int]:
    return {"requests": State.requests}


class DropAnswer:
    """Outermost ASGI wrapper: when armed, lets the next POST /notes run, sends its headers, then
    closes the connection without the body, as a proxy or a network failure would."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        drop = (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"] == "/notes"
            and State.drop_next_create
        )
        if not drop:
            await self.app(scope, receive, send)
            return
        State.drop_next_create = False

        async def dropping(message: Any) -> None:
            if message["type"] == "http.response.start":
                await send(message)
            elif message["type"] == "http.response.body":
                raise ConnectionAbortedError("answer dropped on purpose")

        await self.app(scope, receive, dropping)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--seen-tokens", metavar="FILE", help="append every Authorization value to FILE")
    args = parser.parse_args()
    if len(TOKEN) < 32:
        print("SERVICE_AUTH_TOKEN must be set to at least 32 characters", file=sys.stderr)
        raise SystemExit(2)
    _common.setup_logging(args.verbose)
    import asyncio

    asyncio.run(_common.serve(
            _common.SeenTokens(DropAnswer(app), args.seen_tokens), _common.bind_socket(args.port), path=""
        ))


if __name__ == "__main__":
    main()
