//! The Worker: the stateless front door. It answers what needs no room (the room page, `/healthz`,
//! 400s, 403s, 404s, 429s) itself, and checks every join — address rate, room name, origin,
//! peer id, capacity, token — before any Durable Object is touched, so a malformed or hostile
//! request costs no object. What passes is handed to the room's object as a [`Handoff`].

use wasm_bindgen::JsValue;
use worker::{event, Context, Env, Request, Response, Result, WebSocketPair};

use super::{
    config_error, glue, http_error, load_config, now_ms, random_bytes, record, turn_client,
};
use super::{
    ANALYTICS_BINDING, ASSETS_BINDING, JOIN_LIMITER_BINDING, PEERS_BINDING, ROOMS_BINDING,
};
use crate::auth;
use crate::config::Config;
use crate::error::{close, HttpError, RoomError};
use crate::observe::Observation;
use crate::peerjs::{self, ObjectRequest};
use crate::protocol::Wire;
use crate::protocol::{PeerId, RoomId};
use crate::request::{
    check_matchbox_query, group_object_name, lobby_object_name, object_name, origin_allowed,
    origin_and_query, query_pairs, Handoff, JoinParams, Route, HANDOFF_HEADER, SUBPROTOCOL,
};

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    match Route::parse(req.method().as_ref(), &req.path()) {
        Route::Health => Response::ok("ok"),
        Route::NotFound => http_error(&HttpError::not_found()),
        Route::BadRoom(message) => http_error(&HttpError::bad_request(message)),
        Route::Room(room) if is_websocket_upgrade(&req)? => join(req, &env, &room).await,
        Route::Room(_) => room_page(req, &env).await,
        Route::RoomInfo(room) => room_info(&req, &env, Wire::V1, room).await,
        Route::JoinCheck(room) => check_join(&req, &env, &room).await,
        Route::IceServers(room) => ice_servers(&req, &env, IceFor::Room(&room)).await,
        Route::PeerJs if is_websocket_upgrade(&req)? => join_peerjs(req, &env).await,
        Route::PeerJs => http_error(&HttpError::bad_request(
            "the PeerJS endpoint takes WebSocket upgrades only",
        )),
        Route::PeerJsId(_) => peerjs_id(&req, &env).await,
        Route::PeerJsPeers(key) => peerjs_peers(&req, &env, &key).await,
        Route::PeerJsIceServers(key) => ice_servers(&req, &env, IceFor::PeerJs(&key)).await,
        Route::Matchbox(room) if is_websocket_upgrade(&req)? => {
            join_matchbox(req, &env, &room).await
        }
        Route::Matchbox(_) => http_error(&HttpError::bad_request(
            "the matchbox endpoint takes WebSocket upgrades only",
        )),
        Route::MatchboxInfo(room) => room_info(&req, &env, Wire::Matchbox, room).await,
    }
}

/// `GET /api/rooms/{room}` (or `/api/matchbox/{room}`): the room's count, from its object,
/// counted against the join rate.
async fn room_info(req: &Request, env: &Env, wire: Wire, room: RoomId) -> Result<Response> {
    if let Err(e) = load_config(env) {
        return config_error(&e);
    }
    if !within_join_rate(req, env).await? {
        return http_error(&HttpError::too_many_requests());
    }
    let name = object_name(wire, &room);
    hand_off(env, &name, &Handoff::Info { room }, req).await
}

/// The join checks the Worker makes before an upgrade, answered over plain HTTP: 200
/// `{"ok":true}` or the refusal the upgrade would get (400, 403, 429, 500). Readable from any
/// origin: it tells nothing beyond what the upgrade's status would.
async fn check_join(req: &Request, env: &Env, room: &RoomId) -> Result<Response> {
    let mut response = match join_checks(req, env, room).await? {
        Ok(_) => {
            let mut ok = Response::ok(r#"{"ok":true}"#)?;
            ok.headers_mut().set("Content-Type", "application/json")?;
            ok
        }
        Err(refusal) => refusal,
    };
    response
        .headers_mut()
        .set("Access-Control-Allow-Origin", "*")?;
    Ok(response)
}

/// Whose ICE servers are asked for: a room's, or a PeerJS key's.
enum IceFor<'a> {
    Room(&'a RoomId),
    PeerJs(&'a RoomId),
}

/// `GET /api/rooms/{room}/ice-servers` and `GET /peerjs/{key}/ice-servers?id=..`:
/// `{"iceServers":[...]}`, minted now as a `welcome`'s are (the TURN username names the
/// token's peer, or a random id), for apps whose signaling has no place for them. On a signed
/// deployment it needs the room's token, or the PeerJS token of `id` on the key (`?token=` or
/// `Authorization: Bearer`), else 401. Readable from any origin; counted against the join rate.
async fn ice_servers(req: &Request, env: &Env, asker: IceFor<'_>) -> Result<Response> {
    let response = async {
        if !within_join_rate(req, env).await? {
            return http_error(&HttpError::too_many_requests());
        }
        let config = match load_config(env) {
            Ok(config) => config,
            Err(e) => return config_error(&e),
        };
        let raw_url = req.inner().url();
        let pairs = query_pairs(origin_and_query(&raw_url).1);
        let bearer = req.headers().get("Authorization")?;
        let token = pairs
            .iter()
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v.clone())
            .or_else(|| bearer.and_then(|b| b.strip_prefix("Bearer ").map(str::to_owned)));
        let checked = match asker {
            IceFor::Room(room) => {
                let mut params = JoinParams {
                    token,
                    ..JoinParams::default()
                };
                check_token(&config, room, &mut params).map(|()| params.peer)
            }
            IceFor::PeerJs(key) => match &config.auth_secret {
                None => Ok(None),
                Some(secret) => {
                    let id = pairs
                        .iter()
                        .find(|(k, _)| k == "id")
                        .map(|(_, v)| v.as_str());
                    auth::verify_peerjs(
                        token.as_deref(),
                        secret.as_bytes(),
                        key.as_str(),
                        id.unwrap_or_default(),
                        now_ms() / 1000,
                    )
                    // PeerJS ids may hold spaces, which TURN usernames had better not.
                    .map(|claims| claims.peer.and_then(|p| PeerId::parse(&p).ok()))
                }
            },
        };
        let peer = match checked {
            Ok(peer) => peer,
            Err(why) => return http_error(&HttpError::unauthorized(why.as_str())),
        };
        let peer = match peer {
            Some(peer) => peer,
            None => PeerId::from_random(random_bytes()?),
        };
        let servers = turn_client::ice_servers(&config, &peer).await;
        let mut ok = Response::ok(format!(r#"{{"iceServers":{servers}}}"#))?;
        ok.headers_mut().set("Content-Type", "application/json")?;
        ok.headers_mut().set("Cache-Control", "no-store")?;
        Ok(ok)
    }
    .await?;
    readable_anywhere(response)
}

/// The response with `Access-Control-Allow-Origin: *`.
fn readable_anywhere(mut response: Response) -> Result<Response> {
    response
        .headers_mut()
        .set("Access-Control-Allow-Origin", "*")?;
    Ok(response)
}

/// A PeerJS client's socket (`docs/peerjs.md`): the rate, the settings, the origin, the query
/// (`key`, `id`, `token`) and, when `AUTH_SECRET` is set, the token as a signed PeerJS token;
/// then the peer's own object. A refusal is an upgrade with `ERROR` and a close, as
/// peerjs-server answers, so the client can report why (a refused upgrade tells it nothing).
async fn join_peerjs(req: Request, env: &Env) -> Result<Response> {
    if !within_join_rate(&req, env).await? {
        let msg = "too many joins from this address: try again shortly";
        return refuse_peerjs(env, "rate_limited", msg, close::POLICY_VIOLATION);
    }
    let config = match load_config(env) {
        Ok(config) => config,
        Err(e) => return config_error(&e),
    };
    let raw_url = req.inner().url();
    let (own_origin, query) = origin_and_query(&raw_url);
    let origin = req.headers().get("Origin")?;
    if !origin_allowed(origin.as_deref(), own_origin, &config.allowed_origins) {
        let msg = "this origin may not open sockets here (ALLOWED_ORIGINS)";
        return refuse_peerjs(env, "forbidden_origin", msg, close::POLICY_VIOLATION);
    }
    let pairs = query_pairs(query);
    let join = match peerjs::Join::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
        Ok(join) => join,
        Err(msg) => return refuse_peerjs(env, "bad_request", &msg, close::POLICY_VIOLATION),
    };
    if let Some(secret) = &config.auth_secret {
        let now_s = now_ms() / 1000;
        let verified = auth::verify_peerjs(
            Some(&join.token),
            secret.as_bytes(),
            &join.key,
            &join.id,
            now_s,
        );
        if let Err(why) = verified {
            let msg = format!("unauthorized: {}", why.as_str());
            return refuse_peerjs(env, "unauthorized", &msg, close::UNAUTHORIZED);
        }
    }
    let forwarded = get_with_headers_of(&req, &ObjectRequest::Join.to_url())?;
    let headers = forwarded.headers();
    headers.delete("Sec-WebSocket-Protocol")?;
    headers.set(peerjs::TOKEN_HEADER, &join.token)?;
    env.durable_object(PEERS_BINDING)?
        .id_from_name(&peerjs::object_name(&join.key, &join.id))?
        .get_stub()?
        .fetch_with_request(Request::from(forwarded))
        .await
}

/// `ERROR` with `msg`, then close `code`, on a socket the Worker accepts itself (observed).
fn refuse_peerjs(env: &Env, reason: &str, msg: &str, code: u16) -> Result<Response> {
    let analytics = env.analytics_engine(ANALYTICS_BINDING).ok();
    record(
        analytics.as_ref(),
        &Observation::refusal("peerjs", None, reason, None, Some(code)),
    );
    let WebSocketPair { client, server } = WebSocketPair::new()?;
    server.accept()?;
    server.send_with_str(peerjs::error_frame(msg))?;
    server.close(Some(code), Some(crate::error::close::reason(code)))?;
    Response::from_websocket(client)
}

/// `GET /peerjs/{key}/id`: a fresh id (a v4 UUID, as peerjs-server's), as text.
async fn peerjs_id(req: &Request, env: &Env) -> Result<Response> {
    if !within_join_rate(req, env).await? {
        return readable_anywhere(http_error(&HttpError::too_many_requests())?);
    }
    let mut ok = Response::ok(crate::protocol::uuid_v4(random_bytes()?))?;
    ok.headers_mut().set("Content-Type", "text/plain")?;
    ok.headers_mut().set("Cache-Control", "no-store")?;
    readable_anywhere(ok)
}

/// `GET /peerjs/{key}/peers`: the key's connected ids from its directory object, when
/// `PEERJS_DISCOVERY` is on; 401 otherwise, as peerjs-server answers without `allow_discovery`.
async fn peerjs_peers(req: &Request, env: &Env, key: &RoomId) -> Result<Response> {
    let response = async {
        if !within_join_rate(req, env).await? {
            return http_error(&HttpError::too_many_requests());
        }
        match load_config(env) {
            Err(e) => config_error(&e),
            Ok(config) if !config.peerjs_discovery => http_error(&HttpError::unauthorized(
                "discovery is off (PEERJS_DISCOVERY)",
            )),
            Ok(_) => {
                let mut listed = env
                    .durable_object(PEERS_BINDING)?
                    .id_from_name(&peerjs::directory_name(key.as_str()))?
                    .get_stub()?
                    .fetch_with_str(&ObjectRequest::List.to_url())
                    .await?;
                // The object's response has immutable headers: a new one, to add CORS.
                let mut ok = Response::ok(listed.text().await?)?;
                ok.headers_mut().set("Content-Type", "application/json")?;
                ok.headers_mut().set("Cache-Control", "no-store")?;
                Ok(ok)
            }
        }
    }
    .await?;
    readable_anywhere(response)
}

/// Checks a join and hands it to the room's object, which answers with the WebSocket.
async fn join(req: Request, env: &Env, room: &RoomId) -> Result<Response> {
    let (config, mut params) = match join_checks(&req, env, room).await? {
        Ok(checked) => checked,
        Err(refusal) => return Ok(refusal),
    };
    if let Err(why) = check_token(&config, room, &mut params) {
        return refuse_unauthorized(env, room, &params, why, Wire::V1);
    }
    let name = object_name(Wire::V1, room);
    hand_off(env, &name, &Handoff::join(room, &params), &req).await
}

/// A matchbox client's join (`docs/matchbox.md`): the same checks, then the room's matchbox
/// object. Its id is assigned there; a token may not name one.
async fn join_matchbox(req: Request, env: &Env, room: &RoomId) -> Result<Response> {
    let (config, mut params) = match join_checks(&req, env, room).await? {
        Ok(checked) => checked,
        Err(refusal) => return Ok(refusal),
    };
    let raw_url = req.inner().url();
    let pairs = query_pairs(origin_and_query(&raw_url).1);
    let pairs = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    let next = match check_matchbox_query(pairs, &params, &config) {
        Ok(next) => next,
        Err(message) => {
            return refuse_http(env, room, "bad_request", HttpError::bad_request(message))
        }
    };
    match check_token(&config, room, &mut params) {
        Err(why) => return refuse_unauthorized(env, room, &params, why, Wire::Matchbox),
        Ok(()) if params.peer.is_some() => {
            let why = auth::AuthError::WrongPeer; // matchbox ids are assigned, never named
            return refuse_unauthorized(env, room, &params, why, Wire::Matchbox);
        }
        Ok(()) => {}
    }
    match next {
        None => {
            let name = object_name(Wire::Matchbox, room);
            hand_off(env, &name, &Handoff::join(room, &params), &req).await
        }
        Some(n) => join_group(env, room, n, params.subprotocol, &req).await,
    }
}

/// matchbox's `next=N` (docs/matchbox.md): the room's lobby object names the group forming,
/// and the join goes to that group's object, which alone decides whether it takes the peer. A
/// group that has been full answers 409; the lobby is told and names the next. Two object
/// requests per join, none per message.
async fn join_group(
    env: &Env,
    room: &RoomId,
    n: u32,
    subprotocol: bool,
    req: &Request,
) -> Result<Response> {
    let lobby = lobby_object_name(room, n);
    let handoff = Handoff::Join {
        room: room.clone(),
        peer: None,
        capacity: Some(n),
        resume: None,
        subprotocol,
        group: true,
    };
    let mut group = forming_group(env, &lobby, None).await?;
    // A few tries: only groups filling under this very join make it go round again.
    for _ in 0..8 {
        let response = hand_off(env, &group_object_name(room, n, group), &handoff, req).await?;
        if response.status_code() != HttpError::group_closed().status {
            return Ok(response);
        }
        group = forming_group(env, &lobby, Some(group)).await?;
    }
    http_error(&HttpError::busy())
}

/// The group the lobby object `lobby` says is forming (after `closed`, when given).
async fn forming_group(env: &Env, lobby: &str, closed: Option<u64>) -> Result<u64> {
    let (url, _) = Handoff::Lobby { closed }.to_request();
    let text = env
        .durable_object(ROOMS_BINDING)?
        .id_from_name(lobby)?
        .get_stub()?
        .fetch_with_str(&url)
        .await?
        .text()
        .await?;
    text.parse()
        .map_err(|_| worker::Error::RustError(format!("lobby {lobby} answered {text:?}")))
}

/// Every check of a join made over HTTP, in order — the address's rate first (a join over it
/// costs nothing further), then the settings, the origin and the query: the settings and the
/// checked query, or the refusal to answer with (observed).
async fn join_checks(
    req: &Request,
    env: &Env,
    room: &RoomId,
) -> Result<std::result::Result<(Config, JoinParams), Response>> {
    if !within_join_rate(req, env).await? {
        return refuse_http(env, room, "rate_limited", HttpError::too_many_requests()).map(Err);
    }
    let config = match load_config(env) {
        Ok(config) => config,
        Err(e) => return config_error(&e).map(Err),
    };
    let raw_url = req.inner().url();
    let (own_origin, query) = origin_and_query(&raw_url);
    let origin = req.headers().get("Origin")?;
    if !origin_allowed(origin.as_deref(), own_origin, &config.allowed_origins) {
        let refusal = HttpError::forbidden_origin();
        return refuse_http(env, room, "forbidden_origin", refusal).map(Err);
    }
    let pairs = query_pairs(query);
    let protocols = req.headers().get("Sec-WebSocket-Protocol")?;
    let parsed = JoinParams::parse(
        pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        protocols.as_deref(),
        &config,
    );
    match parsed {
        Ok(params) => Ok(Ok((config, params))),
        Err(message) => {
            refuse_http(env, room, "bad_request", HttpError::bad_request(message)).map(Err)
        }
    }
}

/// With `AUTH_SECRET` set, the token must be valid for this room (and peer); the id it names
/// becomes the join's.
fn check_token(
    config: &Config,
    room: &RoomId,
    params: &mut JoinParams,
) -> std::result::Result<(), auth::AuthError> {
    let Some(secret) = &config.auth_secret else {
        return Ok(());
    };
    let claims = auth::verify(
        params.token.as_deref(),
        secret.as_bytes(),
        room,
        params.peer.as_ref(),
        now_ms() / 1000,
    )?;
    if let Some(peer) = claims.peer {
        // `verify` checked the claim against the id alphabet.
        params.peer = PeerId::parse(&peer).ok();
    }
    Ok(())
}

/// Sends `handoff` to the object `name` on an internal request that keeps the client's headers
/// (`Upgrade: websocket` among them) but not its secrets: the `Sec-WebSocket-Protocol` entries
/// are dropped, and what the object needs travels in the handoff.
async fn hand_off(env: &Env, name: &str, handoff: &Handoff, req: &Request) -> Result<Response> {
    let (url, header) = handoff.to_request();
    let forwarded = get_with_headers_of(req, &url)?;
    let headers = forwarded.headers();
    headers.delete("Sec-WebSocket-Protocol")?;
    if let Some(header) = &header {
        headers.set(HANDOFF_HEADER, header)?;
    }
    env.durable_object(ROOMS_BINDING)?
        .id_from_name(name)?
        .get_stub()?
        .fetch_with_request(Request::from(forwarded))
        .await
}

/// A `GET` of `url` with a copy of `req`'s headers (the copy may be edited). Built with web_sys:
/// `worker::RequestInit` would link serializers for every `cf` option (~20 KB of wasm).
fn get_with_headers_of(req: &Request, url: &str) -> Result<worker::web_sys::Request> {
    let init = worker::web_sys::RequestInit::new();
    init.set_method("GET");
    init.set_headers(&req.inner().headers());
    Ok(worker::web_sys::Request::new_with_str_and_init(url, &init)?)
}

/// Whether the client's address (`CF-Connecting-IP`, set by Cloudflare's edge and by wrangler
/// dev) is within the `JOIN_LIMITER` binding's rate; always true without the binding.
async fn within_join_rate(req: &Request, env: &Env) -> Result<bool> {
    let binding = worker::js_sys::Reflect::get(env.as_ref(), &JsValue::from(JOIN_LIMITER_BINDING))
        .unwrap_or(JsValue::UNDEFINED);
    if binding.is_undefined() {
        return Ok(true);
    }
    let address = req.headers().get("CF-Connecting-IP")?.unwrap_or_default();
    Ok(glue::within_rate_limit(&binding, &address).await)
}

/// An HTTP refusal of a join (400, 403, 429), observed.
fn refuse_http(env: &Env, room: &RoomId, reason: &str, error: HttpError) -> Result<Response> {
    let analytics = env.analytics_engine(ANALYTICS_BINDING).ok();
    record(
        analytics.as_ref(),
        &Observation::refusal(room.as_str(), None, reason, Some(error.status), None),
    );
    http_error(&error)
}

/// `unauthorized` then close 4003, on a socket the Worker accepts itself: a join without a
/// valid token never reaches a room. The answer selects the subprotocol if the client offered
/// it, or a browser would fail the upgrade and never see the 4003.
fn refuse_unauthorized(
    env: &Env,
    room: &RoomId,
    params: &JoinParams,
    why: auth::AuthError,
    wire: Wire,
) -> Result<Response> {
    let err = RoomError::Unauthorized(why.as_str().to_owned());
    let code = err.close_code().expect("unauthorized closes");
    let analytics = env.analytics_engine(ANALYTICS_BINDING).ok();
    let peer = params.peer.as_ref().map(PeerId::as_str);
    record(
        analytics.as_ref(),
        &Observation::refusal(room.as_str(), peer, "unauthorized", None, Some(code)),
    );
    let WebSocketPair { client, server } = WebSocketPair::new()?;
    server.accept()?;
    if let Some(frame) = wire.render(&err.to_message()) {
        server.send_with_str(frame)?;
    }
    server.close(Some(code), Some(crate::error::close::reason(code)))?;
    let mut response = Response::from_websocket(client)?;
    if params.subprotocol {
        response
            .headers_mut()
            .set("Sec-WebSocket-Protocol", SUBPROTOCOL)?;
    }
    Ok(response)
}

/// The room page (`public/room.html`, which reads the room from its own URL), from the static
/// assets: with its headers from `public/_headers`, and 304 when the request's `If-None-Match`
/// names it, since the request's headers go along.
async fn room_page(req: Request, env: &Env) -> Result<Response> {
    // By string, not `req.url()`: the `url` crate would link its IDNA tables (~70 KB of wasm).
    let raw_url = req.inner().url();
    let (own_origin, _) = origin_and_query(&raw_url);
    let page = get_with_headers_of(&req, &format!("{own_origin}/room"))?;
    env.assets(ASSETS_BINDING)?
        .fetch_request(Request::from(page))
        .await
}

fn is_websocket_upgrade(req: &Request) -> Result<bool> {
    Ok(req
        .headers()
        .get("Upgrade")?
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket")))
}
