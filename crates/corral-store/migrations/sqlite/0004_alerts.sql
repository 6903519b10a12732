-- Alerting: the organization's channels, the projects' rules, the triggers the
-- digest records for them (an outbox read by the worker's alert runner), when
-- each rule last fired per issue (the action interval), the deliveries (the
-- queue of outbound messages and their log), the issue activity timeline and
-- people's mail settings. Kept in step with the PostgreSQL schema (times are milliseconds since the epoch).

ALTER TABLE projects ADD COLUMN alerts_muted INTEGER NOT NULL DEFAULT 0;

CREATE TABLE alert_channels (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    -- ChannelConfig as JSON (URLs, secrets, recipients).
    config TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE alert_rules (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    enabled INTEGER NOT NULL,
    -- RuleSpec as JSON (conditions, filters, channels, action interval).
    spec TEXT NOT NULL,
    created_by INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX alert_rules_project_idx ON alert_rules (project_id, id);

-- Written by the digest in its transaction; deleted by the runner in the
-- transaction that writes what the trigger fired.
CREATE TABLE alert_triggers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL,
    issue_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    event_id BLOB,
    created_at INTEGER NOT NULL,
    leased_until INTEGER
);
CREATE INDEX alert_triggers_lease_idx ON alert_triggers (leased_until, id);

-- The action interval: when a rule last fired for an issue (0: the project).
CREATE TABLE alert_rule_fires (
    rule_id INTEGER NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
    issue_id INTEGER NOT NULL,
    fired_at INTEGER NOT NULL,
    PRIMARY KEY (rule_id, issue_id)
);

CREATE TABLE alert_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    project_id INTEGER NOT NULL,
    rule_id INTEGER REFERENCES alert_rules (id) ON DELETE SET NULL,
    issue_id INTEGER,
    channel_id INTEGER REFERENCES alert_channels (id) ON DELETE SET NULL,
    user_id INTEGER REFERENCES users (id) ON DELETE SET NULL,
    -- `channel:ID` or `user:ID`: kept when the channel or user is deleted.
    target TEXT NOT NULL,
    kind TEXT NOT NULL,
    -- AlertMessage as JSON: what the message says, fixed when it was queued.
    message TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'dead')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    leased_until INTEGER,
    last_status_code INTEGER,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX alert_deliveries_due_idx ON alert_deliveries (next_attempt_at)
    WHERE status IN ('pending', 'sending');
CREATE INDEX alert_deliveries_org_idx ON alert_deliveries (org_id, id DESC);
CREATE INDEX alert_deliveries_rule_idx ON alert_deliveries (rule_id, id DESC);
CREATE INDEX alert_deliveries_channel_idx ON alert_deliveries (channel_id, id DESC);
CREATE INDEX alert_deliveries_issue_idx ON alert_deliveries (issue_id, id DESC);
CREATE INDEX alert_deliveries_created_idx ON alert_deliveries (created_at);

CREATE TABLE issue_activities (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    issue_id INTEGER NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
    project_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    user_id INTEGER REFERENCES users (id) ON DELETE SET NULL,
    data TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX issue_activities_issue_idx ON issue_activities (issue_id, id);

CREATE TABLE notification_settings (
    user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    alerts INTEGER NOT NULL DEFAULT 1,
    assigned INTEGER NOT NULL DEFAULT 1,
    workflow INTEGER NOT NULL DEFAULT 1,
    -- In unsubscribe links; it can only turn mail off.
    unsubscribe_token TEXT NOT NULL UNIQUE
);

CREATE TABLE issue_subscriptions (
    issue_id INTEGER NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    subscribed INTEGER NOT NULL,
    PRIMARY KEY (issue_id, user_id)
);
CREATE INDEX issue_subscriptions_user_idx ON issue_subscriptions (user_id);
