//! What the app's back end may do to a room (control v1's admin API): remove a peer, tell the
//! peers something, close the room. Plain room operations, like a join or a frame: the Worker
//! checked the secret and the request, the object only carries out the actions.

use super::{Outbound, Room};
use crate::error::close;
use crate::json::Json;
use crate::protocol::{ErrorCode, LeaveReason, PeerId, ServerMessage};

/// The `message` of the `kicked` error a removed peer gets.
pub const KICKED_MESSAGE: &str = "removed from the room by the app's server";

impl<C: Clone> Room<C> {
    /// Removes `peer`: it gets the `kicked` error and its socket closes with 4010; the others
    /// hear `peer_left` with reason `kicked`. `None` when no such peer is seated.
    pub fn kick(&mut self, peer: &PeerId) -> Option<Vec<Outbound<C>>> {
        let i = self.seats.iter().position(|s| s.peer == *peer)?;
        let kicked = ServerMessage::Error {
            code: ErrorCode::Kicked,
            message: KICKED_MESSAGE.into(),
            peer: None,
        };
        let told = self.send(self.seats[i].conn.clone(), &kicked);
        let mut out = self.remove(i, LeaveReason::Kicked, Some(close::KICKED));
        // Told after its departure is stored (the webhook events come first), before the rest.
        let at = out
            .iter()
            .position(|o| !matches!(o, Outbound::Hook { .. }))
            .unwrap_or(out.len());
        out.splice(at..at, told);
        Some(out)
    }

    /// Removes every peer as [`Room::kick`] does, in join order: the room is empty afterwards.
    pub fn close_room(&mut self) -> Vec<Outbound<C>> {
        let mut out = Vec::new();
        while let Some(peer) = self.seats.first().map(|s| s.peer.clone()) {
            out.append(&mut self.kick(&peer).expect("the first seat is seated"));
        }
        out
    }

    /// `server_message` with `data` to `to`, or to every peer: how many it reaches, and the
    /// sends. `None` when `to` names no seated peer.
    pub fn tell(&self, data: &Json, to: Option<&PeerId>) -> Option<(usize, Vec<Outbound<C>>)> {
        let recipients: Vec<&C> = match to {
            Some(to) => vec![&self.seats.iter().find(|s| s.peer == *to)?.conn],
            None => self.seats.iter().map(|s| &s.conn).collect(),
        };
        let message = ServerMessage::ServerMessage { data: data.clone() };
        let Some(frame) = self.wire.render(&message) else {
            // A protocol with no such message (matchbox): nobody can be told.
            return Some((0, Vec::new()));
        };
        let out = recipients
            .into_iter()
            .map(|to| Outbound::Send {
                to: to.clone(),
                frame: frame.clone(),
            })
            .collect::<Vec<_>>();
        Some((out.len(), out))
    }
}
