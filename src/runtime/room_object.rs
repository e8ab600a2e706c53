//! `RoomObject`, the Durable Object of one room: the only code that holds the room's sockets.
//! It translates — upgrade, seat, attach; frame in, actions out; close or error, depart; alarm,
//! sweep — and leaves every decision, the sweep alarm's included, to [`Room`].
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
    Request, Response, Result, State, WebSocket, WebSocketPair, WebSocketRequestResponsePair,
};

use super::attachment::{self, Attachment};
use super::{alarm, config_error, glue, http_error, load_config, now_ms, random_bytes, record};
use super::{turn_client, ANALYTICS_BINDING};
use crate::config::{Config, ConfigError};
use crate::error::{close, HttpError};
use crate::matchbox;
use crate::observe::Observation;
use crate::protocol::{PeerId, RoomId, Wire, PING_FRAME, PONG_FRAME};
use crate::request::{wire_of_object, Handoff, RoomInfo, HANDOFF_HEADER, SUBPROTOCOL};
use crate::room::{JoinRequest, Outbound, Room, SweepAlarm};

/// `#[durable_object(alarm)]` exports the constructor, `fetch` and `alarm` through workers-rs;
/// the three socket handlers are exported below by hand, so that the relay path can be synchronous.
#[durable_object(alarm)]
pub struct RoomObject {
    state: State,
    /// Read once per object instance; a bad value answers 500 to every request.
    config: std::result::Result<Config, ConfigError>,
    /// Built when the config is valid. Never borrowed across an `.await`.
    room: RefCell<Option<Room<WebSocket>>>,
    /// Frames handled, counted only with the `BENCH_COUNTERS` var (see `RoomInfo`).
    frames_handled: Option<Cell<u64>>,
    /// The optional Workers Analytics Engine dataset (`ANALYTICS` binding).
    analytics: Option<AnalyticsEngineDataset>,
    /// The `from` suffixes of relayed frames as JavaScript strings (see [`RoomObject::suffix`]).
    /// A list, not a map: a room has a handful of senders, and hashing code would grow the module.
    suffixes: RefCell<Vec<(String, js_sys::JsString)>>,
    /// For a matchbox group (`next=N`): whether it has ever been full (then it takes nobody);
    /// `None` until read from storage.
    group_full: Cell<Option<bool>>,
}

impl DurableObject for RoomObject {
    fn new(state: State, env: Env) -> Self {
        match WebSocketRequestResponsePair::new(PING_FRAME, PONG_FRAME) {
            Ok(pair) => state.set_websocket_auto_response(&pair),
            Err(e) => console_error!("could not set the ping auto-response: {e:?}"),
        }
        let config = load_config(&env);
        let analytics = env.analytics_engine(ANALYTICS_BINDING).ok();
        let room = match &config {
            Ok(config) => {
                // Which protocol this room speaks is part of its object's name.
                let wire = wire_of_object(&state.id().name().unwrap_or_default());
                let (room, restored) = attachment::rebuild(&state, config, now_ms());
                let room = room.speaking(wire);
                if restored > 0 {
                    // Seen only when the object was evicted while its sockets stayed open and
                    // an event woke it: at most once per idle period.
                    let name = state.id().name().unwrap_or_default();
                    record(
                        None,
                        &Observation::of_room_size("room_restored", &name, restored),
                    );
                }
                Some(room)
            }
            Err(e) => {
                console_error!("{e}");
                None
            }
        };
        let counting = env
            .var("BENCH_COUNTERS")
            .is_ok_and(|v| v.to_string() == "1");
        RoomObject {
            state,
            config,
            room: RefCell::new(room),
            frames_handled: counting.then(|| Cell::new(0)),
            analytics,
            suffixes: RefCell::default(),
            group_full: Cell::new(None),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
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
            }) => {
                if group && self.is_group_full().await? {
                    return http_error(&HttpError::group_closed());
                }
                let mut response = self
                    .join(config, &room, peer, capacity, resume.as_deref(), group)
                    .await?;
                // A browser fails an upgrade whose answer selects none of the protocols it
                // offered.
                if subprotocol {
                    response
                        .headers_mut()
                        .set("Sec-WebSocket-Protocol", SUBPROTOCOL)?;
                }
                Ok(response)
            }
            Ok(Handoff::Lobby { closed }) => {
                let storage = self.state.storage();
                let promise = glue::lobby(storage.as_raw().as_ref(), closed.map(|g| g as f64))?;
                let forming = JsFuture::from(promise).await?;
                Response::ok(forming.as_string().unwrap_or_default())
            }
            Ok(Handoff::Info { room }) => {
                let (capacity, peers) = {
                    let guard = self.room.borrow();
                    let seated = guard.as_ref().expect("built with the config");
                    (seated.capacity(), seated.len())
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

    /// The sweep alarm: drops silent peers; the room asks for the next sweep while it is a call.
    async fn alarm(&self) -> Result<Response> {
        let now = now_ms();
        let out = {
            let mut guard = self.room.borrow_mut();
            let Some(room) = guard.as_mut() else {
                return Response::ok("misconfigured");
            };
            room.alarm_fired(now, |ws| glue::last_auto_response_ms(&self.state, ws))
        };
        self.execute(out, None);
        let peers = self.room.borrow().as_ref().map_or(0, Room::len);
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
        let ws = WebSocket::from(ws);
        let now = now_ms();
        let mut guard = self.room.borrow_mut();
        let (Some(room), Ok(config)) = (guard.as_mut(), &self.config) else {
            return;
        };
        let out = glue::with_frame(&message, config.max_message_bytes, |frame| {
            // The sender's seat by socket identity: no attachment to decode on the relay path.
            // Should the runtime ever hand over another object for the same socket, the
            // attachment says who it is.
            match room.frame_from(&ws, frame, now) {
                Some(out) => Some(out),
                None => attachment::read(&ws).map(|att| room.frame(&att.peer, att.seq, frame, now)),
            }
        });
        drop(guard);
        if let Some(out) = out {
            self.execute(out, message.dyn_ref());
        }
    }

    #[wasm_bindgen(js_name = webSocketClose)]
    pub fn web_socket_close(
        &self,
        ws: web_sys::WebSocket,
        code: usize,
        _reason: String,
        _was_clean: bool,
    ) {
        let ws = WebSocket::from(ws);
        self.disconnected(&ws);
        glue::echo_close(&ws, code);
    }

    #[wasm_bindgen(js_name = webSocketError)]
    pub fn web_socket_error(&self, ws: web_sys::WebSocket, error: JsValue) {
        console_error!("websocket error: {error:?}");
        self.disconnected(&WebSocket::from(ws));
    }
}

impl RoomObject {
    /// Seats the socket (or refuses it) and answers the upgrade; 409 for a matchbox group that
    /// has been full.
    async fn join(
        &self,
        config: &Config,
        room_id: &RoomId,
        peer: Option<PeerId>,
        capacity: Option<u32>,
        resume: Option<&str>,
        group: bool,
    ) -> Result<Response> {
        let wire = self.room.borrow().as_ref().map_or(Wire::V1, Room::wire);
        let peer = match peer {
            Some(peer) => peer,
            // matchbox clients read their ids as UUIDs.
            None if wire == Wire::Matchbox => PeerId::parse(&matchbox::uuid_v4(random_bytes()?))
                .map_err(worker::Error::RustError)?,
            None => PeerId::from_random(random_bytes()?),
        };
        let secret = PeerId::from_random(random_bytes()?).to_string();
        // Before the room is borrowed: minting may wait on Cloudflare's API (time-boxed).
        // matchbox's welcome has no place for them: none are minted.
        let ice_servers = match wire {
            Wire::V1 => turn_client::ice_servers(config, &peer).await,
            Wire::Matchbox => serde_json::Value::Array(Vec::new()),
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
            // Not awaited: the output gate holds this join's answer until the write is durable.
            let _ = glue::group_full(self.state.storage().as_raw().as_ref(), true)?;
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
                    },
                );
            }
            // A refused socket only carries the error and the close: no need to hibernate it.
            Err(_) => server.accept()?,
        }
        self.execute(outcome.out, None);
        Response::from_websocket(client)
    }

    /// The socket closed or failed without a `leave`.
    fn disconnected(&self, ws: &WebSocket) {
        let Some(att) = attachment::read(ws) else {
            return;
        };
        attachment::clear(ws);
        let out = match self.room.borrow_mut().as_mut() {
            Some(room) => room.depart(&att.peer, att.seq),
            None => return,
        };
        self.execute(out, None);
    }

    /// Carries out the room's actions, `received` being the text frame they answer, if any. A
    /// failed send means the socket is going away; its close or error event will follow and make
    /// it depart.
    fn execute(&self, out: Vec<Outbound<WebSocket>>, received: Option<&js_sys::JsString>) {
        for action in out {
            match action {
                Outbound::Send { to, frame } => {
                    let _ = to.send_with_str(frame);
                }
                Outbound::Forward { to, suffix } => {
                    // The room only forwards the frame it was handed, which is text.
                    if let Some(received) = received {
                        let suffix = self.suffix(suffix);
                        let _ = glue::send_spliced(to.as_ref(), received, &suffix);
                    }
                }
                Outbound::Close { to, code } => {
                    // Cleared first: the close event that follows must not depart the peer again.
                    // A close started from another socket's event or from the alarm (4008, 4009)
                    // sends its frame at once, but the runtime keeps the TCP connection open
                    // about 10 s after the client's reply (then reports it to us as 1006): seen
                    // with a plain-JS object on workerd 2026-04-26 and 2026-11-17, not ours to
                    // fix; clients should act on the close frame (docs/protocol.md).
                    attachment::clear(&to);
                    let _ = to.close(Some(code), Some(close::reason(code)));
                }
                Outbound::Touch { to, seen_ms } => attachment::touch(&to, seen_ms),
                Outbound::ArmSweep { at } => alarm::set(&self.state.storage(), at),
                Outbound::DisarmSweep => alarm::delete(&self.state.storage()),
                Outbound::Event(event) => {
                    let room = self.room_name();
                    let peers = self.room.borrow().as_ref().map_or(0, Room::len);
                    record(
                        self.analytics.as_ref(),
                        &Observation::of_room(&event, &room, peers),
                    );
                }
            }
        }
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

    /// Whether this matchbox group has ever been full (read from storage once per instance).
    async fn is_group_full(&self) -> Result<bool> {
        if let Some(full) = self.group_full.get() {
            return Ok(full);
        }
        let promise = glue::group_full(self.state.storage().as_raw().as_ref(), false)?;
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
