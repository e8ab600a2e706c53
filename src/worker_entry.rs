//! The Worker: the stateless front door. It answers what needs no room (pages, `/healthz`, 400s,
//! 403s and 404s) itself, and checks every join — room name, origin, peer id, capacity, token —
//! before any Durable Object is touched, so a malformed or hostile request costs no object.

use worker::{
    console_error, console_log, event, AnalyticsEngineDataPointBuilder, AnalyticsEngineDataset,
    Context, Date, Env, Request, Response, Result, WebSocketPair,
};

use crate::analytics;
use crate::assets::{self, Asset};
use crate::auth;
use crate::config::{Config, ConfigError};
use crate::error::RoomError;
use crate::protocol::{PeerId, RoomId};
use crate::request::{origin_allowed, origin_and_query, query_pairs, HttpError, JoinParams, Route};
use crate::room::log_line;

/// The binding of the `RoomObject` namespace in wrangler.toml.
pub const ROOMS_BINDING: &str = "ROOMS";
/// The optional Workers Analytics Engine dataset (docs/operations.md).
pub const ANALYTICS_BINDING: &str = "ANALYTICS";

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    match Route::parse(req.method().as_ref(), &req.path()) {
        Route::Landing => serve(&assets::LANDING),
        Route::Health => Response::ok("ok"),
        Route::File(asset) => serve(asset),
        Route::NotFound => json_error(HttpError::not_found()),
        Route::BadRoom(message) => json_error(HttpError::bad_request(message)),
        Route::Room(room) if is_websocket_upgrade(&req)? => join(req, &env, &room).await,
        Route::Room(_) => serve(&assets::ROOM_PAGE),
        Route::RoomInfo(room) => {
            if let Err(e) = load_config(&env) {
                return config_error(&e);
            }
            room_stub(&env, &room)?.fetch_with_request(req).await
        }
    }
}

/// Checks a join and hands it to the room's object, which answers with the WebSocket.
async fn join(req: Request, env: &Env, room: &RoomId) -> Result<Response> {
    let config = match load_config(env) {
        Ok(config) => config,
        Err(e) => return config_error(&e),
    };
    let raw_url = req.inner().url();
    let (own_origin, query) = origin_and_query(&raw_url);

    let origin = req.headers().get("Origin")?;
    if !origin_allowed(origin.as_deref(), own_origin, &config.allowed_origins) {
        return refuse_http(env, room, "forbidden_origin", HttpError::forbidden_origin());
    }

    let pairs = query_pairs(query);
    let mut params =
        match JoinParams::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())), &config) {
            Ok(params) => params,
            Err(message) => {
                return refuse_http(env, room, "bad_request", HttpError::bad_request(message))
            }
        };

    if let Some(secret) = &config.auth_secret {
        let now_s = Date::now().as_millis() / 1000;
        match auth::verify(
            params.token.as_deref(),
            secret.as_bytes(),
            room,
            params.peer.as_ref(),
            now_s,
        ) {
            Ok(claims) => {
                if let Some(peer) = claims.peer {
                    params.peer = Some(PeerId::parse(&peer).map_err(worker::Error::RustError)?);
                }
            }
            Err(why) => return refuse_unauthorized(env, room, params.peer.as_ref(), why),
        }
    }

    // The object gets the checked join on an internal URL: the id the token fixed, and never
    // the token itself. The request keeps its headers, `Upgrade: websocket` among them.
    let mut forwarded_query = form_urlencoded::Serializer::new(String::new());
    if let Some(peer) = &params.peer {
        forwarded_query.append_pair("peer", peer.as_str());
    }
    if let Some(capacity) = params.capacity {
        forwarded_query.append_pair("capacity", &capacity.to_string());
    }
    if let Some(resume) = &params.resume {
        forwarded_query.append_pair("resume", resume);
    }
    let inner = format!(
        "https://room.internal/rooms/{room}?{}",
        forwarded_query.finish()
    );
    // Built with web_sys: `worker::RequestInit` would link serializers for every `cf` option.
    // The new request copies the headers at construction.
    let init = worker::web_sys::RequestInit::new();
    init.set_method("GET");
    init.set_headers(&req.inner().headers());
    let forwarded = worker::web_sys::Request::new_with_str_and_init(&inner, &init)?;
    room_stub(env, room)?
        .fetch_with_request(Request::from(forwarded))
        .await
}

/// An HTTP refusal of a join (400, 403), with its log line.
fn refuse_http(
    env: &Env,
    room: &RoomId,
    reason: &str,
    error: (u16, HttpError),
) -> Result<Response> {
    record_reject(env, room, reason, error.0);
    console_log!(
        "{}",
        log_line(
            "reject",
            room.as_str(),
            None,
            Some(reason),
            None,
            Some(error.0)
        )
    );
    json_error(error)
}

/// `unauthorized` then close 4003, on a socket the Worker accepts itself: a join without a
/// valid token never reaches a room.
fn refuse_unauthorized(
    env: &Env,
    room: &RoomId,
    peer: Option<&PeerId>,
    why: auth::AuthError,
) -> Result<Response> {
    let err = RoomError::Unauthorized(why.as_str().to_owned());
    let code = err.close_code().expect("unauthorized closes");
    record_reject(env, room, "unauthorized", code);
    console_log!(
        "{}",
        log_line(
            "reject",
            room.as_str(),
            peer.map(PeerId::as_str),
            Some("unauthorized"),
            Some(code),
            None
        )
    );
    let WebSocketPair { client, server } = WebSocketPair::new()?;
    server.accept()?;
    server.send_with_str(err.to_message().to_frame())?;
    server.close(Some(code), Some("unauthorized"))?;
    Response::from_websocket(client)
}

/// A reject the Worker made before any room: an Analytics Engine data point (peers 0: the room
/// was not asked), when the `ANALYTICS` binding exists.
fn record_reject(env: &Env, room: &RoomId, reason: &str, code: u16) {
    if let Ok(dataset) = env.analytics_engine(ANALYTICS_BINDING) {
        write_data_point(
            &dataset,
            &analytics::data_point("reject", room.as_str(), Some(reason), Some(code), 0),
        );
    }
}

/// Writes one data point; a failure is logged, never fatal (observability must not break joins).
pub fn write_data_point(dataset: &AnalyticsEngineDataset, point: &analytics::DataPoint) {
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

fn serve(asset: &Asset) -> Result<Response> {
    let mut resp = Response::ok(asset.body)?;
    let headers = resp.headers_mut();
    headers.set("Content-Type", asset.content_type)?;
    for (name, value) in assets::SECURITY_HEADERS {
        headers.set(name, value)?;
    }
    Ok(resp)
}

fn room_stub(env: &Env, room: &RoomId) -> Result<worker::Stub> {
    env.durable_object(ROOMS_BINDING)?
        .id_from_name(room.as_str())?
        .get_stub()
}

pub fn is_websocket_upgrade(req: &Request) -> Result<bool> {
    Ok(req
        .headers()
        .get("Upgrade")?
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket")))
}

thread_local! {
    /// The settings, read once per isolate: they cannot change without a new deployment (and
    /// so a new isolate), and parsing `ICE_SERVERS` on every join would be wasted work.
    static CONFIG: std::cell::OnceCell<std::result::Result<Config, ConfigError>> = const { std::cell::OnceCell::new() };
}

/// Every setting. `env.var` also reads secrets (both are plain string bindings).
pub fn load_config(env: &Env) -> std::result::Result<Config, ConfigError> {
    CONFIG.with(|cell| {
        cell.get_or_init(|| Config::from_lookup(|name| env.var(name).ok().map(|v| v.to_string())))
            .clone()
    })
}

pub fn config_error(e: &ConfigError) -> Result<Response> {
    console_error!("{e}");
    json_error(HttpError::config(e.to_string()))
}

pub fn json_error((status, body): (u16, HttpError)) -> Result<Response> {
    Ok(Response::from_json(&body)?.with_status(status))
}
