//! The room: who is in it, its capacity, and what each event sends to whom.
//!
//! A sans-I/O state machine in the manner of rustls: no I/O, no clock, no randomness, no `worker`
//! types. The caller (the Durable Object adapter in `durable.rs`, or a test) feeds it events —
//! a join, a frame, a socket gone — and carries out the [`Outbound`] actions it returns, in order.
//!
//! ```text
//!   join(request, conn) ──┐                 ┌──> Send { to: conn, frame }
//!   frame(peer, seq, f) ──┼──> Room<C> ──────┤
//!   depart(peer, seq) ────┘                 └──> Close { to: conn, code, reason }
//! ```
//!
//! `C` is the caller's handle for a connection (a `worker::WebSocket` in the adapter, a plain
//! value in tests); the room stores it beside each peer, so the peer-id-to-socket index the relay
//! path needs is this struct itself. Each seat also has a `seq`, unique within the room's life:
//! events name their socket by `(peer, seq)`, so a late close event from a socket that already
//! left cannot remove a newer peer who took the same id.

use crate::error::{close, RoomError};
use crate::protocol::{
    parse_client_frame, ClientFrame, LeaveReason, PeerId, RoomId, ServerMessage, PONG_FRAME,
};

/// The limits a room enforces, from configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Capacity of a room opened without `capacity`.
    pub default_capacity: u32,
    /// Largest text frame accepted, in bytes.
    pub max_message_bytes: usize,
}

/// One connected peer.
#[derive(Clone, Debug, PartialEq)]
pub struct Seat<C> {
    pub peer: PeerId,
    /// Join order within the room's life; also tells this socket from an older one with the
    /// same id.
    pub seq: u64,
    pub conn: C,
}

/// What the caller must do, in the order given.
#[derive(Clone, Debug, PartialEq)]
pub enum Outbound<C> {
    /// Send one text frame.
    Send { to: C, frame: String },
    /// Close the socket with this code. The peer is already out of the room.
    Close { to: C, code: u16, reason: String },
}

/// An incoming WebSocket frame, as far as the room cares.
#[derive(Clone, Copy, Debug)]
pub enum Frame<'a> {
    Text(&'a str),
    /// A binary frame of this many bytes: not part of the protocol.
    Binary(usize),
}

/// A join, after the Worker has checked the room name, peer id and capacity's syntax and range.
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
}

/// An accepted join: what the adapter records on the socket to rebuild the room after eviction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Joined {
    pub seq: u64,
    pub capacity: u32,
}

/// The outcome of [`Room::join`]: accepted or refused, and the frames to send either way
/// (`welcome` and `peer_joined`s, or an `error` then a close).
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
        }
    }

    /// A room rebuilt from its live sockets, e.g. after the object was evicted from memory while
    /// its sockets stayed open. `capacity` is the one recorded on those sockets.
    pub fn restore(limits: Limits, capacity: u32, mut seats: Vec<Seat<C>>) -> Self {
        seats.sort_by_key(|s| s.seq);
        // Two sockets can claim one id only if one was on its way out when the object was
        // evicted; the newer one (higher seq) is the live peer.
        let mut kept: Vec<Seat<C>> = Vec::with_capacity(seats.len());
        for seat in seats.into_iter().rev() {
            if !kept.iter().any(|k| k.peer == seat.peer) {
                kept.push(seat);
            }
        }
        kept.reverse();
        let next_seq = kept.last().map_or(0, |s| s.seq + 1);
        let mut room = Room::new(limits);
        if !kept.is_empty() {
            room.capacity = capacity;
        }
        room.seats = kept;
        room.next_seq = next_seq;
        room
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

    /// A peer asks to join. Decided at once, with no await point between the check and the
    /// insert, so of two joins racing for the last seat exactly one wins.
    pub fn join(&mut self, req: JoinRequest<'_>, conn: C) -> JoinOutcome<C> {
        let capacity = if self.seats.is_empty() {
            req.capacity.unwrap_or(self.limits.default_capacity)
        } else {
            self.capacity
        };
        let refusal = if self.seats.iter().any(|s| s.peer == req.peer) {
            Some(RoomError::PeerIdTaken(req.peer.to_string()))
        } else if self.seats.len() >= capacity as usize {
            Some(RoomError::RoomFull { capacity })
        } else {
            None
        };
        if let Some(err) = refusal {
            let out = vec![
                Outbound::Send {
                    to: conn.clone(),
                    frame: err.to_message().to_frame(),
                },
                Outbound::Close {
                    to: conn,
                    code: err.close_code().expect("join refusals close the socket"),
                    reason: err.code().as_str().to_owned(),
                },
            ];
            return JoinOutcome {
                result: Err(err),
                out,
            };
        }

        self.capacity = capacity;
        let seq = self.next_seq;
        self.next_seq += 1;

        let welcome = ServerMessage::Welcome {
            room: req.room.clone(),
            peer: req.peer.clone(),
            capacity,
            peers: self.seats.iter().map(|s| s.peer.clone()).collect(),
            ice_servers: req.ice_servers.clone(),
        };
        let mut out = Vec::with_capacity(self.seats.len() + 1);
        // The welcome goes first, so it is the first frame on the socket and reaches the
        // newcomer before any other peer can answer the `peer_joined` below.
        out.push(Outbound::Send {
            to: conn.clone(),
            frame: welcome.to_frame(),
        });
        let joined = ServerMessage::PeerJoined {
            peer: req.peer.clone(),
        }
        .to_frame();
        for seat in &self.seats {
            out.push(Outbound::Send {
                to: seat.conn.clone(),
                frame: joined.clone(),
            });
        }
        self.seats.push(Seat {
            peer: req.peer,
            seq,
            conn,
        });
        JoinOutcome {
            result: Ok(Joined { seq, capacity }),
            out,
        }
    }

    /// A frame arrived on the socket of `(peer, seq)`. A frame from a socket that is no longer
    /// seated (it left, or was closed for a bad frame, and the close has not landed yet) is
    /// ignored.
    pub fn frame(&mut self, peer: &PeerId, seq: u64, frame: Frame<'_>) -> Vec<Outbound<C>> {
        let Some(sender) = self.seat_index(peer, seq) else {
            return Vec::new();
        };
        let text = match frame {
            Frame::Binary(_) => {
                return self.remove(
                    sender,
                    LeaveReason::Disconnect,
                    Some((close::UNSUPPORTED_DATA, "binary frames are not supported")),
                );
            }
            Frame::Text(text) if text.len() > self.limits.max_message_bytes => {
                return self.remove(
                    sender,
                    LeaveReason::Disconnect,
                    Some((close::MESSAGE_TOO_BIG, "message too big")),
                );
            }
            Frame::Text(text) => text,
        };
        let conn = self.seats[sender].conn.clone();
        let reply = |err: RoomError| {
            vec![Outbound::Send {
                to: conn.clone(),
                frame: err.to_message().to_frame(),
            }]
        };

        let relay = match parse_client_frame(text) {
            Err(message) => return reply(RoomError::BadRequest(message)),
            Ok(ClientFrame::Ping) => {
                return vec![Outbound::Send {
                    to: conn,
                    frame: PONG_FRAME.to_owned(),
                }]
            }
            Ok(ClientFrame::Leave) => {
                return self.remove(sender, LeaveReason::Leave, Some((close::NORMAL, "leave")));
            }
            Ok(ClientFrame::Relay(relay)) => relay,
        };
        let forwarded = relay.to_frame(peer);
        match &relay.to {
            Some(to) => match self.seats.iter().position(|s| s.peer.as_str() == to) {
                // Addressing yourself is refused like an absent peer: a sender never receives
                // its own message, and "nobody else here by that id" is what the client needs.
                Some(i) if i != sender => vec![Outbound::Send {
                    to: self.seats[i].conn.clone(),
                    frame: forwarded,
                }],
                _ => reply(RoomError::UnknownPeer(to.clone())),
            },
            None => self
                .seats
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != sender)
                .map(|(_, s)| Outbound::Send {
                    to: s.conn.clone(),
                    frame: forwarded.clone(),
                })
                .collect(),
        }
    }

    /// The socket of `(peer, seq)` closed or failed without a `leave`: the others hear
    /// `peer_left` with `reason` (`disconnect`, or `timeout` for a dropped silent peer). Nothing
    /// happens if that socket had already left.
    pub fn depart(&mut self, peer: &PeerId, seq: u64, reason: LeaveReason) -> Vec<Outbound<C>> {
        match self.seat_index(peer, seq) {
            Some(i) => self.remove(i, reason, None),
            None => Vec::new(),
        }
    }

    fn seat_index(&self, peer: &PeerId, seq: u64) -> Option<usize> {
        self.seats
            .iter()
            .position(|s| s.seq == seq && s.peer == *peer)
    }

    /// Takes seat `i` out, tells the others, and closes its socket if `close` says so.
    fn remove(
        &mut self,
        i: usize,
        reason: LeaveReason,
        close: Option<(u16, &str)>,
    ) -> Vec<Outbound<C>> {
        let seat = self.seats.remove(i);
        let left = ServerMessage::PeerLeft {
            peer: seat.peer,
            reason,
        }
        .to_frame();
        let mut out: Vec<Outbound<C>> = self
            .seats
            .iter()
            .map(|s| Outbound::Send {
                to: s.conn.clone(),
                frame: left.clone(),
            })
            .collect();
        if let Some((code, why)) = close {
            out.push(Outbound::Close {
                to: seat.conn,
                code,
                reason: why.to_owned(),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests;
