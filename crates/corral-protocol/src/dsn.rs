//! The DSN: the URL an SDK is configured with, naming the server, the client
//! key and the project, e.g. `https://abc123@errors.example.com/sentry/42`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A parsed DSN: `{scheme}://{public_key}[:{secret}]@{host}[:{port}]{path}/{project_id}`.
///
/// Parsing keeps every part as written but the scheme, which is lowercased,
/// and the port, which is a number (`:0080` is printed `:80`), so
/// [`Display`](fmt::Display) gives back the same text for a DSN written the
/// usual way.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Dsn {
    /// `http` or `https`.
    pub scheme: String,
    pub public_key: String,
    /// Old SDKs' secret key; accepted and ignored by the server.
    pub secret_key: Option<String>,
    /// A domain name, an IPv4 address, or an IPv6 address in brackets.
    pub host: String,
    pub port: Option<u16>,
    /// A path prefix in front of `/api/…`: `""` or `"/prefix"` (no trailing slash).
    pub path: String,
    pub project_id: String,
}

/// Why a text is not a DSN.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DsnError {
    #[error("the DSN is empty")]
    Empty,
    #[error("the DSN has no scheme (expected https://…)")]
    MissingScheme,
    #[error("unsupported DSN scheme {0:?} (expected http or https)")]
    UnsupportedScheme(String),
    #[error("the DSN has no public key (expected …://<key>@host/…)")]
    MissingPublicKey,
    #[error("the DSN's public key contains invalid characters")]
    InvalidPublicKey,
    #[error("the DSN has no host")]
    MissingHost,
    #[error("invalid host {0:?} in the DSN")]
    InvalidHost(String),
    #[error("invalid port {0:?} in the DSN")]
    InvalidPort(String),
    #[error("the DSN has no project id (expected …/<project_id> at the end)")]
    MissingProjectId,
    #[error("invalid project id {0:?} in the DSN")]
    InvalidProjectId(String),
    #[error("invalid path {0:?} in the DSN")]
    InvalidPath(String),
}

impl Dsn {
    /// Where the server is: `scheme://host[:port]{path}`, without the project.
    pub fn base_url(&self) -> String {
        let mut url = format!("{}://{}", self.scheme, self.host);
        if let Some(port) = self.port {
            url.push_str(&format!(":{port}"));
        }
        url.push_str(&self.path);
        url
    }

    /// The endpoint SDKs post envelopes to.
    pub fn envelope_url(&self) -> String {
        format!("{}/api/{}/envelope/", self.base_url(), self.project_id)
    }

    /// The legacy endpoint for single events.
    pub fn store_url(&self) -> String {
        format!("{}/api/{}/store/", self.base_url(), self.project_id)
    }
}

impl fmt::Display for Dsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme, self.public_key)?;
        if let Some(secret) = &self.secret_key {
            write!(f, ":{secret}")?;
        }
        write!(f, "@{}", self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        write!(f, "{}/{}", self.path, self.project_id)
    }
}

impl FromStr for Dsn {
    type Err = DsnError;

    fn from_str(s: &str) -> Result<Dsn, DsnError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(DsnError::Empty);
        }
        let (scheme, rest) = s.split_once("://").ok_or(DsnError::MissingScheme)?;
        if scheme.is_empty() {
            return Err(DsnError::MissingScheme);
        }
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(DsnError::UnsupportedScheme(scheme));
        }

        let (authority, path_and_project) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        // the key is everything before the last `@` of the authority
        let (userinfo, host_port) = authority
            .rsplit_once('@')
            .ok_or(DsnError::MissingPublicKey)?;
        let (public_key, secret_key) = match userinfo.split_once(':') {
            Some((key, secret)) => (key, Some(secret)),
            None => (userinfo, None),
        };
        if public_key.is_empty() {
            return Err(DsnError::MissingPublicKey);
        }
        if !public_key.chars().all(is_key_char)
            || !secret_key.unwrap_or("").chars().all(is_key_char)
        {
            return Err(DsnError::InvalidPublicKey);
        }
        let (host, port) = split_host_port(host_port)?;

        let (path, project_id) = path_and_project
            .rsplit_once('/')
            .ok_or(DsnError::MissingProjectId)?;
        if project_id.is_empty() {
            return Err(DsnError::MissingProjectId);
        }
        if !project_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(DsnError::InvalidProjectId(project_id.to_owned()));
        }
        // a prefix like `/sentry` is kept; empty segments (`//`), a query or
        // a fragment mean a mistyped DSN
        if path.split('/').skip(1).any(str::is_empty)
            || path.contains(['?', '#'])
            || path.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(DsnError::InvalidPath(path.to_owned()));
        }

        Ok(Dsn {
            scheme,
            public_key: public_key.to_owned(),
            secret_key: secret_key.map(str::to_owned),
            host: host.to_owned(),
            port,
            path: path.to_owned(),
            project_id: project_id.to_owned(),
        })
    }
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'
}

fn split_host_port(host_port: &str) -> Result<(&str, Option<u16>), DsnError> {
    let (host, port) = if host_port.starts_with('[') {
        // IPv6: the port, if any, follows the closing bracket
        let end = host_port
            .find(']')
            .ok_or_else(|| DsnError::InvalidHost(host_port.to_owned()))?;
        let (host, after) = host_port.split_at(end + 1);
        match after {
            "" => (host, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None => return Err(DsnError::InvalidHost(host_port.to_owned())),
            },
        }
    } else {
        match host_port.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        }
    };
    if host.is_empty() {
        return Err(DsnError::MissingHost);
    }
    // validated by the URL crate's host parser (domain, IPv4 or [IPv6]);
    // the text is kept as written
    if host.contains(['%', '\\']) || url::Host::parse(host).is_err() {
        return Err(DsnError::InvalidHost(host.to_owned()));
    }
    let port = match port {
        None => None,
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => Some(
            p.parse::<u16>()
                .map_err(|_| DsnError::InvalidPort(p.to_owned()))?,
        ),
        Some(p) => return Err(DsnError::InvalidPort(p.to_owned())),
    };
    Ok((host, port))
}

impl Serialize for Dsn {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Dsn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dsn(s: &str) -> Dsn {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn plain_dsn() {
        let d = dsn("https://abc123@errors.example.com/42");
        assert_eq!(d.scheme, "https");
        assert_eq!(d.public_key, "abc123");
        assert_eq!(d.secret_key, None);
        assert_eq!(d.host, "errors.example.com");
        assert_eq!(d.port, None);
        assert_eq!(d.path, "");
        assert_eq!(d.project_id, "42");
        assert_eq!(d.base_url(), "https://errors.example.com");
        assert_eq!(
            d.envelope_url(),
            "https://errors.example.com/api/42/envelope/"
        );
        assert_eq!(d.store_url(), "https://errors.example.com/api/42/store/");
    }

    #[test]
    fn secret_port_and_path_prefix() {
        let text = "http://pub:sec@localhost:9000/tools/sentry/7";
        let d = dsn(text);
        assert_eq!(d.public_key, "pub");
        assert_eq!(d.secret_key.as_deref(), Some("sec"));
        assert_eq!(d.host, "localhost");
        assert_eq!(d.port, Some(9000));
        assert_eq!(d.path, "/tools/sentry");
        assert_eq!(d.project_id, "7");
        assert_eq!(d.base_url(), "http://localhost:9000/tools/sentry");
        assert_eq!(
            d.envelope_url(),
            "http://localhost:9000/tools/sentry/api/7/envelope/"
        );
        assert_eq!(d.to_string(), text);
    }

    #[test]
    fn default_ports_and_ipv6_are_kept_as_written() {
        for text in [
            "https://k@example.com:443/1",
            "http://k@127.0.0.1:80/1",
            "http://k@[::1]:8000/1",
            "http://k@[::1]/1",
            "https://0123456789abcdef0123456789abcdef@o1.ingest.sentry.io/4505",
        ] {
            assert_eq!(dsn(text).to_string(), text);
        }
        // found by fuzzing (fuzz/regressions/auth/): the port is its number
        let zeros = dsn("HTTP://k@[::1]:0900/1");
        assert_eq!(zeros.port, Some(900));
        assert_eq!(zeros.to_string(), "http://k@[::1]:900/1");
        assert_eq!(dsn(&zeros.to_string()), zeros);
        assert_eq!(dsn("http://k@[::1]:8000/1").host, "[::1]");
        assert_eq!(dsn("http://k@[::1]:8000/1").port, Some(8000));
    }

    #[test]
    fn bad_dsns_say_why() {
        use DsnError::*;
        let cases: &[(&str, DsnError)] = &[
            ("", Empty),
            ("   ", Empty),
            ("abc@host/1", MissingScheme),
            ("://abc@host/1", MissingScheme),
            ("ftp://abc@host/1", UnsupportedScheme("ftp".into())),
            ("https://host/1", MissingPublicKey),
            ("https://@host/1", MissingPublicKey),
            ("https://:secret@host/1", MissingPublicKey),
            ("https://a b@host/1", InvalidPublicKey),
            ("https://abc@/1", MissingHost),
            ("https://abc@:90/1", MissingHost),
            ("https://abc@ho st/1", InvalidHost("ho st".into())),
            ("https://abc@[::1/1", InvalidHost("[::1".into())),
            // not valid punycode, as the URL crate's IDNA check finds
            ("https://abc@xn--/1", InvalidHost("xn--".into())),
            ("https://abc@host:99999/1", InvalidPort("99999".into())),
            ("https://abc@host:/1", InvalidPort("".into())),
            ("https://abc@host:8a/1", InvalidPort("8a".into())),
            ("https://abc@host", MissingProjectId),
            ("https://abc@host/", MissingProjectId),
            ("https://abc@host/1/", MissingProjectId),
            ("https://abc@host/1?x=y", InvalidProjectId("1?x=y".into())),
            ("https://abc@host//1", InvalidPath("/".into())),
        ];
        for (text, expected) in cases {
            assert_eq!(text.parse::<Dsn>().as_ref(), Err(expected), "{text:?}");
        }
    }

    #[test]
    fn serde_as_a_string() {
        let d = dsn("https://k@example.com/3");
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, r#""https://k@example.com/3""#);
        assert_eq!(serde_json::from_str::<Dsn>(&json).unwrap(), d);
        assert!(serde_json::from_str::<Dsn>(r#""nope""#).is_err());
    }
}
