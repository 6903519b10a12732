//! Finding the client's public key in a request.
//!
//! SDKs authenticate with the public key of a DSN, sent in one (or several)
//! of four places: the `X-Sentry-Auth` header, the `Authorization` header in
//! the same `Sentry …` form, the query string (`?sentry_key=…`, used by
//! browsers to avoid a CORS preflight) and the envelope header `dsn` (used
//! by tunnels). When several are present they must name the same key, so a
//! request cannot pass one key's quota check and be filed under another.

use crate::dsn::Dsn;

/// The raw places a key can come from; `None` for what the request lacks.
#[derive(Clone, Copy, Debug, Default)]
pub struct AuthHeaders<'a> {
    pub x_sentry_auth: Option<&'a str>,
    pub authorization: Option<&'a str>,
    /// The URL's query string, with or without the leading `?`.
    pub query: Option<&'a str>,
    pub envelope_dsn: Option<&'a str>,
}

/// Who is sending: the public key (lowercased) and what the client says of
/// itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientAuth {
    pub public_key: String,
    /// `sentry_client`, e.g. `sentry.python/1.32.0`.
    pub client: Option<String>,
    /// `sentry_version`, the protocol version (7 for current SDKs).
    pub version: Option<String>,
}

/// Why a request could not be attributed to a key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing authentication: no sentry_key given")]
    Missing,
    #[error("malformed authentication: {0}")]
    Malformed(String),
    #[error("conflicting authentication: the request names different keys")]
    Mismatch,
}

/// Longest public key accepted; real keys are 32 hex digits.
const MAX_KEY_LEN: usize = 128;

/// Finds the public key of a request in all the places SDKs put it.
///
/// An `Authorization` header of another scheme (e.g. `Bearer …`) belongs to
/// something else and is ignored.
pub fn resolve_auth(h: &AuthHeaders<'_>) -> Result<ClientAuth, AuthError> {
    let mut found: Vec<ClientAuth> = Vec::new();

    if let Some(header) = h.x_sentry_auth.filter(|v| !v.trim().is_empty()) {
        let params = strip_sentry_scheme(header).unwrap_or(header);
        found.push(from_pairs("X-Sentry-Auth", header_pairs(params))?);
    }
    if let Some(params) = h.authorization.and_then(strip_sentry_scheme) {
        found.push(from_pairs("Authorization", header_pairs(params))?);
    }
    if let Some(query) = h.query {
        let query = query.strip_prefix('?').unwrap_or(query);
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        // a query without a key is just a query, not an attempt to authenticate
        if pairs.iter().any(|(k, _)| is_key_param(k)) {
            found.push(from_pairs("query string", pairs)?);
        }
    }
    if let Some(dsn) = h.envelope_dsn.filter(|v| !v.trim().is_empty()) {
        let dsn: Dsn = dsn
            .parse()
            .map_err(|e| AuthError::Malformed(format!("envelope dsn: {e}")))?;
        found.push(ClientAuth {
            public_key: normalize_key("envelope dsn", &dsn.public_key)?,
            client: None,
            version: None,
        });
    }

    let mut sources = found.into_iter();
    let mut auth = sources.next().ok_or(AuthError::Missing)?;
    for other in sources {
        if other.public_key != auth.public_key {
            return Err(AuthError::Mismatch);
        }
        auth.client = auth.client.or(other.client);
        auth.version = auth.version.or(other.version);
    }
    Ok(auth)
}

/// The parameters after a case-insensitive `Sentry ` scheme, if present.
fn strip_sentry_scheme(value: &str) -> Option<&str> {
    let value = value.trim_start();
    let scheme = value.get(..6)?;
    let rest = &value[6..];
    (scheme.eq_ignore_ascii_case("sentry") && rest.starts_with(|c: char| c.is_whitespace()))
        .then(|| rest.trim_start())
}

/// `sentry_key=abc, sentry_version=7` → pairs; values may be quoted.
fn header_pairs(params: &str) -> Vec<(String, String)> {
    params
        .split(',')
        .filter_map(|part| {
            let (k, v) = part.split_once('=')?;
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v);
            Some((k.trim().to_owned(), v.to_owned()))
        })
        .collect()
}

fn is_key_param(name: &str) -> bool {
    name == "sentry_key" || name == "key"
}

/// Reads `sentry_key`, `sentry_client`, `sentry_version` (the `sentry_`
/// prefix is optional, as in Relay).
fn from_pairs(source: &str, pairs: Vec<(String, String)>) -> Result<ClientAuth, AuthError> {
    let mut key: Option<String> = None;
    let mut client = None;
    let mut version = None;
    for (name, value) in pairs {
        let name = name.strip_prefix("sentry_").unwrap_or(&name);
        match name {
            "key" => {
                let value = normalize_key(source, &value)?;
                match &key {
                    Some(seen) if *seen != value => return Err(AuthError::Mismatch),
                    _ => key = Some(value),
                }
            }
            "client" if !value.is_empty() => client = Some(value),
            "version" if !value.is_empty() => version = Some(value),
            _ => {}
        }
    }
    let public_key =
        key.ok_or_else(|| AuthError::Malformed(format!("{source} has no sentry_key")))?;
    Ok(ClientAuth {
        public_key,
        client,
        version,
    })
}

fn normalize_key(source: &str, key: &str) -> Result<String, AuthError> {
    let key = key.trim();
    if key.is_empty() {
        return Err(AuthError::Malformed(format!(
            "{source} has an empty sentry_key"
        )));
    }
    if key.len() > MAX_KEY_LEN
        || !key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
    {
        return Err(AuthError::Malformed(format!(
            "{source} has an invalid sentry_key"
        )));
    }
    Ok(key.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    fn auth(h: AuthHeaders<'_>) -> Result<ClientAuth, AuthError> {
        resolve_auth(&h)
    }

    #[test]
    fn x_sentry_auth_alone() {
        let header = format!(
            "Sentry sentry_key={KEY}, sentry_version=7, sentry_client=sentry.python/1.32.0"
        );
        let a = auth(AuthHeaders {
            x_sentry_auth: Some(&header),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(a.public_key, KEY);
        assert_eq!(a.version.as_deref(), Some("7"));
        assert_eq!(a.client.as_deref(), Some("sentry.python/1.32.0"));
    }

    #[test]
    fn x_sentry_auth_without_prefix_and_with_odd_spacing() {
        let header = format!("sentry_version=7,sentry_key= {} ,sentry_secret=x", KEY);
        let a = auth(AuthHeaders {
            x_sentry_auth: Some(&header),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(a.public_key, KEY);
        assert_eq!(a.client, None);

        let header = format!("SENTRY  sentry_key=\"{KEY}\"");
        let a = auth(AuthHeaders {
            x_sentry_auth: Some(&header),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(a.public_key, KEY);
    }

    #[test]
    fn authorization_alone_and_other_schemes_ignored() {
        let header = format!("Sentry sentry_key={KEY}, sentry_version=7");
        let a = auth(AuthHeaders {
            authorization: Some(&header),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(a.public_key, KEY);

        let bearer = AuthHeaders {
            authorization: Some("Bearer sentry_key=zzz"),
            ..Default::default()
        };
        assert_eq!(auth(bearer), Err(AuthError::Missing));

        let query = format!("sentry_key={KEY}");
        let with_query = AuthHeaders {
            authorization: Some("Bearer abc"),
            query: Some(&query),
            ..Default::default()
        };
        assert_eq!(auth(with_query).unwrap().public_key, KEY);
    }

    #[test]
    fn query_alone() {
        let query = format!(
            "?sentry_version=7&sentry_key={KEY}&sentry_client=sentry.javascript.browser%2F8.0.0"
        );
        let a = auth(AuthHeaders {
            query: Some(&query),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(a.public_key, KEY);
        assert_eq!(a.client.as_deref(), Some("sentry.javascript.browser/8.0.0"));
        assert_eq!(a.version.as_deref(), Some("7"));

        // a query that does not try to authenticate is not an error
        let other = AuthHeaders {
            query: Some("foo=bar&sentry_version=7"),
            ..Default::default()
        };
        assert_eq!(auth(other), Err(AuthError::Missing));
    }

    #[test]
    fn envelope_dsn_alone() {
        let dsn = format!("https://{}@errors.example.com/42", KEY.to_uppercase());
        let a = auth(AuthHeaders {
            envelope_dsn: Some(&dsn),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(a.public_key, KEY, "keys are lowercased");

        let bad = AuthHeaders {
            envelope_dsn: Some("not a dsn"),
            ..Default::default()
        };
        assert!(matches!(auth(bad), Err(AuthError::Malformed(m)) if m.contains("envelope dsn")));
    }

    #[test]
    fn all_sources_agreeing() {
        let header = format!("Sentry sentry_key={KEY}, sentry_client=sdk/1");
        let authz = format!("Sentry sentry_key={}", KEY.to_uppercase());
        let query = format!("sentry_key={KEY}&sentry_version=7");
        let dsn = format!("https://{KEY}@h/1");
        let a = auth(AuthHeaders {
            x_sentry_auth: Some(&header),
            authorization: Some(&authz),
            query: Some(&query),
            envelope_dsn: Some(&dsn),
        })
        .unwrap();
        assert_eq!(a.public_key, KEY);
        assert_eq!(a.client.as_deref(), Some("sdk/1"));
        assert_eq!(a.version.as_deref(), Some("7"), "taken from the query");
    }

    #[test]
    fn disagreeing_sources() {
        let header = format!("Sentry sentry_key={KEY}");
        let other_dsn = "https://ffffffffffffffffffffffffffffffff@h/1";
        let cases = [
            AuthHeaders {
                x_sentry_auth: Some(&header),
                query: Some("sentry_key=abc"),
                ..Default::default()
            },
            AuthHeaders {
                x_sentry_auth: Some(&header),
                envelope_dsn: Some(other_dsn),
                ..Default::default()
            },
            AuthHeaders {
                authorization: Some("Sentry sentry_key=abc"),
                x_sentry_auth: Some(&header),
                ..Default::default()
            },
            AuthHeaders {
                x_sentry_auth: Some("Sentry sentry_key=abc, sentry_key=def"),
                ..Default::default()
            },
        ];
        for h in cases {
            assert_eq!(auth(h), Err(AuthError::Mismatch), "{h:?}");
        }
    }

    #[test]
    fn missing_and_malformed_keys() {
        assert_eq!(auth(AuthHeaders::default()), Err(AuthError::Missing));
        assert_eq!(
            auth(AuthHeaders {
                x_sentry_auth: Some("   "),
                ..Default::default()
            }),
            Err(AuthError::Missing)
        );
        for header in [
            "Sentry sentry_version=7",
            "Sentry sentry_key=, sentry_version=7",
            "Sentry sentry_key=a b",
            "Sentry sentry_key=ключ",
            "garbage",
        ] {
            let result = auth(AuthHeaders {
                x_sentry_auth: Some(header),
                ..Default::default()
            });
            assert!(
                matches!(result, Err(AuthError::Malformed(_))),
                "{header}: {result:?}"
            );
        }
        let long = format!("sentry_key={}", "a".repeat(MAX_KEY_LEN + 1));
        assert!(matches!(
            auth(AuthHeaders {
                query: Some(&long),
                ..Default::default()
            }),
            Err(AuthError::Malformed(_))
        ));
    }
}
