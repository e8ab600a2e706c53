//! The runtime adapter: everything that touches the Workers runtime, and nothing else. Compiled
//! for wasm32 only (gated once, in `lib.rs`); the core it drives is plain Rust.
//!
//! One file per concern, shared by every protocol and every Durable Object class:
//! - `entry`: the Worker's fetch handler (routing, join checks, the hand-off to an object);
//! - `room_object`: the `RoomObject` Durable Object (socket handlers, the join, the alarm);
//! - `peer_object`: the `PeerObject` Durable Object of a PeerJS peer (and of a key's directory);
//! - `glue`: every `unsafe` block and inline-JS binding (frame copy, splice send, rate limiter,
//!   the auto-response timestamp, the CSPRNG, text of an object's answer);
//! - `attachment`: what each socket carries across hibernation, and the room rebuilt from it;
//! - `alarm`: the sweep alarm's storage calls;
//! - `turn_client`: `welcome.ice_servers`, with Cloudflare's TURN API behind a cache;
//! - `join_rate`: the join rate per client address, for the gate and for PeerJS wakes;
//! - `webhooks`: a room object's webhook events, stored, delivered and retried;
//! - this file: what the adapters share (bindings, settings, responses, observations, clock and
//!   randomness). Nothing here imports an adapter, and no adapter imports another.

mod alarm;
mod attachment;
mod entry;
mod executor;
mod glue;
mod join_rate;
mod peer_object;
mod room_object;
mod turn_client;
mod webhooks;

use std::rc::Rc;

use wasm_bindgen::JsValue;
use worker::{
    console_error, console_log, js_sys, AnalyticsEngineDataPointBuilder, AnalyticsEngineDataset,
    Env, Response, Result,
};

use crate::config::{Config, ConfigError};
use crate::error::HttpError;
use crate::observe::Observation;

/// The `RoomObject` namespace (required).
pub const ROOMS_BINDING: &str = "ROOMS";
/// The `PeerObject` namespace: the PeerJS endpoint's peers and directories (required).
pub const PEERS_BINDING: &str = "PEERS";
/// The Workers Static Assets binding (`[assets]`, directory `public/`): the room page.
pub const ASSETS_BINDING: &str = "ASSETS";
/// The Workers Analytics Engine dataset (optional; docs/operations.md).
pub const ANALYTICS_BINDING: &str = "ANALYTICS";
/// The Rate Limiting binding for joins and room look-ups per client address (optional).
pub const JOIN_LIMITER_BINDING: &str = "JOIN_LIMITER";

thread_local! {
    /// The settings, read once per isolate: they cannot change without a new deployment (and
    /// so a new isolate), and parsing `ICE_SERVERS` on every join would be wasted work.
    static CONFIG: std::cell::OnceCell<std::result::Result<Rc<Config>, ConfigError>> = const { std::cell::OnceCell::new() };
}

/// Every setting. `env.var` also reads secrets (both are plain string bindings). Shared, not
/// copied, by every request and object of the isolate.
pub fn load_config(env: &Env) -> std::result::Result<Rc<Config>, ConfigError> {
    CONFIG.with(|cell| {
        cell.get_or_init(|| Config::from_lookup(|name| env_string(env, name)).map(Rc::new))
            .clone()
    })
}

/// The binding `name` if it is a string, else `None`. Not `env.var()`: standalone workerd binds
/// an unset `fromEnvironment` variable as null, which `env.var()` panics on.
pub fn env_string(env: &Env, name: &str) -> Option<String> {
    js_sys::Reflect::get(env.as_ref(), &JsValue::from_str(name))
        .ok()
        .and_then(|v| v.as_string())
}

/// HTTP 500 naming the setting that does not parse (and the same in the log).
pub fn config_error(e: &ConfigError) -> Result<Response> {
    console_error!("{e}");
    http_error(&HttpError::config(e.to_string()))
}

/// An HTTP error with its JSON body.
pub fn http_error(e: &HttpError) -> Result<Response> {
    let mut response = Response::ok(e.body())?.with_status(e.status);
    response
        .headers_mut()
        .set("Content-Type", "application/json")?;
    Ok(response)
}

/// Writes an observation: its log line, and its data point when `dataset` is bound. A failed
/// write is logged, never fatal (observability must not break joins).
pub fn record(dataset: Option<&AnalyticsEngineDataset>, seen: &Observation<'_>) {
    console_log!("{}", seen.log_line());
    let (Some(dataset), Some(point)) = (dataset, seen.data_point()) else {
        return;
    };
    let [event, reason, hash] = &point.blobs;
    let built = AnalyticsEngineDataPointBuilder::new()
        .indexes([point.index.as_str()])
        .blobs([event.as_str(), reason.as_str(), hash.as_str()])
        .doubles(point.doubles)
        .build();
    if let Err(e) = dataset.write_data_point(&built) {
        console_error!("analytics: could not write a data point: {e}");
    }
}

/// `Date.now()`: one call, no `Date` object (the clock of the relay path).
pub fn now_ms() -> u64 {
    worker::js_sys::Date::now() as u64
}

/// The text of what the object `name` of the namespace `binding` answers to `GET url`.
pub async fn get_text(env: &Env, binding: &str, name: &str, url: &str) -> Result<String> {
    let stub = env
        .durable_object(binding)?
        .id_from_name(name)?
        .get_stub()?
        .into_rpc::<JsValue>();
    let text = worker::wasm_bindgen_futures::JsFuture::from(glue::get_text(&stub, url)?).await?;
    Ok(text.as_string().unwrap_or_default())
}

/// 16 bytes from the runtime's CSPRNG (crypto.getRandomValues).
pub fn random_bytes() -> Result<[u8; 16]> {
    let mut bytes = [0u8; 16];
    glue::get_random_values(&mut bytes)?;
    Ok(bytes)
}

/// 16 random bytes as 32 hex digits: a resume secret, a room's session.
pub fn random_id() -> Result<String> {
    Ok(crate::protocol::PeerId::from_random(random_bytes()?).to_string())
}
