//! Configuration (`docs/protocol.md`, "Configuration"): `[vars]` in wrangler.toml, secrets for
//! secrets.
//!
//! Only the adapter reads the environment; it hands [`Config::from_lookup`] a function from a
//! name to its value. A value that does not parse is a [`ConfigError`] naming the variable, which
//! the adapter logs and answers with HTTP 500 on the requests it affects: never a silent default.

use std::fmt;

use serde::Deserialize;

use crate::json::Json;
use crate::seat::Limits;
use crate::topics::TopicLimits;
use crate::turn::{is_turn_url, CloudflareTurn, RestTurn, TurnConfig, Urls, CLOUDFLARE_API_URL};

/// The default `ICE_SERVERS`: Cloudflare's public STUN server, reachable from anywhere the worker
/// is, and enough for peers that are not both behind symmetric NATs.
pub const DEFAULT_ICE_SERVERS: &str = r#"[{"urls":"stun:stun.cloudflare.com:3478"}]"#;

/// Upper bound for `MAX_MESSAGE_BYTES`: no signaling message needs more than 1 MiB, and the cap
/// bounds what one frame can cost a room. (Cloudflare's own limit on received WebSocket messages
/// is higher: 32 MiB for Durable Objects since late 2025.)
pub const MAX_MESSAGE_BYTES_CEILING: usize = 1 << 20;
/// Lower bound for `MAX_MESSAGE_BYTES`: a browser's offer for audio, video and a data channel
/// runs to several KB of SDP; a smaller limit would break calls rather than protect anything.
pub const MAX_MESSAGE_BYTES_FLOOR: usize = 4096;

/// Every setting, parsed and checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// `ROOM_CAPACITY` (default 2: the 1:1 call most rooms are).
    pub room_capacity: u32,
    /// `MAX_ROOM_CAPACITY` (default 16: a full mesh of 16 peers is already 120 connections,
    /// about the practical limit of mesh calls in a browser).
    pub max_room_capacity: u32,
    /// `MAX_MESSAGE_BYTES` (default 65536: SDP for many tracks with room to spare).
    pub max_message_bytes: usize,
    /// `ICE_SERVERS`: a JSON array of `RTCIceServer`s, checked, for `welcome`.
    pub ice_servers: Json,
    /// `ALLOWED_ORIGINS`: origins allowed to open sockets; empty means any origin.
    pub allowed_origins: Vec<String>,
    /// `AUTH_SECRET` (a secret): when set, joins need a signed token.
    pub auth_secret: Option<String>,
    /// `RATE_LIMIT_BURST` (default 500): messages a peer may send at once. A newcomer in a full
    /// 16-peer mesh sends about 15 × (1 offer + up to 12 candidates) ≈ 200 at join; 500 leaves
    /// room for renegotiations and app messages.
    pub rate_burst: u32,
    /// `RATE_LIMIT_PER_SEC` (default 50): the refill rate. A call's steady state is a few
    /// messages a minute; 50/s still lets a chatty app through.
    pub rate_per_sec: u32,
    /// `RATE_LIMIT_BYTES_BURST` (default 1 MiB): bytes a peer may have delivered at once, a
    /// frame counting once per recipient. A newcomer's join burst in a full 16-peer mesh is
    /// estimated (not measured) at about 150 KB, and one 64 KB broadcast to 15 peers is 960 KB:
    /// both fit. At least
    /// `MAX_MESSAGE_BYTES`, so every frame the size limit lets in can be sent to one peer.
    pub rate_bytes_burst: u64,
    /// `RATE_LIMIT_BYTES_PER_SEC` (default 256 KiB): the refill rate. Signaling is a few KB a
    /// minute once a call is up; this holds one sender to a quarter MiB per second after its
    /// burst, whatever the room's size.
    pub rate_bytes_per_sec: u64,
    /// `IDLE_TIMEOUT_MS` (default 60000): a socket with no frame and no auto-answered ping for
    /// this long is closed with 4008. Clients ping every 20 to 30 s, so two missed pings.
    pub idle_timeout_ms: u64,
    /// TURN credentials minted per join: `TURN_SECRET` + `TURN_URLS` (coturn's REST scheme) or
    /// `TURN_KEY_ID` + `TURN_KEY_API_TOKEN` (Cloudflare Realtime TURN), with `TURN_TTL_S`
    /// (default 3600), `TURN_API_URL` and `TURN_API_TIMEOUT_MS` (default 1500). See [`crate::turn`].
    pub turn: TurnConfig,
    /// `PEERJS_EXPIRE_MS` (default 5000, peerjs-server's `expire_timeout`): how long a PeerJS
    /// message waits for a recipient that is not connected before its sender gets `EXPIRE`.
    pub peerjs_expire_ms: u64,
    /// `PEERJS_DISCOVERY` (default `false`, as peerjs-server's `allow_discovery`): whether
    /// `GET /peerjs/{key}/peers` lists a key's connected ids (401 otherwise).
    pub peerjs_discovery: bool,
    /// The y-webrtc endpoint's limits (`docs/yjs.md`): `YJS_MAX_CONNECTIONS` (default 256
    /// sockets per namespace: one object serves them all, on one thread), `YJS_MAX_TOPICS`
    /// (default 16 per socket: a page opens one per document) and `YJS_MAX_TOPIC_BYTES` (default
    /// 96: a name and a UUID); together they must fit a socket's 2,048-byte attachment.
    pub yjs: TopicLimits,
    /// `PUBLIC_ORIGIN` (unset by default): the origin browsers reach this server at, e.g.
    /// `https://signal.example.com`. When set, the origin checks take the server's own origin
    /// from here rather than from the request's URL, whose host comes from the client's `Host`
    /// header (a DNS-rebinding page sends its own); unset, the URL's.
    pub public_origin: Option<String>,
    /// `JOIN_RATE_PER_MIN` (unset: off): where no `JOIN_LIMITER` binding is bound (a `make
    /// serve` node), joins and look-ups per client address and minute, counted in the isolate
    /// (`crate::rate`); over it, HTTP 429 (or the protocol's refusal) before any object.
    pub join_rate_per_min: Option<u32>,
    /// `CLIENT_ADDRESS_HEADER` (unset): the header a trusted reverse proxy puts the client's
    /// address in (`X-Forwarded-For`: its last entry). Unset, the address is Cloudflare's
    /// `CF-Connecting-IP`, and without that every request shares one bucket.
    pub client_address_header: Option<String>,
    /// `ADMIN_SECRET` (a secret, unset by default): the bearer token of the admin API
    /// (`crate::admin`); unset, every `/api/admin/` route is a 404.
    pub admin_secret: Option<String>,
    /// `WEBHOOK_URL` + `WEBHOOK_SECRET` (both or neither): where the rooms' events go, and the
    /// Standard Webhooks key they are signed with (`crate::webhook`).
    pub webhook: Option<WebhookConfig>,
}

/// Where webhook events go and how they are signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookConfig {
    /// An `http://` or `https://` URL.
    pub url: String,
    pub secret: crate::webhook::Secret,
}

impl Default for Config {
    fn default() -> Self {
        Config::from_lookup(|_| None).expect("the defaults are valid")
    }
}

/// A setting that does not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The variable's name, e.g. `ROOM_CAPACITY`.
    pub var: &'static str,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration: {}: {}", self.var, self.message)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Parses every setting; `get` returns a variable's value, or `None` when it is unset.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let max_room_capacity = match get("MAX_ROOM_CAPACITY") {
            None => 16,
            Some(v) => parse_int("MAX_ROOM_CAPACITY", &v, 2, u32::MAX as u64)? as u32,
        };
        let room_capacity = match get("ROOM_CAPACITY") {
            None => 2.min(max_room_capacity),
            Some(v) => parse_int("ROOM_CAPACITY", &v, 2, max_room_capacity as u64).map_err(|e| {
                ConfigError {
                    message: format!("{} (MAX_ROOM_CAPACITY is {max_room_capacity})", e.message),
                    ..e
                }
            })? as u32,
        };
        let max_message_bytes = match get("MAX_MESSAGE_BYTES") {
            None => 65536,
            Some(v) => parse_int(
                "MAX_MESSAGE_BYTES",
                &v,
                MAX_MESSAGE_BYTES_FLOOR as u64,
                MAX_MESSAGE_BYTES_CEILING as u64,
            )? as usize,
        };
        let ice_servers =
            parse_ice_servers(get("ICE_SERVERS").as_deref().unwrap_or(DEFAULT_ICE_SERVERS))?;
        let allowed_origins = match get("ALLOWED_ORIGINS") {
            None => Vec::new(),
            Some(v) => parse_origins(&v)?,
        };
        let secret = |var: &'static str, what: &str| match get(var) {
            Some(v) if v.is_empty() => Err(ConfigError {
                var,
                message: format!("is set but empty; unset it to turn {what} off"),
            }),
            v => Ok(v),
        };
        let auth_secret = secret("AUTH_SECRET", "signed joins")?;
        let int = |var: &'static str, default: u64, min: u64, max: u64| match get(var) {
            None => Ok(default),
            Some(v) => parse_int(var, &v, min, max),
        };
        let rate_burst = int("RATE_LIMIT_BURST", 500, 1, 1_000_000)? as u32;
        let rate_per_sec = int("RATE_LIMIT_PER_SEC", 50, 1, 1_000_000)? as u32;
        let rate_bytes_burst = int(
            "RATE_LIMIT_BYTES_BURST",
            1 << 20,
            max_message_bytes as u64,
            1 << 30,
        )
        .map_err(|e| ConfigError {
            message: format!("{} (MAX_MESSAGE_BYTES is {max_message_bytes})", e.message),
            ..e
        })?;
        let rate_bytes_per_sec = int("RATE_LIMIT_BYTES_PER_SEC", 256 << 10, 1, 1 << 30)?;
        // At least a second: the sweep runs every half timeout, and a shorter one would drop
        // peers between two pings of any client.
        let idle_timeout_ms = int("IDLE_TIMEOUT_MS", 60_000, 1_000, 86_400_000)?;
        // 48 hours is the longest TTL Cloudflare's API grants; a minute is the least that
        // leaves a client time to use a credential.
        let turn_ttl_s = int("TURN_TTL_S", 3600, 60, 172_800)?;
        let turn_timeout_ms = int("TURN_API_TIMEOUT_MS", 1500, 100, 10_000)?;
        let turn = parse_turn(&get, turn_ttl_s, turn_timeout_ms)?;
        let peerjs_expire_ms = int("PEERJS_EXPIRE_MS", 5000, 100, 300_000)?;
        let peerjs_discovery = match get("PEERJS_DISCOVERY").as_deref().map(str::trim) {
            None | Some("false") => false,
            Some("true") => true,
            Some(v) => {
                return Err(ConfigError {
                    var: "PEERJS_DISCOVERY",
                    message: format!("{v:?} is neither true nor false"),
                })
            }
        };
        let yjs = TopicLimits {
            max_connections: int("YJS_MAX_CONNECTIONS", 256, 1, 32_768)? as u32,
            max_topics: int("YJS_MAX_TOPICS", 16, 1, 1024)? as usize,
            max_topic_bytes: int("YJS_MAX_TOPIC_BYTES", 96, 1, 2048)? as usize,
        };
        if !yjs.fit_attachment() {
            return Err(ConfigError {
                var: "YJS_MAX_TOPICS",
                message: format!(
                    "{} topics of {} bytes (YJS_MAX_TOPIC_BYTES) do not fit a socket's 2,048-byte hibernation attachment",
                    yjs.max_topics, yjs.max_topic_bytes
                ),
            });
        }
        let public_origin = match get("PUBLIC_ORIGIN").as_deref().map(str::trim) {
            None | Some("") => None,
            Some(v) => match parse_origins(v) {
                Ok(mut one) if one.len() == 1 && !v.contains(',') => one.pop(),
                _ => {
                    return Err(ConfigError {
                        var: "PUBLIC_ORIGIN",
                        message: format!("{v:?} is not one origin like https://signal.example.com"),
                    })
                }
            },
        };
        let join_rate_per_min = match get("JOIN_RATE_PER_MIN").as_deref().map(str::trim) {
            None | Some("") => None,
            Some(v) => Some(parse_int("JOIN_RATE_PER_MIN", v, 1, 1_000_000)? as u32),
        };
        let client_address_header = match get("CLIENT_ADDRESS_HEADER").as_deref().map(str::trim) {
            None | Some("") => None,
            Some(v) if v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') => {
                Some(v.to_owned())
            }
            Some(v) => {
                return Err(ConfigError {
                    var: "CLIENT_ADDRESS_HEADER",
                    message: format!("{v:?} is not a header name like X-Forwarded-For"),
                })
            }
        };
        let admin_secret = secret("ADMIN_SECRET", "the admin API")?;
        let webhook = parse_webhook(get("WEBHOOK_URL"), get("WEBHOOK_SECRET"))?;
        Ok(Config {
            admin_secret,
            webhook,
            join_rate_per_min,
            client_address_header,
            public_origin,
            yjs,
            room_capacity,
            max_room_capacity,
            max_message_bytes,
            ice_servers,
            allowed_origins,
            auth_secret,
            rate_burst,
            rate_per_sec,
            rate_bytes_burst,
            rate_bytes_per_sec,
            idle_timeout_ms,
            turn,
            peerjs_expire_ms,
            peerjs_discovery,
        })
    }

    /// The limits every room of this deployment enforces.
    pub fn limits(&self) -> Limits {
        Limits {
            default_capacity: self.room_capacity,
            max_message_bytes: self.max_message_bytes,
            rate_burst: self.rate_burst,
            rate_per_sec: self.rate_per_sec,
            rate_bytes_burst: self.rate_bytes_burst,
            rate_bytes_per_sec: self.rate_bytes_per_sec,
            idle_timeout_ms: self.idle_timeout_ms,
        }
    }
}

/// `WEBHOOK_URL` and `WEBHOOK_SECRET`: both or neither.
fn parse_webhook(
    url: Option<String>,
    secret: Option<String>,
) -> Result<Option<WebhookConfig>, ConfigError> {
    let (url, secret) = match (url, secret) {
        (None, None) => return Ok(None),
        (Some(_), None) => {
            return Err(ConfigError {
                var: "WEBHOOK_SECRET",
                message: "is unset while WEBHOOK_URL is set: set both or neither".into(),
            })
        }
        (None, Some(_)) => {
            return Err(ConfigError {
                var: "WEBHOOK_URL",
                message: "is unset while WEBHOOK_SECRET is set: set both or neither".into(),
            })
        }
        (Some(url), Some(secret)) => (url.trim().to_owned(), secret),
    };
    let host = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .map(|rest| rest.split(['/', '?', '#']).next().unwrap_or_default());
    let plain = url.bytes().all(|b| b.is_ascii_graphic());
    if !plain || host.is_none_or(str::is_empty) {
        return Err(ConfigError {
            var: "WEBHOOK_URL",
            message: format!("{url:?} is not an http:// or https:// URL"),
        });
    }
    let secret = crate::webhook::Secret::parse(&secret).map_err(|e| ConfigError {
        var: "WEBHOOK_SECRET",
        message: e.to_string(),
    })?;
    Ok(Some(WebhookConfig { url, secret }))
}

fn parse_int(var: &'static str, value: &str, min: u64, max: u64) -> Result<u64, ConfigError> {
    let err = |message: String| ConfigError { var, message };
    let trimmed = value.trim();
    if trimmed.is_empty() || !trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err(format!("{value:?} is not a whole number")));
    }
    match trimmed.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(err(format!("{value:?} is out of range ({min} to {max})"))),
    }
}

/// The `RTCIceServer` dictionary, checked field by field so a typo (`url` for `urls`) is an
/// error at deploy time rather than a call that silently never connects.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // read only to check the shape
struct IceServer {
    urls: Urls,
    username: Option<String>,
    credential: Option<String>,
}

fn parse_ice_servers(value: &str) -> Result<Json, ConfigError> {
    let err = |message: String| ConfigError {
        var: "ICE_SERVERS",
        message,
    };
    let servers: Vec<IceServer> = serde_json::from_str(value).map_err(|e| {
        err(format!(
            "must be a JSON array of {{\"urls\", \"username\", \"credential\"}} objects: {e}"
        ))
    })?;
    for server in &servers {
        let urls = server.urls.all();
        if urls.is_empty() {
            return Err(err("`urls` must not be empty".into()));
        }
        for url in urls {
            if !["stun:", "stuns:", "turn:", "turns:"]
                .iter()
                .any(|p| url.starts_with(p))
            {
                return Err(err(format!(
                    "{url:?} is not a stun:, stuns:, turn: or turns: URL"
                )));
            }
        }
    }
    Ok(Json::parse(value.trim()).expect("checked above"))
}

/// At most one TURN scheme, complete: half a configuration is an error, not TURN silently off.
fn parse_turn(
    get: &impl Fn(&str) -> Option<String>,
    ttl_s: u64,
    timeout_ms: u64,
) -> Result<TurnConfig, ConfigError> {
    let set = |var: &'static str| -> Result<Option<String>, ConfigError> {
        match get(var) {
            None => Ok(None),
            Some(v) if v.trim().is_empty() => Err(ConfigError {
                var,
                message: "is set but empty; unset it instead".into(),
            }),
            Some(v) => Ok(Some(v.trim().to_owned())),
        }
    };
    let missing = |var: &'static str, with: &str| ConfigError {
        var,
        message: format!("is needed with {with}"),
    };
    let secret = set("TURN_SECRET")?;
    let urls = set("TURN_URLS")?;
    let key_id = set("TURN_KEY_ID")?;
    let api_token = set("TURN_KEY_API_TOKEN")?;
    let api_url = set("TURN_API_URL")?;
    if secret.is_some() && (key_id.is_some() || api_token.is_some()) {
        return Err(ConfigError {
            var: "TURN_SECRET",
            message: "and TURN_KEY_ID are two TURN schemes; set one of them".into(),
        });
    }
    match (secret, urls, key_id, api_token) {
        (None, None, None, None) => Ok(TurnConfig::Off),
        (Some(secret), Some(urls), None, None) => {
            let urls: Vec<String> = urls
                .split(',')
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(str::to_owned)
                .collect();
            if let Some(bad) = urls.iter().find(|u| !is_turn_url(u)) {
                return Err(ConfigError {
                    var: "TURN_URLS",
                    message: format!("{bad:?} is not a turn: or turns: URL"),
                });
            }
            Ok(TurnConfig::Rest(RestTurn {
                secret,
                urls,
                ttl_s,
            }))
        }
        (Some(_), None, _, _) => Err(missing("TURN_URLS", "TURN_SECRET")),
        (None, Some(_), None, None) => Err(missing("TURN_SECRET", "TURN_URLS")),
        (None, Some(_), _, _) => Err(ConfigError {
            var: "TURN_URLS",
            message: "is for TURN_SECRET (coturn); Cloudflare's API names its own URLs".into(),
        }),
        (None, None, Some(key_id), Some(api_token)) => {
            if !key_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            {
                return Err(ConfigError {
                    var: "TURN_KEY_ID",
                    message: format!("{key_id:?} is not a TURN key id"),
                });
            }
            let api_url = api_url.unwrap_or_else(|| CLOUDFLARE_API_URL.to_owned());
            if !(api_url.starts_with("https://") || api_url.starts_with("http://")) {
                return Err(ConfigError {
                    var: "TURN_API_URL",
                    message: format!("{api_url:?} is not an http(s) URL"),
                });
            }
            Ok(TurnConfig::Cloudflare(CloudflareTurn {
                key_id,
                api_token,
                ttl_s,
                api_url,
                timeout_ms,
            }))
        }
        (None, None, Some(_), None) => Err(missing("TURN_KEY_API_TOKEN", "TURN_KEY_ID")),
        (None, None, None, Some(_)) => Err(missing("TURN_KEY_ID", "TURN_KEY_API_TOKEN")),
        (Some(_), Some(_), _, _) => unreachable!("refused above"),
    }
}

fn parse_origins(value: &str) -> Result<Vec<String>, ConfigError> {
    let mut origins = Vec::new();
    for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        // An origin is `scheme://host[:port]`: no path, no trailing slash, which browsers never
        // send in the `Origin` header and so would never match.
        let ok = match part.split_once("://") {
            Some((scheme, rest)) => {
                !scheme.is_empty()
                    && scheme
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
                    && !rest.is_empty()
                    && !rest.contains(['/', '?', '#', ' '])
            }
            None => false,
        };
        if !ok {
            return Err(ConfigError {
                var: "ALLOWED_ORIGINS",
                message: format!("{part:?} is not an origin like https://app.example.com"),
            });
        }
        origins.push(part.to_ascii_lowercase());
    }
    Ok(origins)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_match_the_contract() {
        let c = config(&[]).unwrap();
        assert_eq!(c.room_capacity, 2);
        assert_eq!(c.max_room_capacity, 16);
        assert_eq!(c.max_message_bytes, 65536);
        assert_eq!(c.ice_servers.to_string(), DEFAULT_ICE_SERVERS);
        assert!(c.allowed_origins.is_empty());
        assert_eq!(c.auth_secret, None);
        assert_eq!(
            (c.rate_burst, c.rate_per_sec, c.idle_timeout_ms),
            (500, 50, 60_000)
        );
        assert_eq!(
            (c.rate_bytes_burst, c.rate_bytes_per_sec),
            (1 << 20, 256 << 10)
        );
        assert_eq!((c.peerjs_expire_ms, c.peerjs_discovery), (5000, false));
    }

    #[test]
    fn every_setting_is_read() {
        let c = config(&[
            ("ROOM_CAPACITY", "4"),
            ("MAX_ROOM_CAPACITY", "8"),
            ("MAX_MESSAGE_BYTES", "10000"),
            (
                "ICE_SERVERS",
                r#"[ {"urls": ["turn:t.example.com"], "username": "u", "credential": "c"} ]"#,
            ),
            (
                "ALLOWED_ORIGINS",
                "https://A.example.com, http://localhost:8787",
            ),
            ("AUTH_SECRET", "s3cret"),
            ("RATE_LIMIT_BURST", "20"),
            ("RATE_LIMIT_PER_SEC", "5"),
            ("RATE_LIMIT_BYTES_BURST", "20000"),
            ("RATE_LIMIT_BYTES_PER_SEC", "3000"),
            ("IDLE_TIMEOUT_MS", "2000"),
            ("PEERJS_EXPIRE_MS", "1500"),
            ("PEERJS_DISCOVERY", "true"),
        ])
        .unwrap();
        assert_eq!((c.peerjs_expire_ms, c.peerjs_discovery), (1500, true));
        assert_eq!(c.room_capacity, 4);
        assert_eq!(c.max_room_capacity, 8);
        assert_eq!(c.max_message_bytes, 10000);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(c.ice_servers.get()).unwrap(),
            serde_json::json!([{"urls": ["turn:t.example.com"], "username": "u", "credential": "c"}])
        );
        assert_eq!(
            c.allowed_origins,
            vec!["https://a.example.com", "http://localhost:8787"]
        );
        assert_eq!(c.auth_secret.as_deref(), Some("s3cret"));
        assert_eq!(
            c.limits(),
            Limits {
                default_capacity: 4,
                max_message_bytes: 10000,
                rate_burst: 20,
                rate_per_sec: 5,
                rate_bytes_burst: 20000,
                rate_bytes_per_sec: 3000,
                idle_timeout_ms: 2000
            }
        );
    }

    #[test]
    fn bad_values_are_errors_naming_the_variable() {
        for (var, value) in [
            ("ROOM_CAPACITY", "two"),
            ("ROOM_CAPACITY", "1"),
            ("ROOM_CAPACITY", "17"),
            ("ROOM_CAPACITY", ""),
            ("ROOM_CAPACITY", "-3"),
            ("MAX_ROOM_CAPACITY", "1"),
            ("MAX_ROOM_CAPACITY", "1.5"),
            ("MAX_MESSAGE_BYTES", "100"),
            ("MAX_MESSAGE_BYTES", "2000000"),
            ("ICE_SERVERS", "stun:stun.example.com"),
            ("ICE_SERVERS", r#"{"urls":"stun:x"}"#),
            ("ICE_SERVERS", r#"[{"url":"stun:x"}]"#),
            ("ICE_SERVERS", r#"[{"urls":"http://x"}]"#),
            ("ICE_SERVERS", r#"[{"urls":[]}]"#),
            ("ALLOWED_ORIGINS", "https://a.example.com/"),
            ("ALLOWED_ORIGINS", "a.example.com"),
            ("AUTH_SECRET", ""),
            ("RATE_LIMIT_BURST", "0"),
            ("RATE_LIMIT_PER_SEC", "fast"),
            // Below MAX_MESSAGE_BYTES (65536): a frame of the largest size could never be sent.
            ("RATE_LIMIT_BYTES_BURST", "65535"),
            ("RATE_LIMIT_BYTES_PER_SEC", "0"),
            ("IDLE_TIMEOUT_MS", "999"),
            ("TURN_TTL_S", "59"),
            ("TURN_TTL_S", "172801"),
            ("TURN_API_TIMEOUT_MS", "0"),
            ("TURN_SECRET", " "),
            ("PEERJS_EXPIRE_MS", "99"),
            ("PEERJS_DISCOVERY", "yes"),
            ("YJS_MAX_CONNECTIONS", "0"),
            ("YJS_MAX_TOPICS", "0"),
            ("YJS_MAX_TOPIC_BYTES", "x"),
            // 1,000 topics of 96 bytes cannot fit a 2,048-byte attachment.
            ("YJS_MAX_TOPICS", "1000"),
            ("PUBLIC_ORIGIN", "signal.example.com"),
            (
                "PUBLIC_ORIGIN",
                "https://a.example.com,https://b.example.com",
            ),
            ("PUBLIC_ORIGIN", "https://signal.example.com/"),
            ("JOIN_RATE_PER_MIN", "0"),
            ("JOIN_RATE_PER_MIN", "many"),
            ("CLIENT_ADDRESS_HEADER", "X-Forwarded-For: 1"),
            ("ADMIN_SECRET", ""),
            // One webhook setting without the other names the missing one.
            ("WEBHOOK_URL", "https://hooks.example.com/edge"),
            ("WEBHOOK_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        ] {
            let err = config(&[(var, value)]).expect_err(value);
            let var = match var {
                "WEBHOOK_URL" => "WEBHOOK_SECRET",
                "WEBHOOK_SECRET" => "WEBHOOK_URL",
                other => other,
            };
            assert_eq!(err.var, var, "{value:?}");
            assert!(err.to_string().contains(var));
        }
    }

    #[test]
    fn the_public_origin_is_one_origin() {
        assert_eq!(config(&[]).unwrap().public_origin, None);
        let c = config(&[("PUBLIC_ORIGIN", "https://Signal.Example.com")]).unwrap();
        assert_eq!(
            c.public_origin.as_deref(),
            Some("https://signal.example.com")
        );
    }

    #[test]
    fn turn_schemes() {
        assert_eq!(config(&[]).unwrap().turn, TurnConfig::Off);
        let rest = config(&[
            ("TURN_SECRET", "s3cret"),
            (
                "TURN_URLS",
                "turn:127.0.0.1:3478, turns:t.example.com:5349?transport=tcp",
            ),
            ("TURN_TTL_S", "600"),
        ])
        .unwrap();
        assert_eq!(
            rest.turn,
            TurnConfig::Rest(RestTurn {
                secret: "s3cret".into(),
                urls: vec![
                    "turn:127.0.0.1:3478".into(),
                    "turns:t.example.com:5349?transport=tcp".into()
                ],
                ttl_s: 600
            })
        );
        let cf = config(&[("TURN_KEY_ID", "abc-123"), ("TURN_KEY_API_TOKEN", "tok")]).unwrap();
        assert_eq!(
            cf.turn,
            TurnConfig::Cloudflare(CloudflareTurn {
                key_id: "abc-123".into(),
                api_token: "tok".into(),
                ttl_s: 3600,
                api_url: CLOUDFLARE_API_URL.into(),
                timeout_ms: 1500
            })
        );
        let local = config(&[
            ("TURN_KEY_ID", "k"),
            ("TURN_KEY_API_TOKEN", "t"),
            ("TURN_API_URL", "http://127.0.0.1:9999"),
            ("TURN_API_TIMEOUT_MS", "300"),
        ])
        .unwrap();
        let TurnConfig::Cloudflare(local) = local.turn else {
            panic!("cloudflare")
        };
        assert_eq!(
            (local.api_url.as_str(), local.timeout_ms),
            ("http://127.0.0.1:9999", 300)
        );
    }

    #[test]
    fn mixed_or_half_turn_configurations_are_errors() {
        for (vars, var) in [
            (&[("TURN_SECRET", "s")][..], "TURN_URLS"),
            (&[("TURN_URLS", "turn:t.example.com")][..], "TURN_SECRET"),
            (&[("TURN_KEY_ID", "k")][..], "TURN_KEY_API_TOKEN"),
            (&[("TURN_KEY_API_TOKEN", "t")][..], "TURN_KEY_ID"),
            (
                &[("TURN_SECRET", "s"), ("TURN_URLS", "stun:x")][..],
                "TURN_URLS",
            ),
            (
                &[
                    ("TURN_SECRET", "s"),
                    ("TURN_URLS", "turn:x"),
                    ("TURN_KEY_ID", "k"),
                ][..],
                "TURN_SECRET",
            ),
            (
                &[
                    ("TURN_KEY_ID", "k"),
                    ("TURN_KEY_API_TOKEN", "t"),
                    ("TURN_URLS", "turn:x"),
                ][..],
                "TURN_URLS",
            ),
            (
                &[("TURN_KEY_ID", "k/../x"), ("TURN_KEY_API_TOKEN", "t")][..],
                "TURN_KEY_ID",
            ),
            (
                &[
                    ("TURN_KEY_ID", "k"),
                    ("TURN_KEY_API_TOKEN", "t"),
                    ("TURN_API_URL", "ftp://x"),
                ][..],
                "TURN_API_URL",
            ),
        ] {
            assert_eq!(config(vars).unwrap_err().var, var, "{vars:?}");
        }
    }

    #[test]
    fn room_capacity_is_bounded_by_max_room_capacity() {
        assert!(config(&[("MAX_ROOM_CAPACITY", "3"), ("ROOM_CAPACITY", "3")]).is_ok());
        let err = config(&[("MAX_ROOM_CAPACITY", "3"), ("ROOM_CAPACITY", "4")]).unwrap_err();
        assert!(
            err.message.contains("MAX_ROOM_CAPACITY is 3"),
            "{}",
            err.message
        );
    }

    #[test]
    fn empty_lists_are_allowed() {
        assert_eq!(
            config(&[("ICE_SERVERS", "[]")]).unwrap().ice_servers,
            Json::parse("[]").unwrap()
        );
        assert!(config(&[("ALLOWED_ORIGINS", " ")])
            .unwrap()
            .allowed_origins
            .is_empty());
    }

    #[test]
    fn webhooks_take_both_settings_checked() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let c = config(&[
            ("WEBHOOK_URL", " http://127.0.0.1:9000/hook?x=1 "),
            ("WEBHOOK_SECRET", secret),
            ("ADMIN_SECRET", "adm1n"),
        ])
        .unwrap();
        let webhook = c.webhook.unwrap();
        assert_eq!(webhook.url, "http://127.0.0.1:9000/hook?x=1");
        assert_eq!(
            webhook.secret,
            crate::webhook::Secret::parse(secret).unwrap()
        );
        assert_eq!(c.admin_secret.as_deref(), Some("adm1n"));
        assert_eq!(config(&[]).unwrap().webhook, None);
        for (url, key, var) in [
            ("ftp://hooks.example.com", secret, "WEBHOOK_URL"),
            ("https://", secret, "WEBHOOK_URL"),
            ("hooks.example.com/edge", secret, "WEBHOOK_URL"),
            ("https://hooks.example.com/a b", secret, "WEBHOOK_URL"),
            (
                "https://hooks.example.com",
                "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                "WEBHOOK_SECRET",
            ),
            (
                "https://hooks.example.com",
                "whsec_not base64!",
                "WEBHOOK_SECRET",
            ),
            ("https://hooks.example.com", "whsec_", "WEBHOOK_SECRET"),
        ] {
            let err = config(&[("WEBHOOK_URL", url), ("WEBHOOK_SECRET", key)]).expect_err(url);
            assert_eq!(err.var, var, "{url} {key}");
        }
    }
}
