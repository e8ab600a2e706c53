//! The Worker: the stateless front door. It answers what needs no room (pages, `/healthz`, 400s
//! and 404s) itself, and checks every join — room name, peer id, capacity — before any Durable
//! Object is touched, so a malformed request costs no object.

use worker::{console_error, event, Context, Env, Request, Response, Result};

use crate::assets::{self, Asset};
use crate::config::{Config, ConfigError};
use crate::protocol::RoomId;
use crate::request::{HttpError, JoinParams, Route};

/// The binding of the `RoomObject` namespace in wrangler.toml.
pub const ROOMS_BINDING: &str = "ROOMS";

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

/// Checks the join's query, then hands the request (with its `Upgrade` header) to the room's
/// object, which answers with the WebSocket.
async fn join(req: Request, env: &Env, room: &RoomId) -> Result<Response> {
    let config = match load_config(env) {
        Ok(config) => config,
        Err(e) => return config_error(&e),
    };
    let url = req.url()?;
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    if let Err(message) =
        JoinParams::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())), &config)
    {
        return json_error(HttpError::bad_request(message));
    }
    room_stub(env, room)?.fetch_with_request(req).await
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

/// Reads every setting. `env.var` also reads secrets (both are plain string bindings).
pub fn load_config(env: &Env) -> std::result::Result<Config, ConfigError> {
    Config::from_lookup(|name| env.var(name).ok().map(|v| v.to_string()))
}

pub fn config_error(e: &ConfigError) -> Result<Response> {
    console_error!("{e}");
    json_error(HttpError::config(e.to_string()))
}

pub fn json_error((status, body): (u16, HttpError)) -> Result<Response> {
    Ok(Response::from_json(&body)?.with_status(status))
}
