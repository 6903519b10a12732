//! Integration tests of corral-jobs: the queue → digest → store path in-process on both
//! shapes (`support::Env`), the embedded queue's layout and plans, and the Redis backlog.

mod alerts;
mod digest;
mod redis_backlog;
mod sqlite_layout;
mod sqlite_plans;
mod support;
mod vacuum;
