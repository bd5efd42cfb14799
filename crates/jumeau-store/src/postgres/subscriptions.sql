-- Tables of SubscriptionStore on PostgreSQL (see subscriptions.rs).
-- tenant_id (the tenant's name) starts every table and every key: on Citus both tables are
-- distributed on it, co-located with the entities they watch.

-- One row per subscription: the definition (names expanded, JSON), the @context it was
-- created with (JSON), and its delivery statistics in columns of their own so that recording
-- a delivery never rewrites the definition.
CREATE TABLE IF NOT EXISTS subscriptions (
    tenant_id           text COLLATE "C" NOT NULL,
    id                  text COLLATE "C" NOT NULL,
    seq                 bigint NOT NULL,
    doc                 text NOT NULL,
    context             text NOT NULL,
    created_at          timestamptz NOT NULL,
    modified_at         timestamptz NOT NULL,
    times_sent          bigint NOT NULL DEFAULT 0,
    times_failed        bigint NOT NULL DEFAULT 0,
    last_notification   timestamptz,
    last_success        timestamptz,
    last_failure        timestamptz,
    last_error          text,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX IF NOT EXISTS subscriptions_seq ON subscriptions (tenant_id, seq);

-- The outbox: notifications appended before the write that caused them is acknowledged,
-- deleted once delivered, kept with failed_at once their retries are exhausted. Numbers
-- come from a sequence and are never reused.
CREATE SEQUENCE IF NOT EXISTS notification_outbox_seq;
CREATE TABLE IF NOT EXISTS notification_outbox (
    tenant_id           text COLLATE "C" NOT NULL,
    seq                 bigint NOT NULL DEFAULT nextval('notification_outbox_seq'),
    subscription        text COLLATE "C" NOT NULL,
    endpoint            text NOT NULL,
    payload             text NOT NULL,
    attempts            bigint NOT NULL DEFAULT 0,
    next_attempt        timestamptz NOT NULL,
    last_error          text,
    failed_at           timestamptz,
    PRIMARY KEY (tenant_id, seq)
);
CREATE INDEX IF NOT EXISTS notification_outbox_subscription
    ON notification_outbox (tenant_id, subscription, seq);
CREATE INDEX IF NOT EXISTS notification_outbox_pending
    ON notification_outbox (seq) WHERE failed_at IS NULL;
