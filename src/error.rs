//! Client faults, and how each maps onto the wire: an `error` frame's `code`, for those that end
//! the socket a close code, and every close code's reason; and the HTTP errors the Worker and
//! the objects answer with. Server faults (`worker::Error`) stay in the runtime adapter.

use crate::protocol::{ErrorCode, ServerMessage};

/// Something a client did that the room refuses. Tested natively: `code()` and `close_code()`
/// are the contract's tables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoomError {
    /// The frame is not JSON, not an object, of unknown `type`, or lacks a required field.
    BadRequest(String),
    /// `to` names no other peer in this room.
    UnknownPeer(String),
    /// The room already holds `capacity` peers.
    RoomFull { capacity: u32 },
    /// A live peer in this room already has that id (and no valid resume secret was given).
    PeerIdTaken(String),
    /// `AUTH_SECRET` is set and the token is missing, malformed, expired, not yet valid, forged,
    /// or for another room or peer. The message says which, never the token.
    Unauthorized(String),
    /// The sender is over its message or byte budget; the message was dropped.
    RateLimited,
}

impl RoomError {
    pub fn code(&self) -> ErrorCode {
        match self {
            RoomError::BadRequest(_) => ErrorCode::BadRequest,
            RoomError::UnknownPeer(_) => ErrorCode::UnknownPeer,
            RoomError::RoomFull { .. } => ErrorCode::RoomFull,
            RoomError::PeerIdTaken(_) => ErrorCode::PeerIdTaken,
            RoomError::Unauthorized(_) => ErrorCode::Unauthorized,
            RoomError::RateLimited => ErrorCode::RateLimited,
        }
    }

    /// The close code that follows the `error` frame, or `None` when the socket stays open.
    pub fn close_code(&self) -> Option<u16> {
        match self {
            RoomError::BadRequest(_) | RoomError::UnknownPeer(_) | RoomError::RateLimited => None,
            RoomError::RoomFull { .. } => Some(close::ROOM_FULL),
            RoomError::PeerIdTaken(_) => Some(close::PEER_ID_TAKEN),
            RoomError::Unauthorized(_) => Some(close::UNAUTHORIZED),
        }
    }

    pub fn message(&self) -> String {
        match self {
            RoomError::BadRequest(m) => m.clone(),
            RoomError::UnknownPeer(p) => format!("no peer {p:?} in this room"),
            RoomError::RoomFull { capacity } => format!("the room is full ({capacity} peers)"),
            RoomError::PeerIdTaken(p) => format!("peer id {p:?} is taken in this room"),
            RoomError::Unauthorized(why) => format!("unauthorized: {why}"),
            RoomError::RateLimited => {
                "over the message or byte budget; the message was dropped".into()
            }
        }
    }

    /// The `error` frame sent to the client.
    pub fn to_message(&self) -> ServerMessage {
        ServerMessage::Error {
            code: self.code(),
            message: self.message(),
            peer: match self {
                RoomError::UnknownPeer(p) => Some(p.clone()),
                _ => None,
            },
        }
    }
}

/// WebSocket close codes the server uses (`docs/protocol.md`, "Errors and close codes"), and
/// the reason sent with each.
pub mod close {
    /// After `leave`.
    pub const NORMAL: u16 = 1000;
    /// A binary frame.
    pub const UNSUPPORTED_DATA: u16 = 1003;
    /// A frame larger than `MAX_MESSAGE_BYTES`.
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// A PeerJS socket refused before it is seated (bad query, origin, rate), after `ERROR`.
    pub const POLICY_VIOLATION: u16 = 1008;
    pub const ROOM_FULL: u16 = 4001;
    pub const PEER_ID_TAKEN: u16 = 4002;
    pub const UNAUTHORIZED: u16 = 4003;
    /// A sender far over its message or byte budget.
    pub const RATE_LIMITED: u16 = 4006;
    pub const TIMEOUT: u16 = 4008;
    pub const RESUMED_ELSEWHERE: u16 = 4009;
    /// The app's back end removed the peer (the admin API, control v1).
    pub const KICKED: u16 = 4010;
    /// A socket refused because the server is misconfigured (never sent today: a bad setting
    /// answers HTTP 500 before any socket).
    pub const INTERNAL_ERROR: u16 = 1011;

    /// The reason sent with `code` in the close frame (short: a close frame's reason is at most
    /// 123 bytes).
    pub fn reason(code: u16) -> &'static str {
        match code {
            NORMAL => "leave",
            UNSUPPORTED_DATA => "binary frames are not supported",
            MESSAGE_TOO_BIG => "message too big",
            POLICY_VIOLATION => "refused",
            ROOM_FULL => "room_full",
            PEER_ID_TAKEN => "peer_id_taken",
            UNAUTHORIZED => "unauthorized",
            RATE_LIMITED => "far over the message or byte budget",
            TIMEOUT => "idle timeout",
            RESUMED_ELSEWHERE => "resumed on another socket",
            KICKED => "kicked",
            INTERNAL_ERROR => "server misconfigured",
            _ => "",
        }
    }
}

/// The body of every HTTP error: `{"error":"bad_request","message":"..."}`, with its status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpError {
    pub status: u16,
    pub error: &'static str,
    pub message: String,
}

impl HttpError {
    fn new(status: u16, error: &'static str, message: impl Into<String>) -> HttpError {
        HttpError {
            status,
            error,
            message: message.into(),
        }
    }
    /// 400: a room name, peer id, capacity or secret that breaks the rules.
    pub fn bad_request(message: impl Into<String>) -> HttpError {
        HttpError::new(400, "bad_request", message)
    }
    /// 401: a signed deployment's token is missing or refused (`auth::AuthError`'s words).
    pub fn unauthorized(message: impl Into<String>) -> HttpError {
        HttpError::new(401, "unauthorized", message)
    }
    /// 403: an origin not in `ALLOWED_ORIGINS`.
    pub fn forbidden_origin() -> HttpError {
        HttpError::new(403, "forbidden", "this origin may not open sockets here")
    }
    pub fn not_found() -> HttpError {
        HttpError::new(404, "not_found", "no such route")
    }
    /// 404: an admin request for a peer that is not seated.
    pub fn unknown_peer(peer: &str) -> HttpError {
        HttpError::new(
            404,
            "unknown_peer",
            format!("no peer {peer:?} in this room"),
        )
    }
    /// 429: this client address is over the join (or look-up) rate (`JOIN_LIMITER`).
    pub fn too_many_requests() -> HttpError {
        HttpError::new(
            429,
            "rate_limited",
            "too many joins from this address; try again in a few seconds",
        )
    }
    /// 409: a matchbox group (`next=N`) that has been full, to the Worker, which then asks for
    /// the next group; and 503 to the client if groups keep filling under it.
    pub fn group_closed() -> HttpError {
        HttpError::new(409, "group_closed", "this group has been full")
    }
    pub fn busy() -> HttpError {
        HttpError::new(
            503,
            "busy",
            "groups filled faster than this join could take a seat; try again",
        )
    }
    /// 500: a setting that does not parse (the message names it).
    pub fn config(message: impl Into<String>) -> HttpError {
        HttpError::new(500, "server_misconfigured", message)
    }

    /// The JSON body. (Written out rather than derived: `error` is one of the fixed codes
    /// above, and only `message` needs escaping.)
    pub fn body(&self) -> String {
        let message = serde_json::to_string(&self.message).expect("a string serializes");
        format!(r#"{{"error":"{}","message":{message}}}"#, self.error)
    }
}

/// Why the Worker refused a request at its gate (`runtime/entry.rs`), before any object: one
/// type for every endpoint, rendered as each answers ([`Refusal::http`] for HTTP answers and
/// the refusals of v1 and matchbox upgrades other than a token's; a close code and a message for
/// sockets the Worker accepts only to close: PeerJS, y-webrtc, and v1/matchbox tokens).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The client's address is over the join rate (`JOIN_LIMITER`).
    RateLimited,
    /// A setting does not parse (its message names it).
    Config(String),
    /// The `Origin` is not in `ALLOWED_ORIGINS`.
    ForbiddenOrigin,
    /// The query (or path, or header) breaks the endpoint's rules.
    BadRequest(String),
    /// `AUTH_SECRET` is set and the token is refused (`auth::AuthError`'s words).
    Unauthorized(&'static str),
}

impl Refusal {
    /// The reason in the log and the error frame's `code`.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::RateLimited => "rate_limited",
            Refusal::Config(_) => "server_misconfigured",
            Refusal::ForbiddenOrigin => "forbidden_origin",
            Refusal::BadRequest(_) => "bad_request",
            Refusal::Unauthorized(_) => "unauthorized",
        }
    }

    /// The HTTP answer.
    pub fn http(&self) -> HttpError {
        match self {
            Refusal::RateLimited => HttpError::too_many_requests(),
            Refusal::Config(message) => HttpError::config(message.clone()),
            Refusal::ForbiddenOrigin => HttpError::forbidden_origin(),
            Refusal::BadRequest(message) => HttpError::bad_request(message.clone()),
            Refusal::Unauthorized(why) => HttpError::unauthorized(*why),
        }
    }

    /// The close code of a socket accepted only to be refused.
    pub fn close_code(&self) -> u16 {
        match self {
            Refusal::Unauthorized(_) => close::UNAUTHORIZED,
            Refusal::Config(_) => close::INTERNAL_ERROR,
            Refusal::RateLimited | Refusal::ForbiddenOrigin | Refusal::BadRequest(_) => {
                close::POLICY_VIOLATION
            }
        }
    }

    /// The message of such a socket's error frame.
    pub fn message(&self) -> String {
        match self {
            Refusal::RateLimited => "too many joins from this address: try again shortly".into(),
            Refusal::Config(message) | Refusal::BadRequest(message) => message.clone(),
            Refusal::ForbiddenOrigin => {
                "this origin may not open sockets here (ALLOWED_ORIGINS)".into()
            }
            Refusal::Unauthorized(why) => format!("unauthorized: {why}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_render_for_http_and_for_sockets() {
        let all = [
            Refusal::RateLimited,
            Refusal::Config("X: bad".into()),
            Refusal::ForbiddenOrigin,
            Refusal::BadRequest("no".into()),
            Refusal::Unauthorized("expired"),
        ];
        let statuses: Vec<u16> = all.iter().map(|r| r.http().status).collect();
        assert_eq!(statuses, [429, 500, 403, 400, 401]);
        let codes: Vec<u16> = all.iter().map(Refusal::close_code).collect();
        assert_eq!(codes, [1008, 1011, 1008, 1008, 4003]);
        assert_eq!(
            Refusal::Unauthorized("expired").message(),
            "unauthorized: expired"
        );
        assert_eq!(Refusal::BadRequest("no".into()).message(), "no");
        for r in &all {
            assert!(!close::reason(r.close_code()).is_empty());
        }
    }

    #[test]
    fn rejections_close_with_the_contract_codes() {
        assert_eq!(RoomError::RoomFull { capacity: 2 }.close_code(), Some(4001));
        assert_eq!(RoomError::PeerIdTaken("a".into()).close_code(), Some(4002));
        assert_eq!(RoomError::BadRequest("x".into()).close_code(), None);
        assert_eq!(RoomError::UnknownPeer("x".into()).close_code(), None);
        assert_eq!(
            RoomError::Unauthorized("expired".into()).close_code(),
            Some(4003)
        );
        assert_eq!(RoomError::RateLimited.close_code(), None);
    }

    #[test]
    fn unknown_peer_error_names_the_peer() {
        let frame = RoomError::UnknownPeer("zed".into()).to_message().to_frame();
        let v: serde_json::Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(v["type"], "error");
        assert_eq!(v["code"], "unknown_peer");
        assert_eq!(v["peer"], "zed");
        assert!(v["message"].as_str().unwrap().contains("zed"));
    }

    #[test]
    fn every_close_code_has_a_reason_short_enough_for_a_close_frame() {
        use close::*;
        for code in [
            NORMAL,
            UNSUPPORTED_DATA,
            MESSAGE_TOO_BIG,
            ROOM_FULL,
            PEER_ID_TAKEN,
            UNAUTHORIZED,
            RATE_LIMITED,
            TIMEOUT,
            RESUMED_ELSEWHERE,
        ] {
            let why = reason(code);
            assert!(!why.is_empty() && why.len() <= 123, "{code}: {why:?}");
        }
        // A refusal's reason is its error code, so a client that only sees the close knows why.
        let full = RoomError::RoomFull { capacity: 2 };
        assert_eq!(reason(full.close_code().unwrap()), full.code().as_str());
    }

    #[test]
    fn http_errors_serialize_without_their_status() {
        let e = HttpError::too_many_requests();
        assert_eq!(e.status, 429);
        let v: serde_json::Value = serde_json::from_str(&e.body()).unwrap();
        assert_eq!(v["error"], "rate_limited");
        assert!(v.get("status").is_none());
        let quoted = HttpError::bad_request("a \"quoted\" \\ message");
        let v: serde_json::Value = serde_json::from_str(&quoted.body()).unwrap();
        assert_eq!(v["message"], "a \"quoted\" \\ message");
    }

    #[test]
    fn other_errors_carry_no_peer_member() {
        let frame = RoomError::RoomFull { capacity: 3 }.to_message().to_frame();
        let v: serde_json::Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(v["code"], "room_full");
        assert!(v.get("peer").is_none());
    }
}
