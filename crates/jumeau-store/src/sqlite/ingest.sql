-- Tables of IngestStore (see ingest.rs), schema step 4.
-- The tenant (its name) is part of every key, as everywhere else.

-- The journal: every sensor message as received, kept before it is acknowledged, marked
-- processed once applied to the twin. AUTOINCREMENT: a number is never reused, so the
-- sequence is a safe cursor for the recovery at start.
CREATE TABLE IF NOT EXISTS ingest_journal (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant          TEXT NOT NULL,
    source          TEXT NOT NULL,
    transport       TEXT NOT NULL,
    kind            TEXT NOT NULL,
    body            BLOB NOT NULL,
    received_at     TEXT NOT NULL,
    processed_at    TEXT
);
-- Only the entries still to apply: small, whatever the size of the journal.
CREATE INDEX IF NOT EXISTS ingest_journal_pending
    ON ingest_journal (seq) WHERE processed_at IS NULL;
CREATE INDEX IF NOT EXISTS ingest_journal_processed
    ON ingest_journal (processed_at) WHERE processed_at IS NOT NULL;

-- Messages that could not become twin updates, with the reason, until replayed.
CREATE TABLE IF NOT EXISTS ingest_dead_letters (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant          TEXT NOT NULL,
    source          TEXT NOT NULL,
    transport       TEXT NOT NULL,
    kind            TEXT NOT NULL,
    dev_eui         TEXT,
    reason          TEXT NOT NULL,
    body            BLOB NOT NULL,
    received_at     TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS ingest_dead_letters_tenant ON ingest_dead_letters (tenant, id);

-- The device registry: one JSON document per device (DeviceRecord).
CREATE TABLE IF NOT EXISTS ingest_devices (
    tenant          TEXT NOT NULL,
    dev_eui         TEXT NOT NULL,
    doc             TEXT NOT NULL,
    PRIMARY KEY (tenant, dev_eui)
) WITHOUT ROWID;

-- Message counters per tenant, source and device, added to as messages are processed.
CREATE TABLE IF NOT EXISTS ingest_counters (
    tenant          TEXT NOT NULL,
    source          TEXT NOT NULL,
    dev_eui         TEXT NOT NULL,
    received        INTEGER NOT NULL DEFAULT 0,
    accepted        INTEGER NOT NULL DEFAULT 0,
    duplicated      INTEGER NOT NULL DEFAULT 0,
    rejected        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, source, dev_eui)
) WITHOUT ROWID;
