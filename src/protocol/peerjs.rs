//! The PeerJS wire protocol (peers/peerjs-server 1.0.x, as the `peerjs` client 1.5 expects it),
//! for apps that move from a PeerJS server by changing the host (`docs/peerjs.md`). The state
//! of one peer, its topology, is [`crate::peer`].
//!
//! Client to server: `{"type":"OFFER"|"ANSWER"|"CANDIDATE"|"LEAVE"|"EXPIRE","dst":ID,"payload":…}`
//! and `{"type":"HEARTBEAT"}`. Server to client: `OPEN`, `ERROR` and `ID-TAKEN` (with
//! `payload.msg`), and relayed messages as `{"type","src","dst","payload"}` with `src` stamped
//! here (never read from the client) and `payload` forwarded as the raw JSON it arrived as.

use serde::Deserialize;
use serde_json::value::RawValue;

use std::fmt;

/// The exact heartbeat the `peerjs` client sends every `pingInterval` (5 s): answered by the
/// runtime's auto-response with the same frame, which the client ignores, so an idle peer wakes
/// nothing.
pub const HEARTBEAT_FRAME: &str = r#"{"type":"HEARTBEAT"}"#;

/// The longest id or key (PeerJS sets none; the server's own ids are 36-character UUIDs).
pub const ID_MAX_LEN: usize = 64;
/// The longest `token` (the client's are a few characters of base 36; a signed join's is a JWT).
pub const TOKEN_MAX_LEN: usize = 2048;
/// The most held bytes one offline peer may accumulate (from all senders) before more are
/// dropped: enough for several offers with their candidates.
pub const HELD_MAX_BYTES: usize = 256 << 10;

/// An id as the `peerjs` client validates it (`validateId`): words of `A-Z a-z 0-9` joined by
/// single spaces, `_` or `-`; here also at most [`ID_MAX_LEN`] characters.
pub fn valid_id(id: &str) -> bool {
    let mut after_separator = true;
    for b in id.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => after_separator = false,
            b' ' | b'_' | b'-' if !after_separator => after_separator = true,
            _ => return false,
        }
    }
    !id.is_empty() && id.len() <= ID_MAX_LEN && !after_separator
}

/// A key (a namespace: peers of different keys never meet): 1 to 64 of `A-Z a-z 0-9 _ -`.
pub fn valid_key(key: &str) -> bool {
    crate::protocol::is_valid_id(key)
}

/// A token: 1 to [`TOKEN_MAX_LEN`] characters of `A-Z a-z 0-9 . _ ~ -` (a JWT fits).
pub fn valid_token(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= TOKEN_MAX_LEN
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-'))
}

/// The query of a PeerJS socket: `?key=K&id=ID&token=T&version=V`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Join {
    pub key: String,
    pub id: String,
    pub token: String,
}

impl Join {
    /// Reads the decoded query pairs. The error's text is the `ERROR` frame's message.
    pub fn parse<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Join, BadJoin> {
        let (mut key, mut id, mut token) = (None, None, None);
        for (name, value) in pairs {
            let slot = match name {
                "key" => &mut key,
                "id" => &mut id,
                "token" => &mut token,
                _ => continue,
            };
            if slot.replace(value).is_some() {
                return Err(BadJoin::Repeated(name.to_owned()));
            }
        }
        let (Some(key), Some(id), Some(token)) = (key, id, token) else {
            return Err(BadJoin::Missing);
        };
        if !valid_key(key) {
            return Err(BadJoin::Key);
        }
        if !valid_id(id) {
            return Err(BadJoin::Id);
        }
        if !valid_token(token) {
            return Err(BadJoin::Token);
        }
        Ok(Join {
            key: key.to_owned(),
            id: id.to_owned(),
            token: token.to_owned(),
        })
    }
}

/// Why a PeerJS socket's query was refused; its text is the `ERROR` frame's message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BadJoin {
    Repeated(String),
    /// `key`, `id` or `token` is absent.
    Missing,
    Key,
    Id,
    Token,
}

impl fmt::Display for BadJoin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadJoin::Repeated(name) => write!(f, "`{name}` is given more than once"),
            // peerjs-server's words.
            BadJoin::Missing => f.write_str("No id, token, or key supplied to websocket server"),
            BadJoin::Key => f.write_str("Invalid key provided: 1 to 64 of A-Z a-z 0-9 _ -"),
            BadJoin::Id => write!(
                f,
                "Invalid id provided: 1 to {ID_MAX_LEN} characters, words of A-Z a-z 0-9 joined by single spaces, _ or -"
            ),
            BadJoin::Token => write!(
                f,
                "Invalid token provided: 1 to {TOKEN_MAX_LEN} of A-Z a-z 0-9 . _ ~ -"
            ),
        }
    }
}

/// The relayed message types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Offer,
    Answer,
    Candidate,
    Leave,
    Expire,
}

impl Kind {
    fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "OFFER" => Kind::Offer,
            "ANSWER" => Kind::Answer,
            "CANDIDATE" => Kind::Candidate,
            "LEAVE" => Kind::Leave,
            "EXPIRE" => Kind::Expire,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Offer => "OFFER",
            Kind::Answer => "ANSWER",
            Kind::Candidate => "CANDIDATE",
            Kind::Leave => "LEAVE",
            Kind::Expire => "EXPIRE",
        }
    }

    /// Whether a message of this type waits for a recipient that is not connected (as
    /// peerjs-server's queue: `LEAVE` and `EXPIRE` to an absent peer are dropped).
    pub fn held(self) -> bool {
        !matches!(self, Kind::Leave | Kind::Expire)
    }
}

/// A client frame, read only as far as routing needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message<'a> {
    /// A `HEARTBEAT` that was not byte-exact [`HEARTBEAT_FRAME`] (the exact one never arrives).
    Heartbeat,
    /// `LEAVE` without `dst`: the peer is going away (peerjs-server removes it).
    Goodbye,
    Relay {
        kind: Kind,
        dst: String,
        payload: Option<&'a str>,
    },
}

#[derive(Deserialize)]
struct Raw<'a> {
    #[serde(rename = "type")]
    kind: Option<String>,
    dst: Option<String>,
    #[serde(borrow)]
    payload: Option<&'a RawValue>,
}

/// Why a PeerJS frame was not read; its text is the `ERROR` frame's message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BadMessage {
    /// Not a JSON object with a string `type` (serde's words).
    NotJson(String),
    NoType,
    UnknownType(String),
    /// A relayed type without `dst`.
    NoDst(Kind),
    /// A `dst` that is not a PeerJS id (cut to [`ID_MAX_LEN`] characters).
    BadDst(String),
}

impl fmt::Display for BadMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Invalid message: ")?;
        match self {
            BadMessage::NotJson(e) => write!(f, "not a JSON object with a string type ({e})"),
            BadMessage::NoType => f.write_str("no type"),
            BadMessage::UnknownType(t) => write!(f, "unknown type {t:?}"),
            BadMessage::NoDst(kind) => write!(f, "{} needs a dst", kind.as_str()),
            BadMessage::BadDst(dst) => write!(f, "dst {dst:?} is not a PeerJS id"),
        }
    }
}

/// Reads a client frame.
pub fn parse(text: &str) -> Result<Message<'_>, BadMessage> {
    let raw: Raw<'_> =
        serde_json::from_str(text).map_err(|e| BadMessage::NotJson(e.to_string()))?;
    let Some(kind) = raw.kind else {
        return Err(BadMessage::NoType);
    };
    if kind == "HEARTBEAT" {
        return Ok(Message::Heartbeat);
    }
    let Some(kind) = Kind::parse(&kind) else {
        return Err(BadMessage::UnknownType(kind));
    };
    match raw.dst {
        None if kind == Kind::Leave => Ok(Message::Goodbye),
        None => Err(BadMessage::NoDst(kind)),
        Some(dst) if !valid_id(&dst) => Err(BadMessage::BadDst(truncate(&dst).to_owned())),
        Some(dst) => Ok(Message::Relay {
            kind,
            dst,
            payload: raw.payload.map(RawValue::get),
        }),
    }
}

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(ID_MAX_LEN) {
        Some((at, _)) => &s[..at],
        None => s,
    }
}

/// `{"type":"OPEN"}`: the socket is this id's.
pub const OPEN_FRAME: &str = r#"{"type":"OPEN"}"#;

/// `{"type":"ERROR","payload":{"msg":…}}`: the `peerjs` client reports it as `server-error`.
pub fn error_frame(msg: &str) -> String {
    let msg = serde_json::to_string(msg).expect("a string serializes");
    format!(r#"{{"type":"ERROR","payload":{{"msg":{msg}}}}}"#)
}

/// `ID-TAKEN`, exactly as peerjs-server sends it (the client reports `unavailable-id`).
pub const ID_TAKEN_FRAME: &str = r#"{"type":"ID-TAKEN","payload":{"msg":"ID is taken"}}"#;

/// A relayed message as the recipient reads it. Ids are from the id alphabet: nothing to escape.
pub fn relay_frame(kind: Kind, src: &str, dst: &str, payload: Option<&str>) -> String {
    match payload {
        Some(p) => format!(
            r#"{{"type":"{}","src":"{src}","dst":"{dst}","payload":{p}}}"#,
            kind.as_str()
        ),
        None => format!(
            r#"{{"type":"{}","src":"{src}","dst":"{dst}"}}"#,
            kind.as_str()
        ),
    }
}

/// What a sender hears when the socket of the peer `gone` would not take its message: `LEAVE`
/// from that peer, as peerjs-server answers.
pub fn leave_from(gone: &str, to: &str) -> String {
    relay_frame(Kind::Leave, gone, to, None)
}
