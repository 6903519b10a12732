//! A throwaway Redis server on a free port of 127.0.0.1 that keeps nothing on disk (tests) or
//! keeps an append-only file fsynced every second (benchmarks); killed and its directory
//! deleted on drop.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tempfile::TempDir;

use crate::services::{Durability, free_port};

/// How often a start is retried when another process took the free port first.
const START_ATTEMPTS: u32 = 3;
/// How long the server may take to answer PING.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running throwaway server.
pub struct Redis {
    dir: TempDir,
    port: u16,
    child: Option<Child>,
}

impl Redis {
    /// Starts `redis-server` and waits until it answers PING.
    pub fn start(server: &Path, durability: Durability) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("corral-redis-")
            .tempdir()
            .context("creating a temporary directory for Redis")?;
        // From here on, `Drop` kills whatever the following steps started.
        let mut redis = Self {
            dir,
            port: 0,
            child: None,
        };
        let mut attempt = 1;
        loop {
            redis.port = free_port()?;
            let log = File::create(redis.log_file()).context("creating the Redis log")?;
            let child = Command::new(server)
                .args(server_args(redis.port, redis.dir.path(), durability))
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                // Its own process group: a Ctrl-C in the terminal must not kill it behind our
                // back; the signal handler stops it in order.
                .process_group(0)
                .spawn()
                .with_context(|| format!("starting {}", server.display()))?;
            redis.child = Some(child);
            match redis.wait_for_pong() {
                Ok(()) => return Ok(redis),
                Err(_) if attempt < START_ATTEMPTS && redis.lost_the_port() => {
                    redis.kill();
                    attempt += 1;
                }
                Err(error) => {
                    return Err(error.context(format!(
                        "Redis did not start; the end of {}:\n{}",
                        redis.log_file().display(),
                        crate::log_tail(&redis.log_file(), 20)
                    )));
                }
            }
        }
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        redis_url(self.port)
    }

    fn log_file(&self) -> PathBuf {
        self.dir.path().join("redis.log")
    }

    /// Whether the last start failed because another process bound the port first.
    fn lost_the_port(&self) -> bool {
        crate::log_tail(&self.log_file(), 20).contains("Address already in use")
    }

    /// Polls with PING until `+PONG`, the server exits, or the time is up.
    fn wait_for_pong(&mut self) -> Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if ping(self.port) {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                bail!("redis-server exited ({status})");
            }
            if Instant::now() > deadline {
                bail!("redis-server did not answer PING within {START_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the server and reaps it.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.kill();
            eprintln!("xtask: stopped Redis on port {}", self.port);
        }
        // `TempDir`'s own drop then removes the directory.
    }
}

/// The `REDIS_URL` of a throwaway server on `port`.
fn redis_url(port: u16) -> String {
    format!("redis://127.0.0.1:{port}")
}

/// `redis-server` arguments: loopback only, no snapshots; no append-only file for tests, an
/// append-only file fsynced every second for benchmarks (Redis' own advice for a store that
/// must not lose what it acknowledged, and the README's for Corral's queue).
fn server_args(port: u16, dir: &Path, durability: Durability) -> Vec<String> {
    let port = port.to_string();
    let mut args: Vec<&str> = vec!["--port", &port, "--bind", "127.0.0.1", "--save", ""];
    match durability {
        Durability::Fast => args.extend(["--appendonly", "no"]),
        Durability::Durable => args.extend(["--appendonly", "yes", "--appendfsync", "everysec"]),
    }
    args.extend(["--daemonize", "no", "--dir"]);
    let mut args: Vec<String> = args.into_iter().map(str::to_owned).collect();
    args.push(dir.display().to_string());
    args
}

/// Whether a Redis server on `port` answers `PING` with `+PONG` (not `-LOADING`).
fn ping(port: u16) -> bool {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_millis(500)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut reply = String::new();
    BufReader::new(stream).read_line(&mut reply).is_ok() && reply.starts_with("+PONG")
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::net::TcpListener;

    #[test]
    fn url_names_the_loopback_address_and_port() {
        assert_eq!(redis_url(6380), "redis://127.0.0.1:6380");
    }

    #[test]
    fn arguments_keep_nothing_on_disk_and_listen_on_loopback() {
        let args = server_args(7000, Path::new("/tmp/corral-redis-x"), Durability::Fast);
        let pairs: Vec<(&str, &str)> = args
            .chunks(2)
            .map(|pair| (pair[0].as_str(), pair[1].as_str()))
            .collect();
        assert_eq!(
            pairs,
            vec![
                ("--port", "7000"),
                ("--bind", "127.0.0.1"),
                ("--save", ""),
                ("--appendonly", "no"),
                ("--daemonize", "no"),
                ("--dir", "/tmp/corral-redis-x"),
            ]
        );
    }

    #[test]
    fn ping_wants_pong() {
        // A server that answers something else is not ready.
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut line = String::new();
            BufReader::new(stream.try_clone().unwrap())
                .read_line(&mut line)
                .unwrap();
            stream
                .write_all(b"-LOADING Redis is loading the dataset in memory\r\n")
                .unwrap();
            line
        });
        assert!(!ping(port));
        assert_eq!(server.join().unwrap(), "PING\r\n");
    }

    #[test]
    fn a_started_server_answers_and_is_gone_after_drop() {
        let server = which::which("redis-server").expect("apt-get install -y redis-server");
        let redis = Redis::start(&server, Durability::Fast).unwrap();
        assert!(ping(redis.port));
        assert!(!redis.dir.path().join("appendonlydir").exists());
        let (port, dir) = (redis.port, redis.dir.path().to_path_buf());

        drop(redis);
        assert!(!dir.exists(), "{} is left behind", dir.display());
        assert!(!ping(port));
    }

    #[test]
    fn a_durable_server_keeps_an_append_only_file() {
        let args = server_args(7000, Path::new("/tmp/x"), Durability::Durable);
        let joined = args.join(" ");
        assert!(
            joined.contains("--appendonly yes --appendfsync everysec"),
            "{joined}"
        );
        let server = which::which("redis-server").expect("apt-get install -y redis-server");
        let redis = Redis::start(&server, Durability::Durable).unwrap();
        assert!(ping(redis.port));
        // Redis 7 makes its append-only directory when it starts with appendonly yes
        assert!(redis.dir.path().join("appendonlydir").is_dir());
    }

    #[test]
    fn nothing_listening_is_not_ready() {
        let port = free_port().unwrap();
        assert!(!ping(port));
    }
}
