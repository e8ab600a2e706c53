//! What each seated socket carries across hibernation, and the room rebuilt from it.
//!
//! When the runtime evicts an idle object while its hibernatable sockets stay open, the next
//! event constructs the object anew; [`rebuild`] then seats every socket whose attachment says it
//! is in the room. A socket that has left (or was closed by the server) has its attachment
//! cleared, so a rebuild never seats it again.

use serde::Serialize;
use worker::worker_sys::ext::WebSocketExt;
use worker::{State, WebSocket};

use crate::config::Config;
use crate::meta::Meta;
use crate::room::Room;

pub use crate::room::Attachment;

/// The attachment of `ws`, if it is seated. Kept as JSON text (serde_json is linked anyway;
/// `worker`'s typed attachment methods would link serde_wasm_bindgen as well).
pub fn read(ws: &WebSocket) -> Option<Attachment> {
    read_as(ws)
}

pub fn write(ws: &WebSocket, att: &Attachment) {
    write_as(ws, att)
}

/// The attachment of `ws` as another adapter's type (`peer_object`'s).
pub fn read_as<T: serde::de::DeserializeOwned>(ws: &WebSocket) -> Option<T> {
    serde_json::from_str(&read_text(ws)?).ok()
}

pub fn write_as<T: Serialize>(ws: &WebSocket, att: &T) {
    let text = serde_json::to_string(att).expect("an attachment serializes");
    let _ = ws.as_ref().serialize_attachment(text.into());
}

/// Writes `text` as the attachment of `ws` (a topology that renders its own, `Outbound::Attach`).
pub fn write_text(ws: &WebSocket, text: String) {
    let _ = ws.as_ref().serialize_attachment(text.into());
}

/// The attachment of `ws` as the text it was written as.
pub fn read_text(ws: &WebSocket) -> Option<String> {
    ws.as_ref().deserialize_attachment().ok()?.as_string()
}

/// Clears the attachment: the socket has left, and a rebuild must not seat it again.
pub fn clear(ws: &WebSocket) {
    let _ = ws
        .as_ref()
        .serialize_attachment(wasm_bindgen::JsValue::NULL);
}

/// Records when the peer of `ws` was last heard from (`Outbound::Touch`).
pub fn touch(ws: &WebSocket, seen_ms: u64) {
    if let Some(mut att) = read(ws) {
        att.seen_ms = seen_ms;
        write(ws, &att);
    }
}

/// Marks the seated sockets of a matchbox group that has filled ([`Attachment::closed`]).
pub fn close_group(state: &State) {
    for ws in state.get_websockets() {
        if let Some(mut att) = read(&ws) {
            att.closed = true;
            write(&ws, &att);
        }
    }
}

/// The room as its live sockets describe it (empty for a new object), how many it seated, and
/// whether one says its group has been full. Sockets seated before sessions existed get
/// `fallback_session`.
pub fn rebuild(
    state: &State,
    config: &Config,
    now_ms: u64,
    fallback_session: impl FnOnce() -> String,
) -> (Room<WebSocket>, usize, bool) {
    let mut capacity = config.room_capacity;
    let mut closed = false;
    let mut session = None;
    let empty = Room::new(config.limits());
    let seats: Vec<_> = state
        .get_websockets()
        .into_iter()
        .filter_map(|ws| {
            let att = read(&ws)?;
            capacity = att.capacity;
            closed |= att.closed;
            session = session.take().or(att.session);
            let order = att.order.unwrap_or(att.seq);
            Some(empty.restored_seat(
                att.peer,
                att.seq,
                order,
                ws,
                (
                    att.resume,
                    att.meta.as_ref().and_then(|m| Meta::restore(m.get())),
                    att.joined_ms.unwrap_or(att.seen_ms),
                ),
                att.seen_ms,
                now_ms,
            ))
        })
        .collect();
    let count = seats.len();
    (
        Room::restore(config.limits(), capacity, seats)
            .in_session(session.unwrap_or_else(fallback_session)),
        count,
        closed,
    )
}
