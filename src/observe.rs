//! Observability, in one place: every event worth recording (a join, resume, refusal or
//! departure, a sweep, a restore) is an [`Observation`], which makes both its structured JSON
//! log line and, for joins, resumes, rejects and departures, its Workers Analytics Engine data
//! point (written when the optional `ANALYTICS` binding exists; docs/operations.md has the
//! schema and queries). The runtime only writes what this module builds.
//!
//! Neither ever holds SDP, candidates, tokens or resume secrets: none of them is a field. A data
//! point holds no peer id and no room name either: only the event, its reason, the room's hash
//! (so rooms can be counted without being named) and two numbers.

use sha2::{Digest, Sha256};

use crate::room::RoomEvent;

/// One event, as the log and the analytics dataset see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation<'a> {
    /// `join`, `resume`, `reject`, `depart`, `sweep` or `room_restored`.
    pub event: &'a str,
    pub room: &'a str,
    pub peer: Option<&'a str>,
    /// Why, for refusals and departures: an error code or a leave reason.
    pub reason: Option<&'a str>,
    /// The close code the server sent, if it closed a socket.
    pub close_code: Option<u16>,
    /// The HTTP status the Worker answered with, for refusals before any room.
    pub status: Option<u16>,
    /// Peers in the room after the event (`None` when no room was asked).
    pub peers: Option<usize>,
}

impl<'a> Observation<'a> {
    /// An event of `room`'s state machine, `peers` being the room's size after it.
    pub fn of_room(event: &'a RoomEvent, room: &'a str, peers: usize) -> Self {
        Observation {
            event: event.kind.as_str(),
            room,
            peer: Some(event.peer.as_str()),
            reason: event.reason,
            close_code: event.close_code,
            status: None,
            peers: Some(peers),
        }
    }

    /// An event with only a name, a room and a peer count (`sweep`, `room_restored`).
    pub fn of_room_size(event: &'a str, room: &'a str, peers: usize) -> Self {
        Observation {
            event,
            room,
            peer: None,
            reason: None,
            close_code: None,
            status: None,
            peers: Some(peers),
        }
    }

    /// A join refused by the Worker before any room: with its HTTP status, or (for a socket
    /// the Worker accepts only to close) its close code.
    pub fn refusal(
        room: &'a str,
        peer: Option<&'a str>,
        reason: &'a str,
        status: Option<u16>,
        close_code: Option<u16>,
    ) -> Self {
        Observation {
            event: "reject",
            room,
            peer,
            reason: Some(reason),
            close_code,
            status,
            peers: None,
        }
    }

    /// The structured log line: one JSON object, fields in a fixed order (event, room, peer,
    /// reason, close_code, status, peers), absent ones left out.
    pub fn log_line(&self) -> String {
        let text = |v: &str| serde_json::to_string(v).expect("a string serializes");
        let mut line = format!(
            r#"{{"event":{},"room":{}"#,
            text(self.event),
            text(self.room)
        );
        let mut field = |name: &str, value: String| {
            line.push_str(&format!(r#","{name}":{value}"#));
        };
        if let Some(peer) = self.peer {
            field("peer", text(peer));
        }
        if let Some(reason) = self.reason {
            field("reason", text(reason));
        }
        if let Some(code) = self.close_code {
            field("close_code", code.to_string());
        }
        if let Some(status) = self.status {
            field("status", status.to_string());
        }
        if let Some(peers) = self.peers {
            field("peers", peers.to_string());
        }
        line.push('}');
        line
    }

    /// The Analytics Engine data point, for the events the dataset counts.
    pub fn data_point(&self) -> Option<DataPoint> {
        matches!(self.event, "join" | "resume" | "reject" | "depart").then(|| {
            data_point(
                self.event,
                self.room,
                self.reason,
                self.close_code.or(self.status),
                self.peers.unwrap_or(0),
            )
        })
    }
}

/// One Analytics Engine row, in the order the dataset's columns are numbered.
#[derive(Clone, Debug, PartialEq)]
pub struct DataPoint {
    /// `index1`: the room's hash, the sampling key (one room's events are sampled together).
    pub index: String,
    /// `blob1` event (`join`, `resume`, `reject`, `depart`), `blob2` reason (error code or leave
    /// reason, empty when none), `blob3` the room's hash.
    pub blobs: [String; 3],
    /// `double1` peers in the room after the event, `double2` the close code or HTTP status the
    /// server answered with (0 when none).
    pub doubles: [f64; 2],
}

/// The first 16 hex digits of SHA-256 of the room's name: enough to count distinct rooms, and
/// not the name (which is the key to the room). A short, guessable room name can still be found
/// by hashing guesses; room names should be random, as the landing page makes them.
pub fn room_hash(room: &str) -> String {
    let digest = Sha256::digest(room.as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// The data point of one event in `room`.
fn data_point(
    event: &str,
    room: &str,
    reason: Option<&str>,
    code: Option<u16>,
    peers: usize,
) -> DataPoint {
    let hash = room_hash(room);
    DataPoint {
        index: hash.clone(),
        blobs: [event.to_owned(), reason.unwrap_or("").to_owned(), hash],
        doubles: [peers as f64, f64::from(code.unwrap_or(0))],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_hash_is_sha256_prefix() {
        // printf 'demo' | sha256sum → 2a97516c354b68848cdbd8f54a226a0a55b21ed138e207ad6c5cbb9c00aa5aea
        assert_eq!(room_hash("demo"), "2a97516c354b6884");
        assert_ne!(room_hash("demo"), room_hash("demo2"));
    }

    #[test]
    fn data_points_carry_no_names() {
        let p = data_point("depart", "team-standup", Some("timeout"), Some(4008), 1);
        assert_eq!(
            p,
            DataPoint {
                index: room_hash("team-standup"),
                blobs: ["depart".into(), "timeout".into(), room_hash("team-standup")],
                doubles: [1.0, 4008.0],
            }
        );
        assert!(!format!("{p:?}").contains("team-standup"));
        let join = data_point("join", "r", None, None, 2);
        assert_eq!(join.blobs[1], "");
        assert_eq!(join.doubles, [2.0, 0.0]);
    }

    #[test]
    fn one_observation_makes_both_the_log_line_and_the_data_point() {
        let event = RoomEvent {
            kind: crate::room::EventKind::Depart,
            peer: crate::protocol::PeerId::parse("alice").unwrap(),
            reason: Some("timeout"),
            close_code: Some(4008),
        };
        let seen = Observation::of_room(&event, "r1", 1);
        assert_eq!(
            seen.log_line(),
            r#"{"event":"depart","room":"r1","peer":"alice","reason":"timeout","close_code":4008,"peers":1}"#
        );
        assert_eq!(
            seen.data_point(),
            Some(data_point("depart", "r1", Some("timeout"), Some(4008), 1))
        );
        let refused = Observation::refusal("r\"1", None, "forbidden_origin", Some(403), None);
        let line: serde_json::Value = serde_json::from_str(&refused.log_line()).unwrap();
        assert_eq!(line["room"], "r\"1");
        assert_eq!(line["status"], 403);
        assert!(line.get("peer").is_none());
        assert_eq!(refused.data_point().unwrap().doubles, [0.0, 403.0]);
        // Sweeps and restores are logged, not counted.
        let sweep = Observation::of_room_size("sweep", "r1", 0);
        assert_eq!(
            sweep.log_line(),
            r#"{"event":"sweep","room":"r1","peers":0}"#
        );
        assert_eq!(sweep.data_point(), None);
    }
}
