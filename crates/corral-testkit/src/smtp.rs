//! A real SMTP server for tests: `aiosmtpd` from the test virtualenv
//! (`CORRAL_TEST_PYTHON`), keeping every message it receives in a Maildir.

use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A real SMTP server: `aiosmtpd` from `CORRAL_TEST_PYTHON`, keeping what
/// it receives in a Maildir (as corral-web's tests start it).
pub struct SmtpServer {
    pub port: u16,
    maildir: PathBuf,
    process: crate::Process,
    _dir: tempfile::TempDir,
}

impl SmtpServer {
    pub async fn start() -> SmtpServer {
        let dir = tempfile::Builder::new()
            .prefix("corral-smtp-")
            .tempdir()
            .unwrap();
        let maildir = dir.path().join("mail");
        let port = crate::free_port();
        let listen = format!("127.0.0.1:{port}");
        let mut process = crate::Process::spawn(
            "aiosmtpd",
            &crate::sdk::python(),
            &[
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &listen,
                "-c",
                "aiosmtpd.handlers.Mailbox",
                maildir.to_str().unwrap(),
            ],
            &[],
            &dir.path().join("logs"),
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(&listen).await.is_err() {
            if let Some(code) = process.exited() {
                panic!("aiosmtpd exited ({code:?})\n{}", process.log_tail());
            }
            assert!(
                Instant::now() < deadline,
                "aiosmtpd is not listening\n{}",
                process.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        SmtpServer {
            port,
            maildir,
            process,
            _dir: dir,
        }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message so far, raw, quoted-printable soft breaks undone.
    pub fn messages(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else {
            return Vec::new();
        };
        entries
            .filter_map(Result::ok)
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .map(|m| {
                m.replace("=\r\n", "")
                    .replace("=\n", "")
                    .replace("=3D", "=")
            })
            .collect()
    }

    /// The messages to `to` (the `To:` header), waiting for `count` of them.
    pub async fn wait_for_mail(&self, to: &str, count: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let found = self.to(to);
            if found.len() >= count {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "no mail to {to} arrived ({} messages)\n{}",
                self.messages().len(),
                self.process.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn to(&self, to: &str) -> Vec<String> {
        self.messages()
            .into_iter()
            .filter(|m| {
                m.lines().any(|l| {
                    let l = l.to_ascii_lowercase();
                    l.starts_with("to:") && l.contains(&to.to_ascii_lowercase())
                })
            })
            .collect()
    }
}
