//! The room: who is in it, its capacity, and what each event sends to whom.
//!
//! A sans-I/O state machine in the manner of rustls: no I/O, no clock, no randomness, no `worker`
//! types. The caller (the Durable Object adapter in `runtime/room_object.rs`, or a test) feeds it
//! events — a join, a frame, a socket gone, a sweep for silent peers — with the time and any
//! random values as arguments, and carries out the [`Outbound`] actions it returns, in order.
//!
//! ```text
//!   admit(request, conn, now, pinged) ──┐            ┌──> Send / Forward { to, .. }
//!   frame(peer, seq, f, now) ───────────┤            ├──> Close { to, code }
//!   depart(peer, seq) ──────────────────┼─> Room<C> ─┼──> Touch { to, seen_ms }  (record last-seen)
//!   alarm_fired(now, pinged) ───────────┘            ├──> ArmAlarm { at } / DisarmAlarm
//!                                                    └──> Event(RoomEvent)       (observability)
//! ```
//!
//! The room also decides when its sweep alarm must exist: while it is a call (two or more peers),
//! so a peer that goes silent is dropped and the others are told; never once it is empty. A room
//! of one needs none: [`Room::admit`] sweeps before every join. After a restore the room does not
//! know whether an alarm is set ([`SweepAlarm::Unknown`]); the adapter asks the runtime and says
//! so with [`Room::alarm_known`].
//!
//! `C` is the caller's handle for a connection (a `worker::WebSocket` in the adapter, a plain
//! value in tests); the room stores it beside each peer, so the peer-id-to-socket index the relay
//! path needs is this struct itself. Each seat also has a `seq`, unique within the room's life:
//! events name their socket by `(peer, seq)`, so a late close event from a socket that already
//! left (or was replaced by a resume) cannot remove the peer who holds the id now.

use std::ops::{Deref, DerefMut};

use subtle::ConstantTimeEq;

use serde::{Deserialize, Serialize};

use crate::error::{close, RoomError};
use crate::meta::{Meta, MetaOf};
use crate::protocol::{LeaveReason, PeerId, RoomId, ServerMessage, Wire};

pub use crate::action::{EventKind, Hook, Outbound, RoomEvent};
pub use crate::seat::{heard_from, Budget, Frame, Limits, Socket, Spend};

/// One connected peer: its place in the room, and its socket's seat ([`Socket`], which it
/// dereferences to: `seat.conn`, `seat.budget`).
#[derive(Clone, Debug, PartialEq)]
pub struct Seat<C> {
    pub peer: PeerId,
    /// This socket's number within the room's life: tells it from an older socket with the
    /// same id (a resume gives the seat a new one).
    pub seq: u64,
    /// The seat's place in the join order: the `seq` of the join that opened it, kept by a
    /// resume, so a room rebuilt after eviction lists its peers in the order they joined.
    pub order: u64,
    /// The secret that lets a new socket take this seat over (`?resume=`).
    pub resume: String,
    /// What the others see of this peer (`crate::meta`), kept through resumes.
    pub meta: Option<Meta>,
    /// When the peer was seated (ms), kept through resumes (the admin API's `joined_at`).
    pub joined_ms: u64,
    pub socket: Socket<C>,
}

impl<C> Deref for Seat<C> {
    type Target = Socket<C>;
    fn deref(&self) -> &Socket<C> {
        &self.socket
    }
}

impl<C> DerefMut for Seat<C> {
    fn deref_mut(&mut self) -> &mut Socket<C> {
        &mut self.socket
    }
}

/// What the room knows of its sweep alarm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SweepAlarm {
    /// None is set.
    Off,
    /// One is set for this time (ms).
    At(u64),
    /// The room was restored from its sockets and has not been told (see [`Room::alarm_known`]).
    Unknown,
}

/// A join, after the Worker has checked the room name, peer id, capacity and token.
#[derive(Clone, Debug)]
pub struct JoinRequest<'a> {
    /// The room's name, for `welcome`. (The room does not keep it: a Durable Object woken by a
    /// socket event has no request to read it from, and relaying never needs it.)
    pub room: &'a RoomId,
    /// The id asked for, or one the caller generated at random.
    pub peer: PeerId,
    /// Only used when this join opens an empty room.
    pub capacity: Option<u32>,
    /// The `ice_servers` of this peer's `welcome`.
    pub ice_servers: &'a crate::json::Json,
    /// The resume secret the client presented (`?resume=`), if any.
    pub resume: Option<&'a str>,
    /// A fresh random secret for this seat, sent in `welcome.resume`.
    pub new_resume_secret: String,
    /// The newcomer's metadata (unused by a resume: the seat keeps its own).
    pub meta: Option<Meta>,
    /// A fresh random id: the session's if this join opens the room (control v1: webhook events
    /// and the admin API name each opening of a room by it).
    pub new_session: String,
}

/// What a seated socket carries across hibernation (its attachment, as JSON text; the runtime
/// keeps at most 2,048 bytes: [`crate::seat::ATTACHMENT_MAX_BYTES`]), from which the adapter rebuilds the room.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    pub peer: PeerId,
    pub seq: u64,
    /// The seat's place in the join order (`Seat::order`); absent on sockets attached before
    /// it existed, whose seq is their order unless they resumed.
    #[serde(default)]
    pub order: Option<u64>,
    pub capacity: u32,
    pub resume: String,
    /// When the peer last sent a frame, refreshed at most every quarter idle timeout.
    pub seen_ms: u64,
    /// A matchbox group's sockets, once it has been full: it takes nobody (kept with the
    /// sockets, so the group needs no storage; an emptied group is a new one).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub closed: bool,
    /// The peer's metadata (compact JSON, at most 1,024 bytes: with the longest id and every
    /// other field at its largest it still fits the 2,048-byte attachment). Embedded as the JSON
    /// it is, not as a string: escaped, a `"` or `\` would take two bytes, and metadata full of
    /// them would not fit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<crate::json::Json>,
    /// When the peer was seated (`Seat::joined_ms`); absent on sockets attached before it
    /// existed, whose last-seen time stands in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joined_ms: Option<u64>,
    /// The room's session ([`Room::session`]), the same on every socket of the room.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
}

/// An accepted join: what the adapter records on the socket to rebuild the room after eviction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Joined {
    pub seq: u64,
    /// The seat's place in the join order ([`Seat::order`]).
    pub order: u64,
    pub capacity: u32,
    /// True when this join took over a live seat (the old socket is closed with 4009).
    pub resumed: bool,
    /// The seat's metadata (a resume's is the seat's own).
    pub meta: Option<Meta>,
    /// When the seat was first taken (a resume's is the seat's own).
    pub joined_ms: u64,
    /// The room's session.
    pub session: String,
}

/// The outcome of [`Room::join`]: accepted or refused, and the actions either way (`welcome`
/// and `peer_joined`s, or an `error` then a close; and the log event).
#[derive(Debug)]
pub struct JoinOutcome<C> {
    pub result: Result<Joined, RoomError>,
    pub out: Vec<Outbound<C>>,
}

/// The peers of one room and its capacity.
#[derive(Debug)]
pub struct Room<C> {
    limits: Limits,
    /// Meaningful while the room is not empty; set anew by the join that opens it.
    capacity: u32,
    /// In join order.
    seats: Vec<Seat<C>>,
    next_seq: u64,
    alarm: SweepAlarm,
    /// How its frames are read and written.
    wire: Wire,
    /// This opening of the room: set by the join that opens it, `None` while it is empty.
    session: Option<String>,
}

impl<C: Clone> Room<C> {
    /// An empty room.
    pub fn new(limits: Limits) -> Self {
        let capacity = limits.default_capacity;
        Room {
            limits,
            capacity,
            seats: Vec::new(),
            next_seq: 0,
            alarm: SweepAlarm::Off,
            wire: Wire::V1,
            session: None,
        }
    }

    /// The same room speaking `wire` (v1 unless told).
    pub fn speaking(mut self, wire: Wire) -> Self {
        self.wire = wire;
        self
    }

    pub fn wire(&self) -> Wire {
        self.wire
    }

    /// `msg` as a `Send` to `to`, if this room's protocol has such a message.
    fn send(&self, to: C, msg: &ServerMessage) -> Option<Outbound<C>> {
        self.wire
            .render(msg)
            .map(|frame| Outbound::Send { to, frame })
    }

    /// A room rebuilt from its live sockets, e.g. after the object was evicted from memory while
    /// its sockets stayed open. `capacity` is the one recorded on those sockets; their session
    /// follows with [`Room::in_session`].
    pub fn restore(limits: Limits, capacity: u32, seats: Vec<Seat<C>>) -> Self {
        // Two sockets can claim one id only if one was on its way out when the object was
        // evicted; the newer one (higher seq) is the live peer. (A handful of seats: a scan per
        // seat is cheaper in code than a second sort.)
        let mut kept: Vec<Seat<C>> = Vec::with_capacity(seats.len());
        for seat in seats {
            match kept.iter_mut().find(|k| k.peer == seat.peer) {
                Some(k) if k.seq < seat.seq => *k = seat,
                Some(_) => {}
                None => kept.push(seat),
            }
        }
        // In join order, which a resume does not change (each put in its place: a sort would
        // link a sort's code for this).
        let mut ordered: Vec<Seat<C>> = Vec::with_capacity(kept.len());
        for seat in kept {
            let at = ordered.partition_point(|s| s.order < seat.order);
            ordered.insert(at, seat);
        }
        let kept = ordered;
        let next_seq = kept.iter().map(|s| s.seq + 1).max().unwrap_or(0);
        let mut room = Room::new(limits);
        if !kept.is_empty() {
            room.capacity = capacity;
        }
        room.seats = kept;
        room.next_seq = next_seq;
        // An alarm set before the eviction is still set (storage outlives the object); whether
        // one is, only the runtime knows. With no seats there is nothing to sweep: a stray alarm
        // would fire once, find nobody and not re-arm.
        if !room.seats.is_empty() {
            room.alarm = SweepAlarm::Unknown;
        }
        room
    }

    /// A restored room's session, as its sockets recorded it (ignored for an empty room).
    pub fn in_session(mut self, session: String) -> Self {
        if !self.seats.is_empty() {
            self.session = Some(session);
        }
        self
    }

    /// This opening of the room (control v1's `session`), `None` while it is empty.
    pub fn session(&self) -> Option<&str> {
        self.session.as_deref()
    }

    /// What the room knows of its sweep alarm.
    pub fn sweep_alarm(&self) -> SweepAlarm {
        self.alarm
    }

    /// The runtime says which alarm is set (`getAlarm()`), after a restore.
    pub fn alarm_known(&mut self, at: Option<u64>) {
        self.alarm = at.map_or(SweepAlarm::Off, SweepAlarm::At);
    }

    /// The sweep alarm fired at `now_ms` (so none is set any more): drops the silent peers and
    /// asks for the next sweep while the room is still a call.
    pub fn alarm_fired(
        &mut self,
        now_ms: u64,
        pinged: impl Fn(&C) -> Option<u64>,
    ) -> Vec<Outbound<C>> {
        self.alarm = SweepAlarm::Off;
        let mut out = self.sweep(now_ms, pinged);
        self.arm_if_call(now_ms, &mut out);
        out
    }

    /// Asks for a sweep alarm when the room is a call and none is known to be set.
    fn arm_if_call(&mut self, now_ms: u64, out: &mut Vec<Outbound<C>>) {
        if self.seats.len() >= 2 && !matches!(self.alarm, SweepAlarm::At(_)) {
            let at = now_ms + self.limits.sweep_interval_ms();
            self.alarm = SweepAlarm::At(at);
            out.push(Outbound::ArmAlarm { at });
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The room's capacity; for an empty room, what a join without `capacity` would open it with.
    pub fn capacity(&self) -> u32 {
        if self.seats.is_empty() {
            self.limits.default_capacity
        } else {
            self.capacity
        }
    }

    pub fn len(&self) -> usize {
        self.seats.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seats.is_empty()
    }

    /// The seats in join order.
    pub fn seats(&self) -> &[Seat<C>] {
        &self.seats
    }

    /// A seat for a restored socket: full budget, last seen at `seen_ms`.
    #[allow(clippy::too_many_arguments)] // one per field the socket's attachment holds
    pub fn restored_seat(
        &self,
        peer: PeerId,
        seq: u64,
        order: u64,
        conn: C,
        (resume, meta, joined_ms): (String, Option<Meta>, u64),
        seen_ms: u64,
        now_ms: u64,
    ) -> Seat<C> {
        Seat {
            peer,
            seq,
            order,
            resume,
            meta,
            joined_ms,
            socket: Socket::new(conn, &self.limits, seen_ms, now_ms),
        }
    }

    /// A join as the adapter makes it: the silent peers go first (a room of one has no sweep
    /// alarm, so this is where its dead peer is found), so the newcomer never meets, or is
    /// refused a seat or an id by, a peer that is already gone. Then [`Room::join`].
    pub fn admit(
        &mut self,
        req: JoinRequest<'_>,
        conn: C,
        now_ms: u64,
        pinged: impl Fn(&C) -> Option<u64>,
    ) -> JoinOutcome<C> {
        let mut out = self.sweep(now_ms, pinged);
        let mut outcome = self.join(req, conn, now_ms);
        out.append(&mut outcome.out);
        outcome.out = out;
        outcome
    }

    /// A peer asks to join. Decided at once, with no await point between the check and the
    /// insert, so of two joins racing for the last seat exactly one wins.
    ///
    /// A join whose id is taken by a live seat and whose `resume` matches that seat's secret
    /// takes the seat over: the old socket is closed with 4009, the seat keeps its place in the
    /// join order, and the others hear nothing (their calls with this peer carry on).
    pub fn join(&mut self, req: JoinRequest<'_>, conn: C, now_ms: u64) -> JoinOutcome<C> {
        if let Some(i) = self.seats.iter().position(|s| s.peer == req.peer) {
            let presented = req.resume.unwrap_or("");
            let secret = &self.seats[i].resume;
            // Constant time: a guess reveals nothing about how much of the secret it matched.
            let valid =
                !presented.is_empty() && bool::from(presented.as_bytes().ct_eq(secret.as_bytes()));
            if !valid {
                return self.refuse(RoomError::PeerIdTaken(req.peer.to_string()), req.peer, conn);
            }
            return self.resume(i, req, conn, now_ms);
        }
        let capacity = if self.seats.is_empty() {
            req.capacity.unwrap_or(self.limits.default_capacity)
        } else {
            self.capacity
        };
        if self.seats.len() >= capacity as usize {
            return self.refuse(RoomError::RoomFull { capacity }, req.peer, conn);
        }

        self.capacity = capacity;
        if self.seats.is_empty() {
            self.session = Some(req.new_session.clone());
        }
        let seq = self.next_seq;
        self.next_seq += 1;

        let mut out = Vec::with_capacity(self.seats.len() + 4);
        // The webhook events first: stored before anyone hears of the join.
        let session = self.session.clone().unwrap_or_default();
        if self.seats.is_empty() {
            out.push(Outbound::Hook {
                session: session.clone(),
                hook: Hook::RoomStarted { capacity },
            });
        }
        out.push(Outbound::Hook {
            session,
            hook: Hook::PeerJoined {
                peer: req.peer.to_string(),
                meta: req.meta.clone(),
                peers: self.seats.len() + 1,
            },
        });
        // The welcome goes first of the frames, so it is the first frame on the socket and
        // reaches the newcomer before any other peer can answer the `peer_joined` below.
        out.extend(self.send(conn.clone(), &self.welcome(&req, capacity, false)));
        let joined = ServerMessage::PeerJoined {
            peer: req.peer.clone(),
            meta: req.meta.clone(),
        };
        if let Some(joined) = self.wire.render(&joined) {
            for seat in &self.seats {
                out.push(Outbound::Send {
                    to: seat.conn.clone(),
                    frame: joined.clone(),
                });
            }
        }
        out.push(Outbound::Event(RoomEvent {
            kind: EventKind::Join,
            peer: req.peer.clone(),
            reason: None,
            close_code: None,
        }));
        self.seats.push(Seat {
            peer: req.peer,
            seq,
            order: seq,
            resume: req.new_resume_secret,
            meta: req.meta.clone(),
            joined_ms: now_ms,
            socket: Socket::new(conn, &self.limits, now_ms, now_ms),
        });
        self.arm_if_call(now_ms, &mut out);
        JoinOutcome {
            result: Ok(Joined {
                seq,
                order: seq,
                capacity,
                resumed: false,
                meta: req.meta,
                joined_ms: now_ms,
                session: self.session.clone().unwrap_or_default(),
            }),
            out,
        }
    }

    fn resume(&mut self, i: usize, req: JoinRequest<'_>, conn: C, now_ms: u64) -> JoinOutcome<C> {
        let seq = self.next_seq;
        self.next_seq += 1;
        let capacity = self.capacity;
        let welcome = self.welcome(&req, capacity, true);
        let seat = &mut self.seats[i];
        let (order, meta, joined_ms) = (seat.order, seat.meta.clone(), seat.joined_ms);
        let old = std::mem::replace(&mut seat.socket.conn, conn.clone());
        seat.seq = seq;
        seat.resume = req.new_resume_secret;
        seat.socket.seen_ms = now_ms;
        seat.socket.recorded_seen_ms = now_ms;
        let mut out = vec![Outbound::Close {
            to: old,
            code: close::RESUMED_ELSEWHERE,
        }];
        out.extend(self.send(conn, &welcome));
        out.push(Outbound::Event(RoomEvent {
            kind: EventKind::Resume,
            peer: req.peer,
            reason: None,
            close_code: None,
        }));
        JoinOutcome {
            result: Ok(Joined {
                seq,
                order,
                capacity,
                resumed: true,
                meta,
                joined_ms,
                session: self.session.clone().unwrap_or_default(),
            }),
            out,
        }
    }

    fn welcome(&self, req: &JoinRequest<'_>, capacity: u32, resumed: bool) -> ServerMessage {
        ServerMessage::Welcome {
            room: req.room.clone(),
            peer: req.peer.clone(),
            capacity,
            peers: self
                .seats
                .iter()
                .filter(|s| s.peer != req.peer)
                .map(|s| s.peer.clone())
                .collect(),
            meta: MetaOf(
                self.seats
                    .iter()
                    .filter(|s| s.peer != req.peer)
                    .filter_map(|s| Some((s.peer.clone(), s.meta.clone()?)))
                    .collect(),
            ),
            ice_servers: req.ice_servers.clone(),
            resume: req.new_resume_secret.clone(),
            resumed,
        }
    }

    fn refuse(&self, err: RoomError, peer: PeerId, conn: C) -> JoinOutcome<C> {
        let code = err.close_code().expect("join refusals close the socket");
        let mut out: Vec<Outbound<C>> = self
            .send(conn.clone(), &err.to_message())
            .into_iter()
            .collect();
        out.push(Outbound::Close { to: conn, code });
        out.push(Outbound::Event(RoomEvent {
            kind: EventKind::Reject,
            peer,
            reason: Some(err.code().as_str()),
            close_code: Some(code),
        }));
        JoinOutcome {
            result: Err(err),
            out,
        }
    }

    /// A frame arrived on the socket of `(peer, seq)` at `now_ms`. A frame from a socket that is
    /// no longer seated (it left, was closed for a bad frame, or was replaced by a resume, and
    /// its close has not landed yet) is ignored.
    pub fn frame(
        &mut self,
        peer: &PeerId,
        seq: u64,
        frame: Frame<'_>,
        now_ms: u64,
    ) -> Vec<Outbound<C>> {
        match self.seat_index(peer, seq) {
            Some(sender) => self.frame_at(sender, frame, now_ms),
            None => Vec::new(),
        }
    }

    /// Like [`Room::frame`], naming the sender by its connection handle. `None` when no seat
    /// holds that connection (the caller then falls back to [`Room::frame`] with what it
    /// recorded on the socket). The relay path's fast lookup: a handle comparison per seat.
    pub fn frame_from(
        &mut self,
        conn: &C,
        frame: Frame<'_>,
        now_ms: u64,
    ) -> Option<Vec<Outbound<C>>>
    where
        C: PartialEq,
    {
        let sender = self.seats.iter().position(|s| s.conn == *conn)?;
        Some(self.frame_at(sender, frame, now_ms))
    }

    /// The socket of `(peer, seq)` closed or failed without a `leave`: the others hear
    /// `peer_left` with reason `disconnect`. Nothing happens if that socket had already left.
    pub fn depart(&mut self, peer: &PeerId, seq: u64) -> Vec<Outbound<C>> {
        match self.seat_index(peer, seq) {
            Some(i) => self.remove(i, LeaveReason::Disconnect, None),
            None => Vec::new(),
        }
    }

    /// Drops every peer silent for longer than the idle timeout at `now_ms`: no frame since
    /// `seen_ms`, and no auto-answered ping since `pinged(conn)` (the runtime's
    /// `getWebSocketAutoResponseTimestamp`, in ms). Each is closed with 4008 and the others hear
    /// `peer_left` with reason `timeout`.
    pub fn sweep(&mut self, now_ms: u64, pinged: impl Fn(&C) -> Option<u64>) -> Vec<Outbound<C>> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.seats.len() {
            let seat = &self.seats[i];
            if seat.silent(now_ms, pinged(&seat.conn), &self.limits) {
                out.extend(self.remove(i, LeaveReason::Timeout, Some(close::TIMEOUT)));
            } else {
                i += 1;
            }
        }
        out
    }

    fn seat_index(&self, peer: &PeerId, seq: u64) -> Option<usize> {
        self.seats
            .iter()
            .position(|s| s.seq == seq && s.peer == *peer)
    }

    /// Takes seat `i` out, tells the others, and closes its socket with `close` if given. The
    /// last departure deletes the sweep alarm.
    fn remove(&mut self, i: usize, reason: LeaveReason, close: Option<u16>) -> Vec<Outbound<C>> {
        let seat = self.seats.remove(i);
        let left = self.wire.render(&ServerMessage::PeerLeft {
            peer: seat.peer.clone(),
            reason,
        });
        // The webhook events first: stored before anyone hears of the departure.
        let session = self.session.clone().unwrap_or_default();
        let mut out = vec![Outbound::Hook {
            session: session.clone(),
            hook: Hook::PeerLeft {
                peer: seat.peer.to_string(),
                reason: reason.as_str(),
                peers: self.seats.len(),
            },
        }];
        if self.seats.is_empty() {
            out.push(Outbound::Hook {
                session,
                hook: Hook::RoomFinished,
            });
        }
        if let Some(left) = left {
            out.extend(self.seats.iter().map(|s| Outbound::Send {
                to: s.conn.clone(),
                frame: left.clone(),
            }));
        }
        if let Some(code) = close {
            out.push(Outbound::Close {
                to: seat.socket.conn,
                code,
            });
        }
        out.push(Outbound::Event(RoomEvent {
            kind: EventKind::Depart,
            peer: seat.peer,
            reason: Some(reason.as_str()),
            close_code: close,
        }));
        if self.seats.is_empty() {
            self.session = None;
        }
        if self.seats.is_empty() && self.alarm != SweepAlarm::Off {
            self.alarm = SweepAlarm::Off;
            out.push(Outbound::DisarmAlarm);
        }
        out
    }
}

mod admin;
mod relay;

pub use admin::KICKED_MESSAGE;
#[cfg(test)]
mod tests;
