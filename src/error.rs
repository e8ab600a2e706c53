//! Client faults, and how each maps onto the wire: an `error` frame's `code`, and for those that
//! end the socket, a close code. Server faults (`worker::Error`) stay in the adapter.

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
    /// The sender is over its message budget; the message was dropped.
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
            RoomError::RateLimited => "over the message budget; the message was dropped".into(),
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

/// WebSocket close codes the server uses (contract sections 2, 4 and 6).
pub mod close {
    /// After `leave`.
    pub const NORMAL: u16 = 1000;
    /// A binary frame.
    pub const UNSUPPORTED_DATA: u16 = 1003;
    /// A frame larger than `MAX_MESSAGE_BYTES`.
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    pub const ROOM_FULL: u16 = 4001;
    pub const PEER_ID_TAKEN: u16 = 4002;
    pub const UNAUTHORIZED: u16 = 4003;
    pub const RATE_LIMITED: u16 = 4006;
    pub const TIMEOUT: u16 = 4008;
    pub const RESUMED_ELSEWHERE: u16 = 4009;
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn other_errors_carry_no_peer_member() {
        let frame = RoomError::RoomFull { capacity: 3 }.to_message().to_frame();
        let v: serde_json::Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(v["code"], "room_full");
        assert!(v.get("peer").is_none());
    }
}
