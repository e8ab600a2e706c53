//! `RoomObject`, the Durable Object of one room: the only code that touches the runtime's
//! WebSockets. It translates — upgrade, seat, attach; frame in, actions out; close or error,
//! depart; alarm, sweep — and leaves every decision to [`Room`].
//!
//! Sockets are accepted with the Hibernation API (`State::accept_web_socket`), so an idle room
//! costs nothing: the runtime may evict the object from memory while its sockets stay open, and
//! wakes it (calling `new` again) for the next event. Each socket carries what rebuilding the room
//! needs in its attachment — peer id, join sequence number, room capacity, resume secret, when it
//! was last heard from — and `new` rebuilds the room from `get_websockets()`. Nothing but the
//! alarm is ever written to storage.
//!
//! Exact `{"type":"ping"}` frames are answered by the runtime's auto-response and never reach
//! this object; the time of the last one is read back with `getWebSocketAutoResponseTimestamp`
//! when the room sweeps for silent peers: on an alarm while the room is a call (two or more
//! peers; deleted when it empties), and before every join, so a room of one, which has nobody
//! to tell, needs no alarm and no storage at all.

use std::cell::{Cell, RefCell};

use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsCast;
use worker::{
    console_error, console_log, durable_object, AnalyticsEngineDataset, DurableObject, Env,
    Request, Response, Result, State, WebSocket, WebSocketPair, WebSocketRequestResponsePair,
};

use crate::analytics;
use crate::config::{Config, ConfigError};
use crate::protocol::{PeerId, RoomId, PING_FRAME, PONG_FRAME};
use crate::request::{origin_and_query, query_pairs, HttpError, JoinParams, RoomInfo, Route};
use crate::room::{Frame, JoinRequest, Outbound, Room};
use crate::turn::{self, CloudflareTurn, Lookup, TurnCache, TurnConfig};
use crate::worker_entry::{
    config_error, is_websocket_upgrade, json_error, load_config, write_data_point,
    ANALYTICS_BINDING,
};

#[wasm_bindgen]
extern "C" {
    /// `DurableObjectState`, for the one method `worker` 0.8.7 does not wrap.
    type StateWithAutoResponseTimestamps;

    /// When the runtime last auto-answered a ping on `ws`, or null if it never has.
    #[wasm_bindgen(method, js_name = getWebSocketAutoResponseTimestamp)]
    fn get_web_socket_auto_response_timestamp(
        this: &StateWithAutoResponseTimestamps,
        ws: &worker::web_sys::WebSocket,
    ) -> Option<worker::js_sys::Date>;
}

/// What each seated socket carries across hibernation (at most 2 KB). A socket that has left
/// (or was closed by the server) has its attachment cleared, so a rebuild never seats it again.
#[derive(Serialize, Deserialize)]
struct Attachment {
    peer: PeerId,
    seq: u64,
    capacity: u32,
    resume: String,
    /// When the peer last sent a frame, refreshed at most every quarter idle timeout.
    seen_ms: u64,
}

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
    /// Whether a sweep alarm may be set (unknown after an eviction: then assumed so), so that
    /// the room's last departure deletes it and a room that never was a call never touches
    /// storage.
    alarm_armed: Cell<bool>,
    /// The `from` suffixes of relayed frames as JavaScript strings (see [`RoomObject::suffix`]).
    /// A list, not a map: a room has a handful of senders, and hashing code would grow the module.
    suffixes: RefCell<Vec<(String, worker::js_sys::JsString)>>,
}

impl DurableObject for RoomObject {
    fn new(state: State, env: Env) -> Self {
        match WebSocketRequestResponsePair::new(PING_FRAME, PONG_FRAME) {
            Ok(pair) => state.set_websocket_auto_response(&pair),
            Err(e) => console_error!("could not set the ping auto-response: {e:?}"),
        }
        let config = load_config(&env);
        let room = match &config {
            Ok(config) => Some(rebuild(&state, config)),
            Err(e) => {
                console_error!("{e}");
                None
            }
        };
        let restored = room.as_ref().is_some_and(|r| !r.is_empty());
        let counting = env
            .var("BENCH_COUNTERS")
            .is_ok_and(|v| v.to_string() == "1");
        RoomObject {
            state,
            config,
            room: RefCell::new(room),
            frames_handled: counting.then(|| Cell::new(0)),
            analytics: env.analytics_engine(ANALYTICS_BINDING).ok(),
            alarm_armed: Cell::new(restored),
            suffixes: RefCell::default(),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        let config = match &self.config {
            Ok(config) => config,
            Err(e) => return config_error(e),
        };
        match Route::parse(req.method().as_ref(), &req.path()) {
            Route::Room(room) if is_websocket_upgrade(&req)? => {
                let (response, seated) = self.join(&req, config, &room).await?;
                // The join that makes the room a call (two peers) starts the sweep alarm, which
                // re-arms itself while two or more are left: a silent peer matters to the others.
                // A lone peer needs no alarm: the next join sweeps the room first (see `join`).
                let call = seated && self.room.borrow().as_ref().is_some_and(|r| r.len() >= 2);
                if call && !self.alarm_armed.get() {
                    self.arm_alarm(config);
                }
                Ok(response)
            }
            Route::RoomInfo(room) => {
                let (capacity, peers) = {
                    let guard = self.room.borrow();
                    let seated = guard.as_ref().expect("built with the config");
                    (seated.capacity(), seated.len())
                };
                let frames_handled = self.frames_handled.as_ref().map(Cell::get);
                Response::from_json(&RoomInfo {
                    room,
                    capacity,
                    peers,
                    frames_handled,
                })
            }
            _ => json_error(HttpError::not_found()),
        }
    }

    /// Sweeps for silent peers, then sets the next sweep while anyone is left.
    async fn alarm(&self) -> Result<Response> {
        let Ok(config) = &self.config else {
            return Response::ok("misconfigured");
        };
        self.sweep(now_ms());
        let peers = self.room.borrow().as_ref().map_or(0, Room::len);
        // One line per sweep (every half idle timeout, only while the room is a call).
        console_log!(
            r#"{{"event":"sweep","room":"{}","peers":{peers}}}"#,
            self.room_name()
        );
        self.alarm_armed.set(peers >= 2);
        if peers >= 2 {
            set_alarm_in(&self.state.storage(), sweep_interval_ms(config)).await?;
        }
        Response::ok("swept")
    }
}

/// Sweep every half idle timeout: a silent peer is dropped between 1 and 1.5 timeouts after its
/// last sign of life.
fn sweep_interval_ms(config: &Config) -> i64 {
    (config.idle_timeout_ms / 2) as i64
}

/// The Hibernation API's socket handlers, exported to JavaScript directly rather than through
/// workers-rs's `DurableObject` trait: its handlers are `async`, so every message would pay for a
/// promise, a boxed future and a microtask turn (`make profile` showed them) for work that never
/// awaits. `webSocketMessage` runs to completion in the call; only when a frame
/// closed a socket does it return a promise, for the alarm deletion.
#[wasm_bindgen(
    wasm_bindgen_futures = worker::wasm_bindgen_futures,
    js_sys = worker::js_sys
)]
impl RoomObject {
    #[wasm_bindgen(js_name = webSocketMessage)]
    pub fn web_socket_message(
        &self,
        ws: worker::web_sys::WebSocket,
        message: wasm_bindgen::JsValue,
    ) -> wasm_bindgen::JsValue {
        if let Some(count) = &self.frames_handled {
            count.set(count.get() + 1);
        }
        let ws = WebSocket::from(ws);
        let now = now_ms();
        let mut guard = self.room.borrow_mut();
        let (Some(room), Ok(config)) = (guard.as_mut(), &self.config) else {
            return wasm_bindgen::JsValue::UNDEFINED;
        };
        let out = with_frame(&message, config.max_message_bytes, |frame| {
            // The sender's seat by socket identity: no attachment to decode on the relay path.
            // Should the runtime ever hand over another object for the same socket, the
            // attachment says who it is.
            match room.frame_from(&ws, frame, now) {
                Some(out) => Some(out),
                None => attachment(&ws).map(|att| room.frame(&att.peer, att.seq, frame, now)),
            }
        });
        drop(guard);
        let Some(out) = out else {
            return wasm_bindgen::JsValue::UNDEFINED; // already left
        };
        if !self.execute(out, message.dyn_ref())
            || !self.room.borrow().as_ref().is_none_or(Room::is_empty)
            || !self.alarm_armed.replace(false)
        {
            return wasm_bindgen::JsValue::UNDEFINED;
        }
        // The frame closed the last socket: no alarm may outlive the room.
        let storage = self.state.storage();
        worker::wasm_bindgen_futures::future_to_promise(async move {
            delete_alarm(&storage).await?;
            Ok(wasm_bindgen::JsValue::UNDEFINED)
        })
        .into()
    }

    #[wasm_bindgen(js_name = webSocketClose)]
    pub async fn web_socket_close(
        &self,
        ws: worker::web_sys::WebSocket,
        code: usize,
        _reason: String,
        _was_clean: bool,
    ) -> std::result::Result<wasm_bindgen::JsValue, wasm_bindgen::JsValue> {
        let ws = WebSocket::from(ws);
        self.disconnected(&ws).await?;
        // Complete the closing handshake by echoing the client's code (RFC 6455, 5.5.1) where it
        // may be sent; the socket may already be closed, which is fine.
        let echo = match code {
            1000..=1003 | 1007..=1011 | 3000..=4999 => code as u16,
            _ => 1000,
        };
        let _ = ws.close(Some(echo), Some(""));
        Ok(wasm_bindgen::JsValue::UNDEFINED)
    }

    #[wasm_bindgen(js_name = webSocketError)]
    pub async fn web_socket_error(
        &self,
        ws: worker::web_sys::WebSocket,
        error: wasm_bindgen::JsValue,
    ) -> std::result::Result<wasm_bindgen::JsValue, wasm_bindgen::JsValue> {
        console_error!("websocket error: {error:?}");
        self.disconnected(&WebSocket::from(ws)).await?;
        Ok(wasm_bindgen::JsValue::UNDEFINED)
    }
}

#[wasm_bindgen(inline_js = r#"
export function sendSpliced(ws, text, suffix) {
  ws.send(text.slice(0, text.lastIndexOf("}")) + suffix);
}
const encoder = new TextEncoder();
let memory = null, at = 0, size = 0, view = null;
export function setScratch(wasmMemory, ptr, len) {
  memory = wasmMemory; at = ptr; size = len; view = null;
}
export function copyFrame(message) {
  if (typeof message !== "string") return -1;
  // A view made before wasm memory grew is detached: make it anew.
  if (view === null || view.buffer !== memory.buffer) view = new Uint8Array(memory.buffer, at, size);
  const { read, written } = encoder.encodeInto(message, view);
  return read === message.length ? written : -2;
}
"#)]
extern "C" {
    /// Where [`copyFrame`] writes: `len` bytes at `ptr` in `memory` (this module's memory).
    #[wasm_bindgen(js_name = setScratch)]
    fn set_scratch(memory: &wasm_bindgen::JsValue, ptr: *mut u8, len: usize);
    /// A text frame's UTF-8 length once copied into the scratch area; -1 for a binary frame,
    /// -2 for text that did not fit.
    #[wasm_bindgen(js_name = copyFrame)]
    fn copy_frame(message: &wasm_bindgen::JsValue) -> i32;

    /// Sends `text` with `from` spliced in (`Outbound::Forward`, `protocol::splice`), built
    /// from the JavaScript strings at hand: no copy of the frame out of wasm memory and no
    /// UTF-8 decode of it per recipient (`perf` on workerd showed the decode's buffer handling).
    #[wasm_bindgen(catch, js_name = sendSpliced)]
    fn send_spliced(
        ws: &worker::web_sys::WebSocket,
        text: &worker::js_sys::JsString,
        suffix: &worker::js_sys::JsString,
    ) -> std::result::Result<(), wasm_bindgen::JsValue>;
}

thread_local! {
    /// The scratch area text frames are copied into, allocated once and never freed: its
    /// address and size, `None` until the first frame.
    static SCRATCH: Cell<Option<(*mut u8, usize)>> = const { Cell::new(None) };
}

/// Calls `f` with the frame `message`. A text frame of up to `max_bytes` (the largest a room
/// accepts) is copied into the scratch area by one call into JavaScript, which checks its type
/// and runs one native `TextEncoder.encodeInto` into a view it keeps (wasm-bindgen's own
/// conversion walks the string in JavaScript a character at a time while it is ASCII: the
/// largest item of ours in `make profile`'s relay profile at 1.5 KB frames; then a view, an
/// allocation and five calls per frame were). A larger one, which the room only refuses
/// (1009), is copied by wasm-bindgen's own conversion.
fn with_frame<R>(
    message: &wasm_bindgen::JsValue,
    max_bytes: usize,
    f: impl FnOnce(Frame<'_>) -> R,
) -> R {
    let (ptr, len) = SCRATCH.with(|scratch| {
        scratch.get().unwrap_or_else(|| {
            let area = Box::leak(vec![0u8; max_bytes.max(1)].into_boxed_slice());
            let at = (area.as_mut_ptr(), area.len());
            set_scratch(&wasm_bindgen::memory(), at.0, at.1);
            scratch.set(Some(at));
            at
        })
    });
    match copy_frame(message) {
        -1 => f(Frame::Binary(
            worker::js_sys::Uint8Array::new(message).length() as usize,
        )),
        -2 => f(Frame::Text(&message.as_string().unwrap_or_default())),
        written => {
            // SAFETY: the area is `len` bytes that live forever, encodeInto wrote `written <=
            // len` bytes of UTF-8 into it (lone surrogates become U+FFFD, as with wasm-bindgen's
            // own conversion), and nothing writes to it again until the next frame, after `f`.
            let text = unsafe {
                std::str::from_utf8_unchecked(std::slice::from_raw_parts(
                    ptr,
                    (written as usize).min(len),
                ))
            };
            f(Frame::Text(text))
        }
    }
}

impl RoomObject {
    /// Seats the socket (or refuses it); returns the response and whether it was seated.
    async fn join(
        &self,
        req: &Request,
        config: &Config,
        room_id: &RoomId,
    ) -> Result<(Response, bool)> {
        // The Worker checked the join (origin, token, query) and forwards only what it allows.
        let raw_url = req.inner().url();
        let pairs = query_pairs(origin_and_query(&raw_url).1);
        let params =
            match JoinParams::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())), config) {
                Ok(params) => params,
                Err(message) => return Ok((json_error(HttpError::bad_request(message))?, false)),
            };
        let peer = match params.peer {
            Some(peer) => peer,
            None => PeerId::from_random(random_bytes()?),
        };
        let secret = PeerId::from_random(random_bytes()?).to_string();
        // Before the room is borrowed: minting may wait on Cloudflare's API (time-boxed).
        let ice_servers = ice_servers(config, &peer).await;

        let WebSocketPair { client, server } = WebSocketPair::new()?;
        let now = now_ms();
        // Silent peers go before anyone is seated, so the newcomer never meets (or is refused a
        // seat or an id by) a peer that is already gone: a room of one has no sweep alarm.
        self.sweep(now);
        let outcome = {
            let mut guard = self.room.borrow_mut();
            let room = guard.as_mut().expect("built with the config");
            let request = JoinRequest {
                room: room_id,
                peer: peer.clone(),
                capacity: params.capacity,
                ice_servers: &ice_servers,
                resume: params.resume.as_deref(),
                new_resume_secret: secret.clone(),
            };
            room.join(request, server.clone(), now)
        };
        let seated = match &outcome.result {
            Ok(joined) => {
                self.state.accept_web_socket(&server);
                attach(
                    &server,
                    &Attachment {
                        peer,
                        seq: joined.seq,
                        capacity: joined.capacity,
                        resume: secret,
                        seen_ms: now,
                    },
                );
                true
            }
            // A refused socket only carries the error and the close: no need to hibernate it.
            Err(_) => {
                server.accept()?;
                false
            }
        };
        self.execute(outcome.out, None);
        Ok((Response::from_websocket(client)?, seated))
    }

    /// The socket closed or failed without a `leave`.
    async fn disconnected(&self, ws: &WebSocket) -> Result<()> {
        let Some(att) = attachment(ws) else {
            return Ok(());
        };
        detach(ws);
        let out = match self.room.borrow_mut().as_mut() {
            Some(room) => room.depart(&att.peer, att.seq),
            None => return Ok(()),
        };
        self.execute(out, None);
        self.disarm_alarm_if_empty().await
    }

    /// Sets the sweep alarm. After the join's response, not before it (`wait_until` keeps the
    /// object alive for the write, and `allowUnconfirmed` keeps the output gate open), and never
    /// on the relay path.
    fn arm_alarm(&self, config: &Config) {
        self.alarm_armed.set(true);
        let storage = self.state.storage();
        let interval = sweep_interval_ms(config);
        self.state.wait_until(async move {
            if let Err(e) = set_alarm_in(&storage, interval).await {
                console_error!("could not set the sweep alarm: {e}");
            }
        });
    }

    /// No alarm is left set once the room is empty: an empty room costs nothing.
    async fn disarm_alarm_if_empty(&self) -> Result<()> {
        let empty = self.room.borrow().as_ref().is_none_or(Room::is_empty);
        if empty && self.alarm_armed.replace(false) {
            delete_alarm(&self.state.storage()).await?;
        }
        Ok(())
    }

    /// Drops the peers silent for longer than the idle timeout (4008, `peer_left` `timeout`).
    fn sweep(&self, now: u64) {
        let raw: &StateWithAutoResponseTimestamps = self.state.as_raw().unchecked_ref();
        let out = {
            let mut guard = self.room.borrow_mut();
            let Some(room) = guard.as_mut().filter(|r| !r.is_empty()) else {
                return;
            };
            room.sweep(now, |ws| {
                raw.get_web_socket_auto_response_timestamp(ws.as_ref())
                    .map(|d| d.get_time() as u64)
            })
        };
        self.execute(out, None);
    }

    /// Carries out the room's actions, `received` being the text frame they answer, if any;
    /// returns whether any socket was closed. A failed send means the socket is going away; its
    /// close or error event will follow and make it depart.
    fn execute(
        &self,
        out: Vec<Outbound<WebSocket>>,
        received: Option<&worker::js_sys::JsString>,
    ) -> bool {
        let mut closed = false;
        for action in out {
            match action {
                Outbound::Send { to, frame } => {
                    let _ = to.send_with_str(frame);
                }
                Outbound::Forward { to, suffix } => {
                    // The room only forwards the frame it was handed, which is text.
                    if let Some(received) = received {
                        let suffix = self.suffix(suffix);
                        let _ = send_spliced(to.as_ref(), received, &suffix);
                    }
                }
                Outbound::Close { to, code, reason } => {
                    // Cleared first: the close event that follows must not depart the peer again.
                    detach(&to);
                    let _ = to.close(Some(code), Some(reason));
                    closed = true;
                }
                Outbound::Touch { to, seen_ms } => {
                    if let Some(mut att) = attachment(&to) {
                        att.seen_ms = seen_ms;
                        attach(&to, &att);
                    }
                }
                Outbound::Event(event) => {
                    let room = self.room_name();
                    console_log!("{}", event.log_line(&room));
                    if let Some(dataset) = &self.analytics {
                        let peers = self.room.borrow().as_ref().map_or(0, Room::len);
                        write_data_point(
                            dataset,
                            &analytics::data_point(
                                event.kind.as_str(),
                                &room,
                                event.reason,
                                event.close_code,
                                peers,
                            ),
                        );
                    }
                }
            }
        }
        closed
    }

    /// `suffix` as a JavaScript string, made once per sender rather than decoded from wasm
    /// memory per frame. A room has few senders; the cache starts over past 64 of them.
    fn suffix(&self, suffix: String) -> worker::js_sys::JsString {
        let mut cache = self.suffixes.borrow_mut();
        if let Some((_, js)) = cache.iter().find(|(text, _)| *text == suffix) {
            return js.clone();
        }
        if cache.len() >= 64 {
            cache.clear();
        }
        let js = worker::js_sys::JsString::from(suffix.as_str());
        cache.push((suffix, js.clone()));
        js
    }

    /// The name given to `id_from_name` (the runtime passes it through to the object).
    fn room_name(&self) -> String {
        self.state.id().name().unwrap_or_default()
    }
}

/// `{allowUnconfirmed: true}`: the alarm is bookkeeping, so its write must not hold the
/// object's outgoing messages (the join's response, relays) behind the storage commit, which is
/// what the output gate does for ordinary writes. (`worker`'s `SetAlarmOptions` serializes its
/// fields in snake_case, which the runtime ignores; hence the raw calls.)
fn unconfirmed() -> worker::js_sys::Object {
    let options = worker::js_sys::Object::new();
    let _ = worker::js_sys::Reflect::set(&options, &"allowUnconfirmed".into(), &true.into());
    options
}

async fn set_alarm_in(storage: &worker::Storage, offset_ms: i64) -> Result<()> {
    let at = worker::js_sys::Date::new(&((now_ms() as f64 + offset_ms as f64).into()));
    let promise = storage.as_raw().set_alarm(at, unconfirmed())?;
    worker::wasm_bindgen_futures::JsFuture::from(promise).await?;
    Ok(())
}

async fn delete_alarm(storage: &worker::Storage) -> Result<()> {
    let promise = storage.as_raw().delete_alarm(unconfirmed())?;
    worker::wasm_bindgen_futures::JsFuture::from(promise).await?;
    Ok(())
}

/// The room as its live sockets describe it (empty for a new object).
fn rebuild(state: &State, config: &Config) -> Room<WebSocket> {
    let mut capacity = config.room_capacity;
    let now = now_ms();
    let empty = Room::new(config.limits());
    let seats: Vec<_> = state
        .get_websockets()
        .into_iter()
        .filter_map(|ws| {
            let att = attachment(&ws)?;
            capacity = att.capacity;
            Some(empty.restored_seat(att.peer, att.seq, ws, att.resume, att.seen_ms, now))
        })
        .collect();
    if !seats.is_empty() {
        // Seen only when the object was evicted while its sockets stayed open (hibernation) and
        // an event woke it: at most once per idle period, so it costs nothing on the relay path.
        let room = state.id().name().unwrap_or_default();
        console_log!(
            r#"{{"event":"room_restored","room":"{room}","peers":{}}}"#,
            seats.len()
        );
    }
    Room::restore(config.limits(), capacity, seats)
}

/// `welcome.ice_servers` for `peer`: the configured servers, then TURN credentials if a scheme
/// is configured. Never fails: without TURN credentials the join goes on with the rest.
async fn ice_servers(config: &Config, peer: &PeerId) -> serde_json::Value {
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
async fn cloudflare_credentials(cf: &CloudflareTurn) -> Vec<serde_json::Value> {
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
            console_error!(
                "{}",
                serde_json::json!({
                    "event": "turn_error",
                    "error": error,
                    "ms": now_ms().saturating_sub(started),
                })
            );
            Vec::new()
        }
    }
}

/// `POST .../generate-ice-servers`, abandoned (and aborted) after `timeout_ms`. Written against
/// `web_sys` directly: `worker::RequestInit` links serializers for every `cf` option that this
/// call does not use (the same switch for the Worker's forwarded join request took the gzipped
/// wasm from 158,124 to 151,499 bytes).
async fn call_cloudflare(
    cf: &CloudflareTurn,
) -> std::result::Result<Vec<serde_json::Value>, String> {
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

/// Attachments are kept as JSON text (serde_json is linked anyway; `worker`'s typed attachment
/// methods would link serde_wasm_bindgen as well).
fn attachment(ws: &WebSocket) -> Option<Attachment> {
    use worker::worker_sys::ext::WebSocketExt;
    let text = ws.as_ref().deserialize_attachment().ok()?.as_string()?;
    serde_json::from_str(&text).ok()
}

fn attach(ws: &WebSocket, att: &Attachment) {
    use worker::worker_sys::ext::WebSocketExt;
    let text = serde_json::to_string(att).expect("an attachment serializes");
    let _ = ws.as_ref().serialize_attachment(text.into());
}

/// Clears the attachment: the socket has left, and a rebuild must not seat it again.
fn detach(ws: &WebSocket) {
    use worker::worker_sys::ext::WebSocketExt;
    let _ = ws
        .as_ref()
        .serialize_attachment(wasm_bindgen::JsValue::NULL);
}

/// `Date.now()`: one call, no `Date` object (the clock of the relay path).
fn now_ms() -> u64 {
    worker::js_sys::Date::now() as u64
}

/// 16 bytes from the runtime's CSPRNG (crypto.getRandomValues).
fn random_bytes() -> Result<[u8; 16]> {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes)
        .map_err(|e| worker::Error::RustError(format!("getrandom: {e}")))?;
    Ok(bytes)
}
