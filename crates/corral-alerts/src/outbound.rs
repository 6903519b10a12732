//! The one outbound HTTP client: webhooks, chat, PagerDuty (and later
//! uptime checks) all leave Corral through [`Outbound`].
//!
//! - **Timeouts**: a connect timeout and a total one (connecting, sending,
//!   reading the answer), from `alerts.delivery_timeout_secs`.
//! - **No proxy from the environment**: `HTTP_PROXY` and friends are
//!   ignored, so the address policy checks the address actually dialled.
//! - **A cap on the answer**: at most [`MAX_RESPONSE_BYTES`] of a body are
//!   read, as a stream, then the connection is dropped.
//! - **Redirects**: at most [`MAX_REDIRECTS`], each target checked.
//! - **The address policy** ([`AddressPolicy`]): loopback, private, link-local
//!   (which holds the cloud metadata address 169.254.169.254), shared
//!   (CGNAT), unspecified, multicast, broadcast, documentation and reserved
//!   addresses, their IPv4-mapped and NAT64 forms, and cloud metadata names
//!   are refused unless `alerts.allow_private_addresses` is set. Names are
//!   checked after DNS resolution, by the client's own resolver: it refuses
//!   the name when ANY of its addresses is forbidden (so a name answering
//!   with one public and one private address cannot be used to reach the
//!   private one), and the connection goes to exactly the addresses it
//!   checked (no second lookup to rebind). IP-literal hosts, which the
//!   client never resolves, are checked before the request and on every
//!   redirect.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use corral_core::config::AlertsConfig;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Url};

/// The most of a response body that is read.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// The most redirects one request follows.
pub const MAX_REDIRECTS: usize = 3;
/// The setting that lifts the address policy, as errors name it.
pub const ALLOW_SETTING: &str = "alerts.allow_private_addresses";

/// Why an address may not be reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Forbidden {
    Loopback,
    /// RFC 1918, IPv6 unique local (fc00::/7), site-local, local NAT64.
    Private,
    /// 169.254/16 and fe80::/10: cloud metadata services live here.
    LinkLocal,
    /// 100.64/10, carrier-grade NAT (Alibaba's metadata service lives here).
    Shared,
    Unspecified,
    Multicast,
    Broadcast,
    Documentation,
    /// Reserved, benchmarking, protocol-assignment, Teredo, discard ranges.
    Reserved,
}

impl Forbidden {
    pub fn as_str(&self) -> &'static str {
        match self {
            Forbidden::Loopback => "loopback",
            Forbidden::Private => "private",
            Forbidden::LinkLocal => "link-local",
            Forbidden::Shared => "shared (carrier-grade NAT)",
            Forbidden::Unspecified => "unspecified",
            Forbidden::Multicast => "multicast",
            Forbidden::Broadcast => "broadcast",
            Forbidden::Documentation => "reserved for documentation",
            Forbidden::Reserved => "reserved",
        }
    }
}

impl fmt::Display for Forbidden {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of address `ip` is, when it is one outbound requests must not
/// reach; `None` for a public address.
pub fn classify(ip: IpAddr) -> Option<Forbidden> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<Forbidden> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        // 0.0.0.0/8, "this network": 0.0.0.0 reaches the local host
        (0, _, _) => Forbidden::Unspecified,
        (127, _, _) => Forbidden::Loopback,
        (10, _, _) | (192, 168, _) => Forbidden::Private,
        (172, 16..=31, _) => Forbidden::Private,
        (169, 254, _) => Forbidden::LinkLocal,
        (100, 64..=127, _) => Forbidden::Shared,
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => Forbidden::Documentation,
        // IETF protocol assignments (192.0.0.0/24), the deprecated 6to4
        // relay anycast, benchmarking (198.18/15)
        (192, 0, 0) | (192, 88, 99) | (198, 18..=19, _) => Forbidden::Reserved,
        (224..=239, _, _) => Forbidden::Multicast,
        _ if ip.is_broadcast() => Forbidden::Broadcast,
        (240..=255, _, _) => Forbidden::Reserved,
        _ => return None,
    })
}

fn embedded_v4(hi: u16, lo: u16) -> Ipv4Addr {
    let [a, b] = hi.to_be_bytes();
    let [c, d] = lo.to_be_bytes();
    Ipv4Addr::new(a, b, c, d)
}

fn classify_v6(ip: Ipv6Addr) -> Option<Forbidden> {
    if ip.is_unspecified() {
        return Some(Forbidden::Unspecified);
    }
    if ip.is_loopback() {
        return Some(Forbidden::Loopback);
    }
    // ::ffff:a.b.c.d reaches a.b.c.d
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    let s = ip.segments();
    Some(match s {
        // IPv4-compatible ::a.b.c.d (deprecated): never a public destination
        [0, 0, 0, 0, 0, 0, hi, lo] => {
            classify_v4(embedded_v4(hi, lo)).unwrap_or(Forbidden::Reserved)
        }
        // NAT64 (64:ff9b::/96) reaches the embedded IPv4 address
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => return classify_v4(embedded_v4(hi, lo)),
        // local-use NAT64 (64:ff9b:1::/48)
        [0x64, 0xff9b, 1, ..] => Forbidden::Private,
        // 6to4 (2002::/16) embeds an IPv4 address
        [0x2002, hi, lo, ..] => return classify_v4(embedded_v4(hi, lo)),
        [0x2001, 0xdb8, ..] => Forbidden::Documentation,
        [0x3fff, x, ..] if x < 0x1000 => Forbidden::Documentation,
        // Teredo (2001::/32)
        [0x2001, 0, ..] => Forbidden::Reserved,
        // discard-only (100::/64)
        [0x100, 0, 0, 0, ..] => Forbidden::Reserved,
        [x, ..] if x & 0xfe00 == 0xfc00 => Forbidden::Private,
        [x, ..] if x & 0xffc0 == 0xfe80 => Forbidden::LinkLocal,
        // site-local (fec0::/10, deprecated)
        [x, ..] if x & 0xffc0 == 0xfec0 => Forbidden::Private,
        [x, ..] if x & 0xff00 == 0xff00 => Forbidden::Multicast,
        _ => return None,
    })
}

/// Names of cloud metadata services (their addresses are link-local or
/// shared anyway; the names are refused before any lookup).
const METADATA_NAMES: &[&str] = &[
    "metadata",
    "metadata.google.internal",
    "metadata.goog",
    "instance-data",
    "instance-data.ec2.internal",
];

/// A request the address policy refuses, with a short reason.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

impl Refused {
    fn address(ip: IpAddr, why: Forbidden) -> Refused {
        Refused(format!(
            "address {ip} is {why}; set {ALLOW_SETTING} to allow it"
        ))
    }

    fn resolved(host: &str, ip: IpAddr, why: Forbidden) -> Refused {
        Refused(format!(
            "{host} resolves to {ip}, which is {why}; set {ALLOW_SETTING} to allow it"
        ))
    }

    fn name(host: &str, why: &str) -> Refused {
        Refused(format!("{host} is {why}; set {ALLOW_SETTING} to allow it"))
    }
}

/// Which addresses outbound requests may reach.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    allow_private: bool,
    /// Forbidden addresses allowed all the same (tests: one loopback sink).
    exceptions: Vec<IpAddr>,
}

impl AddressPolicy {
    /// Public addresses only: the default.
    pub fn public_only() -> AddressPolicy {
        AddressPolicy::default()
    }

    /// Every address (`alerts.allow_private_addresses = true`).
    pub fn allow_all() -> AddressPolicy {
        AddressPolicy {
            allow_private: true,
            exceptions: Vec::new(),
        }
    }

    pub fn from_config(config: &AlertsConfig) -> AddressPolicy {
        if config.allow_private_addresses {
            AddressPolicy::allow_all()
        } else {
            AddressPolicy::public_only()
        }
    }

    /// Allows one otherwise forbidden address (exactly that address; tests
    /// use it to reach one loopback server and nothing else).
    pub fn allowing(mut self, ip: IpAddr) -> AddressPolicy {
        self.exceptions.push(ip.to_canonical());
        self
    }

    pub fn allows_private(&self) -> bool {
        self.allow_private
    }

    fn forbidden(&self, ip: IpAddr) -> Option<Forbidden> {
        if self.allow_private || self.exceptions.contains(&ip.to_canonical()) {
            return None;
        }
        classify(ip)
    }

    /// Whether an address may be reached.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), Refused> {
        match self.forbidden(ip) {
            Some(why) => Err(Refused::address(ip, why)),
            None => Ok(()),
        }
    }

    /// Whether a host name may be looked up at all: cloud metadata names
    /// are refused before any lookup (everything else, `localhost` too, is
    /// judged by what it resolves to).
    pub fn check_name(&self, host: &str) -> Result<(), Refused> {
        if self.allow_private {
            return Ok(());
        }
        let name = host.trim_end_matches('.').to_ascii_lowercase();
        if METADATA_NAMES.contains(&name.as_str()) {
            return Err(Refused::name(host, "a cloud metadata service"));
        }
        Ok(())
    }

    /// The addresses a name resolved to: refused if ANY is forbidden.
    pub fn check_resolved(&self, host: &str, addrs: &[IpAddr]) -> Result<(), Refused> {
        for ip in addrs {
            if let Some(why) = self.forbidden(*ip) {
                return Err(Refused::resolved(host, *ip, why));
            }
        }
        Ok(())
    }

    /// A URL before it is requested (and every redirect target): http or
    /// https, and an IP-literal host must be allowed; names are checked
    /// here for metadata names and again, resolved, by the resolver.
    pub fn check_url(&self, url: &Url) -> Result<(), Refused> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refused(format!(
                "scheme {}: is not allowed (http or https only)",
                url.scheme()
            )));
        }
        match url.host() {
            Some(url::Host::Ipv4(ip)) => self.check_ip(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => self.check_ip(IpAddr::V6(ip)),
            Some(url::Host::Domain(name)) => self.check_name(name),
            None => Err(Refused("the URL has no host".into())),
        }
    }
}

/// The client's resolver: tokio's (the system's) lookup, then the policy.
struct PolicyResolver {
    policy: Arc<AddressPolicy>,
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            policy.check_name(&host)?;
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if addrs.is_empty() {
                return Err(format!("{host} has no address").into());
            }
            let ips: Vec<IpAddr> = addrs.iter().map(SocketAddr::ip).collect();
            policy.check_resolved(&host, &ips)?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// How the client is built.
#[derive(Clone, Debug)]
pub struct OutboundOptions {
    /// One whole request: connecting, sending, reading the answer.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub policy: AddressPolicy,
    pub max_response_bytes: usize,
    pub max_redirects: usize,
}

impl OutboundOptions {
    pub fn from_config(config: &AlertsConfig) -> OutboundOptions {
        let timeout = Duration::from_secs(config.delivery_timeout_secs.max(1));
        OutboundOptions {
            timeout,
            connect_timeout: timeout.min(Duration::from_secs(10)),
            policy: AddressPolicy::from_config(config),
            max_response_bytes: MAX_RESPONSE_BYTES,
            max_redirects: MAX_REDIRECTS,
        }
    }
}

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    /// The address policy refused the URL, a name's address, or a redirect.
    #[error("{0}")]
    Refused(Refused),
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
    #[error("too many redirects (at most {0})")]
    TooManyRedirects(usize),
    #[error("timed out after {0} s")]
    Timeout(u64),
    /// Connecting failed (DNS, refused, reset, TLS).
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("request failed: {0}")]
    Other(String),
}

impl OutboundError {
    /// Whether trying again cannot help (the policy, the URL, a redirect loop).
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            OutboundError::Refused(_)
                | OutboundError::InvalidUrl(_)
                | OutboundError::TooManyRedirects(_)
        )
    }
}

#[derive(Debug, thiserror::Error)]
#[error("too many redirects")]
struct TooManyRedirects;

/// An answer, its body cut at the cap.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    /// At most `max_response_bytes`.
    pub body: Vec<u8>,
    /// Whether the body was longer than the cap (the rest was not read).
    pub truncated: bool,
    /// The URL that answered (after redirects).
    pub url: Url,
}

impl Reply {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// At most `max_chars` of the body as text, on one line, for logs.
    pub fn snippet(&self, max_chars: usize) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let mut out: String = text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(max_chars)
            .collect();
        if text.chars().count() > max_chars || self.truncated {
            out.push('…');
        }
        out.trim().to_string()
    }
}

/// The outbound client; cheap to clone.
#[derive(Clone)]
pub struct Outbound {
    client: reqwest::Client,
    policy: Arc<AddressPolicy>,
    max_response_bytes: usize,
    max_redirects: usize,
    timeout: Duration,
}

impl fmt::Debug for Outbound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outbound")
            .field("policy", &self.policy)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Outbound {
    pub fn new(options: OutboundOptions) -> Result<Outbound, OutboundError> {
        let policy = Arc::new(options.policy);
        let redirect_policy = {
            let policy = policy.clone();
            let max = options.max_redirects;
            reqwest::redirect::Policy::custom(move |attempt| {
                // `previous` holds the first URL and every earlier redirect
                if attempt.previous().len() > max {
                    return attempt.error(TooManyRedirects);
                }
                match policy.check_url(attempt.url()) {
                    Ok(()) => attempt.follow(),
                    Err(refused) => attempt.error(refused),
                }
            })
        };
        let client = reqwest::Client::builder()
            .user_agent(concat!("Corral/", env!("CARGO_PKG_VERSION")))
            .no_proxy()
            .connect_timeout(options.connect_timeout)
            .timeout(options.timeout)
            .redirect(redirect_policy)
            .dns_resolver(Arc::new(PolicyResolver {
                policy: policy.clone(),
            }))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| OutboundError::Other(e.to_string()))?;
        Ok(Outbound {
            client,
            policy,
            max_response_bytes: options.max_response_bytes,
            max_redirects: options.max_redirects,
            timeout: options.timeout,
        })
    }

    pub fn from_config(config: &AlertsConfig) -> Result<Outbound, OutboundError> {
        Outbound::new(OutboundOptions::from_config(config))
    }

    pub fn policy(&self) -> &AddressPolicy {
        &self.policy
    }

    /// POSTs a JSON body with extra headers.
    pub async fn post_json(
        &self,
        url: &str,
        body: Vec<u8>,
        headers: &[(&str, String)],
    ) -> Result<Reply, OutboundError> {
        let mut map = HeaderMap::new();
        map.insert(
            reqwest::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        for (name, value) in headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| OutboundError::Other(format!("header {name}: {e}")))?;
            let value = HeaderValue::from_str(value)
                .map_err(|e| OutboundError::Other(format!("header {name}: {e}")))?;
            map.insert(name, value);
        }
        self.request(Method::POST, url, map, Some(body)).await
    }

    /// Any request, through the policy, timeouts and the body cap.
    pub async fn request(
        &self,
        method: Method,
        url: &str,
        headers: HeaderMap,
        body: Option<Vec<u8>>,
    ) -> Result<Reply, OutboundError> {
        let url = Url::parse(url).map_err(|e| OutboundError::InvalidUrl(e.to_string()))?;
        self.policy
            .check_url(&url)
            .map_err(OutboundError::Refused)?;
        let mut request = self.client.request(method, url).headers(headers);
        if let Some(body) = body {
            request = request.body(body);
        }
        let mut response = request.send().await.map_err(|e| self.error(e))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let url = response.url().clone();
        let mut body = Vec::new();
        let mut truncated = false;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let room = self.max_response_bytes - body.len();
                    if chunk.len() > room {
                        body.extend_from_slice(&chunk[..room]);
                        truncated = true;
                        break;
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                // the status arrived: the request was delivered; what the
                // body did afterwards (a timeout, a reset) changes nothing
                Err(e) => {
                    tracing::debug!(error = %e.without_url(), "reading an outbound answer failed");
                    truncated = true;
                    break;
                }
            }
        }
        // dropping the response closes a connection whose body was not read to its end
        drop(response);
        Ok(Reply {
            status,
            headers,
            body,
            truncated,
            url,
        })
    }

    /// A short error without the URL (webhook URLs carry secrets).
    fn error(&self, err: reqwest::Error) -> OutboundError {
        let err = err.without_url();
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&err);
        let mut chain = Vec::new();
        while let Some(e) = source {
            // an io::Error's `source` skips the error it wraps: look inside
            let inner = e
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .map(|inner| inner as &(dyn std::error::Error + 'static));
            for candidate in [Some(e), inner].into_iter().flatten() {
                if let Some(refused) = candidate.downcast_ref::<Refused>() {
                    return OutboundError::Refused(refused.clone());
                }
                if candidate.downcast_ref::<TooManyRedirects>().is_some() {
                    return OutboundError::TooManyRedirects(self.max_redirects);
                }
            }
            let text = e.to_string();
            if !text.is_empty() && !chain.iter().any(|c: &String| c.contains(&text)) {
                chain.push(text);
            }
            source = e.source();
        }
        if err.is_timeout() {
            return OutboundError::Timeout(self.timeout.as_secs());
        }
        // the outermost line says only "error sending request"; the last ones say why
        let text = chain
            .iter()
            .skip(usize::from(chain.len() > 1))
            .cloned()
            .collect::<Vec<_>>()
            .join(": ");
        let text: String = text.chars().take(300).collect();
        if err.is_connect() {
            OutboundError::Connect(text)
        } else {
            OutboundError::Other(text)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_classifier_knows_its_ranges() {
        let cases: &[(&str, Option<Forbidden>)] = &[
            ("0.0.0.0", Some(Forbidden::Unspecified)),
            ("0.1.2.3", Some(Forbidden::Unspecified)),
            ("127.0.0.1", Some(Forbidden::Loopback)),
            ("127.255.255.254", Some(Forbidden::Loopback)),
            ("10.0.0.5", Some(Forbidden::Private)),
            ("172.16.0.1", Some(Forbidden::Private)),
            ("172.31.255.255", Some(Forbidden::Private)),
            ("172.32.0.1", None),
            ("172.15.255.255", None),
            ("192.168.1.1", Some(Forbidden::Private)),
            ("192.169.0.1", None),
            ("169.254.169.254", Some(Forbidden::LinkLocal)),
            ("169.254.0.1", Some(Forbidden::LinkLocal)),
            ("100.64.0.1", Some(Forbidden::Shared)),
            ("100.100.100.200", Some(Forbidden::Shared)),
            ("100.127.255.255", Some(Forbidden::Shared)),
            ("100.128.0.1", None),
            ("100.63.255.255", None),
            ("192.0.2.1", Some(Forbidden::Documentation)),
            ("198.51.100.7", Some(Forbidden::Documentation)),
            ("203.0.113.9", Some(Forbidden::Documentation)),
            ("192.0.0.192", Some(Forbidden::Reserved)),
            ("198.18.0.1", Some(Forbidden::Reserved)),
            ("198.20.0.1", None),
            ("224.0.0.1", Some(Forbidden::Multicast)),
            ("239.255.255.250", Some(Forbidden::Multicast)),
            ("240.0.0.1", Some(Forbidden::Reserved)),
            ("255.255.255.255", Some(Forbidden::Broadcast)),
            ("8.8.8.8", None),
            ("1.1.1.1", None),
            ("93.184.216.34", None),
            ("::", Some(Forbidden::Unspecified)),
            ("::1", Some(Forbidden::Loopback)),
            ("::ffff:127.0.0.1", Some(Forbidden::Loopback)),
            ("::ffff:10.1.2.3", Some(Forbidden::Private)),
            ("::ffff:169.254.169.254", Some(Forbidden::LinkLocal)),
            ("::ffff:8.8.8.8", None),
            ("::10.0.0.1", Some(Forbidden::Private)),
            ("::8.8.8.8", Some(Forbidden::Reserved)),
            ("64:ff9b::10.0.0.1", Some(Forbidden::Private)),
            ("64:ff9b::169.254.169.254", Some(Forbidden::LinkLocal)),
            ("64:ff9b::8.8.8.8", None),
            ("64:ff9b:1::1", Some(Forbidden::Private)),
            ("2002:7f00:1::", Some(Forbidden::Loopback)),
            ("2002:0808:0808::1", None),
            ("fc00::1", Some(Forbidden::Private)),
            ("fd00:ec2::254", Some(Forbidden::Private)),
            ("fe80::1", Some(Forbidden::LinkLocal)),
            ("febf::1", Some(Forbidden::LinkLocal)),
            ("fec0::1", Some(Forbidden::Private)),
            ("ff02::1", Some(Forbidden::Multicast)),
            ("2001:db8::1", Some(Forbidden::Documentation)),
            ("3fff::1", Some(Forbidden::Documentation)),
            ("3fff:1000::1", None),
            ("2001::1", Some(Forbidden::Reserved)),
            ("100::1", Some(Forbidden::Reserved)),
            ("2606:4700:4700::1111", None),
            ("2a00:1450:4001:82a::200e", None),
        ];
        for (addr, want) in cases {
            assert_eq!(classify(ip(addr)), *want, "{addr}");
        }
    }

    #[test]
    fn refusals_name_the_address_and_the_setting() {
        let policy = AddressPolicy::public_only();
        let err = policy.check_ip(ip("10.0.0.5")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "address 10.0.0.5 is private; set alerts.allow_private_addresses to allow it"
        );
        let err = policy
            .check_resolved("db.example", &[ip("8.8.8.8"), ip("192.168.0.3")])
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("db.example resolves to 192.168.0.3, which is private"),
            "{err}"
        );
        assert!(policy.check_resolved("x.example", &[ip("8.8.8.8")]).is_ok());
        assert!(policy.check_ip(ip("8.8.8.8")).is_ok());
    }

    #[test]
    fn urls_are_checked_by_literal_name_and_scheme() {
        let policy = AddressPolicy::public_only();
        let refused = |u: &str| policy.check_url(&Url::parse(u).unwrap()).is_err();
        assert!(refused("http://127.0.0.1:8080/hook"));
        assert!(refused("http://169.254.169.254/latest/meta-data/"));
        // the URL parser reads these as IPv4 literals
        assert!(refused("http://2130706433/"));
        assert!(refused("http://0x7f.1/"));
        assert!(refused("http://[::1]/"));
        assert!(refused("http://[::ffff:7f00:1]/"));
        assert!(refused(
            "http://metadata.google.internal/computeMetadata/v1/"
        ));
        assert!(refused("http://METADATA.GOOGLE.INTERNAL./"));
        // names are judged once resolved (the client's resolver)
        assert!(!refused("http://localhost:9000/"));
        assert!(refused("ftp://example.com/"));
        assert!(!refused("https://hooks.example.com/x"));
        assert!(!refused("https://8.8.8.8/"));

        let open = AddressPolicy::allow_all();
        assert!(
            open.check_url(&Url::parse("http://127.0.0.1/").unwrap())
                .is_ok()
        );
        assert!(
            open.check_url(&Url::parse("http://metadata.google.internal/").unwrap())
                .is_ok()
        );

        let one = AddressPolicy::public_only().allowing(ip("127.0.0.1"));
        assert!(
            one.check_url(&Url::parse("http://127.0.0.1:1/").unwrap())
                .is_ok()
        );
        assert!(
            one.check_url(&Url::parse("http://[::ffff:127.0.0.1]/").unwrap())
                .is_ok()
        );
        assert!(
            one.check_url(&Url::parse("http://127.0.0.2/").unwrap())
                .is_err()
        );
        assert!(
            one.check_url(&Url::parse("http://[::1]/").unwrap())
                .is_err()
        );
    }

    #[test]
    fn snippets_are_one_short_line() {
        let reply = Reply {
            status: 500,
            headers: HeaderMap::new(),
            body: "boom\nline two\n".repeat(100).into_bytes(),
            truncated: false,
            url: Url::parse("http://x/").unwrap(),
        };
        let s = reply.snippet(20);
        assert!(!s.contains('\n'));
        assert!(s.chars().count() <= 21, "{s}");
        assert!(s.ends_with('…'));
    }
}
