//! `RoomObject`, the Durable Object of a room (v1 or matchbox), a matchbox group or lobby, or a
//! y-webrtc namespace ([`Role`], read once from its name): the only code that holds their
//! sockets. It translates — upgrade, seat, attach; frame in, actions out; close or error,
//! depart; alarm, sweep — and leaves every decision, the alarm's included, to [`Room`] or
//! [`Topics`]; the actions are carried out by the shared executor (`executor.rs`).
//!
//! Sockets are accepted with the Hibernation API (`State::accept_web_socket`), so an idle room
//! costs nothing: the runtime may evict the object from memory while its sockets stay open, and
//! constructs it again for the next event, which rebuilds the room from the sockets'
//! attachments (`attachment.rs`). Nothing but the sweep alarm is ever written to storage.
//!
//! Exact `{"type":"ping"}` frames are answered by the runtime's auto-response and never reach
//! this object; the time of the last one is read back (`glue::last_auto_response_ms`) when the
//! room sweeps for silent peers.

use std::cell::{Cell, RefCell};

use wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{
    console_error, durable_object, js_sys, web_sys, AnalyticsEngineDataset, DurableObject, Env,
    Request, Response, Result, State, WebSocket, WebSocketPair,
};

use super::attachment::{self, Attachment};
use super::executor::{self, Host};
use super::record;
use super::webhooks::Webhooks;
use super::{alarm, config_error, glue, http_error, load_config, now_ms, random_bytes, random_id};
use super::{turn_client, ANALYTICS_BINDING};
use crate::action::{Outbound, RoomEvent};
use crate::config::{Config, ConfigError};
use crate::error::HttpError;
use crate::lobby::{Lobby, Outcome, Stored};
use crate::observe::Observation;
use crate::protocol::{PeerId, RoomId, PING_FRAME, PONG_FRAME};
use crate::request::{Handoff, RoomInfo, HANDOFF_HEADER, SUBPROTOCOL};
use crate::role::Role;
use crate::room::{Frame, JoinRequest, Room, SweepAlarm};
use crate::topics::{self, Topics};

/// The header of a group's answer to a seated join: how many peers it now holds (read by the
/// Worker and reported to the lobby).
pub const GROUP_COUNT_HEADER: &str = "X-Edge-Signal-Group-Count";

/// What a join asked for, as the Worker handed it over.
struct JoinAsked {
    peer: Option<PeerId>,
    capacity: Option<u32>,
    resume: Option<String>,
    meta: Option<crate::meta::Meta>,
}

/// `#[durable_object(alarm)]` exports the constructor, `fetch` and `alarm` through workers-rs;
/// the three socket handlers are exported below by hand, so that the relay path can be synchronous.
#[durable_object(alarm)]
pub struct RoomObject {
    state: State,
    /// Read once per object instance; a bad value answers 500 to every request.
    config: std::result::Result<std::rc::Rc<Config>, ConfigError>,
    /// Built when the config is valid and the object is a room or group (or a lobby, which
    /// stays empty). Never borrowed across an `.await`.
    room: RefCell<Option<Room<WebSocket>>>,
    /// Built when the config is valid and the object is a y-webrtc namespace.
    topics: RefCell<Option<Topics<WebSocket>>>,
    /// Frames handled, counted only with the `BENCH_COUNTERS` var (see `RoomInfo`).
    frames_handled: Option<Cell<u64>>,
    /// The optional Workers Analytics Engine dataset (`ANALYTICS` binding).
    analytics: Option<AnalyticsEngineDataset>,
    /// The `from` suffixes of relayed frames as JavaScript strings (see [`RoomObject::suffix`]).
    /// A list, not a map: a room has a handful of senders, and hashing code would grow the module.
    suffixes: RefCell<Vec<(String, js_sys::JsString)>>,
    /// For a matchbox group (`next=N`): whether it has been full (then it takes nobody), as
    /// its sockets' attachments say; `None` when only storage can tell (sockets seated before
    /// the mark moved out of storage).
    group_full: Cell<Option<bool>>,
    /// For a matchbox lobby: its groups (`crate::lobby`), loaded from storage by the first
    /// request; `n` is the group size, from the object's name.
    lobby: RefCell<Option<Lobby>>,
    lobby_n: Option<u32>,
    /// What the lobby's storage holds now.
    lobby_stored: Cell<Option<Stored>>,
    /// A room's (or group's) webhooks, when `WEBHOOK_URL` is set.
    webhooks: Option<Webhooks>,
}

impl DurableObject for RoomObject {
    fn new(state: State, env: Env) -> Self {
        executor::auto_respond(&state, PING_FRAME, PONG_FRAME);
        let config = load_config(&env);
        let analytics = env.analytics_engine(ANALYTICS_BINDING).ok();
        let name = state.id().name().unwrap_or_default();
        let role = Role::of(&name);
        let (mut room, mut topics) = (None, None);
        // A group nobody sits in is a new group; one whose sockets say it filled is closed.
        let mut group_full = Some(false);
        match (&config, &role) {
            (Ok(config), Some(Role::Topics { .. })) => {
                let now = now_ms();
                let sockets: Vec<_> = state
                    .get_websockets()
                    .into_iter()
                    .filter_map(|ws| {
                        let att = topics::Attachment::from_text(&attachment::read_text(&ws)?)?;
                        Some((ws, att))
                    })
                    .collect();
                let restored = sockets.len();
                topics = Some(Topics::restore(
                    config.limits(),
                    config.yjs.clone(),
                    sockets,
                    now,
                ));
                if restored > 0 {
                    // As rooms' `room_restored`: after an eviction, at most once per idle period.
                    record(
                        None,
                        &Observation::of_room_size("topics_restored", &name, restored),
                    );
                }
            }
            (Ok(config), _) => {
                let fallback = || random_id().unwrap_or_default();
                let (rebuilt, restored, closed) =
                    attachment::rebuild(&state, config, now_ms(), fallback);
                group_full = match (closed, restored) {
                    (true, _) => Some(true),
                    (false, 0) => Some(false),
                    (false, _) => None,
                };
                // Which protocol this room speaks is part of its object's name.
                let wire = role.as_ref().map_or(Default::default(), Role::wire);
                room = Some(rebuilt.speaking(wire));
                if restored > 0 {
                    // Seen only when the object was evicted while its sockets stayed open and
                    // an event woke it: at most once per idle period.
                    record(
                        None,
                        &Observation::of_room_size("room_restored", &name, restored),
                    );
                }
            }
            (Err(e), _) => console_error!("{e}"),
        }
        // Rooms, groups and namespaces send webhook events (lobbies have none).
        let webhooks = match (&config, &role) {
            (Ok(config), Some(role)) => config.webhook.as_ref().and_then(|hooks| {
                let subject = crate::webhook::subject_of(role)?;
                let present: Vec<String> = match (&room, &topics) {
                    (Some(room), _) => room.seats().iter().map(|s| s.peer.to_string()).collect(),
                    (None, Some(topics)) => topics.sockets().map(|(n, ..)| n.to_string()).collect(),
                    (None, None) => return None,
                };
                let present: Vec<&str> = present.iter().map(String::as_str).collect();
                let sweep_at =
                    (!present.is_empty()).then(|| now_ms() + config.limits().sweep_interval_ms());
                Some(Webhooks::load(&state, hooks, subject, &present, sweep_at))
            }),
            _ => None,
        };
        let counting = env
            .var("BENCH_COUNTERS")
            .is_ok_and(|v| v.to_string() == "1");
        RoomObject {
            state,
            config,
            room: RefCell::new(room),
            topics: RefCell::new(topics),
            frames_handled: counting.then(|| Cell::new(0)),
            analytics,
            suffixes: RefCell::default(),
            group_full: Cell::new(group_full),
            lobby: RefCell::new(None),
            lobby_stored: Cell::new(None),
            webhooks,
            lobby_n: match role {
                Some(Role::Lobby { n, .. }) => Some(n),
                _ => None,
            },
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let config = match &self.config {
            Ok(config) => config,
            Err(e) => return config_error(e),
        };
        let header = req.headers().get(HANDOFF_HEADER)?;
        match Handoff::parse(&req.path(), header.as_deref()) {
            Ok(Handoff::Join {
                room,
                peer,
                capacity,
                resume,
                subprotocol,
                group,
                meta,
            }) => {
                if group && self.is_group_full().await? {
                    return http_error(&HttpError::group_closed());
                }
                let asked = JoinAsked {
                    peer,
                    capacity,
                    resume,
                    meta,
                };
                let mut response = self.join(config, &room, asked, group).await?;
                // A browser fails an upgrade whose answer selects none of the protocols it
                // offered.
                if subprotocol {
                    response
                        .headers_mut()
                        .set("Sec-WebSocket-Protocol", SUBPROTOCOL)?;
                }
                Ok(response)
            }
            Ok(Handoff::Lobby { answered }) => self.lobby(answered).await,
            Ok(Handoff::Topics) => self.subscribe().await,
            Ok(Handoff::Admin { room, op }) => {
                let body = match op {
                    crate::admin::Op::Tell => Some(req.text().await?),
                    _ => None,
                };
                self.admin(config, &room, op, body)
            }
            Ok(Handoff::Info { room }) => {
                let (capacity, peers) = match (&*self.room.borrow(), &*self.topics.borrow()) {
                    (Some(seated), _) => (seated.capacity(), seated.len()),
                    (None, Some(topics)) => (config.yjs.max_connections, topics.len()),
                    (None, None) => (0, 0),
                };
                let counting = self.frames_handled.as_ref();
                Response::from_json(&RoomInfo {
                    room,
                    capacity,
                    peers,
                    frames_handled: counting.map(Cell::get),
                    // Linear memory only grows: this is the most it ever held.
                    wasm_memory_bytes: counting.map(|_| {
                        let memory: js_sys::WebAssembly::Memory =
                            wasm_bindgen::memory().unchecked_into();
                        memory
                            .buffer()
                            .unchecked_into::<js_sys::ArrayBuffer>()
                            .byte_length() as u64
                    }),
                })
            }
            Err(message) => http_error(&HttpError::bad_request(message)),
        }
    }

    /// The sweep alarm: drops silent peers; the room (or namespace) asks for the next sweep
    /// while it is shared.
    async fn alarm(&self) -> Result<Response> {
        let now = now_ms();
        let pinged = |ws: &WebSocket| glue::last_auto_response_ms(&self.state, ws);
        if let Some(webhooks) = &self.webhooks {
            webhooks.fired();
        }
        let out = match (
            self.room.borrow_mut().as_mut(),
            self.topics.borrow_mut().as_mut(),
        ) {
            (Some(room), _) => room.alarm_fired(now, pinged),
            (None, Some(topics)) => topics.alarm_fired(now, pinged),
            (None, None) => return Response::ok("misconfigured"),
        };
        executor::execute(self, out, None);
        if let Some(webhooks) = &self.webhooks {
            webhooks.deliver(&self.state).await;
        }
        let peers = self.len();
        // One line per sweep (every half idle timeout, only while the room is a call).
        record(
            None,
            &Observation::of_room_size("sweep", &self.room_name(), peers),
        );
        Response::ok("swept")
    }
}

/// The Hibernation API's socket handlers, exported to JavaScript directly rather than through
/// workers-rs's `DurableObject` trait: its handlers are `async`, so every message would pay for a
/// promise, a boxed future and a microtask turn (`make profile` showed them) for work that never
/// awaits. `webSocketMessage` runs to completion in the call.
#[wasm_bindgen::prelude::wasm_bindgen(
    wasm_bindgen_futures = worker::wasm_bindgen_futures,
    js_sys = worker::js_sys
)]
impl RoomObject {
    #[wasm_bindgen(js_name = webSocketMessage)]
    pub fn web_socket_message(&self, ws: web_sys::WebSocket, message: JsValue) {
        if let Some(count) = &self.frames_handled {
            count.set(count.get() + 1);
        }
        executor::on_message(self, ws.into(), message);
    }

    #[wasm_bindgen(js_name = webSocketClose)]
    pub fn web_socket_close(
        &self,
        ws: web_sys::WebSocket,
        code: usize,
        _reason: String,
        _was_clean: bool,
    ) {
        executor::on_close(self, ws.into(), code);
    }

    #[wasm_bindgen(js_name = webSocketError)]
    pub fn web_socket_error(&self, ws: web_sys::WebSocket, error: JsValue) {
        executor::on_error(self, ws.into(), error);
    }
}

impl Host for RoomObject {
    fn state(&self) -> &State {
        &self.state
    }

    fn max_message_bytes(&self) -> Option<usize> {
        self.config.as_ref().ok().map(|c| c.max_message_bytes)
    }

    fn frame(
        &self,
        ws: &WebSocket,
        frame: Frame<'_>,
        now: u64,
    ) -> Option<Vec<Outbound<WebSocket>>> {
        // The sender's seat by socket identity: no attachment to decode on the relay path.
        // Should the runtime ever hand over another object for the same socket, the attachment
        // says who it is.
        if let Some(room) = self.room.borrow_mut().as_mut() {
            return match room.frame_from(ws, frame, now) {
                Some(out) => Some(out),
                None => attachment::read(ws).map(|att| room.frame(&att.peer, att.seq, frame, now)),
            };
        }
        let mut guard = self.topics.borrow_mut();
        let topics = guard.as_mut()?;
        match topics.frame_from(ws, frame, now) {
            Some(out) => Some(out),
            None => {
                let att = topics::Attachment::from_text(&attachment::read_text(ws)?)?;
                Some(topics.frame(att.seq, frame, now))
            }
        }
    }

    fn gone(&self, ws: &WebSocket) -> Vec<Outbound<WebSocket>> {
        if let Some(room) = self.room.borrow_mut().as_mut() {
            let Some(att) = attachment::read(ws) else {
                return Vec::new();
            };
            attachment::clear(ws);
            return room.depart(&att.peer, att.seq);
        }
        let Some(att) = attachment::read_text(ws).and_then(|t| topics::Attachment::from_text(&t))
        else {
            return Vec::new();
        };
        attachment::clear(ws);
        match self.topics.borrow_mut().as_mut() {
            Some(topics) => topics.depart(att.seq),
            None => Vec::new(),
        }
    }

    fn touch(&self, ws: &WebSocket, seen_ms: u64) {
        attachment::touch(ws, seen_ms);
    }

    fn arm(&self, at: Option<u64>) {
        match &self.webhooks {
            Some(webhooks) => webhooks.arm(&self.state, at),
            None => alarm::arm(&self.state, at),
        }
    }

    fn hook(&self, session: String, hook: crate::action::Hook) {
        if let Some(webhooks) = &self.webhooks {
            webhooks.record(&self.state, &session, &hook);
        }
    }

    fn record(&self, event: RoomEvent) {
        record(
            self.analytics.as_ref(),
            &Observation::of_room(&event, &self.room_name(), self.len()),
        );
    }

    /// `suffix` as a JavaScript string, made once per sender rather than decoded from wasm
    /// memory per frame. A room has few senders; the cache starts over past 64 of them.
    fn suffix(&self, suffix: String) -> js_sys::JsString {
        let mut cache = self.suffixes.borrow_mut();
        if let Some((_, js)) = cache.iter().find(|(text, _)| *text == suffix) {
            return js.clone();
        }
        if cache.len() >= 64 {
            cache.clear();
        }
        let js = js_sys::JsString::from(suffix.as_str());
        cache.push((suffix, js.clone()));
        js
    }
}

impl RoomObject {
    /// Seats the socket (or refuses it) and answers the upgrade; 409 for a matchbox group that
    /// has been full.
    async fn join(
        &self,
        config: &Config,
        room_id: &RoomId,
        asked: JoinAsked,
        group: bool,
    ) -> Result<Response> {
        let JoinAsked {
            peer,
            capacity,
            resume,
            meta,
        } = asked;
        let resume = resume.as_deref();
        let Some(wire) = self.room.borrow().as_ref().map(Room::wire) else {
            return http_error(&HttpError::bad_request("this object is not a room"));
        };
        let peer = match peer {
            Some(peer) => peer,
            None => wire.new_peer_id(random_bytes()?),
        };
        let secret = random_id()?;
        let session = random_id()?;
        // Before the room is borrowed: minting may wait on Cloudflare's API (time-boxed).
        let ice_servers = if wire.carries_ice_servers() {
            turn_client::ice_servers(config, &peer).await
        } else {
            crate::json::Json::parse("[]").expect("an empty array")
        };
        // A room rebuilt after an eviction does not know whether its sweep alarm is set; the
        // join that may make it a call asks storage (once per restore).
        let unknown = self
            .room
            .borrow()
            .as_ref()
            .is_some_and(|r| r.sweep_alarm() == SweepAlarm::Unknown);
        if unknown {
            let at = alarm::get(&self.state.storage()).await?;
            if let Some(room) = self.room.borrow_mut().as_mut() {
                room.alarm_known(at);
            }
        }

        // Another join may have filled the group while this one awaited.
        if group && self.group_full.get() == Some(true) {
            return http_error(&HttpError::group_closed());
        }
        let WebSocketPair { client, server } = WebSocketPair::new()?;
        let now = now_ms();
        let outcome = {
            let mut guard = self.room.borrow_mut();
            let room = guard.as_mut().expect("built with the config");
            let request = JoinRequest {
                room: room_id,
                peer: peer.clone(),
                capacity,
                ice_servers: &ice_servers,
                resume,
                new_resume_secret: secret.clone(),
                meta,
                new_session: session,
            };
            room.admit(request, server.clone(), now, |ws| {
                glue::last_auto_response_ms(&self.state, ws)
            })
        };
        let filled = group
            && outcome.result.is_ok()
            && self
                .room
                .borrow()
                .as_ref()
                .is_some_and(|r| r.len() as u32 >= r.capacity());
        if filled {
            self.group_full.set(Some(true));
            attachment::close_group(&self.state);
        }
        match &outcome.result {
            Ok(joined) => {
                self.state.accept_web_socket(&server);
                attachment::write(
                    &server,
                    &Attachment {
                        peer,
                        seq: joined.seq,
                        order: Some(joined.order),
                        capacity: joined.capacity,
                        resume: secret,
                        seen_ms: now,
                        closed: filled,
                        meta: joined.meta.as_ref().map(crate::meta::Meta::to_json),
                        joined_ms: Some(joined.joined_ms),
                        session: Some(joined.session.clone()),
                    },
                );
            }
            // A refused socket only carries the error and the close: no need to hibernate it.
            Err(_) => server.accept()?,
        }
        let seated = outcome.result.is_ok();
        executor::execute(self, outcome.out, None);
        let mut response = Response::from_websocket(client)?;
        if group && seated {
            // What the lobby is told the group holds (crate::lobby).
            let count = self.len().to_string();
            response.headers_mut().set(GROUP_COUNT_HEADER, &count)?;
        }
        Ok(response)
    }

    /// A matchbox lobby (`next=N`): takes the report of a join's outcome, if any, and answers
    /// the group the next join goes to (`crate::lobby`), or `ok` for a report that needs none.
    async fn lobby(&self, answered: Option<(u64, Outcome)>) -> Result<Response> {
        let Some(n) = self.lobby_n else {
            return http_error(&HttpError::bad_request("this object is not a lobby"));
        };
        let storage = self.state.storage();
        let raw = storage.as_raw().as_ref();
        if self.lobby.borrow().is_none() {
            let loaded = JsFuture::from(glue::lobby_load(raw)?).await?;
            let stored = loaded.dyn_ref::<js_sys::Array>().map(|pair| Stored {
                forming: pair.get(0).as_f64().unwrap_or(0.0) as u64,
                top: pair.get(1).as_f64().unwrap_or(0.0) as u64,
            });
            // Another request may have loaded it meanwhile: keep that one.
            if self.lobby.borrow().is_none() {
                *self.lobby.borrow_mut() = Some(Lobby::new(n, stored, now_ms()));
                self.lobby_stored.set(stored);
            }
        }
        let (to_store, pick) = {
            let mut guard = self.lobby.borrow_mut();
            let lobby = guard.as_mut().expect("loaded above");
            if let Some((group, outcome)) = answered {
                lobby.answered(group, outcome);
            }
            let pick = match answered {
                None | Some((_, Outcome::Closed)) => Some(lobby.pick(now_ms())),
                Some(_) => None,
            };
            (lobby.to_store(), pick)
        };
        if to_store != self.lobby_stored.get() {
            // Not awaited: the output gate holds this answer until the write is durable.
            let (forming, top) = match to_store {
                Some(s) => (Some(s.forming as f64), s.top as f64),
                None => (None, 0.0),
            };
            let _ = glue::lobby_save(raw, forming, top)?;
            self.lobby_stored.set(to_store);
        }
        Response::ok(pick.map_or_else(|| "ok".to_owned(), |g| g.to_string()))
    }

    /// Seats a y-webrtc socket in this namespace (or refuses it: full) and answers the upgrade.
    async fn subscribe(&self) -> Result<Response> {
        if self.topics.borrow().is_none() {
            return http_error(&HttpError::bad_request("this object is not a namespace"));
        }
        // A namespace rebuilt after an eviction asks storage whether its sweep alarm is set.
        let unknown = self
            .topics
            .borrow()
            .as_ref()
            .is_some_and(Topics::alarm_unknown);
        if unknown {
            let set = alarm::get(&self.state.storage()).await?.is_some();
            if let Some(topics) = self.topics.borrow_mut().as_mut() {
                topics.alarm_known(set);
            }
        }
        let WebSocketPair { client, server } = WebSocketPair::new()?;
        let new_session = random_id()?;
        let admitted = {
            let mut guard = self.topics.borrow_mut();
            let topics = guard.as_mut().expect("checked above");
            topics.admit(server.clone(), now_ms(), new_session, |ws| {
                glue::last_auto_response_ms(&self.state, ws)
            })
        };
        match admitted.seq {
            // Its attachment comes with the actions.
            Some(_) => self.state.accept_web_socket(&server),
            // A refused socket only carries the error and the close: no need to hibernate it.
            None => server.accept()?,
        }
        executor::execute(self, admitted.out, None);
        Response::from_websocket(client)
    }

    /// An admin operation (`crate::admin`), the secret checked by the Worker. Answered from the
    /// sockets alone: nothing is written, so asking about an empty room creates no storage.
    fn admin(
        &self,
        config: &Config,
        room_id: &RoomId,
        op: crate::admin::Op,
        body: Option<String>,
    ) -> Result<Response> {
        use crate::admin::{self, Op};
        if self.topics.borrow().is_some() {
            return self.admin_namespace(config, room_id, op, body);
        }
        let mut guard = self.room.borrow_mut();
        let Some(room) = guard.as_mut() else {
            return http_error(&HttpError::bad_request("this object is not a room"));
        };
        let unknown = |peer: &PeerId| http_error(&HttpError::unknown_peer(peer.as_str()));
        let out = match op {
            Op::Get => {
                let report = admin::Report {
                    room: room_id,
                    capacity: (!room.is_empty()).then(|| room.capacity()),
                    session: room.session(),
                    peers: room
                        .seats()
                        .iter()
                        .map(|s| admin::PeerReport {
                            peer: &s.peer,
                            joined_at: crate::webhook::rfc3339(s.joined_ms),
                            meta: s.meta.as_ref(),
                        })
                        .collect(),
                };
                return Response::from_json(&report);
            }
            Op::Kick(peer) => match room.kick(&peer) {
                Some(out) => out,
                None => return unknown(&peer),
            },
            Op::Close => room.close_room(),
            Op::Tell => {
                let tell = admin::parse_tell(&body.unwrap_or_default(), config.max_message_bytes);
                let tell = match tell {
                    Ok(tell) => tell,
                    Err(message) => return http_error(&HttpError::bad_request(message)),
                };
                let Some((delivered, out)) = room.tell(&tell.data, tell.to.as_ref()) else {
                    return unknown(tell.to.as_ref().expect("only a recipient can be unknown"));
                };
                drop(guard);
                executor::execute(self, out, None);
                return Response::from_json(&admin::Delivered { delivered });
            }
        };
        drop(guard);
        executor::execute(self, out, None);
        Ok(Response::empty()?.with_status(204))
    }

    /// An admin operation on a y-webrtc namespace: as a room's, its sockets the peers; nobody
    /// can be sent a server message (y-webrtc has none).
    fn admin_namespace(
        &self,
        config: &Config,
        namespace: &RoomId,
        op: crate::admin::Op,
        body: Option<String>,
    ) -> Result<Response> {
        use crate::admin::{self, Op};
        let mut guard = self.topics.borrow_mut();
        let topics = guard.as_mut().expect("a namespace");
        let unknown = |peer: &PeerId| http_error(&HttpError::unknown_peer(peer.as_str()));
        let out = match op {
            Op::Get => {
                let report = admin::NamespaceReport {
                    namespace,
                    capacity: (!topics.is_empty()).then_some(config.yjs.max_connections),
                    session: topics.session(),
                    peers: topics
                        .sockets()
                        .map(|(name, joined_ms, subscribed)| admin::SocketReport {
                            peer: name.to_string(),
                            joined_at: crate::webhook::rfc3339(joined_ms),
                            topics: subscribed,
                        })
                        .collect(),
                };
                return Response::from_json(&report);
            }
            Op::Kick(peer) => match topics.kick(&peer) {
                Some(out) => out,
                None => return unknown(&peer),
            },
            Op::Close => topics.close_all(),
            Op::Tell => {
                let tell = admin::parse_tell(&body.unwrap_or_default(), config.max_message_bytes);
                let tell = match tell {
                    Ok(tell) => tell,
                    Err(message) => return http_error(&HttpError::bad_request(message)),
                };
                if !topics.has(tell.to.as_ref()) {
                    return unknown(tell.to.as_ref().expect("only a recipient can be unknown"));
                }
                return Response::from_json(&admin::Delivered { delivered: 0 });
            }
        };
        drop(guard);
        executor::execute(self, out, None);
        Ok(Response::empty()?.with_status(204))
    }

    /// How many sockets the room or namespace holds.
    fn len(&self) -> usize {
        match (&*self.room.borrow(), &*self.topics.borrow()) {
            (Some(room), _) => room.len(),
            (None, Some(topics)) => topics.len(),
            (None, None) => 0,
        }
    }

    /// Whether this matchbox group has ever been full (read from storage once per instance).
    async fn is_group_full(&self) -> Result<bool> {
        if let Some(full) = self.group_full.get() {
            return Ok(full);
        }
        let promise = glue::group_full(self.state.storage().as_raw().as_ref())?;
        let full = JsFuture::from(promise).await?.as_bool().unwrap_or(false);
        // A join that filled the group meanwhile wins.
        let full = self.group_full.get().unwrap_or(false) || full;
        self.group_full.set(Some(full));
        Ok(full)
    }

    /// The name given to `id_from_name` (the runtime passes it through to the object).
    fn room_name(&self) -> String {
        self.state.id().name().unwrap_or_default()
    }
}
