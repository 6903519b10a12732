//! Alerting's records: channels, rules, the triggers the digest leaves for
//! the alert runner, rule fires (the action interval), deliveries (queue and
//! log), issue activity and mail settings. What fires is decided in
//! `corral_core::alerts` and the runner; this keeps it, so that a trigger is
//! finished exactly once and a rule fires at most once per interval however
//! many runners race.

use chrono::{DateTime, Duration, Utc};
use corral_core::alerts::*;
use corral_core::model::*;
use corral_core::{DigestInput, DigestOutcome, StoreError, StoreResult};
use sqlx::{AssertSqlSafe, Executor, QueryBuilder};

use crate::dialect::{Bind, Columns, Dialect, PushBind, RowsAffected, Sql};
use crate::error::{bad_value, db, db_err, found};

const CHANNEL_COLUMNS: &str = "id, org_id, name, config, created_at";
const RULE_COLUMNS: &str =
    "id, project_id, name, enabled, spec, created_by, created_at, updated_at";
const DELIVERY_COLUMNS: &str = "id, org_id, project_id, rule_id, issue_id, target, message, \
     status, attempts, next_attempt_at, last_status_code, last_error, created_at, updated_at";
const ACTIVITY_COLUMNS: &str = "id, issue_id, project_id, kind, user_id, data, created_at";

fn invalid(e: AlertSpecError) -> StoreError {
    StoreError::Invalid {
        field: e.field,
        reason: e.reason,
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("alert records serialize")
}

fn from_json<T: serde::de::DeserializeOwned>(r: &impl Columns, column: &str) -> StoreResult<T> {
    let text: String = r.col(column)?;
    serde_json::from_str(&text).map_err(|_| bad_value(column, &text))
}

fn channel(r: &impl Columns) -> StoreResult<Channel> {
    Ok(Channel {
        id: r.col("id")?,
        org_id: r.col("org_id")?,
        name: r.col("name")?,
        config: from_json(r, "config")?,
        created_at: r.time("created_at")?,
    })
}

fn rule(r: &impl Columns) -> StoreResult<AlertRule> {
    Ok(AlertRule {
        id: r.col("id")?,
        project_id: r.col("project_id")?,
        name: r.col("name")?,
        enabled: r.col("enabled")?,
        spec: from_json(r, "spec")?,
        created_by: r.col("created_by")?,
        created_at: r.time("created_at")?,
        updated_at: r.time("updated_at")?,
    })
}

fn target_text(t: DeliveryTarget) -> String {
    match t {
        DeliveryTarget::Channel(id) => format!("channel:{id}"),
        DeliveryTarget::User(id) => format!("user:{id}"),
    }
}

fn delivery(r: &impl Columns) -> StoreResult<Delivery> {
    let target: String = r.col("target")?;
    let parsed = match target.split_once(':') {
        Some(("channel", id)) => id.parse().ok().map(DeliveryTarget::Channel),
        Some(("user", id)) => id.parse().ok().map(DeliveryTarget::User),
        _ => None,
    };
    Ok(Delivery {
        id: r.col("id")?,
        org_id: r.col("org_id")?,
        project_id: r.col("project_id")?,
        rule_id: r.col("rule_id")?,
        issue_id: r.col("issue_id")?,
        target: parsed.ok_or_else(|| bad_value("target", &target))?,
        message: from_json(r, "message")?,
        status: r.parse("status")?,
        attempts: r.col("attempts")?,
        next_attempt_at: r.time("next_attempt_at")?,
        last_status_code: r.col("last_status_code")?,
        last_error: r.col("last_error")?,
        created_at: r.time("created_at")?,
        updated_at: r.time("updated_at")?,
    })
}

fn activity(r: &impl Columns) -> StoreResult<Activity> {
    Ok(Activity {
        id: r.col("id")?,
        issue_id: r.col("issue_id")?,
        project_id: r.col("project_id")?,
        kind: r.parse("kind")?,
        user_id: r.col("user_id")?,
        data: from_json(r, "data")?,
        created_at: r.time("created_at")?,
    })
}

fn trigger(r: &impl Columns) -> StoreResult<AlertTrigger> {
    Ok(AlertTrigger {
        id: r.col("id")?,
        project_id: r.col("project_id")?,
        issue_id: r.col("issue_id")?,
        kind: r.parse("kind")?,
        event_id: r.col("event_id")?,
        created_at: r.time("created_at")?,
    })
}

fn check_name(name: &str) -> StoreResult<()> {
    crate::validate::text("name", name, MAX_NAME_CHARS)
}

fn random_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Records, in the digest's transaction, what alerting needs from a batch:
/// an activity and a trigger for each event that created its issue,
/// reopened it or ended its ignore. Nothing is written for a batch without
/// such an event (nearly every batch).
pub(crate) async fn record_decisions<D: Dialect>(
    tx: &mut D::Connection,
    batch: &[DigestInput],
    outcomes: &[DigestOutcome],
) -> Result<(), sqlx::Error>
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
{
    let decided: Vec<(&DigestInput, IssueId, TriggerKind, ActivityKind)> = batch
        .iter()
        .zip(outcomes)
        .filter(|(_, o)| o.inserted)
        .filter_map(|(input, o)| {
            let issue = o.issue_id?;
            let (t, a) = if o.new_issue {
                (TriggerKind::NewIssue, ActivityKind::FirstSeen)
            } else if o.regressed {
                (TriggerKind::Regression, ActivityKind::SetRegression)
            } else if o.escalated {
                (TriggerKind::Escalating, ActivityKind::SetEscalating)
            } else {
                return None;
            };
            Some((input, issue, t, a))
        })
        .collect();
    // a few rows per statement keeps SQLite within its bound-value limit
    for chunk in decided.chunks(100) {
        let now = Utc::now();
        let mut qb = QueryBuilder::<D>::new(
            "INSERT INTO alert_triggers (project_id, issue_id, kind, event_id, created_at) VALUES ",
        );
        for (i, (input, issue, kind, _)) in chunk.iter().enumerate() {
            if i > 0 {
                qb.push(", ");
            }
            qb.push("(")
                .push_param(input.project_id)
                .push(", ")
                .push_param(*issue)
                .push(", ")
                .push_param(kind.as_str())
                .push(", ")
                .push_param(input.event_id)
                .push(", ")
                .push_param(D::time(now))
                .push(")");
        }
        qb.build().execute(&mut *tx).await?;
        let mut qb = QueryBuilder::<D>::new(
            "INSERT INTO issue_activities (issue_id, project_id, kind, data, created_at) VALUES ",
        );
        for (i, (input, issue, _, kind)) in chunk.iter().enumerate() {
            if i > 0 {
                qb.push(", ");
            }
            let data = serde_json::json!({ "event_id": input.event_id.simple().to_string() });
            qb.push("(")
                .push_param(*issue)
                .push(", ")
                .push_param(input.project_id)
                .push(", ")
                .push_param(kind.as_str())
                .push(", ")
                .push_param(data.to_string())
                .push(", ")
                .push_param(D::time(now))
                .push(")");
        }
        qb.build().execute(&mut *tx).await?;
    }
    Ok(())
}

/// Claims a rule's interval for an issue (0: the project) at `now`: true
/// when it had not fired within the interval (and the rule still exists
/// and is enabled).
async fn claim_fire<D: Dialect>(
    tx: &mut D::Connection,
    fire: &AlertFire,
    now: DateTime<Utc>,
) -> StoreResult<bool>
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
{
    let since = now - Duration::minutes(fire.interval_minutes.max(1));
    let row = sqlx::query(
        "INSERT INTO alert_rule_fires (rule_id, issue_id, fired_at) \
         SELECT r.id, $2, $3 FROM alert_rules r WHERE r.id = $1 AND r.enabled \
         ON CONFLICT (rule_id, issue_id) DO UPDATE SET fired_at = excluded.fired_at \
         WHERE alert_rule_fires.fired_at <= $4 \
         RETURNING rule_id",
    )
    .param(fire.rule_id)
    .param(fire.issue_id)
    .param(D::time(now))
    .param(D::time(since))
    .fetch_optional(&mut *tx)
    .await
    .map_err(db)?;
    Ok(row.is_some())
}

async fn insert_delivery<D: Dialect>(
    tx: &mut D::Connection,
    d: &NewDelivery,
    rule_id: Option<RuleId>,
    now: DateTime<Utc>,
) -> StoreResult<Option<Delivery>>
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
{
    let (channel_id, user_id) = match d.target {
        DeliveryTarget::Channel(id) => (Some(id), None),
        DeliveryTarget::User(id) => (None, Some(id)),
    };
    let issue_id = d.message.issue.as_ref().map(|i| i.id);
    // a channel or user deleted meanwhile gets nothing
    let row = sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO alert_deliveries (org_id, project_id, rule_id, issue_id, channel_id, \
           user_id, target, kind, message, status, attempts, next_attempt_at, created_at, \
           updated_at) \
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', 0, $10, $10, $10 \
         WHERE ($5 IS NULL OR EXISTS (SELECT 1 FROM alert_channels WHERE id = $5)) \
           AND ($6 IS NULL OR EXISTS (SELECT 1 FROM users WHERE id = $6)) \
         RETURNING {DELIVERY_COLUMNS}"
    )))
    .param(d.org_id)
    .param(d.message.project_id)
    .param(rule_id)
    .param(issue_id)
    .param(channel_id)
    .param(user_id)
    .param(target_text(d.target))
    .param(d.message.kind.as_str())
    .param(to_json(&d.message))
    .param(D::time(now))
    .fetch_optional(&mut *tx)
    .await
    .map_err(db_err("delivery"))?;
    row.as_ref().map(delivery).transpose()
}

async fn write_fire<D: Dialect>(
    tx: &mut D::Connection,
    fire: &AlertFire,
    now: DateTime<Utc>,
) -> StoreResult<bool>
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
{
    if !claim_fire::<D>(tx, fire, now).await? {
        return Ok(false);
    }
    for d in &fire.deliveries {
        insert_delivery::<D>(tx, d, Some(fire.rule_id), now).await?;
    }
    Ok(true)
}

impl<D: Dialect> Sql<'_, D>
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
{
    // --- channels ---------------------------------------------------------------
    pub(crate) async fn create_alert_channel(
        &self,
        org_id: OrgId,
        name: &str,
        config: &ChannelConfig,
    ) -> StoreResult<Channel> {
        check_name(name)?;
        config.validate().map_err(invalid)?;
        let row = sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO alert_channels (org_id, name, kind, config, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING {CHANNEL_COLUMNS}"
        )))
        .param(org_id)
        .param(name.trim())
        .param(config.kind().as_str())
        .param(to_json(config))
        .param(D::time(Utc::now()))
        .fetch_one(self.0)
        .await
        .map_err(db_err("channel name"))?;
        channel(&row)
    }

    pub(crate) async fn list_alert_channels(&self, org_id: OrgId) -> StoreResult<Vec<Channel>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {CHANNEL_COLUMNS} FROM alert_channels WHERE org_id = $1 ORDER BY name, id"
        )))
        .param(org_id)
        .fetch_all(self.0)
        .await
        .map_err(db)?
        .iter()
        .map(channel)
        .collect()
    }

    pub(crate) async fn alert_channel_by_id(&self, id: ChannelId) -> StoreResult<Channel> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {CHANNEL_COLUMNS} FROM alert_channels WHERE id = $1"
        )))
        .param(id)
        .fetch_optional(self.0)
        .await
        .map_err(db)?
        .ok_or(StoreError::NotFound("channel"))?;
        channel(&row)
    }

    pub(crate) async fn update_alert_channel(
        &self,
        id: ChannelId,
        name: &str,
        config: &ChannelConfig,
    ) -> StoreResult<Channel> {
        check_name(name)?;
        config.validate().map_err(invalid)?;
        let row = sqlx::query(AssertSqlSafe(format!(
            "UPDATE alert_channels SET name = $2, kind = $3, config = $4 WHERE id = $1 \
             RETURNING {CHANNEL_COLUMNS}"
        )))
        .param(id)
        .param(name.trim())
        .param(config.kind().as_str())
        .param(to_json(config))
        .fetch_optional(self.0)
        .await
        .map_err(db_err("channel name"))?
        .ok_or(StoreError::NotFound("channel"))?;
        channel(&row)
    }

    pub(crate) async fn delete_alert_channel(&self, id: ChannelId) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM alert_channels WHERE id = $1")
            .param(id)
            .execute(self.0)
            .await
            .map_err(db)?;
        found(done.rows_affected(), "channel")
    }

    // --- rules ------------------------------------------------------------------
    pub(crate) async fn create_alert_rule(&self, r: &NewAlertRule) -> StoreResult<AlertRule> {
        check_name(&r.name)?;
        r.spec.validate().map_err(invalid)?;
        let now = D::time(Utc::now());
        let row = sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO alert_rules (project_id, name, enabled, spec, created_by, created_at, \
               updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING {RULE_COLUMNS}"
        )))
        .param(r.project_id)
        .param(r.name.trim())
        .param(r.enabled)
        .param(to_json(&r.spec))
        .param(r.created_by)
        .param(now)
        .fetch_one(self.0)
        .await
        .map_err(db_err("project"))?;
        rule(&row)
    }

    pub(crate) async fn list_alert_rules(
        &self,
        project_id: ProjectId,
    ) -> StoreResult<Vec<AlertRule>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {RULE_COLUMNS} FROM alert_rules WHERE project_id = $1 ORDER BY id"
        )))
        .param(project_id)
        .fetch_all(self.0)
        .await
        .map_err(db)?
        .iter()
        .map(rule)
        .collect()
    }

    pub(crate) async fn active_alert_rules(&self) -> StoreResult<Vec<AlertRule>> {
        sqlx::query(
            "SELECT r.id, r.project_id, r.name, r.enabled, r.spec, r.created_by, r.created_at, \
                    r.updated_at \
             FROM alert_rules r JOIN projects p ON p.id = r.project_id \
             WHERE r.enabled AND NOT p.alerts_muted ORDER BY r.id",
        )
        .fetch_all(self.0)
        .await
        .map_err(db)?
        .iter()
        .map(rule)
        .collect()
    }

    pub(crate) async fn alert_rule_by_id(&self, id: RuleId) -> StoreResult<AlertRule> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {RULE_COLUMNS} FROM alert_rules WHERE id = $1"
        )))
        .param(id)
        .fetch_optional(self.0)
        .await
        .map_err(db)?
        .ok_or(StoreError::NotFound("rule"))?;
        rule(&row)
    }

    pub(crate) async fn update_alert_rule(
        &self,
        id: RuleId,
        r: &NewAlertRule,
    ) -> StoreResult<AlertRule> {
        check_name(&r.name)?;
        r.spec.validate().map_err(invalid)?;
        let row = sqlx::query(AssertSqlSafe(format!(
            "UPDATE alert_rules SET name = $2, enabled = $3, spec = $4, updated_at = $5 \
             WHERE id = $1 RETURNING {RULE_COLUMNS}"
        )))
        .param(id)
        .param(r.name.trim())
        .param(r.enabled)
        .param(to_json(&r.spec))
        .param(D::time(Utc::now()))
        .fetch_optional(self.0)
        .await
        .map_err(db)?
        .ok_or(StoreError::NotFound("rule"))?;
        rule(&row)
    }

    pub(crate) async fn delete_alert_rule(&self, id: RuleId) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM alert_rules WHERE id = $1")
            .param(id)
            .execute(self.0)
            .await
            .map_err(db)?;
        found(done.rows_affected(), "rule")
    }

    pub(crate) async fn set_project_alerts_muted(
        &self,
        project_id: ProjectId,
        muted: bool,
    ) -> StoreResult<()> {
        let done = sqlx::query("UPDATE projects SET alerts_muted = $2 WHERE id = $1")
            .param(project_id)
            .param(muted)
            .execute(self.0)
            .await
            .map_err(db)?;
        found(done.rows_affected(), "project")
    }

    pub(crate) async fn project_alerts_muted(&self, project_id: ProjectId) -> StoreResult<bool> {
        sqlx::query("SELECT alerts_muted FROM projects WHERE id = $1")
            .param(project_id)
            .fetch_optional(self.0)
            .await
            .map_err(db)?
            .ok_or(StoreError::NotFound("project"))?
            .col("alerts_muted")
    }

    // --- triggers, fires, deliveries ----------------------------------------------------
    pub(crate) async fn claim_alert_triggers(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
    ) -> StoreResult<Vec<AlertTrigger>> {
        let mut tx = self.begin().await?;
        let rows = sqlx::query(AssertSqlSafe(format!(
            "UPDATE alert_triggers SET leased_until = $1 WHERE id IN ( \
               SELECT id FROM alert_triggers WHERE leased_until IS NULL OR leased_until < $2 \
               ORDER BY id LIMIT $3{} \
             ) RETURNING id, project_id, issue_id, kind, event_id, created_at",
            D::SKIP_LOCKED
        )))
        .param(D::time(now + lease))
        .param(D::time(now))
        .param(i64::from(limit.min(1000)))
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        let mut triggers = rows.iter().map(trigger).collect::<StoreResult<Vec<_>>>()?;
        triggers.sort_by_key(|t| t.id);
        Ok(triggers)
    }

    pub(crate) async fn complete_alert_trigger(
        &self,
        trigger_id: TriggerId,
        fires: &[AlertFire],
        direct: &[NewDelivery],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Vec<bool>>> {
        let mut tx = self.begin().await?;
        let gone = sqlx::query("DELETE FROM alert_triggers WHERE id = $1")
            .param(trigger_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if gone.rows_affected() == 0 {
            return Ok(None);
        }
        let mut fired = Vec::with_capacity(fires.len());
        for fire in fires {
            fired.push(write_fire::<D>(&mut tx, fire, now).await?);
        }
        for d in direct {
            insert_delivery::<D>(&mut tx, d, None, now).await?;
        }
        tx.commit().await.map_err(db)?;
        Ok(Some(fired))
    }

    pub(crate) async fn fire_alert(
        &self,
        fire: &AlertFire,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let fired = write_fire::<D>(&mut tx, fire, now).await?;
        tx.commit().await.map_err(db)?;
        Ok(fired)
    }

    pub(crate) async fn queue_deliveries(
        &self,
        deliveries: &[NewDelivery],
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Delivery>> {
        let mut tx = self.begin().await?;
        let mut out = Vec::with_capacity(deliveries.len());
        for d in deliveries {
            let rule_id = d.message.rule_id;
            match insert_delivery::<D>(&mut tx, d, rule_id, now).await? {
                Some(written) => out.push(written),
                None => return Err(StoreError::NotFound("channel")),
            }
        }
        tx.commit().await.map_err(db)?;
        Ok(out)
    }

    pub(crate) async fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
    ) -> StoreResult<Vec<Delivery>> {
        let mut tx = self.begin().await?;
        let rows = sqlx::query(AssertSqlSafe(format!(
            "UPDATE alert_deliveries SET status = 'sending', attempts = attempts + 1, \
               leased_until = $1, updated_at = $2 WHERE id IN ( \
               SELECT id FROM alert_deliveries \
               WHERE (status = 'pending' AND next_attempt_at <= $2) \
                  OR (status = 'sending' AND leased_until < $2) \
               ORDER BY next_attempt_at, id LIMIT $3{} \
             ) RETURNING {DELIVERY_COLUMNS}",
            D::SKIP_LOCKED
        )))
        .param(D::time(now + lease))
        .param(D::time(now))
        .param(i64::from(limit.min(1000)))
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        let mut out = rows.iter().map(delivery).collect::<StoreResult<Vec<_>>>()?;
        out.sort_by_key(|d| d.id);
        Ok(out)
    }

    pub(crate) async fn finish_delivery(
        &self,
        id: DeliveryId,
        outcome: &DeliveryOutcome,
        now: DateTime<Utc>,
    ) -> StoreResult<Delivery> {
        let (status, next, code, error) = match outcome {
            DeliveryOutcome::Sent { status_code } => {
                (DeliveryStatus::Sent, now, *status_code, None)
            }
            DeliveryOutcome::Retry {
                at,
                status_code,
                error,
            } => (DeliveryStatus::Pending, *at, *status_code, Some(error)),
            DeliveryOutcome::Dead { status_code, error } => {
                (DeliveryStatus::Dead, now, *status_code, Some(error))
            }
        };
        let error = error.map(|e| e.chars().take(1000).collect::<String>());
        let mut tx = self.begin().await?;
        let row = sqlx::query(AssertSqlSafe(format!(
            "UPDATE alert_deliveries SET status = $2, next_attempt_at = $3, \
               last_status_code = $4, last_error = $5, leased_until = NULL, updated_at = $6 \
             WHERE id = $1 RETURNING {DELIVERY_COLUMNS}"
        )))
        .param(id)
        .param(status.as_str())
        .param(D::time(next))
        .param(code)
        .param(error)
        .param(D::time(now))
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?
        .ok_or(StoreError::NotFound("delivery"))?;
        let written = delivery(&row)?;
        // an alert that reached its channel shows in the issue's timeline
        if status == DeliveryStatus::Sent
            && let (Some(issue), Some(rule)) = (written.issue_id, written.rule_id)
            && !matches!(written.message.kind, AlertKind::Test)
        {
            let data = serde_json::json!({
                "rule_id": rule,
                "rule": written.message.rule_name,
                "kind": written.message.kind.as_str(),
                "target": target_text(written.target),
                "delivery_id": written.id,
            });
            sqlx::query(
                "INSERT INTO issue_activities (issue_id, project_id, kind, data, created_at) \
                 SELECT id, project_id, $2, $3, $4 FROM issues WHERE id = $1",
            )
            .param(issue)
            .param(ActivityKind::AlertSent.as_str())
            .param(data.to_string())
            .param(D::time(now))
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(written)
    }

    pub(crate) async fn delivery_by_id(&self, id: DeliveryId) -> StoreResult<Delivery> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {DELIVERY_COLUMNS} FROM alert_deliveries WHERE id = $1"
        )))
        .param(id)
        .fetch_optional(self.0)
        .await
        .map_err(db)?
        .ok_or(StoreError::NotFound("delivery"))?;
        delivery(&row)
    }

    pub(crate) async fn list_deliveries(&self, f: &DeliveryFilter) -> StoreResult<Vec<Delivery>> {
        let mut qb = QueryBuilder::<D>::new(format!(
            "SELECT {DELIVERY_COLUMNS} FROM alert_deliveries WHERE TRUE"
        ));
        if let Some(v) = f.org_id {
            qb.push(" AND org_id = ").push_param(v);
        }
        if let Some(v) = f.project_id {
            qb.push(" AND project_id = ").push_param(v);
        }
        if let Some(v) = f.rule_id {
            qb.push(" AND rule_id = ").push_param(v);
        }
        if let Some(v) = f.channel_id {
            qb.push(" AND channel_id = ").push_param(v);
        }
        if let Some(v) = f.issue_id {
            qb.push(" AND issue_id = ").push_param(v);
        }
        if let Some(v) = f.status {
            qb.push(" AND status = ").push_param(v.as_str());
        }
        if let Some(v) = f.before_id {
            qb.push(" AND id < ").push_param(v);
        }
        qb.push(" ORDER BY id DESC LIMIT ")
            .push_param(i64::from(f.limit.clamp(1, 500)));
        qb.build()
            .fetch_all(self.0)
            .await
            .map_err(db)?
            .iter()
            .map(delivery)
            .collect()
    }

    pub(crate) async fn delivered_to_channel(
        &self,
        issue_id: IssueId,
        channel_id: ChannelId,
    ) -> StoreResult<bool> {
        sqlx::query(
            "SELECT EXISTS (SELECT 1 FROM alert_deliveries WHERE issue_id = $1 \
               AND channel_id = $2 AND status = 'sent' AND kind NOT IN ('resolved', 'test', \
               'assigned')) AS present",
        )
        .param(issue_id)
        .param(channel_id)
        .fetch_one(self.0)
        .await
        .map_err(db)?
        .col("present")
    }

    // --- window counts -----------------------------------------------------------
    pub(crate) async fn issue_counts_since(
        &self,
        project_id: ProjectId,
        since: DateTime<Utc>,
        cap: i64,
        max_issues: u32,
        rule: RuleId,
        fired_after: DateTime<Utc>,
    ) -> StoreResult<Vec<(IssueId, i64)>> {
        // the digest's per-minute counters (and, for what lies beyond them,
        // the hourly ones): a few rows per issue, whatever the threshold
        let w = WindowRange::new(since, Utc::now().max(since));
        sqlx::query(
            "SELECT c.id, c.n FROM ( \
               SELECT u.id, CAST(sum(u.n) AS bigint) AS n FROM ( \
                 SELECT m.issue_id AS id, m.count AS n FROM issue_minutely m \
                   WHERE m.project_id = $1 AND m.minute >= $2 \
                 UNION ALL \
                 SELECT h.issue_id AS id, h.count AS n FROM issue_hourly h \
                   JOIN issues hi ON hi.id = h.issue_id \
                   WHERE hi.project_id = $1 AND h.hour >= $3 AND h.hour < $4 \
               ) u GROUP BY u.id \
             ) c JOIN issues i ON i.id = c.id \
             WHERE NOT EXISTS (SELECT 1 FROM alert_rule_fires f \
                 WHERE f.rule_id = $5 AND f.issue_id = c.id AND f.fired_at > $6) \
             ORDER BY c.n DESC, c.id LIMIT $7",
        )
        .param(project_id)
        .param(D::time(w.minutes_from))
        .param(D::time(w.hours_from))
        .param(D::time(w.hours_to))
        .param(rule)
        .param(D::time(fired_after))
        .param(i64::from(max_issues.clamp(1, 1000)))
        .fetch_all(self.0)
        .await
        .map_err(db)?
        .iter()
        .map(|r| {
            let n: i64 = r.col("n")?;
            Ok((r.col("id")?, n.min(cap.max(1))))
        })
        .collect()
    }

    pub(crate) async fn issue_users_since(
        &self,
        issue_id: IssueId,
        since: DateTime<Utc>,
        cap: i64,
    ) -> StoreResult<i64> {
        // the tag value counts keep each user's latest event of the issue
        sqlx::query(
            "SELECT count(*) AS n FROM (SELECT 1 FROM issue_tag_values \
               WHERE issue_id = $1 AND key = 'user' AND last_seen >= $2 LIMIT $3) c",
        )
        .param(issue_id)
        .param(D::time(since))
        .param(cap.max(1))
        .fetch_one(self.0)
        .await
        .map_err(db)?
        .col("n")
    }

    pub(crate) async fn alert_fired_after(
        &self,
        rule: RuleId,
        issue_id: IssueId,
        after: DateTime<Utc>,
    ) -> StoreResult<bool> {
        sqlx::query(
            "SELECT EXISTS (SELECT 1 FROM alert_rule_fires WHERE rule_id = $1 \
               AND issue_id = $2 AND fired_at > $3) AS present",
        )
        .param(rule)
        .param(issue_id)
        .param(D::time(after))
        .fetch_one(self.0)
        .await
        .map_err(db)?
        .col("present")
    }

    pub(crate) async fn project_events_since(
        &self,
        project_id: ProjectId,
        since: DateTime<Utc>,
        cap: i64,
    ) -> StoreResult<i64> {
        // issues' events only (transactions have no issue), as counted above
        let w = WindowRange::new(since, Utc::now().max(since));
        let n: i64 = sqlx::query(
            "SELECT CAST(COALESCE(sum(u.n), 0) AS bigint) AS n FROM ( \
               SELECT m.count AS n FROM issue_minutely m \
                 WHERE m.project_id = $1 AND m.minute >= $2 \
               UNION ALL \
               SELECT h.count AS n FROM issue_hourly h JOIN issues hi ON hi.id = h.issue_id \
                 WHERE hi.project_id = $1 AND h.hour >= $3 AND h.hour < $4 \
             ) u",
        )
        .param(project_id)
        .param(D::time(w.minutes_from))
        .param(D::time(w.hours_from))
        .param(D::time(w.hours_to))
        .fetch_one(self.0)
        .await
        .map_err(db)?
        .col("n")?;
        Ok(n.min(cap.max(1)))
    }

    pub(crate) async fn sweep_window_counts(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        Ok(sqlx::query("DELETE FROM issue_minutely WHERE minute < $1")
            .param(D::time(before))
            .execute(self.0)
            .await
            .map_err(db)?
            .rows_affected())
    }

    // --- activity and mail settings ---------------------------------------------------
    pub(crate) async fn add_activity(
        &self,
        a: &NewActivity,
        now: DateTime<Utc>,
    ) -> StoreResult<Activity> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO issue_activities (issue_id, project_id, kind, user_id, data, created_at) \
             SELECT i.id, i.project_id, $2, $3, $4, $5 FROM issues i WHERE i.id = $1 \
             RETURNING {ACTIVITY_COLUMNS}"
        )))
        .param(a.issue_id)
        .param(a.kind.as_str())
        .param(a.user_id)
        .param(a.data.to_string())
        .param(D::time(now))
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err("user"))?
        .ok_or(StoreError::NotFound("issue"))?;
        let written = activity(&row)?;
        if let Some(kind) = a.kind.trigger() {
            sqlx::query(
                "INSERT INTO alert_triggers (project_id, issue_id, kind, event_id, created_at) \
                 VALUES ($1, $2, $3, NULL, $4)",
            )
            .param(written.project_id)
            .param(written.issue_id)
            .param(kind.as_str())
            .param(D::time(now))
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(written)
    }

    pub(crate) async fn list_activities(&self, issue_id: IssueId) -> StoreResult<Vec<Activity>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {ACTIVITY_COLUMNS} FROM issue_activities WHERE issue_id = $1 ORDER BY id"
        )))
        .param(issue_id)
        .fetch_all(self.0)
        .await
        .map_err(db)?
        .iter()
        .map(activity)
        .collect()
    }

    pub(crate) async fn notification_settings(
        &self,
        user_id: UserId,
    ) -> StoreResult<NotificationSettings> {
        let row = sqlx::query(
            "SELECT alerts, assigned, workflow FROM notification_settings WHERE user_id = $1",
        )
        .param(user_id)
        .fetch_optional(self.0)
        .await
        .map_err(db)?;
        match row {
            None => Ok(NotificationSettings::default()),
            Some(r) => Ok(NotificationSettings {
                alerts: r.col("alerts")?,
                assigned: r.col("assigned")?,
                workflow: r.col("workflow")?,
            }),
        }
    }

    pub(crate) async fn set_notification_settings(
        &self,
        user_id: UserId,
        s: &NotificationSettings,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO notification_settings (user_id, alerts, assigned, workflow, \
               unsubscribe_token) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (user_id) DO UPDATE SET alerts = excluded.alerts, \
               assigned = excluded.assigned, workflow = excluded.workflow",
        )
        .param(user_id)
        .param(s.alerts)
        .param(s.assigned)
        .param(s.workflow)
        .param(random_token())
        .execute(self.0)
        .await
        .map_err(db_err("user"))?;
        Ok(())
    }

    pub(crate) async fn unsubscribe_token(&self, user_id: UserId) -> StoreResult<String> {
        sqlx::query(
            "INSERT INTO notification_settings (user_id, unsubscribe_token) VALUES ($1, $2) \
             ON CONFLICT (user_id) DO NOTHING",
        )
        .param(user_id)
        .param(random_token())
        .execute(self.0)
        .await
        .map_err(db_err("user"))?;
        sqlx::query("SELECT unsubscribe_token FROM notification_settings WHERE user_id = $1")
            .param(user_id)
            .fetch_one(self.0)
            .await
            .map_err(db)?
            .col("unsubscribe_token")
    }

    pub(crate) async fn user_by_unsubscribe_token(&self, token: &str) -> StoreResult<UserId> {
        if token.len() != 48 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StoreError::NotFound("unsubscribe token"));
        }
        sqlx::query("SELECT user_id FROM notification_settings WHERE unsubscribe_token = $1")
            .param(token)
            .fetch_optional(self.0)
            .await
            .map_err(db)?
            .ok_or(StoreError::NotFound("unsubscribe token"))?
            .col("user_id")
    }

    pub(crate) async fn set_issue_subscription(
        &self,
        issue_id: IssueId,
        user_id: UserId,
        subscribed: Option<bool>,
    ) -> StoreResult<()> {
        match subscribed {
            None => {
                sqlx::query("DELETE FROM issue_subscriptions WHERE issue_id = $1 AND user_id = $2")
                    .param(issue_id)
                    .param(user_id)
                    .execute(self.0)
                    .await
                    .map_err(db)?;
            }
            Some(on) => {
                sqlx::query(
                    "INSERT INTO issue_subscriptions (issue_id, user_id, subscribed) \
                     VALUES ($1, $2, $3) \
                     ON CONFLICT (issue_id, user_id) DO UPDATE SET subscribed = excluded.subscribed",
                )
                .param(issue_id)
                .param(user_id)
                .param(on)
                .execute(self.0)
                .await
                .map_err(db_err("issue or user"))?;
            }
        }
        Ok(())
    }

    pub(crate) async fn issue_subscriptions(
        &self,
        issue_id: IssueId,
    ) -> StoreResult<Vec<(UserId, bool)>> {
        sqlx::query(
            "SELECT user_id, subscribed FROM issue_subscriptions WHERE issue_id = $1 \
             ORDER BY user_id",
        )
        .param(issue_id)
        .fetch_all(self.0)
        .await
        .map_err(db)?
        .iter()
        .map(|r| Ok((r.col("user_id")?, r.col("subscribed")?)))
        .collect()
    }
}

/// Windows up to this long (less than the per-minute counts are kept,
/// [`WINDOW_COUNTS_KEPT_MINUTES`]) are counted to the minute; longer ones take what
/// lies before the last two whole hours from `issue_hourly` (by the events'
/// own hours, whole hours inside the window).
const MINUTELY_EXACT: Duration = Duration::hours(2);

/// Which counters a window starting at `since` reads: minute rows from
/// `minutes_from` on, hour rows in `[hours_from, hours_to)` (empty when the
/// minute rows cover the window).
struct WindowRange {
    minutes_from: DateTime<Utc>,
    hours_from: DateTime<Utc>,
    hours_to: DateTime<Utc>,
}

impl WindowRange {
    fn new(since: DateTime<Utc>, now: DateTime<Utc>) -> WindowRange {
        if since >= now - MINUTELY_EXACT {
            return WindowRange {
                minutes_from: minute_of(since),
                hours_from: now,
                hours_to: now,
            };
        }
        let boundary = hour_of(now - MINUTELY_EXACT);
        // the first whole hour inside the window
        let first = hour_of(since);
        let first = if first < since {
            first + Duration::hours(1)
        } else {
            first
        };
        WindowRange {
            minutes_from: boundary,
            hours_from: first,
            hours_to: boundary,
        }
    }
}

#[cfg(test)]
mod window_tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn short_windows_read_minutes_only_and_long_ones_whole_hours_before() {
        let now = Utc.with_ymd_and_hms(2026, 12, 7, 12, 34, 56).unwrap();
        let short = WindowRange::new(now - Duration::minutes(5), now);
        assert_eq!(
            short.minutes_from,
            Utc.with_ymd_and_hms(2026, 12, 7, 12, 29, 0).unwrap()
        );
        assert!(short.hours_from >= short.hours_to, "no hours");
        let long = WindowRange::new(now - Duration::hours(6), now);
        // minutes from 10:00 (the hour of two hours ago), hours 07:00..10:00
        assert_eq!(
            long.minutes_from,
            Utc.with_ymd_and_hms(2026, 12, 7, 10, 0, 0).unwrap()
        );
        assert_eq!(
            long.hours_from,
            Utc.with_ymd_and_hms(2026, 12, 7, 7, 0, 0).unwrap()
        );
        assert_eq!(long.hours_to, long.minutes_from);
        assert!(
            now - long.minutes_from < Duration::minutes(WINDOW_COUNTS_KEPT_MINUTES),
            "the minutes read are still kept"
        );
        let aligned = WindowRange::new(Utc.with_ymd_and_hms(2026, 12, 7, 6, 0, 0).unwrap(), now);
        assert_eq!(
            aligned.hours_from,
            Utc.with_ymd_and_hms(2026, 12, 7, 6, 0, 0).unwrap()
        );
    }
}
