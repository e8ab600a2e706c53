//! The Worker: the stateless front door. It answers what needs no object (the room page,
//! `/healthz`, refusals, 404s) itself, and puts every request that reaches an object through
//! one gate first, in one order — the address's rate, the settings, the origin (for endpoints
//! that open sockets), the endpoint's query, the token — so a malformed or hostile request costs
//! no object. A refusal is one [`Refusal`], rendered as its endpoint answers ([`Form`]). What
//! passes is handed to its object as a [`Handoff`] (rooms, namespaces) or a PeerJS join.

use worker::{event, Context, Env, Request, Response, Result, WebSocketPair};

use super::join_rate::JoinRate;
use super::{
    config_error, get_text, http_error, load_config, now_ms, random_bytes, record, turn_client,
};
use super::{ANALYTICS_BINDING, ASSETS_BINDING, PEERS_BINDING, ROOMS_BINDING};
use crate::auth;
use crate::config::Config;
use crate::error::{close, HttpError, Refusal};
use crate::lobby::Outcome;
use crate::observe::Observation;
use crate::peer::ObjectRequest;
use crate::protocol::{peerjs, yjs, PeerId, RoomId, Wire};
use crate::request::{
    check_matchbox_query, cors_origin, group_object_name, lobby_object_name, object_name,
    origin_allowed, origin_and_query, query_pairs, Handoff, JoinParams, Route, HANDOFF_HEADER,
    SUBPROTOCOL,
};
use crate::role::Role;

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
    let upgrade = is_websocket_upgrade(&req)?;
    match Route::parse(req.method().as_ref(), &req.path()) {
        Route::Health => Response::ok("ok"),
        Route::Ready => match load_config(&env) {
            Ok(_) => Response::ok("ok"),
            Err(e) => config_error(&e),
        },
        Route::Preflight => preflight(&req, &env).await,
        Route::Admin => admin_api(req, &env).await,
        Route::NotFound => http_error(&HttpError::not_found()),
        Route::BadRoom(message) => http_error(&HttpError::bad_request(message)),
        Route::Room(room) if upgrade => join(req, &env, &room).await,
        Route::Room(_) => room_page(req, &env).await,
        Route::RoomInfo(room) => info(&req, &env, object_name(Wire::V1, &room), room).await,
        Route::JoinCheck(room) => check_join(&req, &env, &room).await,
        Route::IceServers(room) => ice_servers(&req, &env, IceFor::Room(&room)).await,
        Route::PeerJs if upgrade => join_peerjs(req, &env).await,
        Route::PeerJsId(_) => peerjs_id(&req, &env).await,
        Route::PeerJsPeers(key) => peerjs_peers(&req, &env, &key).await,
        Route::PeerJsIceServers(key) => ice_servers(&req, &env, IceFor::PeerJs(&key)).await,
        Route::Matchbox(room) if upgrade => join_matchbox(req, &env, &ctx, &room).await,
        Route::MatchboxIceServers(room) => ice_servers(&req, &env, IceFor::Matchbox(&room)).await,
        Route::MatchboxInfo(room) => {
            info(&req, &env, object_name(Wire::Matchbox, &room), room).await
        }
        Route::Yjs(namespace) if upgrade => join_yjs(req, &env, &namespace).await,
        Route::YjsInfo(namespace) => {
            let name = Role::Topics {
                namespace: namespace.clone(),
            }
            .object_name();
            info(&req, &env, name, namespace).await
        }
        Route::YjsIceServers(namespace) => ice_servers(&req, &env, IceFor::Yjs(&namespace)).await,
        Route::PeerJs => upgrades_only("PeerJS"),
        Route::Matchbox(_) => upgrades_only("matchbox"),
        Route::Yjs(_) => upgrades_only("y-webrtc"),
    }
}

/// 400 for a plain request to a socket endpoint.
fn upgrades_only(protocol: &str) -> Result<Response> {
    let message = format!("the {protocol} endpoint takes WebSocket upgrades only");
    http_error(&HttpError::bad_request(message))
}

// ==== The gate ==============================================================================

/// How an endpoint answers a refusal.
#[derive(Clone, Copy)]
enum Form {
    /// An HTTP error (`Refusal::http`).
    Http,
    /// The same, readable from any origin (`Access-Control-Allow-Origin: *`): the join check,
    /// which says only what the upgrade's status would.
    HttpAnyOrigin,
    /// The same, readable by the origins that may use this server (`cors_origin`): endpoints
    /// that mint or reveal something.
    Cors,
    /// A v1 or matchbox upgrade: HTTP errors, but a refused token is an accepted socket with
    /// the protocol's `unauthorized` error (if it has one) and close 4003, selecting the
    /// subprotocol if it was offered (a browser sees nothing of a refused upgrade).
    Room { wire: Wire, subprotocol: bool },
    /// A PeerJS socket: accepted, `ERROR` and a close, as peerjs-server answers.
    PeerJs,
    /// A y-webrtc socket: accepted, an `error` frame and a close (`docs/yjs.md`).
    Yjs,
}

/// What passed the gate: the settings, the decoded query, and the `Access-Control-Allow-Origin`
/// of the answer, if other origins may read it.
struct Passed {
    config: std::rc::Rc<Config>,
    pairs: Vec<(String, String)>,
    cors: Option<String>,
}

impl Passed {
    fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.pairs().find(|(k, _)| *k == name).map(|(_, v)| v)
    }
}

/// The gate's common part, in its order: the address's rate (a request over it costs nothing
/// further), the settings, and, for endpoints that open sockets or mint or reveal anything, the
/// origin (`ALLOWED_ORIGINS`).
async fn gate(
    req: &Request,
    env: &Env,
    check_origin: bool,
) -> Result<std::result::Result<Passed, Refusal>> {
    // The binding before the settings: a request over the rate costs nothing further.
    if let Some(binding) = JoinRate::binding(env) {
        let limit = JoinRate::Binding(binding);
        let client = req.headers().get("CF-Connecting-IP")?.unwrap_or_default();
        if !limit.allows(&client).await {
            return Ok(Err(Refusal::RateLimited));
        }
    }
    let config = match load_config(env) {
        Ok(config) => config,
        Err(e) => return Ok(Err(Refusal::Config(e.to_string()))),
    };
    let limit = JoinRate::of(env, &config);
    if let JoinRate::Node(_) = limit {
        let client = limit.client(req.headers(), &config)?;
        if limit.allows_now(&client) == Some(false) {
            return Ok(Err(Refusal::RateLimited));
        }
    }
    let raw_url = req.inner().url();
    let (url_origin, query) = origin_and_query(&raw_url);
    // The URL's host is the client's `Host` header: PUBLIC_ORIGIN, where set, is the truth.
    let own_origin = config.public_origin.as_deref().unwrap_or(url_origin);
    let origin = req.headers().get("Origin")?;
    if check_origin && !origin_allowed(origin.as_deref(), own_origin, &config.allowed_origins) {
        return Ok(Err(Refusal::ForbiddenOrigin));
    }
    let cors = cors_origin(origin.as_deref(), own_origin, &config.allowed_origins);
    let pairs = query_pairs(query);
    Ok(Ok(Passed {
        config,
        pairs,
        cors,
    }))
}

/// `OPTIONS` on an endpoint other origins may read: the CORS preflight of a `fetch` that sends
/// `Authorization: Bearer` (204), or 403 for an origin outside `ALLOWED_ORIGINS`.
async fn preflight(req: &Request, env: &Env) -> Result<Response> {
    let passed = match gate(req, env, true).await? {
        Ok(passed) => passed,
        Err(refusal) => return refuse(env, refusal, Form::Http, "preflight", None),
    };
    let mut ok = Response::empty()?.with_status(204);
    let headers = ok.headers_mut();
    headers.set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")?;
    headers.set("Access-Control-Allow-Headers", "Authorization")?;
    headers.set("Access-Control-Max-Age", "86400")?;
    cors(ok, passed.cors.as_deref())
}

/// Renders `refusal` as `form` answers, observed under `subject` (a room, a namespace, or
/// "peerjs") and `peer`.
fn refuse(
    env: &Env,
    refusal: Refusal,
    form: Form,
    subject: &str,
    peer: Option<&str>,
) -> Result<Response> {
    let analytics = env.analytics_engine(ANALYTICS_BINDING).ok();
    let reason = refusal.code();
    if let Refusal::Config(message) = &refusal {
        worker::console_error!("{message}");
    }
    let socket_frame: Option<String> = match (&refusal, form) {
        (Refusal::Config(_), _) | (_, Form::Http | Form::HttpAnyOrigin | Form::Cors) => None,
        (Refusal::Unauthorized(why), Form::Room { wire, .. }) => Some(
            wire.render(&crate::error::RoomError::Unauthorized((*why).to_owned()).to_message())
                .unwrap_or_default(),
        ),
        (_, Form::Room { .. }) => None,
        (_, Form::PeerJs) => Some(peerjs::error_frame(&refusal.message())),
        (_, Form::Yjs) => Some(yjs::error_frame(reason, &refusal.message())),
    };
    let Some(frame) = socket_frame else {
        let error = refusal.http();
        record(
            analytics.as_ref(),
            &Observation::refusal(subject, peer, reason, Some(error.status), None),
        );
        let response = http_error(&error)?;
        return match form {
            Form::HttpAnyOrigin => cors(response, Some("*")),
            // Refused before the origin was known to be allowed: readable by nobody else.
            _ => Ok(response),
        };
    };
    let code = refusal.close_code();
    record(
        analytics.as_ref(),
        &Observation::refusal(subject, peer, reason, None, Some(code)),
    );
    let WebSocketPair { client, server } = WebSocketPair::new()?;
    server.accept()?;
    if !frame.is_empty() {
        server.send_with_str(frame)?;
    }
    server.close(Some(code), Some(close::reason(code)))?;
    let mut response = Response::from_websocket(client)?;
    if let Form::Room {
        subprotocol: true, ..
    } = form
    {
        response
            .headers_mut()
            .set("Sec-WebSocket-Protocol", SUBPROTOCOL)?;
    }
    Ok(response)
}

/// The token of an HTTP endpoint: `?token=` or `Authorization: Bearer`.
fn bearer_or_query(req: &Request, passed: &Passed) -> Result<Option<String>> {
    if let Some(token) = passed.get("token") {
        return Ok(Some(token.to_owned()));
    }
    let bearer = req.headers().get("Authorization")?;
    Ok(bearer.and_then(|b| b.strip_prefix("Bearer ").map(str::to_owned)))
}

/// With `AUTH_SECRET` set, the room token must be valid for this room (and peer); the id it
/// names becomes the join's.
/// On a signed deployment, the join's token: it must be valid for `room` (and the asked id, if
/// any); its `peer` claim fixes the id, and its `meta` claim is the peer's metadata, the only
/// source of it there (a `?meta=` is a 400).
fn check_room_token(
    config: &Config,
    room: &RoomId,
    params: &mut JoinParams,
) -> std::result::Result<(), Refusal> {
    signed_meta(config, params)?;
    let Some(secret) = &config.auth_secret else {
        return Ok(());
    };
    let claims = auth::verify(
        params.token.as_deref(),
        secret.as_bytes(),
        room,
        params.peer.as_ref(),
        now_ms() / 1000,
    )
    .map_err(|why| Refusal::Unauthorized(why.as_str()))?;
    if let Some(claimed) = claims.peer {
        // `verify` checked the claim against the id alphabet.
        params.peer = PeerId::parse(&claimed).ok();
    }
    params.meta = match &claims.meta {
        Some(meta) => crate::meta::Meta::parse(meta.get())
            .map_err(|bad| Refusal::BadRequest(format!("the token's {bad}")))?,
        None => None,
    };
    Ok(())
}

/// A `?meta=` on a signed deployment, where a peer's metadata comes from its token alone: a 400
/// on the upgrade and on its HTTP check (which sees no token), before the token is looked at.
fn signed_meta(config: &Config, params: &JoinParams) -> std::result::Result<(), Refusal> {
    if config.auth_secret.is_some() && params.meta_given {
        return Err(Refusal::BadRequest(
            "on a signed deployment a peer's metadata comes from its token's `meta` claim, \
             not `?meta=`"
                .into(),
        ));
    }
    Ok(())
}

// ==== Rooms (protocol v1) and matchbox rooms =================================================

/// `GET /api/rooms/{room}`, `/api/matchbox/{room}`, `/api/yjs/{namespace}`: the count, from
/// the object `name`.
async fn info(req: &Request, env: &Env, name: String, room: RoomId) -> Result<Response> {
    if let Err(refusal) = gate(req, env, false).await? {
        return refuse(env, refusal, Form::Http, room.as_str(), None);
    }
    hand_off(env, &name, &Handoff::Info { room }, req).await
}

/// The gate of a room join, up to its query: the settings and the checked query.
async fn room_gate(
    req: &Request,
    env: &Env,
) -> Result<std::result::Result<(Passed, JoinParams), Refusal>> {
    let passed = match gate(req, env, true).await? {
        Ok(passed) => passed,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let protocols = req.headers().get("Sec-WebSocket-Protocol")?;
    Ok(
        match JoinParams::parse(passed.pairs(), protocols.as_deref(), &passed.config) {
            Ok(params) => Ok((passed, params)),
            Err(e) => Err(Refusal::BadRequest(e.to_string())),
        },
    )
}

/// The join checks the Worker makes before an upgrade, answered over plain HTTP: 200
/// `{"ok":true}` or the refusal the upgrade would get (400, 403, 429, 500). Readable from any
/// origin: it tells nothing beyond what the upgrade's status would.
async fn check_join(req: &Request, env: &Env, room: &RoomId) -> Result<Response> {
    let checked = room_gate(req, env).await?;
    match checked.and_then(|(passed, params)| signed_meta(&passed.config, &params)) {
        Ok(()) => {
            let mut ok = Response::ok(r#"{"ok":true}"#)?;
            ok.headers_mut().set("Content-Type", "application/json")?;
            cors(ok, Some("*"))
        }
        Err(refusal) => refuse(env, refusal, Form::HttpAnyOrigin, room.as_str(), None),
    }
}

/// Checks a join and hands it to the room's object, which answers with the WebSocket.
async fn join(req: Request, env: &Env, room: &RoomId) -> Result<Response> {
    let (passed, mut params) = match room_gate(&req, env).await? {
        Ok(checked) => checked,
        Err(refusal) => return refuse(env, refusal, Form::Http, room.as_str(), None),
    };
    let form = Form::Room {
        wire: Wire::V1,
        subprotocol: params.subprotocol,
    };
    if let Err(refusal) = check_room_token(&passed.config, room, &mut params) {
        let peer = params.peer.as_ref().map(PeerId::as_str);
        return refuse(env, refusal, form, room.as_str(), peer);
    }
    let name = object_name(Wire::V1, room);
    hand_off(env, &name, &Handoff::join(room, &params), &req).await
}

/// A matchbox client's join (`docs/matchbox.md`): the same gate, then the room's matchbox
/// object. Its id is assigned there; a token may not name one.
async fn join_matchbox(req: Request, env: &Env, ctx: &Context, room: &RoomId) -> Result<Response> {
    let (passed, params) = match room_gate(&req, env).await? {
        Ok(checked) => checked,
        Err(refusal) => return refuse(env, refusal, Form::Http, room.as_str(), None),
    };
    let next = match check_matchbox_query(passed.pairs(), &params, &passed.config) {
        Ok(next) => next,
        Err(message) => {
            let refusal = Refusal::BadRequest(message.to_string());
            return refuse(env, refusal, Form::Http, room.as_str(), None);
        }
    };
    let form = Form::Room {
        wire: Wire::Matchbox,
        subprotocol: params.subprotocol,
    };
    if let Some(secret) = &passed.config.auth_secret {
        // Its own claim space (`matchbox:<room>`), and no id: matchbox ids are assigned.
        let now_s = now_ms() / 1000;
        let verified = auth::verify_matchbox(
            params.token.as_deref(),
            secret.as_bytes(),
            room.as_str(),
            now_s,
        );
        if let Err(why) = verified {
            let refusal = Refusal::Unauthorized(why.as_str());
            return refuse(env, refusal, form, room.as_str(), None);
        }
    }
    match next {
        None => {
            let name = object_name(Wire::Matchbox, room);
            hand_off(env, &name, &Handoff::join(room, &params), &req).await
        }
        Some(n) => join_group(env, ctx, room, n, params.subprotocol, &req).await,
    }
}

/// matchbox's `next=N` (docs/matchbox.md): the lobby object of the room and N picks the group
/// (`crate::lobby`, which spreads joins that arrive together over as many groups as they fill),
/// and the join goes to that group's object, which alone decides whether it takes the peer. The
/// outcome is reported back to the lobby: a group that has been full (409) at once, for the
/// next pick; a seat taken or a failed join after the answer (`wait_until`), so the join does
/// not wait for it. Three object requests per join, none per message.
async fn join_group(
    env: &Env,
    ctx: &Context,
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
        meta: None,
    };
    let mut group = ask_lobby(env, &lobby, None).await?;
    for _ in 0..crate::lobby::TRIES {
        let response = hand_off(env, &group_object_name(room, n, group), &handoff, req).await?;
        let outcome = match response.status_code() {
            101 => {
                let count = response
                    .headers()
                    .get(super::room_object::GROUP_COUNT_HEADER)?;
                let count = count.and_then(|c| c.parse().ok()).unwrap_or(n);
                Outcome::Seated { count }
            }
            409 => Outcome::Closed,
            _ => Outcome::Failed,
        };
        if outcome == Outcome::Closed {
            group = ask_lobby(env, &lobby, Some((group, outcome))).await?;
            continue;
        }
        let (env, lobby) = (env.clone(), lobby.clone());
        ctx.wait_until(async move {
            if let Err(e) = ask_lobby(&env, &lobby, Some((group, outcome))).await {
                worker::console_error!("lobby {lobby}: the report of a join was lost: {e}");
            }
        });
        return Ok(response);
    }
    http_error(&HttpError::busy())
}

/// Tells the lobby object `lobby` what a group answered (if anything) and reads its answer:
/// the group the next join goes to (`0` when it only counted the report).
async fn ask_lobby(env: &Env, lobby: &str, answered: Option<(u64, Outcome)>) -> Result<u64> {
    let (url, _) = Handoff::Lobby { answered }.to_request();
    let text = get_text(env, ROOMS_BINDING, lobby, &url).await?;
    match text.as_str() {
        "ok" => Ok(0),
        _ => text
            .parse()
            .map_err(|_| worker::Error::RustError(format!("lobby {lobby} answered {text:?}"))),
    }
}

// ==== y-webrtc ===============================================================================

/// A y-webrtc client's signaling socket (`docs/yjs.md`): the gate, the namespace's token on a
/// signed deployment (`?token=`: y-webrtc uses the URL as given), then the namespace's object.
async fn join_yjs(req: Request, env: &Env, namespace: &RoomId) -> Result<Response> {
    let passed = match gate(&req, env, true).await? {
        Ok(passed) => passed,
        Err(refusal) => return refuse(env, refusal, Form::Yjs, namespace.as_str(), None),
    };
    if let Some(secret) = &passed.config.auth_secret {
        let token = passed.get("token");
        let verified = auth::verify_yjs(
            token,
            secret.as_bytes(),
            namespace.as_str(),
            now_ms() / 1000,
        );
        if let Err(why) = verified {
            let refusal = Refusal::Unauthorized(why.as_str());
            return refuse(env, refusal, Form::Yjs, namespace.as_str(), None);
        }
    }
    let name = Role::Topics {
        namespace: namespace.clone(),
    }
    .object_name();
    hand_off(env, &name, &Handoff::Topics, &req).await
}

// ==== ICE servers ===========================================================================

/// Whose ICE servers are asked for.
enum IceFor<'a> {
    Room(&'a RoomId),
    Matchbox(&'a RoomId),
    PeerJs(&'a RoomId),
    Yjs(&'a RoomId),
}

/// `GET /api/rooms/{room}/ice-servers`, `/api/matchbox/{room}/ice-servers`,
/// `/peerjs/{key}/ice-servers?id=..` and `/api/yjs/{namespace}/ice-servers`: `{"iceServers":[...]}`, minted now as a `welcome`'s
/// are (the TURN username names the token's peer, or a random id), for apps whose signaling has
/// no place for them. On a signed deployment it needs the room's token (v1 or matchbox, each
/// its own kind), the PeerJS token of `id` on the key, or the namespace's token (`?token=` or `Authorization: Bearer`), else 401.
/// Behind `ALLOWED_ORIGINS` like a socket, and readable by those origins only (by any without
/// a list); counted against the join rate.
async fn ice_servers(req: &Request, env: &Env, asker: IceFor<'_>) -> Result<Response> {
    let subject = match asker {
        IceFor::Room(r) | IceFor::Matchbox(r) | IceFor::PeerJs(r) | IceFor::Yjs(r) => r.as_str(),
    };
    let passed = match gate(req, env, true).await? {
        Ok(passed) => passed,
        Err(refusal) => return refuse(env, refusal, Form::Cors, subject, None),
    };
    let config = &passed.config;
    let token = bearer_or_query(req, &passed)?;
    let now_s = now_ms() / 1000;
    let checked = match (&config.auth_secret, asker) {
        (None, _) => Ok(None),
        (Some(_), IceFor::Room(room)) => {
            let mut params = JoinParams {
                token: token.clone(),
                ..JoinParams::default()
            };
            check_room_token(config, room, &mut params).map(|()| params.peer)
        }
        (Some(secret), IceFor::PeerJs(key)) => {
            let id = passed.get("id").unwrap_or_default();
            auth::verify_peerjs(token.as_deref(), secret.as_bytes(), key.as_str(), id, now_s)
                // PeerJS ids may hold spaces, which TURN usernames had better not.
                .map(|claims| claims.peer.and_then(|p| PeerId::parse(&p).ok()))
                .map_err(|why| Refusal::Unauthorized(why.as_str()))
        }
        (Some(secret), IceFor::Matchbox(room)) => {
            auth::verify_matchbox(token.as_deref(), secret.as_bytes(), room.as_str(), now_s)
                .map(|_| None)
                .map_err(|why| Refusal::Unauthorized(why.as_str()))
        }
        (Some(secret), IceFor::Yjs(namespace)) => auth::verify_yjs(
            token.as_deref(),
            secret.as_bytes(),
            namespace.as_str(),
            now_s,
        )
        .map(|_| None)
        .map_err(|why| Refusal::Unauthorized(why.as_str())),
    };
    let peer = match checked {
        Ok(Some(peer)) => peer,
        Ok(None) => PeerId::from_random(random_bytes()?),
        Err(refusal) => {
            let response = refuse(env, refusal, Form::Cors, subject, None)?;
            return cors(response, passed.cors.as_deref());
        }
    };
    let servers = turn_client::ice_servers(config, &peer).await;
    let mut ok = Response::ok(format!(r#"{{"iceServers":{servers}}}"#))?;
    ok.headers_mut().set("Content-Type", "application/json")?;
    ok.headers_mut().set("Cache-Control", "no-store")?;
    cors(ok, passed.cors.as_deref())
}

/// The response with `Access-Control-Allow-Origin: <allow>` (and `Vary: Origin` when it names
/// one), or as it is without one.
fn cors(mut response: Response, allow: Option<&str>) -> Result<Response> {
    if let Some(allow) = allow {
        let headers = response.headers_mut();
        headers.set("Access-Control-Allow-Origin", allow)?;
        if allow != "*" {
            headers.set("Vary", "Origin")?;
        }
    }
    Ok(response)
}

// ==== PeerJS =================================================================================

/// A PeerJS client's socket (`docs/peerjs.md`): the gate, the query (`key`, `id`, `token`) and,
/// when `AUTH_SECRET` is set, the token as a signed PeerJS token; then the peer's own object.
async fn join_peerjs(req: Request, env: &Env) -> Result<Response> {
    let passed = match gate(&req, env, true).await? {
        Ok(passed) => passed,
        Err(refusal) => return refuse(env, refusal, Form::PeerJs, "peerjs", None),
    };
    let join = match peerjs::Join::parse(passed.pairs()) {
        Ok(join) => join,
        Err(bad) => {
            let refusal = Refusal::BadRequest(bad.to_string());
            return refuse(env, refusal, Form::PeerJs, "peerjs", None);
        }
    };
    if let Some(secret) = &passed.config.auth_secret {
        let now_s = now_ms() / 1000;
        let verified = auth::verify_peerjs(
            Some(&join.token),
            secret.as_bytes(),
            &join.key,
            &join.id,
            now_s,
        );
        if let Err(why) = verified {
            let refusal = Refusal::Unauthorized(why.as_str());
            return refuse(env, refusal, Form::PeerJs, "peerjs", None);
        }
    }
    let forwarded = get_with_headers_of(&req, &ObjectRequest::Join.to_url())?;
    let headers = forwarded.headers();
    headers.delete("Sec-WebSocket-Protocol")?;
    headers.set(crate::peer::TOKEN_HEADER, &join.token)?;
    let name = Role::Peer {
        key: join.key,
        id: join.id,
    }
    .object_name();
    env.durable_object(PEERS_BINDING)?
        .id_from_name(&name)?
        .get_stub()?
        .fetch_with_request(Request::from(forwarded))
        .await
}

/// `GET /peerjs/{key}/id`: a fresh id (a v4 UUID, as peerjs-server's), as text.
async fn peerjs_id(req: &Request, env: &Env) -> Result<Response> {
    let passed = match gate(req, env, true).await? {
        Ok(passed) => passed,
        Err(refusal) => return refuse(env, refusal, Form::Cors, "peerjs", None),
    };
    let mut ok = Response::ok(crate::protocol::uuid_v4(random_bytes()?))?;
    ok.headers_mut().set("Content-Type", "text/plain")?;
    ok.headers_mut().set("Cache-Control", "no-store")?;
    cors(ok, passed.cors.as_deref())
}

/// `GET /peerjs/{key}/peers`: the key's connected ids from its directory object, when
/// `PEERJS_DISCOVERY` is on; 401 otherwise, as peerjs-server answers without `allow_discovery`.
async fn peerjs_peers(req: &Request, env: &Env, key: &RoomId) -> Result<Response> {
    let passed = match gate(req, env, true).await? {
        Ok(passed) => passed,
        Err(refusal) => return refuse(env, refusal, Form::Cors, key.as_str(), None),
    };
    if !passed.config.peerjs_discovery {
        let refusal = Refusal::Unauthorized("discovery is off (PEERJS_DISCOVERY)");
        let response = refuse(env, refusal, Form::Cors, key.as_str(), None)?;
        return cors(response, passed.cors.as_deref());
    }
    let directory = Role::Directory {
        key: key.as_str().to_owned(),
    }
    .object_name();
    let listed = get_text(
        env,
        PEERS_BINDING,
        &directory,
        &ObjectRequest::List.to_url(),
    )
    .await?;
    let mut ok = Response::ok(listed)?;
    ok.headers_mut().set("Content-Type", "application/json")?;
    ok.headers_mut().set("Cache-Control", "no-store")?;
    cors(ok, passed.cors.as_deref())
}

// ==== The admin API ==========================================================================

/// `/api/admin/...` (`crate::admin`): 404 without `ADMIN_SECRET`; then the secret, before
/// anything else is read; then the route, and the operation handed to the room's object.
async fn admin_api(mut req: Request, env: &Env) -> Result<Response> {
    use crate::admin::{self, Miss, Op};
    // The secret first, read as it is bound, before the settings are parsed: without it, a
    // request learns nothing, not even that a setting is bad.
    let Some(secret) = super::env_string(env, "ADMIN_SECRET").filter(|s| !s.is_empty()) else {
        return http_error(&HttpError::not_found());
    };
    let authorization = req.headers().get("Authorization")?;
    if !admin::authorized(authorization.as_deref(), &secret) {
        let message = "the admin API needs the header Authorization: Bearer <ADMIN_SECRET>";
        return http_error(&HttpError::unauthorized(message));
    }
    let config = match load_config(env) {
        Ok(config) => config,
        Err(e) => return config_error(&e),
    };
    let request = match admin::parse(req.method().as_ref(), &req.path()) {
        Ok(request) => request,
        Err(Miss::NotFound) => return http_error(&HttpError::not_found()),
        Err(Miss::BadName(message)) => return http_error(&HttpError::bad_request(message)),
    };
    let body = if request.op == Op::Tell {
        // Refused unread when it says it is too big; checked here, read again by the object.
        let declared = req.headers().get("Content-Length")?;
        let declared = declared.and_then(|n| n.parse::<usize>().ok()).unwrap_or(0);
        if let Some(message) = admin::too_big(declared, config.max_message_bytes) {
            return http_error(&HttpError::bad_request(message));
        }
        let text = req.text().await?;
        if let Err(message) = admin::parse_tell(&text, config.max_message_bytes) {
            return http_error(&HttpError::bad_request(message));
        }
        Some(text)
    } else {
        None
    };
    let name = request.role.object_name();
    let (binding, url) = match (&request.role, request.op) {
        // A PeerJS id's own object (`PeerObject`), which takes a report and a removal.
        (Role::Peer { .. }, op) => {
            let kick = op == Op::Close;
            (PEERS_BINDING, ObjectRequest::Admin { kick }.to_url())
        }
        (
            Role::Room { room, .. } | Role::Group { room, .. } | Role::Topics { namespace: room },
            op,
        ) => {
            let handoff = Handoff::Admin {
                room: room.clone(),
                op,
            };
            (ROOMS_BINDING, handoff.to_request().0)
        }
        _ => return http_error(&HttpError::not_found()),
    };
    let init = worker::web_sys::RequestInit::new();
    init.set_method(if body.is_some() { "POST" } else { "GET" });
    if let Some(body) = &body {
        init.set_body(&body.as_str().into());
    }
    let forwarded = worker::web_sys::Request::new_with_str_and_init(&url, &init)?;
    env.durable_object(binding)?
        .id_from_name(&name)?
        .get_stub()?
        .fetch_with_request(Request::from(forwarded))
        .await
}

// ==== Plumbing ===============================================================================

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
