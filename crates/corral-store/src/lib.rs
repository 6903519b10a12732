//! The Store seam on PostgreSQL and SQLite (sqlx), each with its own migrations.
