-- Tables of IngestStore on PostgreSQL (see ingest.rs).
-- tenant_id (the tenant's name) starts every table and every key: on Citus each is
-- distributed on it. Journal and dead-letter numbers come from sequences, never reused, so
-- the journal number is a safe cursor for the recovery at start.

-- The journal: every sensor message as received, kept before it is acknowledged, marked
-- processed once applied to the twin.
CREATE SEQUENCE IF NOT EXISTS ingest_journal_seq;
CREATE TABLE IF NOT EXISTS ingest_journal (
    tenant_id       text COLLATE "C" NOT NULL,
    seq             bigint NOT NULL DEFAULT nextval('ingest_journal_seq'),
    source          text COLLATE "C" NOT NULL,
    transport       text NOT NULL,
    kind            text NOT NULL,
    body            bytea NOT NULL,
    received_at     timestamptz NOT NULL,
    processed_at    timestamptz,
    PRIMARY KEY (tenant_id, seq)
);
-- Only the entries still to apply: small, whatever the size of the journal.
CREATE INDEX IF NOT EXISTS ingest_journal_pending
    ON ingest_journal (seq) WHERE processed_at IS NULL;
CREATE INDEX IF NOT EXISTS ingest_journal_processed
    ON ingest_journal (processed_at) WHERE processed_at IS NOT NULL;

-- Messages that could not become twin updates, with the reason, until replayed.
CREATE SEQUENCE IF NOT EXISTS ingest_dead_letter_id;
CREATE TABLE IF NOT EXISTS ingest_dead_letters (
    tenant_id       text COLLATE "C" NOT NULL,
    id              bigint NOT NULL DEFAULT nextval('ingest_dead_letter_id'),
    source          text COLLATE "C" NOT NULL,
    transport       text NOT NULL,
    kind            text NOT NULL,
    dev_eui         text,
    reason          text NOT NULL,
    body            bytea NOT NULL,
    received_at     timestamptz NOT NULL,
    created_at      timestamptz NOT NULL,
    attempts        bigint NOT NULL DEFAULT 1,
    PRIMARY KEY (tenant_id, id)
);

-- The device registry: one JSON document per device (DeviceRecord).
CREATE TABLE IF NOT EXISTS ingest_devices (
    tenant_id       text COLLATE "C" NOT NULL,
    dev_eui         text COLLATE "C" NOT NULL,
    doc             text NOT NULL,
    PRIMARY KEY (tenant_id, dev_eui)
);

-- Message counters per tenant, source and device, added to as messages are processed.
CREATE TABLE IF NOT EXISTS ingest_counters (
    tenant_id       text COLLATE "C" NOT NULL,
    source          text COLLATE "C" NOT NULL,
    dev_eui         text COLLATE "C" NOT NULL,
    received        bigint NOT NULL DEFAULT 0,
    accepted        bigint NOT NULL DEFAULT 0,
    duplicated      bigint NOT NULL DEFAULT 0,
    rejected        bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, source, dev_eui)
);
