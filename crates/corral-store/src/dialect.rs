//! What differs between PostgreSQL and SQLite for the code written once for
//! both ([`Sql`]): how a time or a list is bound and read back, how a
//! writing transaction starts, which rows are locked, and the few
//! statements whose text differs. Statements use `$1`-style placeholders on
//! both backends: sqlx's SQLite driver binds `$N` to the N-th value, as
//! `?N`.

use std::collections::HashMap;
use std::str::FromStr;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use corral_core::StoreResult;
use corral_core::model::{Issue, IssueId, ProjectId};
use serde::de::DeserializeOwned;
use sqlx::postgres::PgHasArrayType;
use sqlx::query::Query;
use sqlx::types::Json;
use sqlx::{
    Database, Decode, Encode, Executor, IntoArguments, Pool, Postgres, QueryBuilder, Sqlite,
    Transaction, Type,
};

use crate::error::{bad_value, db};

/// A value both backends bind alike (`'q`: as long as the value is borrowed).
pub trait Param<'q>:
    Encode<'q, Postgres> + Type<Postgres> + Encode<'q, Sqlite> + Type<Sqlite> + Send
{
}

impl<'q, T> Param<'q> for T where
    T: Encode<'q, Postgres> + Type<Postgres> + Encode<'q, Sqlite> + Type<Sqlite> + Send
{
}

/// A column type both backends read alike.
pub trait Column:
    for<'r> Decode<'r, Postgres> + Type<Postgres> + for<'r> Decode<'r, Sqlite> + Type<Sqlite>
{
}

impl<T> Column for T where
    T: for<'r> Decode<'r, Postgres> + Type<Postgres> + for<'r> Decode<'r, Sqlite> + Type<Sqlite>
{
}

/// A backend's SQL: sqlx's database plus what the shared code cannot write
/// the same way for both.
#[async_trait]
pub trait Dialect:
    Database<Arguments: IntoArguments<Self>, Row: Columns, QueryResult: RowsAffected>
{
    /// The statement that starts a transaction that writes. SQLite's takes
    /// the write lock at once (`IMMEDIATE`), so a transaction never fails
    /// halfway for want of it, and holding it serializes the writers.
    const BEGIN: &'static str;
    /// Appended to a `SELECT` that locks what it reads until the
    /// transaction ends; empty where the transaction already excludes every
    /// other writer.
    const FOR_UPDATE: &'static str;
    /// The same for a row that other writers may go on referencing.
    const FOR_NO_KEY_UPDATE: &'static str;
    /// Appended to a `SELECT` of work to lease (alert triggers, deliveries):
    /// rows another transaction holds are skipped, so concurrent runners take
    /// different rows.
    const SKIP_LOCKED: &'static str;
    /// `LIKE` ignoring case.
    const ILIKE: &'static str;
    /// `(before, after)` a placeholder bound with [`Bind::param_ids`], for
    /// `column{before}$n{after}`: the column is one of the ids. The list is
    /// one parameter, so it has no length limit.
    const IN_LIST: (&'static str, &'static str);
    /// Whether the `corral_migrations` table exists (one boolean).
    const HAS_MIGRATIONS: &'static str;
    /// The tag values of issue `$1`, each key's top `$2` by `times_seen`
    /// (then value), with the key's `key_seen` (events) and `key_values`
    /// (distinct values), ordered by key and rank.
    const TAG_KEYS: &'static str;

    /// How a time is bound: `timestamptz`, or milliseconds since the epoch
    /// (both kept to the millisecond).
    type Time: for<'q> Param<'q>;

    fn time(t: DateTime<Utc>) -> Self::Time;
    /// SQL for the start of the UTC day of `column` (a time).
    fn day_start(column: &str) -> String;

    fn bind<'q, 't, T: Param<'t>>(
        q: Query<'q, Self, Self::Arguments>,
        value: T,
    ) -> Query<'q, Self, Self::Arguments>;
    /// Binds a list as one parameter: an array, or JSON text (which SQLite
    /// reads with `json_each`).
    fn bind_ids<'q>(
        q: Query<'q, Self, Self::Arguments>,
        ids: &[i64],
    ) -> Query<'q, Self, Self::Arguments>;
    fn bind_texts<'q>(
        q: Query<'q, Self, Self::Arguments>,
        texts: &[String],
    ) -> Query<'q, Self, Self::Arguments>;
    fn push_bind<'t, T: Param<'t>>(qb: &mut QueryBuilder<Self>, value: T);
    /// Pushes ` = ANY(…)` or ` IN (…)`: the column pushed before is one of
    /// `values` (none when `values` is empty).
    fn push_in<T>(qb: &mut QueryBuilder<Self>, values: &[T])
    where
        T: for<'t> Param<'t> + PgHasArrayType + Copy;

    /// Reads issues inside a writing transaction, locked until it ends.
    async fn lock_issues(
        tx: &mut Self::Connection,
        ids: &[IssueId],
    ) -> StoreResult<HashMap<IssueId, Issue>>;
    /// Takes a project's events received before `before` out of their
    /// issues' counters (times seen, tag values, hourly or, once rolled up,
    /// daily counts); returns the issues touched, locked.
    async fn subtract_counts(
        tx: &mut Self::Connection,
        project: ProjectId,
        before: DateTime<Utc>,
    ) -> StoreResult<Vec<IssueId>>;
    /// Writes issue states computed under [`Dialect::lock_issues`]; each
    /// state's `times_seen` already counts the `n` events beside it.
    async fn write_issues(tx: &mut Self::Connection, issues: &[(&Issue, i64)]) -> StoreResult<()>;
}

/// Reading a row's columns by name, the same on both backends.
pub trait Columns: sqlx::Row {
    fn col<T: Column>(&self, column: &str) -> StoreResult<T>;
    fn time(&self, column: &str) -> StoreResult<DateTime<Utc>>;
    fn opt_time(&self, column: &str) -> StoreResult<Option<DateTime<Utc>>>;
    /// A list of strings bound with [`Bind::param_texts`].
    fn texts(&self, column: &str) -> StoreResult<Vec<String>>;

    /// Text parsed into a value (statuses, levels, roles).
    fn parse<T: FromStr>(&self, column: &str) -> StoreResult<T> {
        let text: String = self.col(column)?;
        text.parse().map_err(|_| bad_value(column, &text))
    }

    /// JSON (`jsonb`, or text on SQLite).
    fn json<T: DeserializeOwned + 'static>(&self, column: &str) -> StoreResult<T> {
        Ok(self.col::<Json<T>>(column)?.0)
    }
}

/// The rows a statement changed.
pub trait RowsAffected {
    fn rows_affected(&self) -> u64;
}

impl RowsAffected for sqlx::postgres::PgQueryResult {
    fn rows_affected(&self) -> u64 {
        self.rows_affected()
    }
}

impl RowsAffected for sqlx::sqlite::SqliteQueryResult {
    fn rows_affected(&self) -> u64 {
        self.rows_affected()
    }
}

/// [`Dialect`]'s binding as methods: `sqlx::query(…).param(a).param(b)`.
pub trait Bind {
    fn param<'t, T: Param<'t>>(self, value: T) -> Self;
    fn param_ids(self, ids: &[i64]) -> Self;
    fn param_texts(self, texts: &[String]) -> Self;
}

impl<'q, D: Dialect> Bind for Query<'q, D, D::Arguments> {
    fn param<'t, T: Param<'t>>(self, value: T) -> Self {
        D::bind(self, value)
    }

    fn param_ids(self, ids: &[i64]) -> Self {
        D::bind_ids(self, ids)
    }

    fn param_texts(self, texts: &[String]) -> Self {
        D::bind_texts(self, texts)
    }
}

/// [`Dialect::push_bind`] as a method.
pub trait PushBind {
    fn push_param<'t, T: Param<'t>>(&mut self, value: T) -> &mut Self;
}

impl<D: Dialect> PushBind for QueryBuilder<D> {
    fn push_param<'t, T: Param<'t>>(&mut self, value: T) -> &mut Self {
        D::push_bind(self, value);
        self
    }
}

/// A pool, and the statements written once for both backends: the `impl`
/// blocks of `accounts.rs`, `signin.rs`, `items.rs`, `issues.rs` and
/// `upkeep.rs`.
pub(crate) struct Sql<'p, D: Database>(pub &'p Pool<D>);

impl<D: Dialect> Sql<'_, D>
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
{
    /// A transaction that writes ([`Dialect::BEGIN`]).
    pub(crate) async fn begin(&self) -> StoreResult<Transaction<'static, D>> {
        self.0.begin_with(D::BEGIN).await.map_err(db)
    }
}
