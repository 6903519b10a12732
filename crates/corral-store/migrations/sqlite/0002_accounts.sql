-- Accounts and collaboration: browser sessions, login throttling, password
-- resets, invitations, issue assignees and comments; indexes for purging
-- items by time. Kept in step with the PostgreSQL schema.

-- Secrets are kept only as their SHA-256.
CREATE TABLE sessions (
    token_sha256 TEXT PRIMARY KEY
        CHECK (length(token_sha256) = 64 AND token_sha256 NOT GLOB '*[^0-9a-f]*'),
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_user_idx ON sessions (user_id);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);

-- One row per key (`email:…`, `ip:…`): the failures of its latest fixed
-- 15-minute window.
CREATE TABLE login_failures (
    key TEXT PRIMARY KEY,
    window_start INTEGER NOT NULL,
    count INTEGER NOT NULL
);
CREATE INDEX login_failures_window_idx ON login_failures (window_start);

CREATE TABLE password_resets (
    token_sha256 TEXT PRIMARY KEY
        CHECK (length(token_sha256) = 64 AND token_sha256 NOT GLOB '*[^0-9a-f]*'),
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX password_resets_user_idx ON password_resets (user_id);
CREATE INDEX password_resets_expires_idx ON password_resets (expires_at);

CREATE TABLE invitations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('member', 'admin', 'owner')),
    token_sha256 TEXT NOT NULL UNIQUE
        CHECK (length(token_sha256) = 64 AND token_sha256 NOT GLOB '*[^0-9a-f]*'),
    invited_by INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX invitations_org_email_key ON invitations (org_id, lower(email));
CREATE INDEX invitations_invited_by_idx ON invitations (invited_by);
CREATE INDEX invitations_expires_idx ON invitations (expires_at);

-- An issue is assigned to a user or a team, never both (SQLite cannot add a
-- table constraint to an existing table; the store sets one and clears the
-- other).
ALTER TABLE issues ADD COLUMN assignee_user_id INTEGER REFERENCES users (id) ON DELETE SET NULL;
ALTER TABLE issues ADD COLUMN assignee_team_id INTEGER REFERENCES teams (id) ON DELETE SET NULL;
ALTER TABLE issues ADD COLUMN num_comments INTEGER NOT NULL DEFAULT 0;
CREATE INDEX issues_assignee_user_idx ON issues (assignee_user_id)
    WHERE assignee_user_id IS NOT NULL;
CREATE INDEX issues_assignee_team_idx ON issues (assignee_team_id)
    WHERE assignee_team_id IS NOT NULL;

CREATE TABLE comments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    issue_id INTEGER NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
    user_id INTEGER REFERENCES users (id) ON DELETE SET NULL,
    -- The author's name when they wrote it, shown once the account is gone.
    user_name TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX comments_issue_idx ON comments (issue_id, id);
CREATE INDEX comments_user_idx ON comments (user_id);

-- Purge by each project's retention.
CREATE INDEX attachments_project_created_idx ON attachments (project_id, created_at);
CREATE INDEX session_counts_project_hour_idx ON session_counts (project_id, hour);
CREATE INDEX client_discards_project_hour_idx ON client_discards (project_id, hour);
CREATE INDEX user_reports_project_received_idx ON user_reports (project_id, received_at);
