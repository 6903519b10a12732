-- Corral's schema on SQLite. Times are INTEGER unix milliseconds (exact
-- ordering and ranges); JSON is kept as TEXT. `corral_migrations` records
-- this file; apalis-sqlite's queue in the same file keeps its own table.

CREATE TABLE organizations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT NOT NULL,
    name TEXT NOT NULL,
    password_hash TEXT,
    is_superuser INTEGER NOT NULL DEFAULT 0,
    is_active INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE memberships (
    org_id INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('member', 'admin', 'owner')),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_user_idx ON memberships (user_id);

CREATE TABLE teams (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    slug TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (org_id, slug)
);

CREATE TABLE team_members (
    team_id INTEGER NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user_idx ON team_members (user_id);

CREATE TABLE projects (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    slug TEXT NOT NULL,
    name TEXT NOT NULL,
    platform TEXT,
    retention_days INTEGER CHECK (retention_days > 0),
    rate_limit_per_minute INTEGER,
    rate_limit_per_hour INTEGER,
    grouping_config TEXT NOT NULL DEFAULT 'corral:2026-11',
    -- The short id the next new issue gets.
    next_short_id INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,
    UNIQUE (org_id, slug)
);

CREATE TABLE project_teams (
    project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    team_id INTEGER NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    PRIMARY KEY (project_id, team_id)
);
CREATE INDEX project_teams_team_idx ON project_teams (team_id);

CREATE TABLE project_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    public_key TEXT NOT NULL UNIQUE
        CHECK (length(public_key) = 32 AND public_key NOT GLOB '*[^0-9a-f]*'),
    label TEXT NOT NULL,
    is_active INTEGER NOT NULL DEFAULT 1,
    rate_limit_per_minute INTEGER,
    rate_limit_per_hour INTEGER,
    created_at INTEGER NOT NULL
);
CREATE INDEX project_keys_project_idx ON project_keys (project_id);

CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    -- JSON array of strings.
    scopes TEXT NOT NULL,
    token_sha256 TEXT NOT NULL UNIQUE
        CHECK (length(token_sha256) = 64 AND token_sha256 NOT GLOB '*[^0-9a-f]*'),
    created_at INTEGER NOT NULL,
    last_used_at INTEGER
);
CREATE INDEX api_tokens_user_idx ON api_tokens (user_id);

CREATE TABLE issues (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    short_id INTEGER NOT NULL,
    status TEXT NOT NULL,
    substatus TEXT NOT NULL,
    level TEXT NOT NULL,
    event_type TEXT NOT NULL,
    title TEXT NOT NULL,
    culprit TEXT NOT NULL,
    metadata TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    times_seen INTEGER NOT NULL,
    first_release TEXT,
    last_release TEXT,
    resolved_at INTEGER,
    resolved_in_release TEXT,
    ignore_until INTEGER,
    ignore_count INTEGER,
    ignore_count_base INTEGER,
    UNIQUE (project_id, short_id)
);
CREATE INDEX issues_project_last_seen_idx ON issues (project_id, last_seen DESC, id DESC);
CREATE INDEX issues_project_first_seen_idx ON issues (project_id, first_seen DESC, id DESC);
CREATE INDEX issues_project_times_seen_idx ON issues (project_id, times_seen DESC, id DESC);
CREATE INDEX issues_project_status_last_seen_idx
    ON issues (project_id, status, last_seen DESC, id DESC);
CREATE INDEX issues_last_seen_idx ON issues (last_seen DESC, id DESC);

CREATE TABLE issue_hashes (
    project_id INTEGER NOT NULL,
    hash TEXT NOT NULL,
    config TEXT NOT NULL,
    issue_id INTEGER NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
    PRIMARY KEY (project_id, hash)
);
CREATE INDEX issue_hashes_issue_idx ON issue_hashes (issue_id);

-- Deduplication of (project, event_id), kept in step with the PostgreSQL
-- schema (where events are partitioned); purged with the retention.
CREATE TABLE event_ids (
    project_id INTEGER NOT NULL,
    event_id BLOB NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (project_id, event_id)
);
CREATE INDEX event_ids_received_idx ON event_ids (received_at);

CREATE TABLE events (
    project_id INTEGER NOT NULL,
    event_id BLOB NOT NULL,
    issue_id INTEGER,
    event_type TEXT NOT NULL,
    level TEXT NOT NULL,
    title TEXT NOT NULL,
    culprit TEXT NOT NULL,
    platform TEXT NOT NULL,
    release TEXT,
    environment TEXT,
    timestamp INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    -- JSON [[key, value], …]
    tags TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (project_id, event_id)
);
CREATE INDEX events_issue_idx ON events (issue_id, received_at DESC, event_id DESC);
CREATE INDEX events_project_received_idx ON events (project_id, received_at);

CREATE TABLE releases (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    version TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    UNIQUE (project_id, version)
);

CREATE TABLE issue_tag_values (
    issue_id INTEGER NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    times_seen INTEGER NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    PRIMARY KEY (issue_id, key, value)
);
CREATE INDEX issue_tag_values_lookup_idx ON issue_tag_values (key, value, issue_id);

CREATE TABLE issue_hourly (
    issue_id INTEGER NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
    hour INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (issue_id, hour)
);
CREATE INDEX issue_hourly_hour_idx ON issue_hourly (hour);

CREATE TABLE issue_daily (
    issue_id INTEGER NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
    day INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (issue_id, day)
);
CREATE INDEX issue_daily_day_idx ON issue_daily (day);

CREATE TABLE attachments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    event_id BLOB NOT NULL,
    name TEXT NOT NULL,
    content_type TEXT,
    attachment_type TEXT,
    size INTEGER NOT NULL,
    path TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (project_id, event_id, path)
);

CREATE TABLE session_counts (
    project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    release TEXT NOT NULL,
    -- '' when the sessions carry no environment (part of the key).
    environment TEXT NOT NULL,
    hour INTEGER NOT NULL,
    exited INTEGER NOT NULL,
    errored INTEGER NOT NULL,
    crashed INTEGER NOT NULL,
    abnormal INTEGER NOT NULL,
    PRIMARY KEY (project_id, release, environment, hour)
);

CREATE TABLE client_discards (
    project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    reason TEXT NOT NULL,
    category TEXT NOT NULL,
    hour INTEGER NOT NULL,
    quantity INTEGER NOT NULL,
    PRIMARY KEY (project_id, reason, category, hour)
);

CREATE TABLE check_ins (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    check_in_id BLOB NOT NULL,
    monitor_slug TEXT NOT NULL,
    status TEXT NOT NULL,
    duration_secs REAL,
    environment TEXT,
    received_at INTEGER NOT NULL,
    data TEXT NOT NULL,
    UNIQUE (project_id, check_in_id)
);
CREATE INDEX check_ins_project_received_idx ON check_ins (project_id, received_at DESC);

CREATE TABLE user_reports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    event_id BLOB NOT NULL,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    comments TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    UNIQUE (project_id, event_id)
);

CREATE TABLE dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    payload TEXT NOT NULL,
    error TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
