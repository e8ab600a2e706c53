//! The wire format of protocol v1: identifiers, the frames clients send, the frames the server
//! sends, and the error codes. See `docs/protocol.md`.
//!
//! Client frames are parsed only as far as routing needs (`type`, `to`, and the presence and type
//! of each required field). Every other field is kept as the raw JSON text it arrived as and is
//! forwarded byte for byte, so payloads (`sdp`, `candidate`, `data`, ...) stay opaque: a huge
//! number or an odd unicode escape inside `data` reaches the other peer exactly as it was sent.
//!
//! No I/O and no `worker` types here: everything is tested natively.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

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
            pub fn parse(s: &str) -> Result<Self, String> {
                if is_valid_id(s) {
                    Ok(Self(s.to_owned()))
                } else {
                    Err(format!(
                        concat!($what, " must be 1 to {} characters from A-Z a-z 0-9 _ -"),
                        ID_MAX_LEN
                    ))
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
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
}

impl LeaveReason {
    pub fn as_str(self) -> &'static str {
        match self {
            LeaveReason::Leave => "leave",
            LeaveReason::Disconnect => "disconnect",
            LeaveReason::Timeout => "timeout",
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
        }
    }
}

/// Frames the server sends to a client. Each is one JSON object in one text frame.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// First frame on an accepted socket: who you are, who is already here (in join order), and
    /// the ICE servers to use. The newcomer then sends an `offer` to each of `peers`.
    Welcome {
        room: RoomId,
        peer: PeerId,
        capacity: u32,
        peers: Vec<PeerId>,
        /// `RTCIceServer` objects (`urls`, optional `username`, `credential`).
        ice_servers: serde_json::Value,
        /// The secret that lets a new socket take this seat over after a network blip:
        /// reconnect with `?peer=<peer>&resume=<resume>`. A new one comes with every welcome.
        resume: String,
        /// True when this socket took over a live seat with `resume`: the others saw no
        /// departure, and calls with them can carry on.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        resumed: bool,
    },
    /// Sent to everyone already in the room when a join succeeds.
    PeerJoined { peer: PeerId },
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
}

impl ServerMessage {
    /// The frame's JSON text.
    pub fn to_frame(&self) -> String {
        // Serializing these types cannot fail: no maps with non-string keys, no floats.
        serde_json::to_string(self).expect("server messages always serialize")
    }
}

/// The relayed kinds of client frame (`docs/protocol.md`, "Relaying").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelayKind {
    Offer,
    Answer,
    Candidate,
    Message,
}

/// A parsed client frame.
#[derive(Debug, PartialEq)]
pub enum ClientFrame<'a> {
    /// `offer`, `answer`, `candidate` or `message`: forwarded with `from` stamped.
    Relay(Relay<'a>),
    /// `{"type":"leave"}`: the sender is leaving the room.
    Leave,
    /// `ping` with any spacing that the runtime's byte-exact auto-response did not catch.
    Ping,
    /// matchbox's `Signal { receiver, data }` ([`crate::matchbox`]): `data` is the raw JSON
    /// text, forwarded as it came.
    Signal { to: String, data: &'a str },
    /// matchbox's `KeepAlive`: proof of life, answered with nothing.
    KeepAlive,
}

/// The wire protocol a room speaks: this module's v1, or [`crate::matchbox`]'s. The room's
/// logic is the same; only how frames are read and written differs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Wire {
    #[default]
    V1,
    Matchbox,
}

impl Wire {
    /// Reads a client frame for routing.
    pub fn parse(self, text: &str) -> Result<ClientFrame<'_>, String> {
        match self {
            Wire::V1 => parse_client_frame(text),
            Wire::Matchbox => crate::matchbox::parse(text),
        }
    }

    /// The frame for a server message, or `None` where this protocol has no such message.
    pub fn render(self, msg: &ServerMessage) -> Option<String> {
        match self {
            Wire::V1 => Some(msg.to_frame()),
            Wire::Matchbox => crate::matchbox::render(msg),
        }
    }
}

/// A frame to relay: its routing fields, and every field as the raw JSON it arrived as.
#[derive(Debug)]
pub struct Relay<'a> {
    pub kind: RelayKind,
    /// The addressee; `None` only for a broadcast `message`.
    pub to: Option<String>,
    fields: Vec<(Key<'a>, &'a RawValue)>,
}

impl PartialEq for Relay<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
            && self.to == other.to
            && self.fields.len() == other.fields.len()
            && self
                .fields
                .iter()
                .zip(&other.fields)
                .all(|((k1, v1), (k2, v2))| k1 == k2 && v1.get() == v2.get())
    }
}

/// How a relay frame reaches its addressees (see [`Relay::forwarding`]).
#[derive(Clone, Debug, PartialEq)]
pub enum Forwarding {
    /// The received text itself with `from` spliced in: everything before its closing brace,
    /// then this suffix, `,"from":"<sender>"}` ([`splice`]). A runtime can build it from the
    /// string it was handed, never copying the frame out of the room's memory.
    Splice(String),
    /// A frame built anew by [`Relay::to_frame`]: the client sent a `from` of its own, which
    /// must go.
    Built(String),
}

/// The suffix that stamps frames from `from`: `,"from":"<id>"}`. Peer ids are from the URL-safe
/// alphabet, so nothing in them needs escaping.
fn from_suffix(from: &PeerId) -> String {
    format!(r#","from":"{}"}}"#, from.as_str())
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

impl Relay<'_> {
    /// How to forward this frame from `from`: spliced into the received text, unless the client
    /// sent a `from` member (under any escaping), which is then dropped from a rebuilt frame. A
    /// relay frame has at least `type`, so the suffix's comma always follows a member.
    pub fn forwarding(&self, from: &PeerId) -> Forwarding {
        if self.fields.iter().any(|(key, _)| key.0 == "from") {
            Forwarding::Built(self.to_frame(from))
        } else {
            Forwarding::Splice(from_suffix(from))
        }
    }

    /// The frame to forward: the object as it was sent, members in their order, minus any
    /// client-sent `from`, plus `"from":"<sender>"` at the end. Member values are copied as raw
    /// text and never re-encoded.
    pub fn to_frame(&self, from: &PeerId) -> String {
        let len: usize = self
            .fields
            .iter()
            .map(|(k, v)| k.0.len() + v.get().len() + 4)
            .sum();
        let mut out = String::with_capacity(len + from.as_str().len() + 12);
        out.push('{');
        for (key, value) in &self.fields {
            if key.0 == "from" {
                continue;
            }
            key.write_json(&mut out);
            out.push(':');
            out.push_str(value.get());
            out.push(',');
        }
        // Peer ids are from the URL-safe alphabet: nothing in them needs escaping.
        out.push_str("\"from\":\"");
        out.push_str(from.as_str());
        out.push_str("\"}");
        out
    }
}

/// An object member name. Borrowed from the frame when it had no escapes (so its text is its
/// JSON form), owned and unescaped when it had: `"fr\u006fm"` is the member `from`, and is
/// treated as such.
#[derive(Debug, PartialEq)]
struct Key<'a>(Cow<'a, str>);

impl Key<'_> {
    fn write_json(&self, out: &mut String) {
        match &self.0 {
            Cow::Borrowed(s) => {
                out.push('"');
                out.push_str(s);
                out.push('"');
            }
            Cow::Owned(s) => {
                out.push_str(&serde_json::to_string(s).expect("a string always serializes"))
            }
        }
    }
}

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// A JSON object's members in order, values left as raw text.
struct RawObject<'a>(Vec<(Key<'a>, &'a RawValue)>);

impl<'de> Deserialize<'de> for RawObject<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = RawObject<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(4));
                while let Some(key) = map.next_key::<Key<'de>>()? {
                    let value: &'de RawValue = map.next_value()?;
                    fields.push((key, value));
                }
                Ok(RawObject(fields))
            }
        }
        d.deserialize_map(ObjectVisitor)
    }
}

/// Parses one client text frame. The error is the `bad_request` message to send back.
///
/// Rules beyond the contract's table, chosen so that routing is never ambiguous:
/// - a member the server reads (`type`, `to`, and the required payload member) given twice is a
///   `bad_request`: a receiver that reads the last one would otherwise disagree with the server;
/// - `sdp` must be a string (it is SDP text); `candidate` and `data` may be any JSON value,
///   including `null`, since they are opaque;
/// - `to`, where present, must be a string; members the contract does not name pass through.
pub fn parse_client_frame(text: &str) -> Result<ClientFrame<'_>, String> {
    let object: RawObject<'_> = serde_json::from_str(text).map_err(|e| {
        if e.is_data() {
            "a frame must be a JSON object".to_owned()
        } else {
            format!("not valid JSON: {e}")
        }
    })?;
    let fields = object.0;

    let kind: String = required_string(&fields, "type")?;
    let kind = match kind.as_str() {
        "offer" => RelayKind::Offer,
        "answer" => RelayKind::Answer,
        "candidate" => RelayKind::Candidate,
        "message" => RelayKind::Message,
        "leave" => return Ok(ClientFrame::Leave),
        "ping" => return Ok(ClientFrame::Ping),
        other => return Err(format!("unknown type {other:?}")),
    };
    let to = match kind {
        RelayKind::Message => optional_string(&fields, "to")?,
        _ => Some(required_string(&fields, "to")?),
    };
    match kind {
        RelayKind::Offer | RelayKind::Answer => {
            require_string(&fields, "sdp")?;
        }
        RelayKind::Candidate => {
            required_present(&fields, "candidate")?;
        }
        RelayKind::Message => {
            required_present(&fields, "data")?;
        }
    }
    Ok(ClientFrame::Relay(Relay { kind, to, fields }))
}

/// The value of member `name`, which must appear at most once.
fn member<'a>(
    fields: &[(Key<'_>, &'a RawValue)],
    name: &str,
) -> Result<Option<&'a RawValue>, String> {
    let mut found = None;
    for (key, value) in fields {
        if key.0 == name {
            if found.is_some() {
                return Err(format!("`{name}` is given more than once"));
            }
            found = Some(*value);
        }
    }
    Ok(found)
}

fn required_present<'a>(
    fields: &[(Key<'_>, &'a RawValue)],
    name: &str,
) -> Result<&'a RawValue, String> {
    member(fields, name)?.ok_or_else(|| format!("missing `{name}`"))
}

fn required_string(fields: &[(Key<'_>, &RawValue)], name: &str) -> Result<String, String> {
    let raw = required_present(fields, name)?;
    serde_json::from_str(raw.get()).map_err(|_| format!("`{name}` must be a string"))
}

/// Checks that member `name` is a string without decoding it: a raw value is valid JSON, so it
/// is a string exactly when it starts with a quote. (The SDP is most of an offer's bytes, and
/// is forwarded as the raw text it arrived as: decoding it would only be thrown away.)
fn require_string(fields: &[(Key<'_>, &RawValue)], name: &str) -> Result<(), String> {
    if required_present(fields, name)?.get().starts_with('"') {
        Ok(())
    } else {
        Err(format!("`{name}` must be a string"))
    }
}

fn optional_string(fields: &[(Key<'_>, &RawValue)], name: &str) -> Result<Option<String>, String> {
    member(fields, name)?
        .map(|raw| {
            serde_json::from_str(raw.get()).map_err(|_| format!("`{name}` must be a string"))
        })
        .transpose()
}

#[cfg(test)]
mod tests;
