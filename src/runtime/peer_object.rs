//! `PeerObject`, the Durable Object class of the PeerJS endpoint (`docs/peerjs.md`): one object
//! per (key, id) holding that peer's socket, and, when discovery is on, one per key listing the
//! connected ids. It translates — upgrade, seat; frame in, actions out; a message from another
//! peer's object, sent or held; alarm, `EXPIRE` — and leaves every decision to
//! [`crate::peerjs::Peer`].
//!
//! Sockets are hibernatable, and the exact `{"type":"HEARTBEAT"}` the client sends every 5 s is
//! answered by the runtime's auto-response: an idle peer costs nothing. A message goes from the
//! sender's object to the recipient's with one `fetch` on a stub kept per recipient, which keeps
//! the messages of one sender to one recipient in order (calls on one stub are delivered in the
//! order made).

use std::cell::RefCell;
use std::rc::Rc;

use serde::{Deserialize, Serialize};
use wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::{spawn_local, JsFuture};
use worker::{
    console_error, durable_object, js_sys, web_sys, DurableObject, Env, ObjectNamespace, Request,
    Response, Result, State, WebSocket, WebSocketPair,
};

use super::executor::{self, Host};
use super::join_rate::JoinRate;
use super::record;
use super::webhooks::Webhooks;
use super::PEERS_BINDING;
use super::{alarm, attachment, config_error, glue, http_error, load_config, now_ms, random_id};
use crate::action::{Hook, Outbound, RoomEvent};
use crate::config::{Config, ConfigError};
use crate::error::HttpError;
use crate::observe::Observation;
use crate::peer::{Connection, Delivery, ObjectRequest, Peer, Route};
use crate::protocol::peerjs::{self, HEARTBEAT_FRAME};
use crate::request::origin_and_query;
use crate::role::Role;
use crate::seat::Frame;

/// What a PeerJS socket carries across hibernation.
#[derive(Serialize, Deserialize)]
struct Seated {
    token: String,
    seen_ms: u64,
    /// The client's address as the join rate counts it (its wakes count there too).
    #[serde(default)]
    client: String,
    /// The connection's webhook session and when it joined (absent in attachments written
    /// before webhooks came).
    #[serde(default)]
    session: String,
    #[serde(default)]
    joined_ms: u64,
}

/// What a link's socket carries across hibernation: the sender whose messages it brings.
#[derive(Serialize, Deserialize)]
struct Linked {
    link: String,
}

/// Stubs of the objects this one has sent to, by name (see [`PeerObject::deliver`]).
type Stubs = Rc<RefCell<Vec<(String, JsValue)>>>;

/// The most stubs kept: a peer talks to a handful of others; past this the list starts over.
const STUBS_KEPT: usize = 32;

#[durable_object(alarm)]
pub struct PeerObject {
    state: State,
    config: std::result::Result<std::rc::Rc<Config>, ConfigError>,
    key: String,
    /// `None` for a key's directory (and when the config is bad). Shared with the tasks that
    /// await other objects' answers.
    peer: Rc<RefCell<Option<Peer<WebSocket>>>>,
    /// The texts of the messages held for this peer, in order ([`Outbound::Park`]): JavaScript
    /// strings, so their memory is returned when they go. Also in storage (under
    /// [`crate::peer::HELD_PREFIX`]), read back after an eviction.
    parked: RefCell<Vec<js_sys::JsString>>,
    /// The storage counter of the next held message.
    held_next: std::cell::Cell<u64>,
    /// The connected client's address, for its wakes' join rate.
    client: Rc<RefCell<String>>,
    join_rate: JoinRate,
    namespace: Option<ObjectNamespace>,
    stubs: Stubs,
    /// The messages sent on this peer's links, waiting for their answers.
    answers: Rc<Answers>,
    /// Takes the answers of every link of this object ([`Answers::answer`]).
    on_answer: wasm_bindgen::closure::Closure<dyn FnMut(u32, String)>,
    /// The links other peers' objects opened to this one, and whose messages each brings.
    links: RefCell<Vec<(WebSocket, String, crate::peer::LinkAnswers)>>,
    /// A peer's webhooks, when `WEBHOOK_URL` is set.
    webhooks: Option<Webhooks>,
}

impl DurableObject for PeerObject {
    fn new(state: State, env: Env) -> Self {
        let name = state.id().name().unwrap_or_default();
        let config = load_config(&env);
        let mut client = String::new();
        let mut held = (Vec::new(), 0);
        let mut links = Vec::new();
        let role = Role::of(&name);
        let (key, peer) = match (role.clone(), &config) {
            (Some(Role::Peer { key, id }), Ok(config)) => {
                executor::auto_respond(&state, HEARTBEAT_FRAME, HEARTBEAT_FRAME);
                let mut peer = Peer::new(&id, config.limits(), config.peerjs_expire_ms);
                // After an eviction: the one socket that still holds the id.
                let now = now_ms();
                for ws in state.get_websockets() {
                    if let Some(seated) = attachment::read_as::<Seated>(&ws) {
                        let connection = Connection {
                            session: seated.session,
                            joined_ms: seated.joined_ms,
                        };
                        peer.restore(ws, seated.token, seated.seen_ms, now, connection);
                        client = seated.client;
                        // At most once per idle period, as rooms' `room_restored`.
                        record(None, &Observation::of_room_size("peer_restored", &name, 1));
                    } else if let Some(linked) = attachment::read_as::<Linked>(&ws) {
                        links.push((ws, linked.link, Default::default()));
                    }
                }
                held = restore_held(&state, &mut peer, &name);
                (key, Some(peer))
            }
            (Some(Role::Directory { key }), _) => (key, None),
            _ => (String::new(), None),
        };
        let join_rate = match &config {
            Ok(config) => JoinRate::of(&env, config),
            Err(_) => JoinRate::Off,
        };
        // A peer's connections send webhook events (a key's directory has none). The alarm they
        // share with the held messages' expiry is still set for that expiry.
        let webhooks = match (&config, &role, &peer) {
            (Ok(config), Some(role), Some(peer)) => config.webhook.as_ref().and_then(|hooks| {
                let subject = crate::webhook::subject_of(role)?;
                let present: Vec<&str> = peer.socket().map(|_| peer.id()).into_iter().collect();
                Some(Webhooks::load(
                    &state,
                    hooks,
                    subject,
                    &present,
                    peer.expire_at(),
                ))
            }),
            _ => None,
        };
        let peer = Rc::new(RefCell::new(peer));
        let stubs: Stubs = Rc::default();
        let client = Rc::new(RefCell::new(client));
        let answers = Rc::new(Answers {
            peer: peer.clone(),
            stubs: stubs.clone(),
            limit: join_rate.clone(),
            client: client.clone(),
            awaited: RefCell::default(),
        });
        let on_answer = {
            let answers = answers.clone();
            wasm_bindgen::closure::Closure::new(move |link, word| answers.answer(link, word))
        };
        PeerObject {
            answers,
            on_answer,
            state,
            config,
            key,
            peer,
            parked: RefCell::new(held.0),
            held_next: std::cell::Cell::new(held.1),
            client,
            join_rate,
            namespace: env.durable_object(PEERS_BINDING).ok(),
            stubs,
            links: RefCell::new(links),
            webhooks,
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        let config = match &self.config {
            Ok(config) => config,
            Err(e) => return config_error(e),
        };
        let raw_url = req.inner().url();
        let (_, query) = origin_and_query(&raw_url);
        let request = match ObjectRequest::parse(&req.path(), query) {
            Ok(request) => request,
            Err(message) => return http_error(&HttpError::bad_request(message)),
        };
        let is_peer = self.peer.borrow().is_some();
        match request {
            ObjectRequest::Join if is_peer => {
                let token = req
                    .headers()
                    .get(crate::peer::TOKEN_HEADER)?
                    .unwrap_or_default();
                // The Worker passed the client's headers on: its address, as the gate read it.
                let client = self.join_rate.client(req.headers(), config)?;
                self.join(config, &token, client)
            }
            ObjectRequest::Deliver { src, hold } if is_peer => {
                // The body by web_sys's `text()`: `worker`'s reads it as a stream (more code).
                let frame = JsFuture::from(req.inner().text()?).await?;
                let frame = frame.as_string().unwrap_or_default();
                Response::ok(self.delivered(&src, frame, hold))
            }
            ObjectRequest::Link { src } if is_peer => {
                let WebSocketPair { client, server } = WebSocketPair::new()?;
                self.state.accept_web_socket(&server);
                attachment::write_as(&server, &Linked { link: src.clone() });
                self.links
                    .borrow_mut()
                    .push((server, src, Default::default()));
                Response::from_websocket(client)
            }
            ObjectRequest::Listed { .. } | ObjectRequest::List if !is_peer => {
                let (id, present) = match &request {
                    ObjectRequest::Listed { id, present } => (Some(id.as_str()), *present),
                    _ => (None, false),
                };
                let storage = self.state.storage();
                let promise = glue::directory(storage.as_raw().as_ref(), id, present)?;
                let text = JsFuture::from(promise)
                    .await?
                    .as_string()
                    .unwrap_or_default();
                Response::ok(text)
            }
            ObjectRequest::Admin { kick } if is_peer => self.admin(kick),
            _ => http_error(&HttpError::bad_request("not a request for this object")),
        }
    }

    /// The expiry alarm: `EXPIRE` to the senders of messages held too long; and the next
    /// webhook deliveries, which share it.
    async fn alarm(&self) -> Result<Response> {
        if let Some(webhooks) = &self.webhooks {
            webhooks.fired();
        }
        let out = match self.peer.borrow_mut().as_mut() {
            Some(peer) => peer.alarm(now_ms()),
            None => Vec::new(),
        };
        executor::execute(self, out, None);
        if let Some(webhooks) = &self.webhooks {
            webhooks.deliver(&self.state).await;
        }
        Response::ok("expired")
    }
}

/// The socket handlers, exported directly as `RoomObject`'s are (no promise per message).
#[wasm_bindgen::prelude::wasm_bindgen(
    wasm_bindgen_futures = worker::wasm_bindgen_futures,
    js_sys = worker::js_sys
)]
impl PeerObject {
    #[wasm_bindgen(js_name = webSocketMessage)]
    pub fn web_socket_message(&self, ws: web_sys::WebSocket, message: JsValue) {
        let src = self.link_of(&ws);
        match src {
            Some(src) => self.linked(&ws, &src, &message),
            None => executor::on_message(self, ws.into(), message),
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
        self.unlink(&ws);
        executor::on_close(self, ws.into(), code);
    }

    #[wasm_bindgen(js_name = webSocketError)]
    pub fn web_socket_error(&self, ws: web_sys::WebSocket, error: JsValue) {
        self.unlink(&ws);
        executor::on_error(self, ws.into(), error);
    }
}

impl Host for PeerObject {
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
        let (out, unseated) = {
            let mut guard = self.peer.borrow_mut();
            let peer = guard.as_mut()?;
            let out = peer.frame(ws, frame, now);
            (out, peer.socket().is_none())
        };
        if let (true, Ok(config)) = (unseated, &self.config) {
            self.list(config, false);
        }
        Some(out)
    }

    fn gone(&self, ws: &WebSocket) -> Vec<Outbound<WebSocket>> {
        if attachment::read_as::<Seated>(ws).is_none() {
            return Vec::new();
        }
        attachment::clear(ws);
        let out = match self.peer.borrow_mut().as_mut() {
            Some(peer) => peer.closed(ws),
            None => Vec::new(),
        };
        if let (false, Ok(config)) = (out.is_empty(), &self.config) {
            self.list(config, false);
        }
        out
    }

    fn touch(&self, ws: &WebSocket, seen_ms: u64) {
        if let Some(mut seated) = attachment::read_as::<Seated>(ws) {
            seated.seen_ms = seen_ms;
            attachment::write_as(ws, &seated);
        }
    }

    /// PeerJS peers emit no room events.
    fn record(&self, _event: RoomEvent) {}

    fn arm(&self, at: Option<u64>) {
        match &self.webhooks {
            Some(webhooks) => webhooks.arm(&self.state, at),
            None => alarm::arm(&self.state, at),
        }
    }

    fn hook(&self, session: String, hook: Hook) {
        if let Some(webhooks) = &self.webhooks {
            webhooks.record(&self.state, &session, &hook);
        }
    }

    /// Sends `frame` to the object of peer `dst`. The call is made now, on the stub kept for
    /// `dst`, so messages to one recipient leave in order; its answer is awaited in the
    /// background: "gone" means the recipient's socket would not take it, and this peer hears
    /// `LEAVE` from it.
    fn deliver(&self, dst: String, frame: String, hold: bool, wakes: bool, expire: bool) {
        // The sender's id and socket; the `LEAVE` is only built if the recipient is gone.
        let Some((src, socket)) = self
            .peer
            .borrow()
            .as_ref()
            .map(|p| (p.id().to_owned(), p.socket().cloned()))
        else {
            return;
        };
        let route = (Route { wakes, hold }, expire);
        let bytes = frame.len();
        let name = Role::Peer {
            key: self.key.clone(),
            id: dst.clone(),
        }
        .object_name();
        let request = ObjectRequest::Link { src: src.clone() };
        let body = crate::peer::link_frame(hold, &frame);
        let Some(link) = self
            .stub(&name)
            .map(|stub| glue::link_post(&stub, &request.to_url(), &body, self.on_answer.as_ref()))
        else {
            // Not sent: nothing was woken or held.
            self.with_peer(|p| p.answered(&dst, bytes, route, None, now_ms()).0);
            return;
        };
        self.answers.awaiting(
            link,
            Awaited {
                name,
                dst,
                bytes,
                route,
                src,
                socket,
            },
        );
    }

    /// Keeps the message in memory and in storage (one write; the delivery's "held" answer
    /// waits for it behind the output gate). A failed write is logged: the message is still
    /// held in memory, as before storage kept them.
    fn park(&self, src: String, frame: String, expire_at: u64) {
        let n = self.held_next.get();
        self.held_next.set(n + 1);
        let storage = self.state.storage();
        let value = crate::peer::held_value(expire_at, &src, &frame);
        if let Err(e) = glue::kv_put(storage.as_raw().as_ref(), &crate::peer::held_key(n), &value) {
            console_error!("peerjs: could not store a held message: {e:?}");
        }
        self.parked
            .borrow_mut()
            .push(js_sys::JsString::from(frame.as_str()));
    }

    /// Sends the held messages to `to` (or, with `None`, drops them) and deletes them from
    /// storage: one delete per message.
    fn unpark(&self, to: Option<&WebSocket>) -> bool {
        let parked = std::mem::take(&mut *self.parked.borrow_mut());
        if self.held_next.replace(0) > 0 {
            let storage = self.state.storage();
            if let Err(e) =
                glue::kv_delete_prefix(storage.as_raw().as_ref(), crate::peer::HELD_PREFIX)
            {
                console_error!("peerjs: could not delete held messages: {e:?}");
            }
        }
        let Some(to) = to else {
            return true;
        };
        parked
            .iter()
            .all(|text| glue::send_text(to.as_ref(), text).is_ok())
    }
}

/// A message sent on a link, until the recipient's object answers what became of it.
struct Awaited {
    /// The recipient's object.
    name: String,
    dst: String,
    bytes: usize,
    route: (Route, bool),
    /// This peer's id and socket (it hears `LEAVE` if the recipient is gone).
    src: String,
    socket: Option<WebSocket>,
}

/// The answers links bring back, for the messages this peer sent on them (in order per link:
/// glue's `linkPost`), applied to its state as they come, with no task per message.
struct Answers {
    peer: Rc<RefCell<Option<Peer<WebSocket>>>>,
    stubs: Stubs,
    limit: JoinRate,
    client: Rc<RefCell<String>>,
    /// By link (glue's number for it), in the order sent.
    awaited: RefCell<Vec<(u32, std::collections::VecDeque<Awaited>)>>,
}

impl Answers {
    fn awaiting(&self, link: u32, message: Awaited) {
        let mut awaited = self.awaited.borrow_mut();
        match awaited.iter_mut().find(|(l, _)| *l == link) {
            Some((_, queue)) => queue.push_back(message),
            None => awaited.push((link, [message].into())),
        }
    }

    /// `word` answers the oldest message awaiting on `link`: sent, held, dropped, gone, or ""
    /// when the link failed.
    fn answer(&self, link: u32, word: String) {
        let message = {
            let mut awaited = self.awaited.borrow_mut();
            let Some(i) = awaited.iter().position(|(l, _)| *l == link) else {
                return;
            };
            let message = awaited[i].1.pop_front();
            if awaited[i].1.is_empty() {
                awaited.swap_remove(i);
            }
            match message {
                Some(message) => message,
                None => return,
            }
        };
        let Awaited {
            name,
            dst,
            bytes,
            route,
            src,
            socket,
        } = message;
        if word.is_empty() {
            // A stub that failed fails every later call: make a new one next time.
            console_error!("peerjs: delivery to {name} failed");
            self.stubs.borrow_mut().retain(|(n, _)| *n != name);
        }
        if word == "gone" {
            if let Some(socket) = &socket {
                let _ = socket.send_with_str(peerjs::leave_from(&dst, &src));
            }
        }
        // "gone" and a failed call: neither held nor an absent id's.
        let delivery = Delivery::of(&word);
        let (out, woke_absent) = match self.peer.borrow_mut().as_mut() {
            Some(p) => p.answered(&dst, bytes, route, delivery, now_ms()),
            None => (Vec::new(), false),
        };
        // This peer's own socket only (an `EXPIRE`), sent directly.
        for action in out {
            if let Outbound::Send { to, frame } = action {
                let _ = to.send_with_str(frame);
            }
        }
        // Starting an absent id's object counts as a join from this client.
        if woke_absent {
            let (peer, limit) = (self.peer.clone(), self.limit.clone());
            let client = self.client.borrow().clone();
            spawn_local(async move {
                if !limit.allows(&client).await {
                    if let Some(p) = peer.borrow_mut().as_mut() {
                        p.wake_refused(&dst, now_ms());
                    }
                }
            });
        }
    }
}

/// The messages held for `peer` that storage kept through an eviction, given back to it: their
/// texts (in order) and the next storage counter. Logged (`peer_held_restored`) when any were.
fn restore_held(
    state: &State,
    peer: &mut Peer<WebSocket>,
    name: &str,
) -> (Vec<js_sys::JsString>, u64) {
    let storage = state.storage();
    let loaded = match glue::kv_load(storage.as_raw().as_ref(), crate::peer::HELD_PREFIX, "") {
        Ok(loaded) => loaded,
        Err(e) => {
            console_error!("peerjs: could not read held messages: {e:?}");
            return (Vec::new(), 0);
        }
    };
    let flat: js_sys::Array = loaded.get(1).unchecked_into();
    let (mut texts, mut held, mut next, mut expire_at) = (Vec::new(), Vec::new(), 0, None);
    for i in (0..flat.length()).step_by(2) {
        let (key, value) = (flat.get(i).as_string(), flat.get(i + 1).as_string());
        let (Some(key), Some(value)) = (key, value) else {
            continue;
        };
        let (Some(n), Some((at, src, frame))) = (
            crate::peer::held_number(&key),
            crate::peer::parse_held(&value),
        ) else {
            continue;
        };
        next = next.max(n + 1);
        expire_at.get_or_insert(at);
        held.push((src.to_owned(), frame.len()));
        texts.push(js_sys::JsString::from(frame));
    }
    if let Some(at) = expire_at {
        worker::console_log!(
            r#"{{"event":"peer_held_restored","room":"{name}","messages":{}}}"#,
            held.len()
        );
        peer.restore_held(held, at);
    }
    (texts, next)
}

impl PeerObject {
    /// A message from peer `src` for this one, sent or held: its answer ([`Delivery`], or
    /// "gone" when the socket would not take it, and the sender hears `LEAVE`).
    fn delivered(&self, src: &str, frame: String, hold: bool) -> &'static str {
        let (delivery, out) = {
            let mut guard = self.peer.borrow_mut();
            let Some(peer) = guard.as_mut() else {
                return "gone";
            };
            peer.incoming(src, frame, hold, now_ms(), |ws| {
                glue::last_auto_response_ms(&self.state, ws)
            })
        };
        match executor::execute(self, out, None) {
            true => delivery.as_str(),
            false => "gone",
        }
    }

    /// The sender whose link `ws` is, if it is one (few: the peers messaging this one).
    fn link_of(&self, ws: &web_sys::WebSocket) -> Option<String> {
        let links = self.links.borrow();
        links
            .iter()
            .find(|(link, ..)| link.as_ref() == ws)
            .map(|(_, src, _)| src.clone())
    }

    /// A message on `src`'s link: delivered as a `Deliver` request's, answered on the link
    /// ([`crate::peer::LinkAnswers`]); or the sender asking for the answers owed.
    fn linked(&self, ws: &web_sys::WebSocket, src: &str, message: &JsValue) {
        let answer = match self.link_recipient(message) {
            // Connected: the frame goes on as it came, never read into this module.
            Ok(Some(to)) => Some(match glue::send_link_frame(to.as_ref(), message) {
                Ok(bytes) => ("sent", bytes as usize),
                Err(_) => ("gone", 0),
            }),
            Ok(None) => {
                let text = message.as_string().unwrap_or_default();
                match crate::peer::parse_link_frame(&text) {
                    Some((hold, frame)) => {
                        Some((self.delivered(src, frame.to_owned(), hold), frame.len()))
                    }
                    None if text == crate::peer::LINK_FLUSH => None,
                    None => {
                        console_error!("peerjs: a link frame that is not one");
                        Some(("dropped", 0))
                    }
                }
            }
            Err(answer) => Some((answer, 0)),
        };
        let frame = {
            let mut links = self.links.borrow_mut();
            let Some((_, _, owed)) = links.iter_mut().find(|(link, ..)| link.as_ref() == ws) else {
                return;
            };
            match answer {
                Some((answer, bytes)) => owed.answer(answer, bytes),
                None => Some(owed.flush()),
            }
        };
        if let Some(frame) = frame {
            let _ = ws.send_with_str(&frame);
        }
    }

    /// For a link's message (not the sender's ask): the connected socket it goes to, if any
    /// (a seat gone silent dropped first); `Err` with the answer when the removal of such a seat
    /// failed to send.
    fn link_recipient(
        &self,
        message: &JsValue,
    ) -> std::result::Result<Option<WebSocket>, &'static str> {
        // The ask is one character: told apart without reading a message into this module.
        let short = message
            .dyn_ref::<js_sys::JsString>()
            .is_none_or(|t| t.length() <= 1);
        if short {
            return Ok(None);
        }
        let (to, out) = {
            let mut guard = self.peer.borrow_mut();
            let Some(peer) = guard.as_mut() else {
                return Err("gone");
            };
            peer.recipient(now_ms(), |ws| glue::last_auto_response_ms(&self.state, ws))
        };
        if !out.is_empty() && !executor::execute(self, out, None) {
            return Err("gone");
        }
        Ok(to)
    }

    /// Forgets `ws` if it is a link (it closed or failed).
    fn unlink(&self, ws: &web_sys::WebSocket) {
        self.links
            .borrow_mut()
            .retain(|(link, ..)| link.as_ref() != ws);
    }

    /// Seats the socket, or answers `ID-TAKEN`, and answers the upgrade.
    fn join(&self, config: &Config, token: &str, address: String) -> Result<Response> {
        let WebSocketPair { client, server } = WebSocketPair::new()?;
        let now = now_ms();
        let new_session = random_id()?;
        let (seated, out, connection) = {
            let mut guard = self.peer.borrow_mut();
            let peer = guard.as_mut().expect("a peer's object");
            let (seated, out) = peer.join(server.clone(), token, now, new_session, |ws| {
                glue::last_auto_response_ms(&self.state, ws)
            });
            (seated, out, peer.connection().unwrap_or_default())
        };
        if seated {
            self.state.accept_web_socket(&server);
            attachment::write_as(
                &server,
                &Seated {
                    token: token.to_owned(),
                    seen_ms: now,
                    client: address.clone(),
                    session: connection.session,
                    joined_ms: connection.joined_ms,
                },
            );
            *self.client.borrow_mut() = address;
        } else {
            server.accept()?;
        }
        executor::execute(self, out, None);
        if seated {
            self.list(config, true);
        }
        Response::from_websocket(client)
    }

    /// An admin request (`crate::admin`, the secret checked by the Worker): the id's report, or
    /// its socket removed (`kick`; 404 `unknown_peer` when it is not connected). Nothing is
    /// written but the webhook event of a removal.
    fn admin(&self, kick: bool) -> Result<Response> {
        let Some((id, report)) = self.peer.borrow().as_ref().map(|peer| {
            let connection = peer.connection();
            let (messages, bytes) = peer.held();
            (peer.id().to_owned(), (connection, messages, bytes))
        }) else {
            return http_error(&HttpError::bad_request("not a peer's object"));
        };
        let (connection, messages, bytes) = report;
        if !kick {
            return Response::from_json(&crate::admin::PeerJsReport {
                key: &self.key,
                id: &id,
                connected: connection.is_some(),
                session: connection.as_ref().map(|c| c.session.as_str()),
                joined_at: connection
                    .as_ref()
                    .map(|c| crate::webhook::rfc3339(c.joined_ms)),
                held: crate::admin::Held { messages, bytes },
            });
        }
        let Some(out) = self.with_peer_opt(Peer::kick) else {
            return http_error(&HttpError::unknown_peer(&id));
        };
        executor::execute(self, out, None);
        if let Ok(config) = &self.config {
            self.list(config, false);
        }
        Ok(Response::empty()?.with_status(204))
    }

    /// `f` on the peer's state, if this is a peer's object.
    fn with_peer_opt<T>(&self, f: impl FnOnce(&mut Peer<WebSocket>) -> Option<T>) -> Option<T> {
        self.peer.borrow_mut().as_mut().and_then(f)
    }

    /// `f` on the peer's state (nothing for a directory).
    fn with_peer(
        &self,
        f: impl FnOnce(&mut Peer<WebSocket>) -> Vec<Outbound<WebSocket>>,
    ) -> Vec<Outbound<WebSocket>> {
        self.peer.borrow_mut().as_mut().map(f).unwrap_or_default()
    }

    /// With discovery on, tells the key's directory that this id came or went.
    fn list(&self, config: &Config, present: bool) {
        if !config.peerjs_discovery {
            return;
        }
        let Some(id) = self.peer.borrow().as_ref().map(|p| p.id().to_owned()) else {
            return;
        };
        let request = ObjectRequest::Listed { id, present };
        let directory = Role::Directory {
            key: self.key.clone(),
        }
        .object_name();
        if let Some(promise) = self.post(&directory, &request, "") {
            spawn_local(async move {
                if let Err(e) = JsFuture::from(promise).await {
                    console_error!("peerjs directory: {e:?}");
                }
            });
        }
    }

    /// POSTs `request` with `body` to the object `name` on its kept stub; the promise of the
    /// answer's text.
    fn post(&self, name: &str, request: &ObjectRequest, body: &str) -> Option<js_sys::Promise> {
        let stub = self.stub(name)?;
        glue::post_text(&stub, &request.to_url(), body)
            .map_err(|e| console_error!("peerjs: could not call {name}: {e:?}"))
            .ok()
            .map(|p| p.unchecked_into())
    }

    /// The stub kept for the object `name` (made, and kept, if there is none).
    fn stub(&self, name: &str) -> Option<JsValue> {
        let mut stubs = self.stubs.borrow_mut();
        if let Some((_, stub)) = stubs.iter().find(|(n, _)| n == name) {
            return Some(stub.clone());
        }
        let stub = self
            .namespace
            .as_ref()?
            .id_from_name(name)
            .and_then(|id| id.get_stub())
            .map_err(|e| console_error!("peerjs: no stub for {name}: {e:?}"))
            .ok()?
            .into_rpc::<JsValue>();
        if stubs.len() >= STUBS_KEPT {
            stubs.clear();
        }
        stubs.push((name.to_owned(), stub.clone()));
        Some(stub)
    }
}
