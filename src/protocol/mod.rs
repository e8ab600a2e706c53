//! The wire protocols, each a codec at the edge, and the protocol-neutral vocabulary they
//! translate to and from: one file per protocol, and this dispatch.
//!
//! ```text
//!   client text ──> Wire::read(text, from) ──> Inbound ──> topology (room.rs, peer.rs, topics.rs)
//!   client text <── Wire::render(&ServerMessage) <────────── topology's outputs
//! ```
//!
//! - [`v1`]: protocol v1 (`docs/protocol.md`), rooms of the `edge-signal` client;
//! - [`matchbox`]: what `matchbox_socket` speaks (`docs/matchbox.md`), the same rooms;
//! - [`peerjs`]: the PeerJS server protocol (`docs/peerjs.md`), one peer per id;
//! - [`yjs`]: y-webrtc's signaling protocol (`docs/yjs.md`), topics in a namespace.
//!
//! No codec imports another; what two share (ids, the raw-JSON object reader in `json`, the
//! splice that stamps a forwarded frame) lives here. A room speaks v1 or matchbox through
//! [`Wire`]; PeerJS peers and y-webrtc namespaces have topologies of their own, fed by their
//! codecs' parsers. A fifth protocol is a codec file here, a variant of [`Wire`] if it speaks
//! to rooms (or a topology of its own if it does not), and a route.
//!
//! No I/O and no `worker` types here: everything is tested natively.

use std::fmt;

use serde::{Deserialize, Serialize};

mod json;
pub mod matchbox;
pub mod peerjs;
pub mod v1;
pub mod yjs;

pub use v1::{parse_client_frame, ClientFrame, Relay, RelayKind};

/// Longest room name or peer id, in bytes (they are ASCII).
pub const ID_MAX_LEN: usize = 64;

/// The exact bytes the runtime answers with `PONG_FRAME` without waking the room's object.
pub const PING_FRAME: &str = r#"{"type":"ping"}"#;
/// The answer to a ping, from the runtime's auto-response or from the object itself.
pub const PONG_FRAME: &str = r#"{"type":"pong"}"#;

/// True when `s` is 1 to 64 characters of `A-Z a-z 0-9 _ -`: the alphabet of room names and peer
/// ids. Nothing else needs escaping in a URL, in JSON or in a log line.
pub fn is_valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= ID_MAX_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A random version-4 UUID from 16 random bytes, lowercase and hyphenated, as `uuid` prints
/// one: matchbox clients read peer ids as UUIDs.
pub fn uuid_v4(mut bytes: [u8; 16]) -> String {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Checks the alphabet and length (see [`is_valid_id`]).
            pub fn parse(s: &str) -> Result<Self, InvalidId> {
                if is_valid_id(s) {
                    Ok(Self(s.to_owned()))
                } else {
                    Err(InvalidId($what))
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(s: String) -> Result<Self, InvalidId> {
                Self::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// A room's name, from the URL `/rooms/{room}`.
    RoomId,
    "room"
);
id_type!(
    /// A peer's id within its room: chosen by the client (`?peer=`) or assigned by the server.
    PeerId,
    "peer"
);

impl PeerId {
    /// A server-assigned id: 16 bytes from a CSPRNG as 32 lowercase hex digits (128 bits, above
    /// the contract's 64, and inside the id alphabet). The caller brings the randomness so this
    /// module stays free of I/O.
    pub fn from_random(bytes: [u8; 16]) -> Self {
        use fmt::Write;
        let mut s = String::with_capacity(32);
        for b in bytes {
            let _ = write!(s, "{b:02x}");
        }
        Self(s)
    }
}

/// Why a peer left, as sent in `peer_left.reason`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaveReason {
    /// The peer sent `{"type":"leave"}`.
    Leave,
    /// The socket closed or failed without a `leave`, or the server closed it for a bad frame.
    Disconnect,
    /// The server dropped a silent peer (hardening issue).
    Timeout,
    /// The app's back end removed the peer (the admin API, control v1).
    Kicked,
}

impl LeaveReason {
    pub fn as_str(self) -> &'static str {
        match self {
            LeaveReason::Leave => "leave",
            LeaveReason::Disconnect => "disconnect",
            LeaveReason::Timeout => "timeout",
            LeaveReason::Kicked => "kicked",
        }
    }
}

/// Error codes of `{"type":"error","code":...}` (`docs/protocol.md`, "Errors").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    UnknownPeer,
    RoomFull,
    PeerIdTaken,
    Unauthorized,
    RateLimited,
    /// The app's back end removed this peer (the admin API); its socket closes with 4010.
    Kicked,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::UnknownPeer => "unknown_peer",
            ErrorCode::RoomFull => "room_full",
            ErrorCode::PeerIdTaken => "peer_id_taken",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Kicked => "kicked",
        }
    }
}

/// Frames the server sends to a client. Each is one JSON object in one text frame.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// First frame on an accepted socket: who you are, who is already here (in join order), and
    /// the ICE servers to use. The newcomer then sends an `offer` to each of `peers`.
    Welcome {
        room: RoomId,
        peer: PeerId,
        capacity: u32,
        peers: Vec<PeerId>,
        /// The metadata of each of `peers` that has any (control v1).
        meta: crate::meta::MetaOf<PeerId>,
        /// `RTCIceServer` objects (`urls`, optional `username`, `credential`).
        ice_servers: crate::json::Json,
        /// The secret that lets a new socket take this seat over after a network blip:
        /// reconnect with `?peer=<peer>&resume=<resume>`. A new one comes with every welcome.
        resume: String,
        /// True when this socket took over a live seat with `resume`: the others saw no
        /// departure, and calls with them can carry on.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        resumed: bool,
    },
    /// Sent to everyone already in the room when a join succeeds.
    PeerJoined {
        peer: PeerId,
        /// The newcomer's metadata, when it has any (control v1).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        meta: Option<crate::meta::Meta>,
    },
    /// Sent to everyone remaining when a peer leaves, disconnects or is dropped.
    PeerLeft { peer: PeerId, reason: LeaveReason },
    /// A rejected join (then the socket is closed) or a dropped frame (the socket stays open).
    Error {
        code: ErrorCode,
        message: String,
        /// For `unknown_peer`: the `to` that named no peer.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        peer: Option<String>,
    },
    /// The answer to a `ping` that was not byte-exact [`PING_FRAME`].
    Pong,
    /// A message from the app's back end (the admin API, control v1): `data` as it was posted.
    ServerMessage { data: crate::json::Json },
}

impl ServerMessage {
    /// The frame's JSON text.
    pub fn to_frame(&self) -> String {
        // Serializing these types cannot fail: no maps with non-string keys, no floats.
        serde_json::to_string(self).expect("server messages always serialize")
    }
}

/// An id outside the alphabet ([`is_valid_id`]): which kind of id it was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidId(pub &'static str);

impl fmt::Display for InvalidId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} must be 1 to {ID_MAX_LEN} characters from A-Z a-z 0-9 _ -",
            self.0
        )
    }
}

impl std::error::Error for InvalidId {}

impl From<InvalidId> for String {
    fn from(e: InvalidId) -> String {
        e.to_string()
    }
}

/// Why a client frame was not read. Its text is the `message` of the `bad_request` error sent
/// back (the v1 and y-webrtc wording); tests compare the values.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    /// Not JSON at all (the parser's own words).
    NotJson(String),
    /// JSON, but not an object.
    NotAnObject,
    /// A member the frame's type requires is absent.
    Missing(&'static str),
    /// A member that must be a string is not.
    NotAString(&'static str),
    /// A member that must be an array is not.
    NotAnArray(&'static str),
    /// A member the server reads appears twice (a receiver that reads the last one would
    /// otherwise disagree with the server).
    Repeated(&'static str),
    /// A `type` this protocol does not have.
    UnknownType(String),
    /// Not one of matchbox's requests (serde's words).
    NotMatchbox(String),
    /// A y-webrtc topic name over the configured length, in bytes.
    TopicTooLong { max: usize },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::NotJson(e) => write!(f, "not valid JSON: {e}"),
            FrameError::NotAnObject => f.write_str("a frame must be a JSON object"),
            FrameError::Missing(name) => write!(f, "missing `{name}`"),
            FrameError::NotAString(name) => write!(f, "`{name}` must be a string"),
            FrameError::NotAnArray(name) => write!(f, "`{name}` must be an array"),
            FrameError::Repeated(name) => write!(f, "`{name}` is given more than once"),
            FrameError::UnknownType(t) => write!(f, "unknown type {t:?}"),
            FrameError::NotMatchbox(e) => write!(f, "not a matchbox request: {e}"),
            FrameError::TopicTooLong { max } => {
                write!(f, "a topic is at most {max} bytes (YJS_MAX_TOPIC_BYTES)")
            }
        }
    }
}

impl std::error::Error for FrameError {}

/// What a room's client frame means, whatever protocol it came in: the neutral events the
/// room acts on. (PeerJS and y-webrtc frames have topologies of their own: see their codecs.)
#[derive(Debug, PartialEq)]
pub enum Inbound {
    /// A frame for one peer (`to`) or every other peer (`None`), already stamped with its
    /// sender as `forwarding` says.
    Relay {
        to: Option<String>,
        forwarding: Forwarding,
    },
    /// The sender is leaving.
    Leave,
    /// A ping the runtime's byte-exact auto-response did not catch: answer [`PONG_FRAME`].
    Ping,
    /// Proof of life, answered with nothing.
    KeepAlive,
}

/// The wire protocol a room speaks. The room's logic is the same; only how frames are read and
/// written differs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Wire {
    #[default]
    V1,
    Matchbox,
}

impl Wire {
    /// Reads a client frame of the peer `from` into what the room must do with it.
    pub fn read(self, text: &str, from: &PeerId) -> Result<Inbound, FrameError> {
        match self {
            Wire::V1 => v1::read(text, from),
            Wire::Matchbox => matchbox::read(text, from),
        }
    }

    /// The frame for a server message, or `None` where this protocol has no such message.
    pub fn render(self, msg: &ServerMessage) -> Option<String> {
        match self {
            Wire::V1 => Some(msg.to_frame()),
            Wire::Matchbox => matchbox::render(msg),
        }
    }

    /// A server-assigned id made of 16 random bytes, in the form this protocol's clients read.
    pub fn new_peer_id(self, random: [u8; 16]) -> PeerId {
        match self {
            Wire::V1 => PeerId::from_random(random),
            // matchbox clients read their ids as UUIDs.
            Wire::Matchbox => PeerId(uuid_v4(random)),
        }
    }

    /// Whether this protocol's welcome carries ICE servers (matchbox's has no place for them:
    /// none are minted).
    pub fn carries_ice_servers(self) -> bool {
        self == Wire::V1
    }
}

/// How a relayed frame reaches its addressees.
#[derive(Clone, Debug, PartialEq)]
pub enum Forwarding {
    /// The received text itself with a suffix spliced in: everything before its closing brace,
    /// then the suffix (e.g. `,"from":"<sender>"}`; see [`splice`]). A runtime can build it from
    /// the string it was handed, never copying the frame out of the room's memory.
    Splice(String),
    /// A frame built anew (the client sent a member the server stamps, which must go; or the
    /// protocol wraps the payload).
    Built(String),
}

/// `received` up to (not including) its last `}`, then `suffix`. For a frame that parsed as a
/// JSON object, that brace closes the object (only whitespace may follow it), so the result is
/// the object with the suffix's members added last.
pub fn splice(received: &str, suffix: &str) -> String {
    let end = received.rfind('}').unwrap_or(received.len());
    let mut out = String::with_capacity(end + suffix.len());
    out.push_str(&received[..end]);
    out.push_str(suffix);
    out
}

#[cfg(test)]
mod tests;
