-- Lists are ordered by (created_at, id). With `id` missing from the index, SQLite sorted every
-- row a user owns in a temporary B-tree before applying LIMIT (and PostgreSQL did the same in a
-- sort node): a user with 10 000 tasks paid for all of them on every `list_tasks` call. With `id`
-- in the index the rows come out in order and LIMIT stops the scan early.
DROP INDEX tasks_by_owner;
CREATE INDEX tasks_by_owner ON tasks (tenant_id, owner_id, created_at, id);
DROP INDEX workspaces_by_owner;
CREATE INDEX workspaces_by_owner ON workspaces (tenant_id, owner_id, created_at, id);
