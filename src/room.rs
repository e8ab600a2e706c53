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
//!   alarm_fired(now, pinged) ───────────┘            ├──> ArmSweep { at } / DisarmSweep
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

use subtle::ConstantTimeEq;

use crate::error::{close, RoomError};
use crate::protocol::{splice, Forwarding, LeaveReason, PeerId, RoomId, ServerMessage, Wire};

/// The limits a room enforces, from configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    /// Capacity of a room opened without `capacity`.
    pub default_capacity: u32,
    /// Largest text frame accepted, in bytes.
    pub max_message_bytes: usize,
    /// Messages a peer may send at once before `rate_limited` (the bucket's size).
    pub rate_burst: u32,
    /// Messages per second the bucket refills with.
    pub rate_per_sec: u32,
    /// Bytes a peer may have delivered at once (a frame counts once per recipient).
    pub rate_bytes_burst: u64,
    /// Bytes per second the byte bucket refills with.
    pub rate_bytes_per_sec: u64,
    /// A peer with no frame and no auto-answered ping for this long is dropped (4008).
    pub idle_timeout_ms: u64,
}

impl Limits {
    /// How often a call's sweep alarm fires: every half idle timeout, so a silent peer is dropped
    /// between 1 and 1.5 timeouts after its last sign of life.
    pub fn sweep_interval_ms(&self) -> u64 {
        self.idle_timeout_ms / 2
    }
}

/// One connected peer.
#[derive(Clone, Debug, PartialEq)]
pub struct Seat<C> {
    pub peer: PeerId,
    /// This socket's number within the room's life: tells it from an older socket with the
    /// same id (a resume gives the seat a new one).
    pub seq: u64,
    /// The seat's place in the join order: the `seq` of the join that opened it, kept by a
    /// resume, so a room rebuilt after eviction lists its peers in the order they joined.
    pub order: u64,
    pub conn: C,
    /// The secret that lets a new socket take this seat over (`?resume=`).
    pub resume: String,
    /// When this peer last sent a frame (ms).
    pub seen_ms: u64,
    /// The `seen_ms` last recorded on the socket (see [`Outbound::Touch`]).
    pub recorded_seen_ms: u64,
    pub budget: Budget,
}

/// What happened, for the structured log: one per join, refusal and departure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomEvent {
    pub kind: EventKind,
    pub peer: PeerId,
    /// Why, for refusals and departures: an error code or a leave reason.
    pub reason: Option<&'static str>,
    /// The close code the server sent, if it closed the socket.
    pub close_code: Option<u16>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Join,
    /// A new socket took over a live seat with its resume secret.
    Resume,
    Reject,
    Depart,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Join => "join",
            EventKind::Resume => "resume",
            EventKind::Reject => "reject",
            EventKind::Depart => "depart",
        }
    }
}

/// What the caller must do, in the order given.
#[derive(Clone, Debug, PartialEq)]
pub enum Outbound<C> {
    /// Send one text frame.
    Send { to: C, frame: String },
    /// Forward the text frame being handled with `from` spliced in: send the received text up
    /// to (not including) its last `}`, then `suffix` (see [`crate::protocol::splice`] and
    /// [`Outbound::render`]). Only [`Room::frame`] and [`Room::frame_from`] return it.
    Forward { to: C, suffix: String },
    /// Close the socket with this code (its reason is [`close::reason`]). The peer is already
    /// out of the room.
    Close { to: C, code: u16 },
    /// Record `seen_ms` on the socket, so that a room rebuilt after eviction still knows how
    /// long each peer has been silent. Asked for at most once per quarter of the idle timeout
    /// per peer, so it costs the relay path next to nothing.
    Touch { to: C, seen_ms: u64 },
    /// Make sure a sweep alarm fires at `at` (ms): the room just became a call, or its alarm
    /// fired while it still is one. Replaces any alarm set before.
    ArmSweep { at: u64 },
    /// Delete the sweep alarm: the room is empty, and no alarm may outlive it.
    DisarmSweep,
    /// Observability: a log line and a data point (`crate::observe`).
    Event(RoomEvent),
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

impl<C> Outbound<C> {
    /// The action with a [`Outbound::Forward`] of the frame `received` turned into the
    /// [`Outbound::Send`] it stands for; every other action as it is.
    pub fn render(self, received: &str) -> Outbound<C> {
        match self {
            Outbound::Forward { to, suffix } => Outbound::Send {
                to,
                frame: splice(received, &suffix),
            },
            other => other,
        }
    }
}

/// An incoming WebSocket frame, as far as the room cares.
#[derive(Clone, Copy, Debug)]
pub enum Frame<'a> {
    Text(&'a str),
    /// A text frame the caller found to be over `max_message_bytes` from its length alone, so its
    /// text never had to be copied anywhere: closed with 1009 like an oversized `Text`.
    TooBig,
    /// A binary frame of this many bytes: not part of the protocol.
    Binary(usize),
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
    pub ice_servers: &'a serde_json::Value,
    /// The resume secret the client presented (`?resume=`), if any.
    pub resume: Option<&'a str>,
    /// A fresh random secret for this seat, sent in `welcome.resume`.
    pub new_resume_secret: String,
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
    /// its sockets stayed open. `capacity` is the one recorded on those sockets.
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
        // In join order, which a resume does not change.
        kept.sort_by_key(|s| s.order);
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
            out.push(Outbound::ArmSweep { at });
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
        resume: String,
        seen_ms: u64,
        now_ms: u64,
    ) -> Seat<C> {
        Seat {
            peer,
            seq,
            order,
            conn,
            resume,
            seen_ms,
            recorded_seen_ms: seen_ms,
            budget: Budget::full(&self.limits, now_ms),
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
        let seq = self.next_seq;
        self.next_seq += 1;

        let mut out = Vec::with_capacity(self.seats.len() + 2);
        // The welcome goes first, so it is the first frame on the socket and reaches the
        // newcomer before any other peer can answer the `peer_joined` below.
        out.extend(self.send(conn.clone(), &self.welcome(&req, capacity, false)));
        let joined = ServerMessage::PeerJoined {
            peer: req.peer.clone(),
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
            conn,
            resume: req.new_resume_secret,
            seen_ms: now_ms,
            recorded_seen_ms: now_ms,
            budget: Budget::full(&self.limits, now_ms),
        });
        self.arm_if_call(now_ms, &mut out);
        JoinOutcome {
            result: Ok(Joined {
                seq,
                order: seq,
                capacity,
                resumed: false,
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
        let order = seat.order;
        let old = std::mem::replace(&mut seat.conn, conn.clone());
        seat.seq = seq;
        seat.resume = req.new_resume_secret;
        seat.seen_ms = now_ms;
        seat.recorded_seen_ms = now_ms;
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
            let last = seat.seen_ms.max(pinged(&seat.conn).unwrap_or(0));
            if now_ms.saturating_sub(last) > self.limits.idle_timeout_ms {
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
        let mut out: Vec<Outbound<C>> = match left {
            Some(left) => self
                .seats
                .iter()
                .map(|s| Outbound::Send {
                    to: s.conn.clone(),
                    frame: left.clone(),
                })
                .collect(),
            None => Vec::new(),
        };
        if let Some(code) = close {
            out.push(Outbound::Close {
                to: seat.conn,
                code,
            });
        }
        out.push(Outbound::Event(RoomEvent {
            kind: EventKind::Depart,
            peer: seat.peer,
            reason: Some(reason.as_str()),
            close_code: close,
        }));
        if self.seats.is_empty() && self.alarm != SweepAlarm::Off {
            self.alarm = SweepAlarm::Off;
            out.push(Outbound::DisarmSweep);
        }
        out
    }
}

mod budget;
mod relay;
#[cfg(test)]
mod tests;

pub use budget::{heard_from, Budget, Spend};
