//! Issues and their events: lists, status changes, assignees, comments,
//! tag values and counts. The state a change leads to is decided in
//! `corral_core::lifecycle`; this only reads and writes it.

use chrono::{DateTime, Utc};
use corral_core::lifecycle::{apply_status_change, validate_status_change};
use corral_core::model::*;
use corral_core::{
    AssignedFilter, EventCursor, IssueQuery, IssueSort, StatusChange, StatusCounts, StoreError,
    StoreResult,
};
use sqlx::{AssertSqlSafe, Executor, QueryBuilder};
use uuid::Uuid;

use crate::dialect::{Bind, Columns, Dialect, PushBind, RowsAffected, Sql};
use crate::error::{db, db_err, found};
use crate::items::page_limit;
use crate::rows::{self, event_columns, issue_columns};

/// Longest comment.
const MAX_COMMENT: usize = 10_000;

impl<D: Dialect> Sql<'_, D>
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
{
    pub(crate) async fn list_issues(&self, q: &IssueQuery) -> StoreResult<Vec<Issue>> {
        let column = sort_column(q.sort);
        let mut qb = QueryBuilder::<D>::new(concat!(
            "SELECT ",
            issue_columns!(),
            " FROM issues i WHERE TRUE"
        ));
        push_filters(&mut qb, q);
        if let Some(cursor) = q.cursor {
            qb.push(format_args!(" AND ({column}, i.id) < ("));
            match q.sort {
                IssueSort::TimesSeen => qb.push_param(cursor.sort_value),
                IssueSort::LastSeen | IssueSort::FirstSeen => {
                    qb.push_param(D::time(millis(cursor.sort_value)?))
                }
            };
            qb.push(", ").push_param(cursor.id).push(")");
        }
        qb.push(format_args!(" ORDER BY {column} DESC, i.id DESC LIMIT "))
            .push_param(page_limit(q.limit));
        qb.build()
            .fetch_all(self.0)
            .await
            .map_err(db)?
            .iter()
            .map(rows::issue)
            .collect()
    }

    pub(crate) async fn count_issues(&self, q: &IssueQuery) -> StoreResult<i64> {
        let mut qb = QueryBuilder::<D>::new("SELECT count(*) AS n FROM issues i WHERE TRUE");
        push_filters(&mut qb, q);
        qb.build().fetch_one(self.0).await.map_err(db)?.col("n")
    }

    pub(crate) async fn count_issues_by_status(&self, q: &IssueQuery) -> StoreResult<StatusCounts> {
        let q = IssueQuery {
            status: None,
            ..q.clone()
        };
        let mut qb =
            QueryBuilder::<D>::new("SELECT i.status, count(*) AS n FROM issues i WHERE TRUE");
        push_filters(&mut qb, &q);
        qb.push(" GROUP BY i.status");
        let mut counts = StatusCounts::default();
        for row in qb.build().fetch_all(self.0).await.map_err(db)? {
            counts.add(row.parse("status")?, row.col("n")?);
        }
        Ok(counts)
    }

    pub(crate) async fn issue_by_id(&self, id: IssueId) -> StoreResult<Issue> {
        let row = sqlx::query(concat!(
            "SELECT ",
            issue_columns!(),
            " FROM issues i WHERE i.id = $1"
        ))
        .param(id)
        .fetch_one(self.0)
        .await
        .map_err(db_err("issue"))?;
        rows::issue(&row)
    }

    pub(crate) async fn issue_by_short_id(
        &self,
        project_id: ProjectId,
        short_id: i64,
    ) -> StoreResult<Issue> {
        let row = sqlx::query(concat!(
            "SELECT ",
            issue_columns!(),
            " FROM issues i WHERE i.project_id = $1 AND i.short_id = $2"
        ))
        .param(project_id)
        .param(short_id)
        .fetch_one(self.0)
        .await
        .map_err(db_err("issue"))?;
        rows::issue(&row)
    }

    pub(crate) async fn set_issue_status(
        &self,
        id: IssueId,
        change: StatusChange,
    ) -> StoreResult<Issue> {
        validate_status_change(&change)?;
        let mut tx = self.begin().await?;
        let mut issue = D::lock_issues(&mut tx, &[id])
            .await?
            .remove(&id)
            .ok_or(StoreError::NotFound("issue"))?;
        apply_status_change(&mut issue, change, Utc::now());
        D::write_issues(&mut tx, &[(&issue, 0)]).await?;
        tx.commit().await.map_err(db)?;
        Ok(issue)
    }

    pub(crate) async fn set_issues_status(
        &self,
        ids: &[IssueId],
        change: StatusChange,
    ) -> StoreResult<u64> {
        validate_status_change(&change)?;
        let mut tx = self.begin().await?;
        let mut issues: Vec<Issue> = D::lock_issues(&mut tx, &sorted_ids(ids))
            .await?
            .into_values()
            .collect();
        let now = Utc::now();
        for issue in &mut issues {
            apply_status_change(issue, change.clone(), now);
        }
        let writes: Vec<(&Issue, i64)> = issues.iter().map(|i| (i, 0)).collect();
        D::write_issues(&mut tx, &writes).await?;
        tx.commit().await.map_err(db)?;
        Ok(issues.len() as u64)
    }

    pub(crate) async fn delete_issue(&self, id: IssueId) -> StoreResult<()> {
        if self.delete_issues(&[id]).await? == 0 {
            return Err(StoreError::NotFound("issue"));
        }
        Ok(())
    }

    pub(crate) async fn delete_issues(&self, ids: &[IssueId]) -> StoreResult<u64> {
        let mut tx = self.begin().await?;
        let mut ids: Vec<IssueId> = D::lock_issues(&mut tx, &sorted_ids(ids))
            .await?
            .into_keys()
            .collect();
        if ids.is_empty() {
            return Ok(0);
        }
        ids.sort_unstable();
        let (before, after) = D::IN_LIST;
        sqlx::query(AssertSqlSafe(format!(
            "DELETE FROM events WHERE issue_id{before}$1{after}"
        )))
        .param_ids(&ids)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        // Hashes, tag values, counts and comments go with them (ON DELETE CASCADE).
        let done = sqlx::query(AssertSqlSafe(format!(
            "DELETE FROM issues WHERE id{before}$1{after}"
        )))
        .param_ids(&ids)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(done.rows_affected())
    }

    pub(crate) async fn assign_issue(
        &self,
        id: IssueId,
        assignee: Option<Assignee>,
    ) -> StoreResult<Issue> {
        let mut tx = self.begin().await?;
        let mut issue = D::lock_issues(&mut tx, &[id])
            .await?
            .remove(&id)
            .ok_or(StoreError::NotFound("issue"))?;
        let check = match assignee {
            None => None,
            Some(Assignee::User(user)) => Some((
                "SELECT EXISTS (SELECT 1 FROM memberships m JOIN projects p ON p.org_id = m.org_id \
                   WHERE m.user_id = $1 AND p.id = $2) AS allowed",
                user,
            )),
            Some(Assignee::Team(team)) => Some((
                "SELECT EXISTS (SELECT 1 FROM teams t JOIN projects p ON p.org_id = t.org_id \
                   WHERE t.id = $1 AND p.id = $2) AS allowed",
                team,
            )),
        };
        if let Some((sql, id)) = check {
            let allowed: bool = sqlx::query(sql)
                .param(id)
                .param(issue.project_id)
                .fetch_one(&mut *tx)
                .await
                .map_err(db)?
                .col("allowed")?;
            if !allowed {
                return Err(foreign_assignee(assignee));
            }
        }
        let (user, team) = split_assignees(assignee.as_slice());
        sqlx::query("UPDATE issues SET assignee_user_id = $2, assignee_team_id = $3 WHERE id = $1")
            .param(id)
            .param(user.first().copied())
            .param(team.first().copied())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        issue.assignee = assignee;
        Ok(issue)
    }

    pub(crate) async fn add_comment(
        &self,
        issue_id: IssueId,
        user_id: UserId,
        text: &str,
    ) -> StoreResult<Comment> {
        crate::validate::text("text", text, MAX_COMMENT)?;
        let mut tx = self.begin().await?;
        let done = sqlx::query("UPDATE issues SET num_comments = num_comments + 1 WHERE id = $1")
            .param(issue_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        found(done.rows_affected(), "issue")?;
        let row = sqlx::query(
            "INSERT INTO comments (issue_id, user_id, user_name, text, created_at) \
             SELECT $1, u.id, CASE WHEN u.name = '' THEN u.email ELSE u.name END, $3, $4 \
             FROM users u WHERE u.id = $2 \
             RETURNING id, issue_id, user_id, user_name, text, created_at",
        )
        .param(issue_id)
        .param(user_id)
        .param(text.trim())
        .param(D::time(Utc::now()))
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err("user"))?;
        let comment = rows::comment(&row)?;
        tx.commit().await.map_err(db)?;
        Ok(comment)
    }

    pub(crate) async fn list_comments(&self, issue_id: IssueId) -> StoreResult<Vec<Comment>> {
        // The author's current name while the account exists.
        sqlx::query(
            "SELECT c.id, c.issue_id, c.user_id, \
                    COALESCE(NULLIF(u.name, ''), u.email, c.user_name) AS user_name, \
                    c.text, c.created_at \
             FROM comments c LEFT JOIN users u ON u.id = c.user_id \
             WHERE c.issue_id = $1 ORDER BY c.id",
        )
        .param(issue_id)
        .fetch_all(self.0)
        .await
        .map_err(db)?
        .iter()
        .map(rows::comment)
        .collect()
    }

    pub(crate) async fn list_issue_events(
        &self,
        issue_id: IssueId,
        cursor: Option<EventCursor>,
        limit: u32,
    ) -> StoreResult<Vec<StoredEvent>> {
        sqlx::query(concat!(
            "SELECT ",
            event_columns!(),
            " FROM events e WHERE e.issue_id = $1 \
               AND ($2 IS NULL OR (e.received_at, e.event_id) < ($2, $3)) \
             ORDER BY e.received_at DESC, e.event_id DESC LIMIT $4"
        ))
        .param(issue_id)
        .param(cursor.map(|c| D::time(c.received_at)))
        .param(cursor.map(|c| c.event_id))
        .param(page_limit(limit))
        .fetch_all(self.0)
        .await
        .map_err(db)?
        .iter()
        .map(rows::event)
        .collect()
    }

    pub(crate) async fn latest_event(&self, issue_id: IssueId) -> StoreResult<StoredEvent> {
        self.list_issue_events(issue_id, None, 1)
            .await?
            .pop()
            .ok_or(StoreError::NotFound("event"))
    }

    pub(crate) async fn event_by_id(
        &self,
        project_id: ProjectId,
        event_id: Uuid,
    ) -> StoreResult<StoredEvent> {
        // The dedupe table knows the partition key, so on PostgreSQL only
        // one partition is read.
        let row = sqlx::query(concat!(
            "SELECT ",
            event_columns!(),
            " FROM event_ids d JOIN events e \
               ON e.project_id = d.project_id AND e.event_id = d.event_id \
              AND e.received_at = d.received_at \
             WHERE d.project_id = $1 AND d.event_id = $2"
        ))
        .param(project_id)
        .param(event_id)
        .fetch_one(self.0)
        .await
        .map_err(db_err("event"))?;
        rows::event(&row)
    }

    pub(crate) async fn issue_tag_values(
        &self,
        issue_id: IssueId,
    ) -> StoreResult<Vec<TagValueCount>> {
        sqlx::query(
            "SELECT key, value, times_seen, first_seen, last_seen FROM issue_tag_values \
             WHERE issue_id = $1 ORDER BY key, times_seen DESC, value",
        )
        .param(issue_id)
        .fetch_all(self.0)
        .await
        .map_err(db)?
        .iter()
        .map(rows::tag_value)
        .collect()
    }

    pub(crate) async fn issue_tag_keys(
        &self,
        issue_id: IssueId,
        top: u32,
    ) -> StoreResult<Vec<TagKeyCounts>> {
        let rows = sqlx::query(D::TAG_KEYS)
            .param(issue_id)
            .param(i64::from(top.max(1)))
            .fetch_all(self.0)
            .await
            .map_err(db)?
            .iter()
            .map(|r| {
                Ok((
                    rows::tag_value(r)?,
                    r.col("key_seen")?,
                    r.col("key_values")?,
                ))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(tag_keys(rows, top))
    }

    pub(crate) async fn issue_tag_key_values(
        &self,
        issue_id: IssueId,
        key: &str,
        offset: u64,
        limit: u32,
    ) -> StoreResult<Vec<TagValueCount>> {
        sqlx::query(
            "SELECT key, value, times_seen, first_seen, last_seen FROM issue_tag_values \
             WHERE issue_id = $1 AND key = $2 ORDER BY times_seen DESC, value \
             LIMIT $3 OFFSET $4",
        )
        .param(issue_id)
        .param(key)
        .param(i64::from(limit))
        .param(i64::try_from(offset).unwrap_or(i64::MAX))
        .fetch_all(self.0)
        .await
        .map_err(db)?
        .iter()
        .map(rows::tag_value)
        .collect()
    }

    pub(crate) async fn issue_hourly_counts(
        &self,
        issue_id: IssueId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<CountBucket>> {
        sqlx::query(
            "SELECT hour AS start, count FROM issue_hourly \
             WHERE issue_id = $1 AND hour >= $2 AND hour < $3 AND count > 0 ORDER BY hour",
        )
        .param(issue_id)
        .param(D::time(from))
        .param(D::time(to))
        .fetch_all(self.0)
        .await
        .map_err(db)?
        .iter()
        .map(rows::bucket)
        .collect()
    }

    pub(crate) async fn issues_hourly_counts(
        &self,
        ids: &[IssueId],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<(IssueId, CountBucket)>> {
        let (before, after) = D::IN_LIST;
        sqlx::query(AssertSqlSafe(format!(
            "SELECT issue_id, hour AS start, count FROM issue_hourly \
             WHERE issue_id{before}$1{after} AND hour >= $2 AND hour < $3 AND count > 0 \
             ORDER BY issue_id, hour"
        )))
        .param_ids(ids)
        .param(D::time(from))
        .param(D::time(to))
        .fetch_all(self.0)
        .await
        .map_err(db)?
        .iter()
        .map(|r| Ok((r.col("issue_id")?, rows::bucket(r)?)))
        .collect()
    }

    pub(crate) async fn adjacent_events(
        &self,
        issue_id: IssueId,
        cursor: EventCursor,
    ) -> StoreResult<(Option<Uuid>, Option<Uuid>)> {
        let row = sqlx::query(
            "SELECT \
               (SELECT e.event_id FROM events e \
                 WHERE e.issue_id = $1 AND (e.received_at, e.event_id) < ($2, $3) \
                 ORDER BY e.received_at DESC, e.event_id DESC LIMIT 1) AS older, \
               (SELECT e.event_id FROM events e \
                 WHERE e.issue_id = $1 AND (e.received_at, e.event_id) > ($2, $3) \
                 ORDER BY e.received_at, e.event_id LIMIT 1) AS newer",
        )
        .param(issue_id)
        .param(D::time(cursor.received_at))
        .param(cursor.event_id)
        .fetch_one(self.0)
        .await
        .map_err(db)?;
        Ok((row.col("older")?, row.col("newer")?))
    }

    pub(crate) async fn issue_daily_counts(
        &self,
        issue_id: IssueId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<CountBucket>> {
        // Days not rolled up yet are summed from their hours.
        let day = D::day_start("hour");
        sqlx::query(AssertSqlSafe(format!(
            "SELECT start, CAST(sum(count) AS BIGINT) AS count FROM ( \
               SELECT day AS start, count FROM issue_daily \
                WHERE issue_id = $1 AND day >= $2 AND day < $3 \
               UNION ALL \
               SELECT {day}, count FROM issue_hourly \
                WHERE issue_id = $1 AND hour >= $2 AND hour < $3 \
             ) c GROUP BY start HAVING sum(count) > 0 ORDER BY start"
        )))
        .param(issue_id)
        .param(D::time(from))
        .param(D::time(to))
        .fetch_all(self.0)
        .await
        .map_err(db)?
        .iter()
        .map(rows::bucket)
        .collect()
    }
}

fn sort_column(sort: IssueSort) -> &'static str {
    match sort {
        IssueSort::LastSeen => "i.last_seen",
        IssueSort::FirstSeen => "i.first_seen",
        IssueSort::TimesSeen => "i.times_seen",
    }
}

fn millis(ms: i64) -> StoreResult<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms).ok_or(StoreError::Invalid {
        field: "cursor",
        reason: format!("{ms} is not a time in milliseconds"),
    })
}

fn push_filters<D: Dialect>(qb: &mut QueryBuilder<D>, q: &IssueQuery) {
    if !q.project_ids.is_empty() {
        qb.push(" AND i.project_id");
        D::push_in(qb, &q.project_ids);
    }
    if let Some(status) = q.status {
        qb.push(" AND i.status = ").push_param(status.as_str());
    }
    if !q.levels.is_empty() {
        let levels: Vec<&'static str> = q.levels.iter().map(|l| l.as_str()).collect();
        qb.push(" AND i.level");
        D::push_in(qb, &levels);
    }
    let mut tags: Vec<(&str, &str)> = q
        .tags
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    if let Some(r) = &q.release {
        tags.push(("release", r));
    }
    if let Some(e) = &q.environment {
        tags.push(("environment", e));
    }
    for (key, value) in tags {
        qb.push(
            " AND EXISTS (SELECT 1 FROM issue_tag_values t WHERE t.issue_id = i.id AND t.key = ",
        )
        .push_param(key.to_string())
        .push(" AND t.value = ")
        .push_param(value.to_string())
        .push(")");
    }
    if let Some(t) = q.first_seen_after {
        qb.push(" AND i.first_seen > ").push_param(D::time(t));
    }
    if let Some(t) = q.last_seen_after {
        qb.push(" AND i.last_seen > ").push_param(D::time(t));
    }
    if let Some(text) = q.text.as_deref().filter(|t| !t.is_empty()) {
        let pattern = like_pattern(text);
        qb.push(format_args!(" AND (i.title {} ", D::ILIKE))
            .push_param(pattern.clone())
            .push(format_args!(" ESCAPE '\\' OR i.culprit {} ", D::ILIKE))
            .push_param(pattern)
            .push(" ESCAPE '\\')");
    }
    match &q.assigned {
        None => {}
        Some(AssignedFilter::Assigned) => {
            qb.push(" AND (i.assignee_user_id IS NOT NULL OR i.assignee_team_id IS NOT NULL)");
        }
        Some(AssignedFilter::Unassigned) => {
            qb.push(" AND i.assignee_user_id IS NULL AND i.assignee_team_id IS NULL");
        }
        Some(AssignedFilter::To(a)) => push_assignees(qb, std::slice::from_ref(a)),
        Some(AssignedFilter::ToAnyOf(list)) => push_assignees(qb, list),
    }
}

/// Assigned to any of `list` (nothing matches an empty list).
fn push_assignees<D: Dialect>(qb: &mut QueryBuilder<D>, list: &[Assignee]) {
    let (users, teams) = split_assignees(list);
    qb.push(" AND (i.assignee_user_id");
    D::push_in(qb, &users);
    qb.push(" OR i.assignee_team_id");
    D::push_in(qb, &teams);
    qb.push(")");
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` substring pattern.
fn like_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// Folds rows of (value, the key's events, the key's distinct values),
/// ordered by key and then rank, into one [`TagKeyCounts`] per key keeping
/// `top` values. The queries return at least one row per key, so keys show
/// even when `top` is 0.
fn tag_keys(
    rows: impl IntoIterator<Item = (TagValueCount, i64, i64)>,
    top: u32,
) -> Vec<TagKeyCounts> {
    let mut keys: Vec<TagKeyCounts> = Vec::new();
    for (value, times_seen, unique_values) in rows {
        if keys.last().is_none_or(|k| k.key != value.key) {
            keys.push(TagKeyCounts {
                key: value.key.clone(),
                times_seen,
                unique_values,
                top_values: Vec::new(),
            });
        }
        if let Some(k) = keys
            .last_mut()
            .filter(|k| k.top_values.len() < top as usize)
        {
            k.top_values.push(value);
        }
    }
    keys
}

/// Ids sorted and distinct: the order every writer locks issues in.
fn sorted_ids(ids: &[IssueId]) -> Vec<IssueId> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// User ids and team ids of a list of assignees.
fn split_assignees(list: &[Assignee]) -> (Vec<UserId>, Vec<TeamId>) {
    let mut users = Vec::new();
    let mut teams = Vec::new();
    for a in list {
        match a {
            Assignee::User(id) => users.push(*id),
            Assignee::Team(id) => teams.push(*id),
        }
    }
    (users, teams)
}

/// The error for an assignee outside the issue's organization.
fn foreign_assignee(assignee: Option<Assignee>) -> StoreError {
    let who = match assignee {
        Some(Assignee::User(id)) => format!("user {id} is not a member of"),
        Some(Assignee::Team(id)) => format!("team {id} is not a team of"),
        None => "nobody is outside".into(),
    };
    StoreError::Invalid {
        field: "assignee",
        reason: format!("{who} the issue's organization"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
    }
}
