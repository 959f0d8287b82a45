-- The gateway: the upstream MCP server a tools/call was routed to (NULL for built-in tools).
ALTER TABLE audit_events ADD COLUMN upstream TEXT;
