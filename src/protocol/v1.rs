//! Protocol v1 (`docs/protocol.md`): the frames clients of rooms send, read for routing.
//!
//! Client frames are parsed only as far as routing needs (`type`, `to`, and the presence and type
//! of each required field). Every other field is kept as the raw JSON text it arrived as and is
//! forwarded byte for byte, so payloads (`sdp`, `candidate`, `data`, ...) stay opaque: a huge
//! number or an odd unicode escape inside `data` reaches the other peer exactly as it was sent.
//! The server's frames are [`super::ServerMessage`], serialized as they are.

use serde_json::value::RawValue;

use super::json::{self, Key};
use super::{Forwarding, FrameError, Inbound, PeerId};

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
}

/// Reads a client frame of `from` into the room's neutral event.
pub fn read(text: &str, from: &PeerId) -> Result<Inbound, FrameError> {
    Ok(match parse_client_frame(text)? {
        ClientFrame::Relay(relay) => Inbound::Relay {
            forwarding: relay.forwarding(from),
            to: relay.to,
        },
        ClientFrame::Leave => Inbound::Leave,
        ClientFrame::Ping => Inbound::Ping,
    })
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
            && json::same_members(&self.fields, &other.fields)
    }
}

/// The suffix that stamps frames from `from`: `,"from":"<id>"}`. Peer ids are from the URL-safe
/// alphabet, so nothing in them needs escaping.
fn from_suffix(from: &PeerId) -> String {
    format!(r#","from":"{}"}}"#, from.as_str())
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
        json::rebuild_without(&self.fields, "from", &from_suffix(from))
    }
}

/// Parses one client text frame. The error's text is the `bad_request` message to send back.
///
/// Rules beyond the contract's table, chosen so that routing is never ambiguous:
/// - a member the server reads (`type`, `to`, and the required payload member) given twice is a
///   `bad_request`: a receiver that reads the last one would otherwise disagree with the server;
/// - `sdp` must be a string (it is SDP text); `candidate` and `data` may be any JSON value,
///   including `null`, since they are opaque;
/// - `to`, where present, must be a string; members the contract does not name pass through.
pub fn parse_client_frame(text: &str) -> Result<ClientFrame<'_>, FrameError> {
    let fields = json::object(text)?;

    let kind: String = json::required_string(&fields, "type")?;
    let kind = match kind.as_str() {
        "offer" => RelayKind::Offer,
        "answer" => RelayKind::Answer,
        "candidate" => RelayKind::Candidate,
        "message" => RelayKind::Message,
        "leave" => return Ok(ClientFrame::Leave),
        "ping" => return Ok(ClientFrame::Ping),
        _ => return Err(FrameError::UnknownType(kind)),
    };
    let to = match kind {
        RelayKind::Message => json::optional_string(&fields, "to")?,
        _ => Some(json::required_string(&fields, "to")?),
    };
    match kind {
        RelayKind::Offer | RelayKind::Answer => {
            json::require_string(&fields, "sdp")?;
        }
        RelayKind::Candidate => {
            json::required_present(&fields, "candidate")?;
        }
        RelayKind::Message => {
            json::required_present(&fields, "data")?;
        }
    }
    Ok(ClientFrame::Relay(Relay { kind, to, fields }))
}
