-- Tag values of an issue in the order pages show them (per key, most seen first): the ranking
-- query walks this index instead of sorting every value of the issue.
CREATE INDEX issue_tag_values_top_idx ON issue_tag_values (issue_id, key, times_seen DESC, value);
