//! The join rate per client address (`JOIN_LIMITER`, or `JOIN_RATE_PER_MIN` on a node without
//! the binding): counted by the Worker's gate for every join and look-up, and by a PeerJS peer's
//! object for each message that may start another peer's object (a wake, `crate::peer`).

use wasm_bindgen::JsValue;
use worker::{Env, Headers, Result};

use super::{glue, now_ms, JOIN_LIMITER_BINDING};
use crate::config::Config;

/// Where a client's joins are counted.
#[derive(Clone)]
pub enum JoinRate {
    /// Cloudflare's Rate Limiting binding, keyed by `CF-Connecting-IP`.
    Binding(JsValue),
    /// This isolate's own count (`crate::rate`), keyed by the trusted proxy's header.
    Node(u32),
    Off,
}

impl JoinRate {
    /// The binding, if bound (before the settings are read: a request over the rate costs
    /// nothing further).
    pub fn binding(env: &Env) -> Option<JsValue> {
        worker::js_sys::Reflect::get(env.as_ref(), &JsValue::from(JOIN_LIMITER_BINDING))
            .ok()
            .filter(|b| !b.is_undefined())
    }

    pub fn of(env: &Env, config: &Config) -> JoinRate {
        match (Self::binding(env), config.join_rate_per_min) {
            (Some(binding), _) => JoinRate::Binding(binding),
            (None, Some(per_min)) => JoinRate::Node(per_min),
            (None, None) => JoinRate::Off,
        }
    }

    /// The client's address as this rate counts it, from a request's headers: `CF-Connecting-IP`
    /// (set by Cloudflare's edge and by wrangler dev), or on a node the last entry of
    /// `CLIENT_ADDRESS_HEADER`, the one the trusted proxy added.
    pub fn client(&self, headers: &Headers, config: &Config) -> Result<String> {
        let header = match self {
            JoinRate::Node(_) => config
                .client_address_header
                .as_deref()
                .unwrap_or("CF-Connecting-IP"),
            _ => "CF-Connecting-IP",
        };
        let value = headers.get(header)?.unwrap_or_default();
        Ok(crate::rate::client_address(&value).to_owned())
    }

    /// Whether one more join from `client` is within the rate, counting it if so. A failed call
    /// to the binding lets it through (see [`glue::within_rate_limit`]).
    pub async fn allows(&self, client: &str) -> bool {
        match self {
            JoinRate::Binding(binding) => glue::within_rate_limit(binding, client).await,
            _ => self.allows_now(client).unwrap_or(true),
        }
    }

    /// [`Self::allows`] where it needs no wait: `None` for the binding.
    pub fn allows_now(&self, client: &str) -> Option<bool> {
        match self {
            JoinRate::Binding(_) => None,
            JoinRate::Node(per_min) => Some(NODE_LIMITER.with(|cell| {
                cell.borrow_mut()
                    .get_or_insert_with(|| crate::rate::Limiter::new(*per_min))
                    .allow(client, now_ms())
            })),
            JoinRate::Off => Some(true),
        }
    }
}

thread_local! {
    /// The node's own join rate limit, for the isolate's life: shared by the Worker and every
    /// object of the isolate (one workerd process runs one).
    static NODE_LIMITER: std::cell::RefCell<Option<crate::rate::Limiter>> =
        const { std::cell::RefCell::new(None) };
}
