//! A throwaway PostgreSQL server: `initdb` into a temporary directory, settings for tests (no
//! durability) or for benchmarks (PostgreSQL's durable defaults), a free port on 127.0.0.1,
//! trust auth; stopped and deleted on drop.
//!
//! `initdb` and `postgres` refuse to run as root, so as root they run as the `postgres`
//! system user (through `runuser`), with the directory handed to that user.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::chown;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tempfile::TempDir;

use crate::process::run_captured;
use crate::services::{Durability, free_port};

/// The system user the server runs as when we are root.
const SYSTEM_USER: &str = "postgres";
/// How often a start is retried when another process took the free port first.
const START_ATTEMPTS: u32 = 3;
/// How long the server may take to start and to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running throwaway server.
pub struct Postgres {
    bin: PathBuf,
    dir: TempDir,
    port: u16,
    /// `Some` when we are root and run the server binaries as [`SYSTEM_USER`].
    run_as: Option<&'static str>,
    durability: Durability,
}

impl Postgres {
    /// Creates, configures and starts a server with the binaries in `bin`, and waits until it
    /// accepts connections.
    pub fn start(bin: &Path, durability: Durability) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("corral-pg-")
            .tempdir()
            .context("creating a temporary directory for PostgreSQL")?;
        let run_as = if running_as_root()? {
            hand_over(dir.path(), SYSTEM_USER)?;
            Some(SYSTEM_USER)
        } else {
            None
        };
        // From here on, `Drop` cleans up whatever the following steps leave behind.
        let mut postgres = Self {
            bin: bin.to_path_buf(),
            dir,
            port: 0,
            run_as,
            durability,
        };
        postgres.initdb()?;
        postgres.configure()?;
        postgres.start_on_a_free_port()?;
        postgres.wait_until_ready()?;
        Ok(postgres)
    }

    /// `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> String {
        database_url(self.port)
    }

    /// The temporary directory: data directory, socket and log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log_file(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    /// A command for one of the server binaries, as the right user.
    fn command(&self, tool: &str) -> Command {
        let program = self.bin.join(tool);
        let mut cmd = match self.run_as {
            Some(user) => {
                let mut cmd = Command::new("runuser");
                cmd.args(["-u", user, "--"]).arg(program);
                cmd
            }
            None => Command::new(program),
        };
        // The caller's directory may be closed to the postgres user (e.g. under /root).
        cmd.current_dir(self.dir.path());
        cmd
    }

    /// A new cluster with the `postgres` superuser and trust auth (nothing here is secret).
    fn initdb(&self) -> Result<()> {
        run_captured(
            self.command("initdb")
                .arg("--pgdata")
                .arg(self.data_dir())
                .args(["--username", "postgres", "--auth", "trust"])
                .args(["--encoding", "UTF8", "--locale", "C", "--no-sync"]),
        )
        .context("initdb failed")?;
        Ok(())
    }

    /// Appends our settings to `postgresql.conf` (later lines win).
    fn configure(&self) -> Result<()> {
        let conf = self.data_dir().join("postgresql.conf");
        OpenOptions::new()
            .append(true)
            .open(&conf)
            .and_then(|mut file| {
                file.write_all(settings(self.dir.path(), self.durability).as_bytes())
            })
            .with_context(|| format!("writing {}", conf.display()))
    }

    /// Starts the server, retrying with another port if the chosen one was taken meanwhile.
    fn start_on_a_free_port(&mut self) -> Result<()> {
        let mut attempt = 1;
        loop {
            self.port = free_port()?;
            // Only this attempt's log tells why this attempt failed.
            let _ = std::fs::remove_file(self.log_file());
            let started = run_captured(
                self.command("pg_ctl")
                    .arg("--pgdata")
                    .arg(self.data_dir())
                    .arg("--log")
                    .arg(self.log_file())
                    .arg("--options")
                    .arg(format!("-p {}", self.port))
                    .args(["--wait", "--timeout", &START_TIMEOUT.as_secs().to_string()])
                    .arg("start"),
            );
            let log = crate::log_tail(&self.log_file(), 20);
            match started {
                Ok(_) => return Ok(()),
                Err(_) if attempt < START_ATTEMPTS && log.contains("could not bind") => {
                    attempt += 1;
                }
                Err(error) => {
                    return Err(error.context(format!(
                        "PostgreSQL did not start; the end of {}:\n{log}",
                        self.log_file().display()
                    )));
                }
            }
        }
    }

    /// Waits until the server answers on TCP (`pg_ctl --wait` already waited for the
    /// postmaster; this checks the address the tests use).
    fn wait_until_ready(&self) -> Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let ready = Command::new(self.bin.join("pg_isready"))
                .args(["--quiet", "--host", "127.0.0.1", "--username", "postgres"])
                .args(["--dbname", "postgres", "--port", &self.port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .with_context(|| format!("running {}/pg_isready", self.bin.display()))?;
            if ready.success() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "PostgreSQL on port {} did not accept connections within {:?}; the end of {}:\n{}",
                    self.port,
                    START_TIMEOUT,
                    self.log_file().display(),
                    crate::log_tail(&self.log_file(), 20)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the server at once (nothing in it is worth a checkpoint), or kills it.
    fn stop(&self) {
        let pid_file = self.data_dir().join("postmaster.pid");
        if !pid_file.exists() {
            return;
        }
        let stopped = self
            .command("pg_ctl")
            .arg("--pgdata")
            .arg(self.data_dir())
            .args(["--mode", "immediate", "--wait", "stop"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !stopped {
            // The first line of postmaster.pid is the postmaster's pid.
            if let Some(pid) = std::fs::read_to_string(&pid_file)
                .ok()
                .and_then(|text| text.lines().next().map(str::to_owned))
            {
                let _ = Command::new("kill").args(["-KILL", &pid]).status();
            }
        }
        eprintln!("xtask: stopped PostgreSQL on port {}", self.port);
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
        // `TempDir`'s own drop then removes the directory.
    }
}

/// The `DATABASE_URL` of a throwaway server on `port`.
fn database_url(port: u16) -> String {
    format!("postgres://postgres@127.0.0.1:{port}/postgres")
}

/// Settings for a throwaway server: loopback only, room for parallel tests; without
/// durability for tests ([`Durability::Fast`]), with PostgreSQL's own durable defaults for
/// benchmarks ([`Durability::Durable`]).
fn settings(socket_dir: &Path, durability: Durability) -> String {
    // A single quote inside a postgresql.conf string is written twice.
    let socket_dir = socket_dir.display().to_string().replace('\'', "''");
    let durability = match durability {
        Durability::Fast => {
            "fsync = off\n\
             synchronous_commit = off\n\
             full_page_writes = off\n"
        }
        // the defaults, written out so the file says what the server runs with
        Durability::Durable => {
            "fsync = on\n\
             synchronous_commit = on\n\
             full_page_writes = on\n"
        }
    };
    format!(
        "\n# added by `cargo xtask` for a throwaway server\n\
         listen_addresses = '127.0.0.1'\n\
         unix_socket_directories = '{socket_dir}'\n\
         {durability}\
         max_connections = 300\n\
         shared_buffers = 128MB\n"
    )
}

/// Whether this process runs as root.
fn running_as_root() -> Result<bool> {
    let uid = run_captured(Command::new("id").arg("-u")).context("running `id -u`")?;
    Ok(String::from_utf8_lossy(&uid.stdout).trim() == "0")
}

/// Gives `dir` to the system user `user`, so the server binaries can run as that user.
fn hand_over(dir: &Path, user: &str) -> Result<()> {
    let id = |flag: &str| -> Result<u32> {
        let output = run_captured(Command::new("id").args([flag, user])).with_context(|| {
            format!(
                "running as root, where initdb and postgres refuse to run, and there is no \
                 `{user}` system user to run them as: apt-get install -y postgresql creates it \
                 (or useradd --system {user})"
            )
        })?;
        String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .with_context(|| format!("reading the output of `id {flag} {user}`"))
    };
    chown(dir, Some(id("-u")?), Some(id("-g")?))
        .with_context(|| format!("handing {} to the {user} user", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_names_the_superuser_the_port_and_the_database() {
        assert_eq!(
            database_url(54321),
            "postgres://postgres@127.0.0.1:54321/postgres"
        );
    }

    #[test]
    fn settings_turn_durability_off_and_raise_connections() {
        let settings = settings(Path::new("/tmp/corral-pg-abc"), Durability::Fast);
        for line in [
            "listen_addresses = '127.0.0.1'",
            "unix_socket_directories = '/tmp/corral-pg-abc'",
            "fsync = off",
            "synchronous_commit = off",
            "full_page_writes = off",
            "max_connections = 300",
            "shared_buffers = 128MB",
        ] {
            assert!(settings.lines().any(|l| l == line), "missing {line:?}");
        }
    }

    #[test]
    fn durable_settings_keep_fsync_and_synchronous_commit() {
        let settings = settings(Path::new("/tmp/corral-pg-abc"), Durability::Durable);
        for line in [
            "fsync = on",
            "synchronous_commit = on",
            "full_page_writes = on",
            "max_connections = 300",
        ] {
            assert!(settings.lines().any(|l| l == line), "missing {line:?}");
        }
        assert!(!settings.contains("= off"), "{settings}");
    }

    /// `SHOW <setting>` through psql on the server's TCP address.
    fn show(postgres: &Postgres, setting: &str) -> String {
        let output = run_captured(
            Command::new(postgres.bin.join("psql"))
                .arg(postgres.url())
                .args(["--no-psqlrc", "--tuples-only", "--no-align", "--command"])
                .arg(format!("SHOW {setting}")),
        )
        .unwrap();
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    #[test]
    fn a_started_server_has_the_test_settings_and_is_gone_after_drop() {
        let bin = crate::tools::find_postgres_bin()
            .expect("PostgreSQL server binaries: apt-get install -y postgresql");
        let postgres = Postgres::start(&bin, Durability::Fast).unwrap();
        assert_eq!(show(&postgres, "fsync"), "off");
        assert_eq!(show(&postgres, "max_connections"), "300");
        assert_eq!(show(&postgres, "listen_addresses"), "127.0.0.1");
        let (port, dir) = (postgres.port, postgres.dir().to_path_buf());

        drop(postgres);
        assert!(!dir.exists(), "{} is left behind", dir.display());
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    }

    #[test]
    fn quotes_in_the_socket_path_are_escaped() {
        let settings = settings(Path::new("/tmp/it's"), Durability::Fast);
        assert!(settings.contains("unix_socket_directories = '/tmp/it''s'"));
    }
}
