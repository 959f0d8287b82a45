-- Users, workspaces and tasks. Written in the SQL that SQLite and PostgreSQL share, so one
-- migration history serves both back ends. Timestamps are RFC 3339 UTC text with millisecond
-- precision (fixed width, so text order is time order); ids are UUIDv7 text.
CREATE TABLE users (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    subject     TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    UNIQUE (tenant_id, subject)
);

CREATE TABLE workspaces (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    owner_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    description TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX workspaces_by_owner ON workspaces (tenant_id, owner_id, created_at);

CREATE TABLE tasks (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL,
    owner_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    workspace_id TEXT REFERENCES workspaces (id) ON DELETE SET NULL,
    title        TEXT NOT NULL,
    description  TEXT,
    status       TEXT NOT NULL CHECK (status IN ('todo', 'in_progress', 'done')),
    completed_at TEXT,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE INDEX tasks_by_owner ON tasks (tenant_id, owner_id, created_at);
CREATE INDEX tasks_by_workspace ON tasks (workspace_id);
