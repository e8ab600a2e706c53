//! The PeerJS wire protocol (peers/peerjs-server 1.0.x, as the `peerjs` client 1.5 expects it),
//! and the state of one PeerJS peer: the third protocol, for apps that move from a PeerJS server
//! by changing the host (`docs/peerjs.md`).
//!
//! PeerJS has no rooms: any peer may message any other of the same `key` by id. So each
//! (key, id) is a Durable Object of its own holding that peer's one socket ([`Peer`]); a message
//! goes from the sender's object to the recipient's, which sends it, or holds it until the
//! recipient connects and answers `EXPIRE` to the sender if it does not within the expiry.
//! No object sees more than one peer's traffic: nothing funnels a key's messages.
//!
//! Client to server: `{"type":"OFFER"|"ANSWER"|"CANDIDATE"|"LEAVE"|"EXPIRE","dst":ID,"payload":…}`
//! and `{"type":"HEARTBEAT"}`. Server to client: `OPEN`, `ERROR` and `ID-TAKEN` (with
//! `payload.msg`), and relayed messages as `{"type","src","dst","payload"}` with `src` stamped
//! here (never read from the client) and `payload` forwarded as the raw JSON it arrived as.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::close;
use crate::room::{heard_from, Budget, Frame, Limits, Spend};

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
    /// Reads the decoded query pairs. The message of an error is the `ERROR` frame's.
    pub fn parse<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Join, String> {
        let (mut key, mut id, mut token) = (None, None, None);
        for (name, value) in pairs {
            let slot = match name {
                "key" => &mut key,
                "id" => &mut id,
                "token" => &mut token,
                _ => continue,
            };
            if slot.replace(value).is_some() {
                return Err(format!("`{name}` is given more than once"));
            }
        }
        let (Some(key), Some(id), Some(token)) = (key, id, token) else {
            // peerjs-server's words.
            return Err("No id, token, or key supplied to websocket server".into());
        };
        if !valid_key(key) {
            return Err("Invalid key provided: 1 to 64 of A-Z a-z 0-9 _ -".into());
        }
        if !valid_id(id) {
            return Err(format!(
                "Invalid id provided: 1 to {ID_MAX_LEN} characters, words of A-Z a-z 0-9 joined by single spaces, _ or -"
            ));
        }
        if !valid_token(token) {
            return Err(format!(
                "Invalid token provided: 1 to {TOKEN_MAX_LEN} of A-Z a-z 0-9 . _ ~ -"
            ));
        }
        Ok(Join {
            key: key.to_owned(),
            id: id.to_owned(),
            token: token.to_owned(),
        })
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

/// Reads a client frame. The error is the `ERROR` frame's message.
pub fn parse(text: &str) -> Result<Message<'_>, String> {
    let raw: Raw<'_> = serde_json::from_str(text)
        .map_err(|e| format!("Invalid message: not a JSON object with a string type ({e})"))?;
    let Some(kind) = raw.kind else {
        return Err("Invalid message: no type".into());
    };
    if kind == "HEARTBEAT" {
        return Ok(Message::Heartbeat);
    }
    let Some(kind) = Kind::parse(&kind) else {
        return Err(format!("Invalid message: unknown type {kind:?}"));
    };
    match raw.dst {
        None if kind == Kind::Leave => Ok(Message::Goodbye),
        None => Err(format!("Invalid message: {} needs a dst", kind.as_str())),
        Some(dst) if !valid_id(&dst) => Err(format!(
            "Invalid message: dst {:?} is not a PeerJS id",
            truncate(&dst)
        )),
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

/// What the peer's object must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action<S> {
    Send {
        to: S,
        frame: String,
    },
    Close {
        to: S,
        code: u16,
    },
    /// `frame` goes to the object of peer `dst` (same key), which holds it for a while if that
    /// peer is not connected and `hold` is set. Delivered in order per recipient.
    Deliver {
        dst: String,
        frame: String,
        hold: bool,
    },
    /// Record in the socket's attachment when the peer was last heard from.
    Touch {
        to: S,
        seen_ms: u64,
    },
    /// Set the expiry alarm for `at` (ms).
    ArmExpire {
        at: u64,
    },
    DisarmExpire,
}

/// What became of a message delivered to this peer's object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    Sent,
    /// Held until the peer connects or the expiry passes.
    Held,
    /// Not held: an `EXPIRE` or `LEAVE` to an absent peer, or the held messages are at their cap.
    Dropped,
}

impl Delivery {
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Sent => "sent",
            Delivery::Held => "held",
            Delivery::Dropped => "dropped",
        }
    }
}

struct Seat<S> {
    ws: S,
    token: String,
    seen_ms: u64,
    recorded_seen_ms: u64,
    budget: Budget,
}

struct Held {
    src: String,
    frame: String,
}

/// One PeerJS peer (a key and an id): its socket, if connected, and the messages held for it.
pub struct Peer<S> {
    id: String,
    limits: Limits,
    expire_ms: u64,
    seat: Option<Seat<S>>,
    held: Vec<Held>,
    held_bytes: usize,
    expire_at: Option<u64>,
}

impl<S: Clone + PartialEq> Peer<S> {
    pub fn new(id: &str, limits: Limits, expire_ms: u64) -> Self {
        Peer {
            id: id.to_owned(),
            limits,
            expire_ms,
            seat: None,
            held: Vec::new(),
            held_bytes: 0,
            expire_at: None,
        }
    }

    /// The peer as a hibernated socket's attachment describes it (after an eviction).
    pub fn restore(&mut self, ws: S, token: String, seen_ms: u64, now_ms: u64) {
        self.seat = Some(Seat {
            ws,
            token,
            seen_ms,
            recorded_seen_ms: seen_ms,
            budget: Budget::full(&self.limits, now_ms),
        });
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The connected socket, if any.
    pub fn socket(&self) -> Option<&S> {
        self.seat.as_ref().map(|s| &s.ws)
    }

    /// Whether the seat's socket has been silent (no frame, no auto-answered heartbeat) for the
    /// idle timeout: its close was lost, and it no longer holds the id.
    fn seat_is_dead(&self, now_ms: u64, last_heartbeat: &impl Fn(&S) -> Option<u64>) -> bool {
        self.seat.as_ref().is_some_and(|seat| {
            let seen = seat.seen_ms.max(last_heartbeat(&seat.ws).unwrap_or(0));
            now_ms.saturating_sub(seen) >= self.limits.idle_timeout_ms
        })
    }

    /// Closes a dead seat's socket (4008), freeing the id.
    fn drop_dead_seat(
        &mut self,
        now_ms: u64,
        last_heartbeat: &impl Fn(&S) -> Option<u64>,
        out: &mut Vec<Action<S>>,
    ) {
        if self.seat_is_dead(now_ms, last_heartbeat) {
            let seat = self.seat.take().expect("dead, so seated");
            out.push(Action::Close {
                to: seat.ws,
                code: close::TIMEOUT,
            });
        }
    }

    /// A socket asks for this id with `token`. Returns whether it is seated, and the actions:
    /// `OPEN` and the held messages for a seated socket (which replaces a socket with the same
    /// token, as the client's `reconnect()` does, or one that went silent); `ID-TAKEN` and a
    /// close for a socket whose token is not the live one's.
    pub fn join(
        &mut self,
        ws: S,
        token: &str,
        now_ms: u64,
        last_heartbeat: impl Fn(&S) -> Option<u64>,
    ) -> (bool, Vec<Action<S>>) {
        let mut out = Vec::new();
        self.drop_dead_seat(now_ms, &last_heartbeat, &mut out);
        if let Some(seat) = &self.seat {
            if seat.token != token {
                out.push(Action::Send {
                    to: ws.clone(),
                    frame: ID_TAKEN_FRAME.into(),
                });
                out.push(Action::Close {
                    to: ws,
                    code: close::PEER_ID_TAKEN,
                });
                return (false, out);
            }
            out.push(Action::Close {
                to: seat.ws.clone(),
                code: close::RESUMED_ELSEWHERE,
            });
        }
        self.seat = Some(Seat {
            ws: ws.clone(),
            token: token.to_owned(),
            seen_ms: now_ms,
            recorded_seen_ms: now_ms,
            budget: Budget::full(&self.limits, now_ms),
        });
        out.push(Action::Send {
            to: ws.clone(),
            frame: OPEN_FRAME.into(),
        });
        for held in self.held.drain(..) {
            out.push(Action::Send {
                to: ws.clone(),
                frame: held.frame,
            });
        }
        self.held_bytes = 0;
        if self.expire_at.take().is_some() {
            out.push(Action::DisarmExpire);
        }
        (true, out)
    }

    /// A frame from `ws`. Frames from a socket that is not the seat's (replaced) are ignored.
    pub fn frame(&mut self, ws: &S, frame: Frame<'_>, now_ms: u64) -> Vec<Action<S>> {
        let Some(seat) = self.seat.as_mut().filter(|s| s.ws == *ws) else {
            return Vec::new();
        };
        let text = match frame {
            Frame::Text(text) if text.len() <= self.limits.max_message_bytes => text,
            Frame::Text(_) | Frame::TooBig => return self.unseat(close::MESSAGE_TOO_BIG),
            Frame::Binary(_) => return self.unseat(close::UNSUPPORTED_DATA),
        };
        let mut out = Vec::new();
        if let Some(seen_ms) = heard_from(
            &mut seat.seen_ms,
            &mut seat.recorded_seen_ms,
            now_ms,
            &self.limits,
        ) {
            out.push(Action::Touch {
                to: seat.ws.clone(),
                seen_ms,
            });
        }
        match seat.budget.spend_message(&self.limits, now_ms) {
            Spend::Allowed => {}
            Spend::Refused => {
                out.push(self.error(RATE_LIMITED));
                return out;
            }
            Spend::Exhausted => return self.unseat(close::RATE_LIMITED),
        }
        match parse(text) {
            Err(message) => out.push(self.error(&message)),
            Ok(Message::Heartbeat) => {}
            Ok(Message::Goodbye) => out.extend(self.unseat(close::NORMAL)),
            Ok(Message::Relay { kind, dst, payload }) => {
                let frame = relay_frame(kind, &self.id, &dst, payload);
                let seat = self.seat.as_mut().expect("seated above");
                match seat.budget.spend_bytes(&self.limits, frame.len() as u64) {
                    Spend::Allowed => {}
                    Spend::Refused => {
                        out.push(self.error(RATE_LIMITED));
                        return out;
                    }
                    Spend::Exhausted => return self.unseat(close::RATE_LIMITED),
                }
                if dst == self.id {
                    out.push(Action::Send {
                        to: seat.ws.clone(),
                        frame,
                    });
                } else {
                    out.push(Action::Deliver {
                        dst,
                        frame,
                        hold: kind.held(),
                    });
                }
            }
        }
        out
    }

    fn error(&self, message: &str) -> Action<S> {
        Action::Send {
            to: self.seat.as_ref().expect("seated").ws.clone(),
            frame: error_frame(message),
        }
    }

    fn unseat(&mut self, code: u16) -> Vec<Action<S>> {
        match self.seat.take() {
            Some(seat) => vec![Action::Close { to: seat.ws, code }],
            None => Vec::new(),
        }
    }

    /// A message from peer `src` for this one (`frame` is final). Sent to the socket; held when
    /// there is none (or it went silent) and `hold` is set, the expiry armed by the first held.
    pub fn incoming(
        &mut self,
        src: &str,
        frame: String,
        hold: bool,
        now_ms: u64,
        last_heartbeat: impl Fn(&S) -> Option<u64>,
    ) -> (Delivery, Vec<Action<S>>) {
        let mut out = Vec::new();
        self.drop_dead_seat(now_ms, &last_heartbeat, &mut out);
        if let Some(seat) = &self.seat {
            out.push(Action::Send {
                to: seat.ws.clone(),
                frame,
            });
            return (Delivery::Sent, out);
        }
        if !hold || self.held_bytes + frame.len() > HELD_MAX_BYTES {
            return (Delivery::Dropped, out);
        }
        self.held_bytes += frame.len();
        self.held.push(Held {
            src: src.to_owned(),
            frame,
        });
        if self.expire_at.is_none() {
            let at = now_ms + self.expire_ms;
            self.expire_at = Some(at);
            out.push(Action::ArmExpire { at });
        }
        (Delivery::Held, out)
    }

    /// The expiry alarm: past the expiry, each sender of held messages gets one `EXPIRE` (the
    /// client's `peer-unavailable`) and the messages are dropped. Early: armed again.
    pub fn alarm(&mut self, now_ms: u64) -> Vec<Action<S>> {
        let Some(at) = self.expire_at else {
            return Vec::new();
        };
        if now_ms < at {
            return vec![Action::ArmExpire { at }];
        }
        self.expire_at = None;
        self.held_bytes = 0;
        let mut senders: Vec<String> = Vec::new();
        for held in self.held.drain(..) {
            if !senders.contains(&held.src) {
                senders.push(held.src);
            }
        }
        senders
            .into_iter()
            .map(|src| Action::Deliver {
                frame: relay_frame(Kind::Expire, &self.id, &src, None),
                dst: src,
                hold: false,
            })
            .collect()
    }

    /// The socket closed or failed. Nobody is told (PeerJS peers learn of departures from
    /// `LEAVE`s their peers send, or their connections failing).
    pub fn closed(&mut self, ws: &S) {
        if self.seat.as_ref().is_some_and(|s| s.ws == *ws) {
            self.seat = None;
        }
    }

    /// How many messages are held.
    pub fn held(&self) -> usize {
        self.held.len()
    }
}

/// The Durable Object of peer `id` on `key` (of the `PeerObject` class).
pub fn object_name(key: &str, id: &str) -> String {
    format!("peerjs/{key}/{id}")
}

/// The Durable Object that lists a key's connected ids, when discovery is on.
pub fn directory_name(key: &str) -> String {
    format!("peerjs/{key}")
}

/// What an object of the `PeerObject` class is, from its name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ObjectKind<'a> {
    Peer { key: &'a str, id: &'a str },
    Directory { key: &'a str },
}

impl<'a> ObjectKind<'a> {
    pub fn of(name: &'a str) -> Option<ObjectKind<'a>> {
        let rest = name.strip_prefix("peerjs/")?;
        Some(match rest.split_once('/') {
            Some((key, id)) => ObjectKind::Peer { key, id },
            None => ObjectKind::Directory { key: rest },
        })
    }
}

/// The requests objects of the `PeerObject` class take: from the Worker (a checked join, with
/// the token that decides takeovers in a header), from other peers' objects (a message), and,
/// for a key's directory, the ids that come and go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ObjectRequest {
    Join,
    Deliver { src: String, hold: bool },
    Listed { id: String, present: bool },
    List,
}

/// The header of a join's token on its way to the peer's object.
pub const TOKEN_HEADER: &str = "X-Edge-Signal-PeerJS-Token";

impl ObjectRequest {
    pub fn to_url(&self) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        let path = match self {
            ObjectRequest::Join => "join",
            ObjectRequest::List => "list",
            ObjectRequest::Deliver { src, hold } => {
                query.append_pair("src", src);
                query.append_pair("hold", if *hold { "1" } else { "0" });
                "deliver"
            }
            ObjectRequest::Listed { id, present } => {
                query.append_pair("id", id);
                query.append_pair("present", if *present { "1" } else { "0" });
                "listed"
            }
        };
        format!("https://peerjs.internal/{path}?{}", query.finish())
    }

    /// Reads the path and query of a request made by [`ObjectRequest::to_url`].
    pub fn parse(path: &str, query: &str) -> Result<ObjectRequest, String> {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .ok_or_else(|| format!("no {name}"))
        };
        let id =
            |name: &str| get(name).and_then(|v| valid_id(&v).then_some(v).ok_or("bad id".into()));
        Ok(match path {
            "/join" => ObjectRequest::Join,
            "/list" => ObjectRequest::List,
            "/deliver" => ObjectRequest::Deliver {
                src: id("src")?,
                hold: get("hold")? == "1",
            },
            "/listed" => ObjectRequest::Listed {
                id: id("id")?,
                present: get("present")? == "1",
            },
            other => return Err(format!("no such request: {other}")),
        })
    }
}

const RATE_LIMITED: &str = "rate_limited: over the message or byte budget; the message was dropped";

#[cfg(test)]
mod tests;
