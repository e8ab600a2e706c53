//! TURN credentials for `welcome.ice_servers`, minted per join.
//!
//! Two schemes, chosen by configuration (at most one):
//!
//! - **coturn's REST scheme** (`TURN_SECRET`, `TURN_URLS`, `TURN_TTL_S`): the worker shares a
//!   secret with the TURN server (coturn's `static-auth-secret`) and signs a username that
//!   carries its own expiry: `username = "<unix expiry>:<peer id>"`, `credential =
//!   base64(HMAC-SHA1(secret, username))`. No network call: [`RestTurn::ice_server`].
//! - **Cloudflare Realtime TURN** (`TURN_KEY_ID`, `TURN_KEY_API_TOKEN`): the worker asks
//!   Cloudflare's `generate-ice-servers` API for credentials ([`CloudflareTurn::endpoint`],
//!   [`CloudflareTurn::request_body`]) and keeps the answer per isolate ([`TurnCache`]) for half
//!   its TTL, so every credential handed out has at least half its life left. A failed or slow
//!   call (time-boxed by `TURN_API_TIMEOUT_MS`) leaves `welcome` with the configured STUN
//!   servers only, and the next attempt waits [`RETRY_AFTER_FAILURE_MS`], so an outage of the API
//!   costs one join the time box, not every join.
//!
//! Everything here is plain Rust; the Durable Object does the fetch and the clock.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};

use crate::json::Json;

use crate::protocol::PeerId;

/// Cloudflare's Realtime API, the default `TURN_API_URL`.
pub const CLOUDFLARE_API_URL: &str = "https://rtc.live.cloudflare.com/v1";

/// After a failed or timed-out call to the credentials API, joins go out with STUN only and
/// without asking again for this long.
pub const RETRY_AFTER_FAILURE_MS: u64 = 5_000;

/// `urls` of an `RTCIceServer`: one URL or a list.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Urls {
    One(String),
    Many(Vec<String>),
}

/// By hand rather than `#[serde(untagged)]`, which buffers the value first and linked serde's
/// whole buffering deserializer for this one field.
impl<'de> Deserialize<'de> for Urls {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct UrlsVisitor;
        impl<'de> serde::de::Visitor<'de> for UrlsVisitor {
            type Value = Urls;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a URL or a list of URLs")
            }
            fn visit_str<E: serde::de::Error>(self, url: &str) -> Result<Urls, E> {
                Ok(Urls::One(url.to_owned()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Urls, A::Error> {
                let mut urls = Vec::new();
                while let Some(url) = seq.next_element::<String>()? {
                    urls.push(url);
                }
                Ok(Urls::Many(urls))
            }
        }
        d.deserialize_any(UrlsVisitor)
    }
}

impl Urls {
    pub fn all(&self) -> &[String] {
        match self {
            Urls::One(url) => std::slice::from_ref(url),
            Urls::Many(urls) => urls,
        }
    }
}

/// An `RTCIceServer` with credentials, as handed out.
#[derive(Serialize)]
struct Credentialed<'a, U: Serialize> {
    urls: U,
    username: &'a str,
    credential: &'a str,
}

/// Which scheme mints TURN credentials, if any.
#[derive(Clone, Debug, PartialEq)]
pub enum TurnConfig {
    /// Only the configured `ICE_SERVERS`.
    Off,
    Rest(RestTurn),
    Cloudflare(CloudflareTurn),
}

/// coturn's REST scheme (`use-auth-secret` in coturn's configuration).
#[derive(Clone, PartialEq)]
pub struct RestTurn {
    /// `TURN_SECRET`, coturn's `static-auth-secret`.
    pub secret: String,
    /// `TURN_URLS`: `turn:` / `turns:` URLs of the server.
    pub urls: Vec<String>,
    /// `TURN_TTL_S`: how long a credential is valid.
    pub ttl_s: u64,
}

impl std::fmt::Debug for RestTurn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestTurn")
            .field("secret", &"<redacted>")
            .field("urls", &self.urls)
            .field("ttl_s", &self.ttl_s)
            .finish()
    }
}

impl RestTurn {
    /// The `RTCIceServer` entry for `peer`, valid until `now_s + ttl_s`.
    pub fn ice_server(&self, peer: &PeerId, now_s: u64) -> Json {
        let username = format!("{}:{}", now_s + self.ttl_s, peer);
        let credential = rest_credential(self.secret.as_bytes(), &username);
        Json::of(&Credentialed {
            urls: &self.urls,
            username: &username,
            credential: &credential,
        })
    }
}

/// `base64(HMAC-SHA1(secret, username))`: what coturn computes to check a REST-scheme login.
pub fn rest_credential(secret: &[u8], username: &str) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Cloudflare Realtime TURN.
#[derive(Clone, PartialEq)]
pub struct CloudflareTurn {
    /// `TURN_KEY_ID`: the TURN key's id (public: it is part of the API's URL).
    pub key_id: String,
    /// `TURN_KEY_API_TOKEN` (a secret): the key's bearer token.
    pub api_token: String,
    /// `TURN_TTL_S`: the TTL asked for.
    pub ttl_s: u64,
    /// `TURN_API_URL`: the API's base (a local stand-in in tests).
    pub api_url: String,
    /// `TURN_API_TIMEOUT_MS`: the time box of one call.
    pub timeout_ms: u64,
}

impl std::fmt::Debug for CloudflareTurn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudflareTurn")
            .field("key_id", &self.key_id)
            .field("api_token", &"<redacted>")
            .field("ttl_s", &self.ttl_s)
            .field("api_url", &self.api_url)
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

impl CloudflareTurn {
    /// `POST` here, with [`Self::authorization`] and [`Self::request_body`].
    pub fn endpoint(&self) -> String {
        format!(
            "{}/turn/keys/{}/credentials/generate-ice-servers",
            self.api_url.trim_end_matches('/'),
            self.key_id
        )
    }

    pub fn authorization(&self) -> String {
        format!("Bearer {}", self.api_token)
    }

    pub fn request_body(&self) -> String {
        format!(r#"{{"ttl":{}}}"#, self.ttl_s)
    }

    /// How long an answer is handed out: half its TTL.
    pub fn cache_ms(&self) -> u64 {
        self.ttl_s * 1000 / 2
    }
}

/// The TURN entries of an answer of `generate-ice-servers` (HTTP 201, `{"iceServers": [...]}`):
/// those with a username and credential. Its STUN entries are left out: `ICE_SERVERS` has the
/// STUN servers this deployment wants.
pub fn parse_cloudflare_answer(body: &str) -> Result<Vec<Json>, String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Answer {
        ice_servers: Vec<Entry>,
    }
    #[derive(Deserialize)]
    struct Entry {
        urls: Urls,
        username: Option<String>,
        credential: Option<String>,
    }
    let answer: Answer =
        serde_json::from_str(body).map_err(|e| format!("unexpected answer: {e}"))?;
    let mut servers = Vec::new();
    for entry in answer.ice_servers {
        let (Some(username), Some(credential)) = (entry.username, entry.credential) else {
            continue;
        };
        let urls = entry.urls.all();
        if urls.is_empty() || !urls.iter().all(|u| is_turn_url(u)) {
            return Err(format!("unexpected urls in the answer: {urls:?}"));
        }
        servers.push(Json::of(&Credentialed {
            urls: &entry.urls,
            username: &username,
            credential: &credential,
        }));
    }
    if servers.is_empty() {
        return Err("the answer has no TURN server with credentials".into());
    }
    Ok(servers)
}

pub fn is_turn_url(url: &str) -> bool {
    (url.starts_with("turn:") || url.starts_with("turns:")) && url.len() > "turns:".len()
}

/// The per-isolate memory of the last call to the credentials API.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum TurnCache {
    #[default]
    Empty,
    /// Credentials to hand out until `until_ms`.
    Fresh { servers: Vec<Json>, until_ms: u64 },
    /// The last call failed: STUN only until `until_ms`.
    Failed { until_ms: u64 },
}

/// What a join does about TURN, given the cache.
#[derive(Clone, Debug, PartialEq)]
pub enum Lookup {
    /// Hand these out.
    Hit(Vec<Json>),
    /// Ask the API (and [`TurnCache::store`] the outcome).
    Fetch,
    /// The API failed a moment ago: STUN only, without asking.
    Skip,
}

impl TurnCache {
    pub fn lookup(&self, now_ms: u64) -> Lookup {
        match self {
            TurnCache::Fresh { servers, until_ms } if now_ms < *until_ms => {
                Lookup::Hit(servers.clone())
            }
            TurnCache::Failed { until_ms } if now_ms < *until_ms => Lookup::Skip,
            _ => Lookup::Fetch,
        }
    }

    /// Records the outcome of a call made at `now_ms`.
    pub fn store(&mut self, outcome: &Result<Vec<Json>, String>, now_ms: u64, cache_ms: u64) {
        *self = match outcome {
            Ok(servers) => TurnCache::Fresh {
                servers: servers.clone(),
                until_ms: now_ms + cache_ms,
            },
            Err(_) => TurnCache::Failed {
                until_ms: now_ms + RETRY_AFTER_FAILURE_MS,
            },
        };
    }
}

/// `welcome.ice_servers`: the configured servers (a checked JSON array), then the minted TURN
/// entries.
pub fn with_turn(configured: &Json, turn: Vec<Json>) -> Json {
    if turn.is_empty() {
        return configured.clone();
    }
    let listed = configured.get().trim();
    let inner = listed
        .strip_prefix('[')
        .and_then(|l| l.strip_suffix(']'))
        .expect("ICE_SERVERS is checked to be an array")
        .trim();
    let mut all =
        String::with_capacity(listed.len() + turn.iter().map(|t| t.get().len() + 1).sum::<usize>());
    all.push('[');
    all.push_str(inner);
    for (i, entry) in turn.iter().enumerate() {
        if i > 0 || !inner.is_empty() {
            all.push(',');
        }
        all.push_str(entry.get());
    }
    all.push(']');
    Json::parse(&all).expect("an array of checked values")
}

#[cfg(test)]
mod tests;
