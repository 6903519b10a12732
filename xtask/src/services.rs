//! The throwaway services of one task, and the guarantee that they stop.
//!
//! Two paths stop them: [`Services`]' `Drop` (normal end, error, panic) and the
//! Ctrl-C/SIGTERM/SIGHUP handler installed by [`Services::new`]. Both go through one mutex, so
//! a service is stopped exactly once, and a signal that arrives while a service is starting
//! waits for the start to finish and then stops it.

use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::postgres::Postgres;
use crate::process;
use crate::redis::Redis;

/// Set by the signal handler; from then on the handler decides how the process ends.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// What is running right now.
#[derive(Default)]
struct Running {
    postgres: Option<Postgres>,
    redis: Option<Redis>,
}

/// How much a throwaway server keeps on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Tests: PostgreSQL without fsync, synchronous commit or full-page writes; Redis without
    /// snapshots or an append-only file.
    Fast,
    /// Benchmarks: PostgreSQL's own defaults (fsync, synchronous_commit, full_page_writes on);
    /// Redis with its append-only file, fsynced every second, as the README recommends running
    /// the queue.
    Durable,
}

/// Owner of the services a task started; dropping it stops them and removes their directories.
pub struct Services {
    running: Arc<Mutex<Running>>,
}

impl Services {
    /// Installs the signal handler; on a signal it stops the foreground command and the
    /// services, then exits with `exit_code_on_signal`.
    pub fn new(exit_code_on_signal: i32) -> Result<Self> {
        let running = Arc::new(Mutex::new(Running::default()));
        let for_handler = Arc::clone(&running);
        ctrlc::set_handler(move || {
            INTERRUPTED.store(true, Ordering::SeqCst);
            eprintln!("\nxtask: interrupted, stopping what was started");
            process::terminate_foreground();
            stop_all(&for_handler);
            std::process::exit(exit_code_on_signal);
        })
        .context("installing the Ctrl-C/SIGTERM handler")?;
        Ok(Self { running })
    }

    /// Starts a throwaway PostgreSQL from the binaries in `bin`; returns its `DATABASE_URL`.
    pub fn start_postgres(&self, bin: &Path, durability: Durability) -> Result<String> {
        // Holding the lock while starting makes a signal wait for a half-started server
        // instead of missing it.
        let mut running = lock(&self.running);
        let postgres = Postgres::start(bin, durability)?;
        let url = postgres.url();
        eprintln!(
            "xtask: started PostgreSQL at {url} ({durability:?}, data in {})",
            postgres.dir().display()
        );
        running.postgres = Some(postgres);
        Ok(url)
    }

    /// Starts a throwaway Redis with `server`; returns its `REDIS_URL`.
    pub fn start_redis(&self, server: &Path, durability: Durability) -> Result<String> {
        let mut running = lock(&self.running);
        let redis = Redis::start(server, durability)?;
        let url = redis.url();
        eprintln!("xtask: started Redis at {url} ({durability:?})");
        running.redis = Some(redis);
        Ok(url)
    }
}

impl Drop for Services {
    fn drop(&mut self) {
        stop_all(&self.running);
    }
}

/// After a signal, lets the handler finish stopping things and exit with its code, instead
/// of ending the process early with a "command failed" error caused by the signal itself.
pub fn wait_for_signal_handler() {
    if INTERRUPTED.load(Ordering::SeqCst) {
        // The handler exits the process; the timeout only guards against a handler that
        // never gets there.
        std::thread::sleep(Duration::from_secs(120));
    }
}

/// Stops whatever is running, while holding the lock, so the other path finds nothing left.
fn stop_all(running: &Mutex<Running>) {
    let mut running = lock(running);
    drop(running.postgres.take());
    drop(running.redis.take());
}

/// Locks even after a panic elsewhere: stopping services matters more than the panic.
fn lock(running: &Mutex<Running>) -> MutexGuard<'_, Running> {
    running.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A TCP port on 127.0.0.1 that nothing listens on right now.
///
/// Another process may take it before the service binds it; the services retry with a new
/// port when their start fails with "address in use".
pub fn free_port() -> Result<u16> {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("finding a free port on 127.0.0.1")?;
    Ok(listener.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_free_port_can_be_bound() {
        let port = free_port().unwrap();
        assert_ne!(port, 0);
        TcpListener::bind((Ipv4Addr::LOCALHOST, port)).unwrap();
    }

    #[test]
    fn a_port_in_use_is_not_handed_out() {
        let taken = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let taken_port = taken.local_addr().unwrap().port();
        for _ in 0..20 {
            assert_ne!(free_port().unwrap(), taken_port);
        }
    }
}
