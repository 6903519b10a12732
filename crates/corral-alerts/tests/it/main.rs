//! corral-alerts against real components: HTTP sinks on loopback, a SQLite
//! store, aiosmtpd (`CORRAL_TEST_PYTHON`).

mod channels;
mod common;
mod mail;
mod outbound;
