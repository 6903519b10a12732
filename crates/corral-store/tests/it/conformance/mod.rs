//! One Store conformance suite, run against PostgreSQL and SQLite: every
//! case is an `async fn(SharedStore)` and becomes `conformance::postgres::<case>` and
//! `conformance::sqlite::<case>`, each on a database of its own.
//!
//! PostgreSQL needs `DATABASE_URL` (a superuser URL); `cargo xtask test` sets it.

pub mod accounts;
pub mod alerts;
pub mod digest;
pub mod issues;
pub mod items;
pub mod schema;
pub mod signin;
pub mod support;
pub mod upkeep;

use std::sync::Arc;

use corral_core::SharedStore;
use corral_store::{PgStore, SqliteStore};
use corral_testkit::{TestPg, TestSqlite};

/// Runs a case on a fresh PostgreSQL database; `migrated` says whether the
/// schema is applied first.
pub async fn on_postgres<F, Fut>(migrated: bool, case: F)
where
    F: FnOnce(SharedStore) -> Fut,
    Fut: Future<Output = ()>,
{
    let db = if migrated {
        TestPg::new().await
    } else {
        TestPg::empty().await
    };
    let store = PgStore::connect(db.url(), 8).await.expect("connect");
    if migrated {
        corral_core::Store::migrate(&store).await.expect("migrate");
    }
    let store: SharedStore = Arc::new(store);
    case(store.clone()).await;
    drop(store);
    db.cleanup().await;
}

/// Runs a case on a fresh SQLite file.
pub async fn on_sqlite<F, Fut>(migrated: bool, case: F)
where
    F: FnOnce(SharedStore) -> Fut,
    Fut: Future<Output = ()>,
{
    let db = TestSqlite::new();
    let store = SqliteStore::open(db.path()).await.expect("open");
    if migrated {
        corral_core::Store::migrate(&store).await.expect("migrate");
    }
    case(Arc::new(store)).await;
}

/// `conformance!(migrated: module::{case, …}, …; fresh: module::{case, …})`.
macro_rules! conformance {
    ($($kind:ident: $($module:ident::{$($case:ident),* $(,)?}),* $(,)?);* $(;)?) => {
        mod postgres {
            $($($(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    crate::conformance::on_postgres(conformance!(@migrated $kind), crate::conformance::$module::$case).await;
                }
            )*)*)*
        }
        mod sqlite {
            $($($(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    crate::conformance::on_sqlite(conformance!(@migrated $kind), crate::conformance::$module::$case).await;
                }
            )*)*)*
        }
    };
    (@migrated migrated) => { true };
    (@migrated fresh) => { false };
}

conformance! {
    fresh: schema::{schema_status_follows_migrate, concurrent_migrations_are_safe};
    migrated:
        accounts::{
            organizations_and_users,
            memberships_and_teams,
            projects,
            project_keys_and_key_auth,
            api_tokens,
            users_and_organizations_change,
            members_roles_and_the_last_owner,
            teams_and_project_links,
            update_and_delete_projects,
            key_labels_deletion_and_lookup,
        },
        signin::{
            sessions_expire_and_end,
            login_failures_count_in_fixed_windows,
            login_attempts_are_taken_atomically,
            password_resets_are_single_use,
            invitations_expire_and_are_found_by_hash,
        },
        digest::{
            digest_creates_issues_and_counts,
            duplicate_event_ids_count_once,
            concurrent_duplicate_batches_count_once,
            concurrent_new_hash_makes_one_issue,
            secondary_hashes_find_existing_issues,
            transactions_have_no_issue,
            resolved_issue_regresses,
            resolve_in_next_release,
            ignore_until_time_escalates,
            ignore_count_escalates,
            new_issue_becomes_ongoing_after_three_days,
            status_changes,
            releases_first_and_last,
            delete_issue_removes_everything,
            invalid_event_data_is_rejected,
            nul_is_stored_alike,
        },
        issues::{
            keyset_pagination_visits_every_issue_once,
            issue_filters,
            hourly_daily_counts_and_rollup,
            issue_events_paginate,
            assignees_and_assigned_filters,
            comments_are_counted,
            bulk_status_and_delete,
            hourly_counts_of_many_issues,
            adjacent_events_walk_an_issue,
            tag_keys_and_paged_values,
        },
        upkeep::{
            purge_keeps_counters_consistent,
            ensure_partitions_ahead,
            purge_removes_old_items_and_expired_secrets,
        },
        alerts::{
            channels_and_rules,
            digest_records_triggers_and_activity,
            triggers_complete_once_and_rules_fire_once_per_interval,
            deliveries_are_leased_retried_and_dead_lettered,
            window_counts_are_capped,
            activity_and_mail_settings,
        },
        items::{
            attachments,
            session_counts,
            client_discards,
            check_ins,
            user_reports,
            dead_letters,
        };
}
