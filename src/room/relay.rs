//! The relay path: one frame from a seated peer, checked against the size limit and the
//! sender's budgets, read by the room's codec into a neutral [`Inbound`], and forwarded (or
//! answered with an error). Nothing here names a protocol.

use super::{Frame, Outbound, Room, Spend};
use crate::error::{close, RoomError};
use crate::protocol::{Inbound, LeaveReason, PONG_FRAME};

impl<C: Clone> Room<C> {
    pub(super) fn frame_at(
        &mut self,
        sender: usize,
        frame: Frame<'_>,
        now_ms: u64,
    ) -> Vec<Outbound<C>> {
        let text = match self.limits.text(frame) {
            Ok(text) => text,
            Err(code) => return self.remove(sender, LeaveReason::Disconnect, Some(code)),
        };

        let mut out = Vec::new();
        let limits = &self.limits;
        let seat = &mut self.seats[sender];
        if let Some(seen_ms) = seat.heard(now_ms, limits) {
            out.push(Outbound::Touch {
                to: seat.conn.clone(),
                seen_ms,
            });
        }
        let conn = seat.conn.clone();
        let parsed = self.wire.read(text, &seat.peer);
        // A `leave` is honoured whatever the budget says: refusing it would only keep a seat
        // held that its peer wants to give up.
        if let Ok(Inbound::Leave) = parsed {
            return self.remove(sender, LeaveReason::Leave, Some(close::NORMAL));
        }
        let spent = self.seats[sender]
            .budget
            .spend_message(&self.limits, now_ms);
        if let Some(done) = self.over_budget(sender, spent, &mut out) {
            return done;
        }

        let (to, forwarding) = match parsed {
            Err(e) => {
                out.extend(self.send(conn, &RoomError::BadRequest(e.to_string()).to_message()));
                return out;
            }
            Ok(Inbound::KeepAlive) => return out,
            Ok(Inbound::Ping) => {
                out.push(Outbound::Send {
                    to: conn,
                    frame: PONG_FRAME.to_owned(),
                });
                return out;
            }
            Ok(Inbound::Leave) => unreachable!("handled above"),
            Ok(Inbound::Relay { to, forwarding }) => (to, forwarding),
        };
        // Who receives it: one peer (`Some`), or every other peer.
        let target = match to {
            Some(to) => match self.seats.iter().position(|s| s.peer.as_str() == to) {
                // Addressing yourself is refused like an absent peer: a sender never receives
                // its own message, and "nobody else here by that id" is what the client needs.
                Some(i) if i != sender => Some(i),
                _ => {
                    out.extend(self.send(conn, &RoomError::UnknownPeer(to).to_message()));
                    return out;
                }
            },
            None => None,
        };
        let recipients = if target.is_some() {
            1
        } else {
            self.seats.len() - 1
        };
        let budget = &mut self.seats[sender].budget;
        let spent = budget.spend_bytes(&self.limits, text.len() as u64, recipients as u64);
        if let Some(done) = self.over_budget(sender, spent, &mut out) {
            return done;
        }
        for (i, seat) in self.seats.iter().enumerate() {
            if target.map_or(i == sender, |t| t != i) {
                continue;
            }
            out.push(Outbound::forwarded(seat.conn.clone(), &forwarding));
        }
        out
    }

    /// What a refused spend means: `None` to go on; otherwise the actions to return (a
    /// `rate_limited` error added to `out`, or the sender closed with 4006).
    fn over_budget(
        &mut self,
        sender: usize,
        spent: Spend,
        out: &mut Vec<Outbound<C>>,
    ) -> Option<Vec<Outbound<C>>> {
        match spent {
            Spend::Allowed => None,
            Spend::Refused => {
                let conn = self.seats[sender].conn.clone();
                out.extend(self.send(conn, &RoomError::RateLimited.to_message()));
                Some(std::mem::take(out))
            }
            Spend::Exhausted => {
                let mut done = std::mem::take(out);
                done.extend(self.remove(
                    sender,
                    LeaveReason::Disconnect,
                    Some(close::RATE_LIMITED),
                ));
                Some(done)
            }
        }
    }
}
