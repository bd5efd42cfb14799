-- Tables of SubscriptionStore (see subscriptions.rs), schema step 3.
-- The tenant is part of every key, as everywhere else.

-- One row per subscription: the definition (names expanded, JSON), the @context it was
-- created with (JSON), and its delivery statistics in columns of their own so that recording
-- a delivery never rewrites the definition.
CREATE TABLE IF NOT EXISTS subscriptions (
    tenant              INTEGER NOT NULL,
    id                  TEXT NOT NULL,
    seq                 INTEGER NOT NULL,
    doc                 TEXT NOT NULL,
    context             TEXT NOT NULL,
    created_at          TEXT NOT NULL,
    modified_at         TEXT NOT NULL,
    times_sent          INTEGER NOT NULL DEFAULT 0,
    times_failed        INTEGER NOT NULL DEFAULT 0,
    last_notification   TEXT,
    last_success        TEXT,
    last_failure        TEXT,
    last_error          TEXT,
    PRIMARY KEY (tenant, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS subscriptions_seq ON subscriptions (tenant, seq);

-- The outbox: notifications appended before the write that caused them is acknowledged,
-- deleted once delivered, kept with failed_at once their retries are exhausted.
-- AUTOINCREMENT: a number is never reused, so a delivered notification is never mistaken for
-- a newer one.
CREATE TABLE IF NOT EXISTS notification_outbox (
    seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant              INTEGER NOT NULL,
    subscription        TEXT NOT NULL,
    endpoint            TEXT NOT NULL,
    payload             TEXT NOT NULL,
    attempts            INTEGER NOT NULL DEFAULT 0,
    next_attempt        TEXT NOT NULL,
    last_error          TEXT,
    failed_at           TEXT
);
CREATE INDEX IF NOT EXISTS notification_outbox_subscription
    ON notification_outbox (tenant, subscription);
