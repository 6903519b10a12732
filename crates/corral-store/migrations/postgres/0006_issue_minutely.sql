-- The alert rules' window counts: events per issue and minute received, written by the digest
-- in the same transaction as the issue counters (one row per issue and minute of a batch).
-- Frequency, users and event-rate conditions sum these instead of walking the events, so
-- evaluating a rule costs the same whatever its threshold. Rows live three hours (the alert
-- runner deletes older ones); longer windows take their older hours from issue_hourly.
-- No foreign keys: rows of a deleted issue go with the next sweep.
CREATE TABLE issue_minutely (
    project_id bigint NOT NULL,
    minute timestamptz NOT NULL,
    issue_id bigint NOT NULL,
    count bigint NOT NULL,
    PRIMARY KEY (project_id, minute, issue_id)
);
CREATE INDEX issue_minutely_minute_idx ON issue_minutely (minute);
