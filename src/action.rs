//! The one action vocabulary of every topology: what a room, a PeerJS peer or a y-webrtc
//! namespace asks its runtime to do, in order. The runtime carries them out in one place
//! (`runtime/executor.rs`); tests read them as values.

use crate::protocol::{splice, Forwarding, PeerId};

/// What the caller must do, in the order given. `C` is the caller's socket handle.
#[derive(Clone, Debug, PartialEq)]
pub enum Outbound<C> {
    /// Send one text frame.
    Send { to: C, frame: String },
    /// Forward the text frame being handled with a suffix spliced in: send the received text up
    /// to (not including) its last `}`, then `suffix` (see [`crate::protocol::splice`] and
    /// [`Outbound::render`]). Only returned for the frame being handled.
    Forward { to: C, suffix: String },
    /// Close the socket with this code (its reason is [`crate::error::close::reason`]). Its seat
    /// is already gone.
    Close { to: C, code: u16 },
    /// Record `seen_ms` on the socket, so that a topology rebuilt after eviction still knows how
    /// long each socket has been silent. Asked for at most once per quarter of the idle timeout
    /// per socket, so it costs the relay path next to nothing.
    Touch { to: C, seen_ms: u64 },
    /// Write `text` as the socket's whole hibernation attachment (a y-webrtc socket whose
    /// subscriptions changed).
    Attach { to: C, text: String },
    /// Make sure the object's alarm fires at `at` (ms). Replaces any alarm set before.
    ArmAlarm { at: u64 },
    /// Delete the object's alarm: nothing is left for it to do, and no alarm may outlive that.
    DisarmAlarm,
    /// Hand `frame` to the object of the PeerJS peer `dst` (held there for a while if `hold`
    /// and that peer is not connected). Its answer goes back to the topology
    /// (`Peer::answered`).
    Deliver {
        dst: String,
        frame: String,
        hold: bool,
        /// The first message to `dst` in a while: it may start that peer's object, and counts
        /// against the sender's join rate as a join would.
        wakes: bool,
        /// A kind PeerJS holds: if the recipient drops it, the sender hears `EXPIRE`.
        expire: bool,
    },
    /// Keep `frame` (from peer `src`) for this object's absent peer, after those kept before,
    /// outside the topology's memory and in storage, so an eviction before `expire_at` keeps it
    /// (a PeerJS message held until its recipient connects; [`crate::peer::Peer::restore_held`]).
    Park {
        src: String,
        frame: String,
        expire_at: u64,
    },
    /// Send every kept frame to `to`, in the order kept, and forget them.
    Unpark { to: C },
    /// Forget every kept frame (they expired).
    DropParked,
    /// Observability: a log line and a data point (`crate::observe`).
    Event(RoomEvent),
    /// A webhook event of the room's `session` (control v1, section 2): recorded (stored) by
    /// the runtime when it comes, which is before the actions that acknowledge its cause (the
    /// `welcome`, the `peer_left`s), so the output gate holds those until it is written.
    Hook { session: String, hook: Hook },
}

/// What a webhook event says happened (`crate::webhook::What`, owned).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hook {
    /// A join opened an empty room.
    RoomStarted { capacity: u32 },
    /// A peer was seated (not on a resume); `peers` is the count after.
    PeerJoined {
        /// A room's peer id, a PeerJS id (whose alphabet has spaces), a y-webrtc socket's name.
        peer: String,
        meta: Option<crate::meta::Meta>,
        peers: usize,
    },
    /// A peer left for any reason; `peers` is the count after.
    PeerLeft {
        peer: String,
        reason: &'static str,
        peers: usize,
    },
    /// The last peer has left.
    RoomFinished,
}

impl Hook {
    /// The outbox's view of it.
    pub fn what(&self) -> crate::webhook::What<'_> {
        use crate::webhook::What;
        match self {
            Hook::RoomStarted { capacity } => What::RoomStarted {
                capacity: *capacity,
            },
            Hook::PeerJoined { peer, meta, peers } => What::PeerJoined {
                peer: peer.as_str(),
                meta: meta.as_ref().map(|m| m.as_str()),
                peers: *peers,
            },
            Hook::PeerLeft {
                peer,
                reason,
                peers,
            } => What::PeerLeft {
                peer: peer.as_str(),
                reason,
                peers: *peers,
            },
            Hook::RoomFinished => What::RoomFinished,
        }
    }
}

impl<C> Outbound<C> {
    /// The action that hands `to` a frame forwarded as `forwarding` says (spliced into the frame
    /// being handled, or built).
    pub fn forwarded(to: C, forwarding: &Forwarding) -> Outbound<C> {
        match forwarding {
            Forwarding::Splice(suffix) => Outbound::Forward {
                to,
                suffix: suffix.clone(),
            },
            Forwarding::Built(frame) => Outbound::Send {
                to,
                frame: frame.clone(),
            },
        }
    }

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
