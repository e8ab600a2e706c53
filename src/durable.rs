//! `RoomObject`, the Durable Object of one room: the only code that touches the runtime's
//! WebSockets. It translates — upgrade, seat, attach; frame in, actions out; close or error,
//! depart — and leaves every decision to [`Room`].
//!
//! Sockets are accepted with the Hibernation API (`State::accept_web_socket`), so an idle room
//! costs nothing: the runtime may evict the object from memory while its sockets stay open, and
//! wakes it (calling `new` again) for the next event. Each socket carries what rebuilding the room
//! needs in its attachment — peer id, join sequence number, room capacity — and `new` rebuilds
//! the room from `get_websockets()`. Nothing is ever written to storage.
//!
//! Exact `{"type":"ping"}` frames are answered by the runtime's auto-response and never reach
//! this object.

use std::cell::RefCell;

use serde::{Deserialize, Serialize};
use worker::{
    console_error, console_log, durable_object, DurableObject, Env, Request, Response, Result,
    State, WebSocket, WebSocketIncomingMessage, WebSocketPair, WebSocketRequestResponsePair,
};

use crate::config::{Config, ConfigError};
use crate::protocol::{LeaveReason, PeerId, PING_FRAME, PONG_FRAME};
use crate::request::{HttpError, JoinParams, RoomInfo, Route};
use crate::room::{Frame, JoinRequest, Outbound, Room, Seat};
use crate::worker_entry::{config_error, is_websocket_upgrade, json_error, load_config};

/// What each seated socket carries across hibernation. A socket that has left (or was closed by
/// the server) has its attachment cleared, so a rebuild never seats it again.
#[derive(Serialize, Deserialize)]
struct Attachment {
    peer: PeerId,
    seq: u64,
    capacity: u32,
}

#[durable_object]
pub struct RoomObject {
    state: State,
    /// Read once per object instance; a bad value answers 500 to every request.
    config: std::result::Result<Config, ConfigError>,
    /// Built when the config is valid. Never borrowed across an `.await`.
    room: RefCell<Option<Room<WebSocket>>>,
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
        RoomObject {
            state,
            config,
            room: RefCell::new(room),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        let config = match &self.config {
            Ok(config) => config,
            Err(e) => return config_error(e),
        };
        match Route::parse(req.method().as_ref(), &req.path()) {
            Route::Room(room) if is_websocket_upgrade(&req)? => self.join(&req, config, &room),
            Route::RoomInfo(room) => {
                let guard = self.room.borrow();
                let seated = guard.as_ref().expect("built with the config");
                Response::from_json(&RoomInfo {
                    room,
                    capacity: seated.capacity(),
                    peers: seated.len(),
                })
            }
            _ => json_error(HttpError::not_found()),
        }
    }

    async fn websocket_message(
        &self,
        ws: WebSocket,
        message: WebSocketIncomingMessage,
    ) -> Result<()> {
        let Some(att) = attachment(&ws) else {
            return Ok(()); // already left: the close is on its way
        };
        let out = {
            let mut guard = self.room.borrow_mut();
            let Some(room) = guard.as_mut() else {
                return Ok(());
            };
            match &message {
                WebSocketIncomingMessage::String(text) => {
                    room.frame(&att.peer, att.seq, Frame::Text(text))
                }
                WebSocketIncomingMessage::Binary(bytes) => {
                    room.frame(&att.peer, att.seq, Frame::Binary(bytes.len()))
                }
            }
        };
        execute(out);
        Ok(())
    }

    async fn websocket_close(
        &self,
        ws: WebSocket,
        code: usize,
        _reason: String,
        _was_clean: bool,
    ) -> Result<()> {
        self.disconnected(&ws);
        // Complete the closing handshake by echoing the client's code (RFC 6455, 5.5.1) where it
        // may be sent; the socket may already be closed, which is fine.
        let echo = match code {
            1000..=1003 | 1007..=1011 | 3000..=4999 => code as u16,
            _ => 1000,
        };
        let _ = ws.close(Some(echo), Some(""));
        Ok(())
    }

    async fn websocket_error(&self, ws: WebSocket, error: worker::Error) -> Result<()> {
        console_error!("websocket error: {error}");
        self.disconnected(&ws);
        Ok(())
    }
}

impl RoomObject {
    fn join(
        &self,
        req: &Request,
        config: &Config,
        room_id: &crate::protocol::RoomId,
    ) -> Result<Response> {
        // The Worker already checked the query; this reads it again from the same request.
        let url = req.url()?;
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let params =
            match JoinParams::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())), config) {
                Ok(params) => params,
                Err(message) => return json_error(HttpError::bad_request(message)),
            };
        let peer = match params.peer {
            Some(peer) => peer,
            None => random_peer_id()?,
        };

        let WebSocketPair { client, server } = WebSocketPair::new()?;
        let outcome = {
            let mut guard = self.room.borrow_mut();
            let room = guard.as_mut().expect("built with the config");
            let request = JoinRequest {
                room: room_id,
                peer: peer.clone(),
                capacity: params.capacity,
                ice_servers: &config.ice_servers,
            };
            room.join(request, server.clone())
        };
        match outcome.result {
            Ok(joined) => {
                self.state.accept_web_socket(&server);
                server.serialize_attachment(Attachment {
                    peer,
                    seq: joined.seq,
                    capacity: joined.capacity,
                })?;
            }
            // A refused socket only carries the error and the close: no need to hibernate it.
            Err(_) => server.accept()?,
        }
        execute(outcome.out);
        Response::from_websocket(client)
    }

    /// The socket closed or failed without a `leave`.
    fn disconnected(&self, ws: &WebSocket) {
        let Some(att) = attachment(ws) else { return };
        let _ = ws.serialize_attachment(());
        let out = match self.room.borrow_mut().as_mut() {
            Some(room) => room.depart(&att.peer, att.seq, LeaveReason::Disconnect),
            None => return,
        };
        execute(out);
    }
}

/// The room as its live sockets describe it (empty for a new object).
fn rebuild(state: &State, config: &Config) -> Room<WebSocket> {
    let mut capacity = config.room_capacity;
    let seats: Vec<Seat<WebSocket>> = state
        .get_websockets()
        .into_iter()
        .filter_map(|ws| {
            let att = attachment(&ws)?;
            capacity = att.capacity;
            Some(Seat {
                peer: att.peer,
                seq: att.seq,
                conn: ws,
            })
        })
        .collect();
    if !seats.is_empty() {
        // Seen only when the object was evicted while its sockets stayed open (hibernation) and
        // an event woke it: at most once per idle period, so it costs nothing on the relay path.
        let room = state.id().name().unwrap_or_default(); // the name given to id_from_name
        console_log!(
            r#"{{"event":"room_restored","room":"{room}","peers":{}}}"#,
            seats.len()
        );
    }
    Room::restore(config.limits(), capacity, seats)
}

fn attachment(ws: &WebSocket) -> Option<Attachment> {
    ws.deserialize_attachment().ok().flatten()
}

/// Carries out the room's actions. A failed send means the socket is going away; its close or
/// error event will follow and make it depart, so it is not treated here.
fn execute(out: Vec<Outbound<WebSocket>>) {
    for action in out {
        match action {
            Outbound::Send { to, frame } => {
                let _ = to.send_with_str(frame);
            }
            Outbound::Close { to, code, reason } => {
                // Cleared first: the close event that follows must not depart the peer again.
                let _ = to.serialize_attachment(());
                let _ = to.close(Some(code), Some(reason));
            }
        }
    }
}

fn random_peer_id() -> Result<PeerId> {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes)
        .map_err(|e| worker::Error::RustError(format!("getrandom: {e}")))?;
    Ok(PeerId::from_random(bytes))
}
