-- The alert rules' window counts: events per issue and minute received, written by the digest
-- in the same transaction as the issue counters. Kept in step with the PostgreSQL schema
-- (0006_issue_minutely.sql; times are milliseconds since the epoch).
CREATE TABLE issue_minutely (
    project_id INTEGER NOT NULL,
    minute INTEGER NOT NULL,
    issue_id INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (project_id, minute, issue_id)
) WITHOUT ROWID;
CREATE INDEX issue_minutely_minute_idx ON issue_minutely (minute);
