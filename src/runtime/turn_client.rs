//! `welcome.ice_servers` for a joining peer: the configured servers, then TURN credentials when
//! a scheme is configured — minted locally (coturn's REST scheme) or fetched from Cloudflare's
//! TURN API behind a per-isolate cache ([`crate::turn`] holds the rules, this the HTTP call).

use std::cell::RefCell;

use wasm_bindgen::JsCast;
use worker::console_error;

use super::now_ms;
use crate::config::Config;
use crate::json::Json;
use crate::protocol::PeerId;
use crate::turn::{self, CloudflareTurn, Lookup, TurnCache, TurnConfig};

/// `welcome.ice_servers` for `peer`. Never fails: without TURN credentials the join goes on
/// with the rest.
pub async fn ice_servers(config: &Config, peer: &PeerId) -> Json {
    match &config.turn {
        TurnConfig::Off => config.ice_servers.clone(),
        TurnConfig::Rest(rest) => turn::with_turn(
            &config.ice_servers,
            vec![rest.ice_server(peer, now_ms() / 1000)],
        ),
        TurnConfig::Cloudflare(cf) => {
            turn::with_turn(&config.ice_servers, cloudflare_credentials(cf).await)
        }
    }
}

thread_local! {
    /// Cloudflare TURN credentials, shared by every room of this isolate.
    static TURN_CACHE: RefCell<TurnCache> = RefCell::new(TurnCache::default());
}

/// Cached credentials, or a time-boxed call to Cloudflare's API; empty after a failure.
async fn cloudflare_credentials(cf: &CloudflareTurn) -> Vec<Json> {
    match TURN_CACHE.with(|c| c.borrow().lookup(now_ms())) {
        Lookup::Hit(servers) => return servers,
        Lookup::Skip => return Vec::new(),
        Lookup::Fetch => {}
    }
    let started = now_ms();
    let outcome = call_cloudflare(cf).await;
    TURN_CACHE.with(|c| c.borrow_mut().store(&outcome, now_ms(), cf.cache_ms()));
    match outcome {
        Ok(servers) => servers,
        Err(error) => {
            let error = serde_json::to_string(&error).expect("a string always serializes");
            let ms = now_ms().saturating_sub(started);
            console_error!(r#"{{"event":"turn_error","error":{error},"ms":{ms}}}"#);
            Vec::new()
        }
    }
}

/// `POST .../generate-ice-servers`, abandoned (and aborted) after `timeout_ms`. Written against
/// `web_sys` directly: `worker::RequestInit` links serializers for every `cf` option that this
/// call does not use (the same switch for the Worker's forwarded join request took the gzipped
/// wasm from 158,124 to 151,499 bytes).
async fn call_cloudflare(cf: &CloudflareTurn) -> Result<Vec<Json>, String> {
    use futures_util::future::{select, Either};
    use worker::wasm_bindgen_futures::JsFuture;
    use worker::web_sys;

    let js_err = |e: wasm_bindgen::JsValue| format!("{e:?}");
    let headers = web_sys::Headers::new().map_err(js_err)?;
    headers
        .set("Authorization", &cf.authorization())
        .and_then(|()| headers.set("Content-Type", "application/json"))
        .map_err(js_err)?;
    let controller = web_sys::AbortController::new().map_err(js_err)?;
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_headers(&headers);
    init.set_body(&cf.request_body().into());
    init.set_signal(Some(&controller.signal()));
    let global: web_sys::WorkerGlobalScope = worker::js_sys::global().unchecked_into();
    let call = async {
        let response = JsFuture::from(global.fetch_with_str_and_init(&cf.endpoint(), &init))
            .await
            .map_err(|e| format!("fetch failed: {e:?}"))?;
        let response: web_sys::Response = response.unchecked_into();
        let status = response.status();
        let body = JsFuture::from(response.text().map_err(js_err)?)
            .await
            .map_err(js_err)?
            .as_string()
            .unwrap_or_default();
        if !(200..300).contains(&status) {
            let head: String = body.chars().take(200).collect();
            return Err(format!("HTTP {status}: {head}"));
        }
        turn::parse_cloudflare_answer(&body)
    };
    let timeout = worker::Delay::from(std::time::Duration::from_millis(cf.timeout_ms));
    futures_util::pin_mut!(call, timeout);
    match select(call, timeout).await {
        Either::Left((outcome, _)) => outcome,
        Either::Right(((), _)) => {
            controller.abort();
            Err(format!("no answer within {} ms", cf.timeout_ms))
        }
    }
}
