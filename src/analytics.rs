//! Workers Analytics Engine data points: one per join, resume, reject and departure, written
//! when the optional `ANALYTICS` binding exists (docs/operations.md has the schema and queries).
//!
//! A data point never holds a peer id, SDP, a token or the room's name: only the event, its
//! reason, the room's hash (so rooms can be counted without being named) and two numbers.

use sha2::{Digest, Sha256};

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
pub fn data_point(
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
}
