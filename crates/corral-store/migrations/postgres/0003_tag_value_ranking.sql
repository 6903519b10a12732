-- Tag values of an issue in the order pages show them (per key, most seen first): the top
-- values of each key and the per-key totals come from this index alone (an index-only scan),
-- instead of reading and sorting every value of the issue.
CREATE INDEX issue_tag_values_top_idx ON issue_tag_values (issue_id, key, times_seen DESC, value);
