//! The one executor: carries out a topology's [`Outbound`] actions, for every Durable Object
//! class, and the socket handlers' shared body (frame in, actions out; close and error, depart;
//! the close echo; the auto-response set-up). An object class says only what is its own
//! ([`Host`]): how it reads a frame and a departure, how it records an event, and, for PeerJS,
//! how it hands a message to another peer's object.

use wasm_bindgen::JsValue;
use worker::{console_error, js_sys, State, WebSocket, WebSocketRequestResponsePair};

use super::{alarm, attachment, glue, now_ms};
use crate::action::{Hook, Outbound, RoomEvent};
use crate::error::close;
use crate::seat::Frame;

/// What an object class brings to the executor and the socket handlers.
pub trait Host {
    fn state(&self) -> &State;

    /// The largest frame its sockets may send, `None` when the object cannot take frames (its
    /// configuration is bad).
    fn max_message_bytes(&self) -> Option<usize>;

    /// A frame from `ws` at `now_ms`: the actions it asks for (`None`: not a seated socket).
    fn frame(
        &self,
        ws: &WebSocket,
        frame: Frame<'_>,
        now_ms: u64,
    ) -> Option<Vec<Outbound<WebSocket>>>;

    /// `ws` closed or failed: the actions its departure asks for.
    fn gone(&self, ws: &WebSocket) -> Vec<Outbound<WebSocket>>;

    /// Records `seen_ms` in the attachment of `ws` ([`Outbound::Touch`]).
    fn touch(&self, ws: &WebSocket, seen_ms: u64);

    /// Writes an observability event ([`Outbound::Event`]).
    fn record(&self, event: RoomEvent);

    /// Sets the object's alarm for `at` ([`Outbound::ArmAlarm`]), or deletes it (`None`,
    /// [`Outbound::DisarmAlarm`]). A room with webhooks shares it with their next delivery.
    fn arm(&self, at: Option<u64>) {
        alarm::arm(self.state(), at);
    }

    /// Records a webhook event ([`Outbound::Hook`]); only rooms with webhooks have any.
    fn hook(&self, session: String, hook: Hook) {
        let _ = (session, hook);
    }

    /// The `from` or `clients` suffix of a forwarded frame as a JavaScript string (objects may
    /// cache them: a room has a handful).
    fn suffix(&self, suffix: String) -> js_sys::JsString {
        js_sys::JsString::from(suffix.as_str())
    }

    /// Hands `frame` to the PeerJS peer `dst` ([`Outbound::Deliver`]); only PeerJS peers ask,
    /// as only they [`Outbound::Park`] and [`Outbound::Unpark`].
    fn deliver(&self, dst: String, frame: String, hold: bool, wakes: bool, expire: bool) {
        let _ = (dst, frame, hold, wakes, expire);
        console_error!("a delivery from an object that has no peers to deliver to");
    }

    /// Keeps `frame` from `src` for this object's absent peer until `expire_at`
    /// ([`Outbound::Park`]).
    fn park(&self, src: String, frame: String, expire_at: u64) {
        let _ = (src, frame, expire_at);
        console_error!("a held message in an object that holds none");
    }

    /// Sends the kept frames to `to` and forgets them ([`Outbound::Unpark`]); `None` to only
    /// forget them ([`Outbound::DropParked`]). False when a send failed.
    fn unpark(&self, to: Option<&WebSocket>) -> bool {
        let _ = to;
        true
    }
}

/// Carries out `out` in order, `received` being the text frame the actions answer, if any. (One
/// copy for every class: `dyn`, not generic, costs a virtual call per action and saves the
/// module a copy of this per class.)
/// Returns false when a send failed (the socket is going away; its close or error event will
/// follow and make it depart).
pub fn execute(
    host: &dyn Host,
    out: Vec<Outbound<WebSocket>>,
    received: Option<&js_sys::JsString>,
) -> bool {
    let mut sent = true;
    // The frame forwarded last and its suffix: a y-webrtc publish reaches every subscriber of
    // its topic with the same suffix, so it is spliced once and the one string sent to each.
    // A single forward (a room's relay, the hot path) stays one call (`send_spliced`).
    let mut spliced: Option<(String, js_sys::JsString)> = None;
    let mut out = out.into_iter().peekable();
    while let Some(action) = out.next() {
        match action {
            Outbound::Send { to, frame } => sent &= to.send_with_str(frame).is_ok(),
            Outbound::Forward { to, suffix } => {
                // Only the frame being handled is forwarded, and it is text.
                let Some(received) = received else { continue };
                let again = matches!(out.peek(), Some(Outbound::Forward { suffix: next, .. }) if *next == suffix);
                match &spliced {
                    Some((last, text)) if *last == suffix => {
                        sent &= glue::send_text(to.as_ref(), text).is_ok();
                    }
                    _ if again => {
                        let text = glue::splice(received, &host.suffix(suffix.clone()));
                        sent &= glue::send_text(to.as_ref(), &text).is_ok();
                        spliced = Some((suffix, text));
                    }
                    _ => {
                        let suffix = host.suffix(suffix);
                        sent &= glue::send_spliced(to.as_ref(), received, &suffix).is_ok();
                    }
                }
            }
            Outbound::Close { to, code } => {
                // Cleared first: the close event that follows must not depart the socket again.
                // A close started from another socket's event or from the alarm (4008, 4009)
                // sends its frame at once, but the runtime keeps the TCP connection open about
                // 10 s after the client's reply (then reports it as 1006): seen with a plain-JS
                // object on workerd 2026-04-26 and 2026-11-17, not ours to fix; clients should
                // act on the close frame (docs/protocol.md).
                attachment::clear(&to);
                let _ = to.close(Some(code), Some(close::reason(code)));
            }
            Outbound::Touch { to, seen_ms } => host.touch(&to, seen_ms),
            Outbound::Attach { to, text } => attachment::write_text(&to, text),
            Outbound::ArmAlarm { at } => host.arm(Some(at)),
            Outbound::DisarmAlarm => host.arm(None),
            Outbound::Hook { session, hook } => host.hook(session, hook),
            Outbound::Deliver {
                dst,
                frame,
                hold,
                wakes,
                expire,
            } => host.deliver(dst, frame, hold, wakes, expire),
            Outbound::Park {
                src,
                frame,
                expire_at,
            } => host.park(src, frame, expire_at),
            Outbound::Unpark { to } => sent &= host.unpark(Some(&to)),
            Outbound::DropParked => {
                host.unpark(None);
            }
            Outbound::Event(event) => host.record(event),
        }
    }
    sent
}

/// `webSocketMessage`, for every class: the frame read into the scratch area, handed to the
/// host, and its actions carried out, synchronously (no promise per message).
pub fn on_message(host: &dyn Host, ws: WebSocket, message: JsValue) {
    let Some(max_bytes) = host.max_message_bytes() else {
        return;
    };
    let now = now_ms();
    let out = glue::with_frame(&message, max_bytes, |frame| host.frame(&ws, frame, now));
    if let Some(out) = out {
        execute(host, out, wasm_bindgen::JsCast::dyn_ref(&message));
    }
}

/// `webSocketClose`, for every class: the socket departs, and its close is echoed.
pub fn on_close(host: &dyn Host, ws: WebSocket, code: usize) {
    let out = host.gone(&ws);
    execute(host, out, None);
    glue::echo_close(&ws, code);
}

/// `webSocketError`, for every class: the socket departs.
pub fn on_error(host: &dyn Host, ws: WebSocket, error: JsValue) {
    console_error!("websocket error: {error:?}");
    let out = host.gone(&ws);
    execute(host, out, None);
}

/// Has the runtime answer `request` with `response` on every socket of the object, without
/// waking it (and note the time, which the sweep reads back).
pub fn auto_respond(state: &State, request: &str, response: &str) {
    match WebSocketRequestResponsePair::new(request, response) {
        Ok(pair) => state.set_websocket_auto_response(&pair),
        Err(e) => console_error!("could not set the auto-response to {request}: {e:?}"),
    }
}
