-- Idempotency keys of the REST backend (microservice mode): a write retried with the same
-- Idempotency-Key gets the first attempt's response instead of running twice. A row without a
-- status is an attempt still running.
CREATE TABLE idempotency_keys (
    tenant_id    TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    idem_key     TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status       BIGINT,
    response     TEXT,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (tenant_id, user_id, idem_key)
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
