//! The peer topology of the PeerJS endpoint (`docs/peerjs.md`): the state of one PeerJS peer,
//! and the names and internal requests of its objects. The codec is
//! [`crate::protocol::peerjs`].
//!
//! PeerJS has no rooms: any peer may message any other of the same `key` by id. So each
//! (key, id) is a Durable Object of its own holding that peer's one socket ([`Peer`]); a message
//! goes from the sender's object to the recipient's, which sends it, or holds it until the
//! recipient connects and answers `EXPIRE` to the sender if it does not within the expiry.
//! No object sees more than one peer's traffic: nothing funnels a key's messages.
//!
//! Sans I/O like the room: the time comes in, [`Outbound`] actions go out.

use crate::action::{Hook, Outbound};
use crate::error::close;
use crate::protocol::peerjs::*;
use crate::request::BadInternal;
use crate::seat::{Frame, Limits, Socket, Spend};

mod reach;
pub use reach::{Answer, Reach, Route};

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
    /// The delivery an object's answer names (`None` for "gone" and anything else).
    pub fn of(answer: &str) -> Option<Delivery> {
        [Delivery::Sent, Delivery::Held, Delivery::Dropped]
            .into_iter()
            .find(|d| d.as_str() == answer)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Sent => "sent",
            Delivery::Held => "held",
            Delivery::Dropped => "dropped",
        }
    }
}

/// The connected socket: the shared seat, and the token that decides takeovers.
struct Seat<S> {
    socket: Socket<S>,
    token: String,
    /// This connection of the id (its webhook events' `session`; a takeover keeps it).
    session: String,
    joined_ms: u64,
}

/// The `message` of the `ERROR` a peer removed by the admin API gets.
pub const KICKED_MESSAGE: &str = "kicked: removed by the app's server";

/// Where the runtime stores held messages, so that an eviction before their expiry keeps them:
/// each under this prefix and a counter, zero-padded to 20 digits (so they list in the order
/// held), as [`held_value`]. All go at once: taken by a join, or expired.
pub const HELD_PREFIX: &str = "peerjs:held:";

/// The storage key of the `n`th held message.
pub fn held_key(n: u64) -> String {
    format!("{HELD_PREFIX}{n:020}")
}

/// A held message as stored: `{expire_at}\n{src}\n{frame}` (ids have no newline).
pub fn held_value(expire_at: u64, src: &str, frame: &str) -> String {
    format!("{expire_at}\n{src}\n{frame}")
}

/// A stored held message's expiry, sender and text; `None` for anything else.
pub fn parse_held(value: &str) -> Option<(u64, &str, &str)> {
    let (expire_at, rest) = value.split_once('\n')?;
    let (src, frame) = rest.split_once('\n')?;
    Some((expire_at.parse().ok()?, src, frame))
}

/// The counter of a held message's storage key.
pub fn held_number(key: &str) -> Option<u64> {
    key.strip_prefix(HELD_PREFIX)?.parse().ok()
}

/// A message held for this peer. Its text is kept by the runtime ([`Outbound::Park`]), outside
/// this state: held messages are the bulk of a peer's memory, and the runtime's memory is
/// returned once they go, where the wasm module's never shrinks.
struct Held {
    src: String,
    bytes: usize,
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
    /// What this peer's own messages may do to others' objects.
    reach: Reach,
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
            reach: Reach::new(0),
        }
    }

    /// The peer as a hibernated socket's attachment describes it (after an eviction).
    pub fn restore(
        &mut self,
        ws: S,
        token: String,
        seen_ms: u64,
        now_ms: u64,
        session: Connection,
    ) {
        self.seat = Some(Seat {
            socket: Socket::new(ws, &self.limits, seen_ms, now_ms),
            token,
            session: session.session,
            joined_ms: session.joined_ms,
        });
    }

    /// The connected socket's session and when it joined, if any.
    pub fn connection(&self) -> Option<Connection> {
        self.seat.as_ref().map(|s| Connection {
            session: s.session.clone(),
            joined_ms: s.joined_ms,
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The connected socket, if any.
    pub fn socket(&self) -> Option<&S> {
        self.seat.as_ref().map(|s| &s.socket.conn)
    }

    /// Whether the seat's socket has been silent (no frame, no auto-answered heartbeat) for the
    /// idle timeout: its close was lost, and it no longer holds the id.
    fn seat_is_dead(&self, now_ms: u64, last_heartbeat: &impl Fn(&S) -> Option<u64>) -> bool {
        self.seat.as_ref().is_some_and(|seat| {
            let socket = &seat.socket;
            socket.silent(now_ms, last_heartbeat(&socket.conn), &self.limits)
        })
    }

    /// Closes a dead seat's socket (4008), freeing the id.
    fn drop_dead_seat(
        &mut self,
        now_ms: u64,
        last_heartbeat: &impl Fn(&S) -> Option<u64>,
        out: &mut Vec<Outbound<S>>,
    ) {
        if self.seat_is_dead(now_ms, last_heartbeat) {
            out.extend(self.unseat(close::TIMEOUT, "timeout"));
        }
    }

    /// A socket asks for this id with `token`. Returns whether it is seated, and the actions:
    /// `OPEN` and the held messages for a seated socket (which replaces a socket with the same
    /// token, as the client's `reconnect()` does, or one that went silent); `ID-TAKEN` and a
    /// close for a socket whose token is not the live one's. A new connection (not a takeover)
    /// is the session `new_session`, and its `peer.joined` event comes first.
    pub fn join(
        &mut self,
        ws: S,
        token: &str,
        now_ms: u64,
        new_session: String,
        last_heartbeat: impl Fn(&S) -> Option<u64>,
    ) -> (bool, Vec<Outbound<S>>) {
        let mut out = Vec::new();
        self.drop_dead_seat(now_ms, &last_heartbeat, &mut out);
        let mut socket = Socket::new(ws.clone(), &self.limits, now_ms, now_ms);
        let (mut session, mut joined_ms) = (new_session, now_ms);
        if let Some(seat) = &self.seat {
            if seat.token != token {
                out.push(Outbound::Send {
                    to: ws.clone(),
                    frame: ID_TAKEN_FRAME.into(),
                });
                out.push(Outbound::Close {
                    to: ws,
                    code: close::PEER_ID_TAKEN,
                });
                return (false, out);
            }
            out.push(Outbound::Close {
                to: seat.socket.conn.clone(),
                code: close::RESUMED_ELSEWHERE,
            });
            // The budget goes with the id, as a v1 resume keeps it: a takeover is not a way
            // to start over with a full one; so does the session, as a resume is no event.
            socket.budget = seat.socket.budget.clone();
            (session, joined_ms) = (seat.session.clone(), seat.joined_ms);
        } else {
            // Stored before the `OPEN` acknowledges it.
            out.push(Outbound::Hook {
                session: session.clone(),
                hook: Hook::PeerJoined {
                    peer: self.id.clone(),
                    meta: None,
                    peers: 1,
                },
            });
        }
        self.seat = Some(Seat {
            socket,
            token: token.to_owned(),
            session,
            joined_ms,
        });
        out.push(Outbound::Send {
            to: ws.clone(),
            frame: OPEN_FRAME.into(),
        });
        if !self.held.is_empty() {
            self.held.clear();
            out.push(Outbound::Unpark { to: ws.clone() });
        }
        self.held_bytes = 0;
        if self.expire_at.take().is_some() {
            out.push(Outbound::DisarmAlarm);
        }
        (true, out)
    }

    /// A frame from `ws`. Frames from a socket that is not the seat's (replaced) are ignored.
    pub fn frame(&mut self, ws: &S, frame: Frame<'_>, now_ms: u64) -> Vec<Outbound<S>> {
        let Some(seat) = self.seat.as_mut().filter(|s| s.socket.conn == *ws) else {
            return Vec::new();
        };
        let text = match self.limits.text(frame) {
            Ok(text) => text,
            Err(code) => return self.unseat(code, "disconnect"),
        };
        let socket = &mut seat.socket;
        let mut out = Vec::new();
        if let Some(seen_ms) = socket.heard(now_ms, &self.limits) {
            out.push(Outbound::Touch {
                to: socket.conn.clone(),
                seen_ms,
            });
        }
        match socket.budget.spend_message(&self.limits, now_ms) {
            Spend::Allowed => {}
            Spend::Refused => {
                out.push(self.error(RATE_LIMITED));
                return out;
            }
            Spend::Exhausted => return self.unseat(close::RATE_LIMITED, "disconnect"),
        }
        match parse(text) {
            Err(bad) => out.push(self.error(&bad.to_string())),
            Ok(Message::Heartbeat) => {}
            Ok(Message::Goodbye) => out.extend(self.unseat(close::NORMAL, "leave")),
            Ok(Message::Relay { kind, dst, payload }) => {
                let frame = relay_frame(kind, &self.id, &dst, payload);
                let socket = &mut self.seat.as_mut().expect("seated above").socket;
                match socket
                    .budget
                    .spend_bytes(&self.limits, frame.len() as u64, 1)
                {
                    Spend::Allowed => {}
                    Spend::Refused => {
                        out.push(self.error(RATE_LIMITED));
                        return out;
                    }
                    Spend::Exhausted => return self.unseat(close::RATE_LIMITED, "disconnect"),
                }
                if dst == self.id {
                    out.push(Outbound::Send {
                        to: socket.conn.clone(),
                        frame,
                    });
                    return out;
                }
                match self.reach.route(&dst, frame.len(), kind.held(), now_ms) {
                    Some(Route { wakes, hold }) => out.push(Outbound::Deliver {
                        dst,
                        frame,
                        hold,
                        wakes,
                        expire: kind.held(),
                    }),
                    // One new id too many: answered as if it had expired (the client's
                    // `peer-unavailable`, which, unlike `ERROR`, does not end its session).
                    None => out.extend(self.expire_from(&dst, now_ms)),
                }
            }
        }
        out
    }

    fn error(&self, message: &str) -> Outbound<S> {
        Outbound::Send {
            to: self.seat.as_ref().expect("seated").socket.conn.clone(),
            frame: error_frame(message),
        }
    }

    /// Frees the id: its `peer.left` event (`reason`), then the socket's close with `code`.
    fn unseat(&mut self, code: u16, reason: &'static str) -> Vec<Outbound<S>> {
        match self.seat.take() {
            Some(seat) => vec![
                Self::left(seat.session, &self.id, reason),
                Outbound::Close {
                    to: seat.socket.conn,
                    code,
                },
            ],
            None => Vec::new(),
        }
    }

    fn left(session: String, id: &str, reason: &'static str) -> Outbound<S> {
        Outbound::Hook {
            session,
            hook: Hook::PeerLeft {
                peer: id.to_owned(),
                reason,
                peers: 0,
            },
        }
    }

    /// Removes the connected socket (the admin API): it gets an `ERROR` saying so (the client's
    /// `server-error`, which ends its session) and closes with 4010. `None` when none is.
    pub fn kick(&mut self) -> Option<Vec<Outbound<S>>> {
        let to = self.socket()?.clone();
        let mut out = self.unseat(close::KICKED, "kicked");
        // Told after its departure is stored, before its close.
        out.insert(
            1,
            Outbound::Send {
                to,
                frame: error_frame(KICKED_MESSAGE),
            },
        );
        Some(out)
    }

    /// The socket a message for this peer goes to now, if it is connected: what
    /// [`Peer::incoming`] decides first, so a runtime can send a frame it has at hand without
    /// reading it (and call `incoming` only when there is none). A seat gone silent is dropped
    /// first; the actions are its removal's.
    pub fn recipient(
        &mut self,
        now_ms: u64,
        last_heartbeat: impl Fn(&S) -> Option<u64>,
    ) -> (Option<S>, Vec<Outbound<S>>) {
        let mut out = Vec::new();
        self.drop_dead_seat(now_ms, &last_heartbeat, &mut out);
        (self.seat.as_ref().map(|s| s.socket.conn.clone()), out)
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
    ) -> (Delivery, Vec<Outbound<S>>) {
        let (to, mut out) = self.recipient(now_ms, last_heartbeat);
        if let Some(to) = to {
            out.push(Outbound::Send { to, frame });
            return (Delivery::Sent, out);
        }
        if !hold || self.held_bytes + frame.len() > HELD_MAX_BYTES {
            return (Delivery::Dropped, out);
        }
        self.held_bytes += frame.len();
        self.held.push(Held {
            src: src.to_owned(),
            bytes: frame.len(),
        });
        let (expire_at, arm) = match self.expire_at {
            Some(at) => (at, false),
            None => (now_ms + self.expire_ms, true),
        };
        self.expire_at = Some(expire_at);
        out.push(Outbound::Park {
            src: src.to_owned(),
            frame,
            expire_at,
        });
        if arm {
            out.push(Outbound::ArmAlarm { at: expire_at });
        }
        (Delivery::Held, out)
    }

    /// The expiry alarm: past the expiry, each sender of held messages gets one `EXPIRE` (the
    /// client's `peer-unavailable`) and the messages are dropped. Early: armed again.
    pub fn alarm(&mut self, now_ms: u64) -> Vec<Outbound<S>> {
        let Some(at) = self.expire_at else {
            return Vec::new();
        };
        if now_ms < at {
            return vec![Outbound::ArmAlarm { at }];
        }
        self.expire_at = None;
        self.held_bytes = 0;
        let mut senders: Vec<String> = Vec::new();
        for held in self.held.drain(..) {
            if !senders.contains(&held.src) {
                senders.push(held.src);
            }
        }
        let mut out = vec![Outbound::DropParked];
        out.extend(senders.into_iter().map(|src| Outbound::Deliver {
            frame: relay_frame(Kind::Expire, &self.id, &src, None),
            dst: src,
            hold: false,
            wakes: false,
            expire: false,
        }));
        out
    }

    /// The socket closed or failed: only its `peer.left` event (PeerJS peers learn of
    /// departures from `LEAVE`s their peers send, or their connections failing).
    pub fn closed(&mut self, ws: &S) -> Vec<Outbound<S>> {
        match self.seat.take_if(|s| s.socket.conn == *ws) {
            Some(seat) => vec![Self::left(seat.session, &self.id, "disconnect")],
            None => Vec::new(),
        }
    }

    /// The held messages as the runtime's storage kept them through an eviction: each sender
    /// and the message's length, in the order held, and the expiry they share (the object's
    /// alarm is still set for it). Before any socket or message: at construction.
    pub fn restore_held(
        &mut self,
        held: impl IntoIterator<Item = (String, usize)>,
        expire_at: u64,
    ) {
        for (src, bytes) in held {
            self.held_bytes += bytes;
            self.held.push(Held { src, bytes });
        }
        if !self.held.is_empty() {
            self.expire_at = Some(expire_at);
        }
    }

    /// When the held messages expire, if any are held.
    pub fn expire_at(&self) -> Option<u64> {
        self.expire_at
    }

    /// How many messages are held, and their bytes.
    pub fn held(&self) -> (usize, usize) {
        (self.held.len(), self.held.iter().map(|h| h.bytes).sum())
    }

    /// The answer of `dst`'s object to a message of `bytes` this peer sent it (as
    /// [`Outbound::Deliver`] with `hold`, `wakes` and `expire`; `None` when none came): gives a
    /// wake back or keeps its cost, releases or keeps its parked bytes, and tells this peer's
    /// socket `EXPIRE` (once per id and expiry) when a message PeerJS would hold was dropped.
    /// Returns the actions, and whether the message woke an absent id, which counts against
    /// the client's join rate.
    pub fn answered(
        &mut self,
        dst: &str,
        bytes: usize,
        (route, expire): (Route, bool),
        delivery: Option<Delivery>,
        now_ms: u64,
    ) -> (Vec<Outbound<S>>, bool) {
        let answer = match delivery {
            Some(Delivery::Held) => Answer::Held {
                expire_ms: self.expire_ms,
            },
            Some(Delivery::Dropped) => Answer::Dropped,
            Some(Delivery::Sent) | None => Answer::Connected,
        };
        self.reach.answered(dst, bytes, route, answer, now_ms);
        let absent = answer != Answer::Connected;
        let out = match expire && answer == Answer::Dropped {
            true => self.expire_from(dst, now_ms).into_iter().collect(),
            false => Vec::new(),
        };
        (out, route.wakes && absent)
    }

    /// The client's join rate refused the wake of `dst` ([`Peer::answered`]): no more wakes
    /// until the bucket refills, and `dst` is a wake again.
    pub fn wake_refused(&mut self, dst: &str, now_ms: u64) {
        self.reach.wakes_refused(dst, now_ms);
    }

    /// `EXPIRE` from `dst` to this peer's socket, once per id within the expiry (a burst of
    /// candidates to an absent id is one `peer-unavailable`, as peerjs-server's one per
    /// sender).
    fn expire_from(&mut self, dst: &str, now_ms: u64) -> Option<Outbound<S>> {
        let seat = self.seat.as_ref()?;
        self.reach
            .tell_expired(dst, self.expire_ms, now_ms)
            .then(|| Outbound::Send {
                to: seat.socket.conn.clone(),
                frame: relay_frame(Kind::Expire, dst, &self.id, None),
            })
    }
}

/// A connection of the id, as its socket's attachment keeps it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Connection {
    pub session: String,
    pub joined_ms: u64,
}

/// The requests objects of the `PeerObject` class take: from the Worker (a checked join, with
/// the token that decides takeovers in a header), from other peers' objects (a message), and,
/// for a key's directory, the ids that come and go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ObjectRequest {
    Join,
    Deliver {
        src: String,
        hold: bool,
    },
    /// A WebSocket from `src`'s object for its messages to this peer: each frame a
    /// [`link_frame`], each answered in order with what became of it ([`Delivery`], or "gone").
    Link {
        src: String,
    },
    Listed {
        id: String,
        present: bool,
    },
    List,
    /// The admin API (its secret checked by the Worker): the id's report, or (`kick`) its
    /// socket removed.
    Admin {
        kick: bool,
    },
}

/// A message on a link ([`ObjectRequest::Link`]): whether it is to be held, then the frame.
pub fn link_frame(hold: bool, frame: &str) -> String {
    let mut text = String::with_capacity(frame.len() + 1);
    text.push(if hold { '1' } else { '0' });
    text.push_str(frame);
    text
}

/// A link's message read back: whether to hold it, and the frame; `None` for anything else.
pub fn parse_link_frame(text: &str) -> Option<(bool, &str)> {
    match text.as_bytes().first()? {
        b'1' => Some((true, &text[1..])),
        b'0' => Some((false, &text[1..])),
        _ => None,
    }
}

/// What a link's sender asks when it has waited a moment for answers: the count of sent
/// messages not yet reported ([`LinkAnswers::flush`]).
pub const LINK_FLUSH: &str = "?";

/// The answers a recipient owes on one link. A message that was sent is the common case and
/// needs no answer at once: they are counted and reported together, as the count, when
/// [`LINK_SENT_BATCH`] messages or [`LINK_SENT_BYTES`] bytes were sent, before any other
/// answer (so the sender pairs every answer with its message, in order), and when the sender
/// asks ([`LINK_FLUSH`], answered with `"?"` and the count, so the sender knows that nothing
/// before it is owed any more). Frames: `"16"` (16 sent), `"3held"` (3 sent, then one held),
/// `"?2"` (2 sent, and that was all).
#[derive(Default)]
pub struct LinkAnswers {
    sent: usize,
    bytes: usize,
}

/// Sent messages reported together at most (see [`LinkAnswers`]).
pub const LINK_SENT_BATCH: usize = 16;
/// Bytes of sent messages reported together at most: the sender counts a message's bytes as
/// parked until its answer, so a batch stays well under its bound.
pub const LINK_SENT_BYTES: usize = 32 << 10;

impl LinkAnswers {
    /// The answer to a message of `bytes` (a [`Delivery`]'s name, or "gone"): the frame to
    /// send on the link now, if any.
    pub fn answer(&mut self, answer: &str, bytes: usize) -> Option<String> {
        if answer != Delivery::Sent.as_str() {
            return Some(format!("{}{answer}", std::mem::take(&mut self.sent)))
                .inspect(|_| self.bytes = 0);
        }
        self.sent += 1;
        self.bytes += bytes;
        (self.sent >= LINK_SENT_BATCH || self.bytes >= LINK_SENT_BYTES).then(|| self.take())
    }

    /// The answer to [`LINK_FLUSH`]: every sent message not yet reported.
    pub fn flush(&mut self) -> String {
        format!("{LINK_FLUSH}{}", self.take())
    }

    fn take(&mut self) -> String {
        self.bytes = 0;
        std::mem::take(&mut self.sent).to_string()
    }
}

/// The header of a join's token on its way to the peer's object.
pub const TOKEN_HEADER: &str = "X-Edge-Signal-PeerJS-Token";

impl ObjectRequest {
    pub fn to_url(&self) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        let path = match self {
            ObjectRequest::Join => "join",
            ObjectRequest::List => "list",
            ObjectRequest::Admin { kick: false } => "admin/get",
            ObjectRequest::Admin { kick: true } => "admin/kick",
            ObjectRequest::Deliver { src, hold } => {
                query.append_pair("src", src);
                query.append_pair("hold", if *hold { "1" } else { "0" });
                "deliver"
            }
            ObjectRequest::Link { src } => {
                query.append_pair("src", src);
                "link"
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
    pub fn parse(path: &str, query: &str) -> Result<ObjectRequest, BadInternal> {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let get = |name: &'static str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .ok_or(BadInternal::Field(name))
        };
        let id = |name: &'static str| {
            get(name).and_then(|v| valid_id(&v).then_some(v).ok_or(BadInternal::Field(name)))
        };
        Ok(match path {
            "/join" => ObjectRequest::Join,
            "/list" => ObjectRequest::List,
            "/admin/get" => ObjectRequest::Admin { kick: false },
            "/admin/kick" => ObjectRequest::Admin { kick: true },
            "/deliver" => ObjectRequest::Deliver {
                src: id("src")?,
                hold: get("hold")? == "1",
            },
            "/link" => ObjectRequest::Link { src: id("src")? },
            "/listed" => ObjectRequest::Listed {
                id: id("id")?,
                present: get("present")? == "1",
            },
            other => return Err(BadInternal::Path(other.to_owned())),
        })
    }
}

const RATE_LIMITED: &str = "rate_limited: over the message or byte budget; the message was dropped";

#[cfg(test)]
mod tests;
