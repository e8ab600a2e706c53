//! The matchbox wire protocol: what `matchbox_socket` 0.15 (johanhelsing/matchbox, crate
//! `matchbox_protocol`) speaks to `matchbox_server`, as a second codec for the same
//! [`crate::room::Room`] (`docs/matchbox.md`).
//!
//! Server to client, externally tagged JSON: `{"IdAssigned":"<uuid>"}` first (our `welcome`),
//! `{"NewPeer":"<uuid>"}` to those already in the room (our `peer_joined`; they then make the
//! offer), `{"PeerLeft":"<uuid>"}`, and `{"Signal":{"sender":"<uuid>","data":…}}`. Client to
//! server: `{"Signal":{"receiver":"<uuid>","data":…}}` and `"KeepAlive"`. `data` is opaque and
//! forwarded as the raw JSON it arrived as. matchbox has no error message: a client that
//! receives anything else ends its signaling loop, so refusals are closes only, and frames the
//! room cannot route are dropped (as `matchbox_server` does).

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{Forwarding, FrameError, Inbound, PeerId, ServerMessage};

#[derive(Deserialize)]
enum Request<'a> {
    Signal {
        receiver: String,
        #[serde(borrow)]
        data: &'a RawValue,
    },
    KeepAlive,
}

/// Reads a client frame of `from`: a `Signal` to route (stamped with its sender), or a
/// `KeepAlive`.
pub fn read(text: &str, from: &PeerId) -> Result<Inbound, FrameError> {
    match serde_json::from_str::<Request<'_>>(text) {
        Ok(Request::Signal { receiver, data }) => Ok(Inbound::Relay {
            to: Some(receiver),
            forwarding: Forwarding::Built(signal(from, data.get())),
        }),
        Ok(Request::KeepAlive) => Ok(Inbound::KeepAlive),
        Err(e) => Err(FrameError::NotMatchbox(e.to_string())),
    }
}

/// The frame for a server message, if matchbox has one: the welcome, arrivals and departures.
/// Errors and pongs have no matchbox form.
pub fn render(msg: &ServerMessage) -> Option<String> {
    let (tag, peer) = match msg {
        ServerMessage::Welcome { peer, .. } => ("IdAssigned", peer),
        ServerMessage::PeerJoined { peer, .. } => ("NewPeer", peer),
        ServerMessage::PeerLeft { peer, .. } => ("PeerLeft", peer),
        _ => return None,
    };
    // Peer ids are UUIDs here (the Worker makes them), nothing to escape.
    Some(format!(r#"{{"{tag}":"{}"}}"#, peer.as_str()))
}

/// A `Signal` from `sender` carrying `data`, the raw JSON text it arrived as.
pub fn signal(sender: &PeerId, data: &str) -> String {
    format!(
        r#"{{"Signal":{{"sender":"{}","data":{data}}}}}"#,
        sender.as_str()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{uuid_v4, LeaveReason, RoomId};

    const A: &str = "9b2b8a5e-6d3c-4f0a-8e1b-2c3d4e5f6a7b";

    #[test]
    fn requests_are_read_as_matchbox_writes_them() {
        let frame = format!(r#"{{"Signal":{{"receiver":"{A}","data":{{"Offer":"v=0\r\n"}}}}}}"#);
        let me = PeerId::parse("me").unwrap();
        let parse = |text: &str| read(text, &me);
        match parse(&frame).unwrap() {
            Inbound::Relay {
                to,
                forwarding: Forwarding::Built(out),
            } => {
                assert_eq!(to.as_deref(), Some(A));
                assert_eq!(
                    out,
                    r#"{"Signal":{"sender":"me","data":{"Offer":"v=0\r\n"}}}"#
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(parse(r#""KeepAlive""#), Ok(Inbound::KeepAlive));
        assert_eq!(parse(" \"KeepAlive\" "), Ok(Inbound::KeepAlive));
        for bad in [
            "",
            "{}",
            "null",
            r#""Ping""#,
            r#"{"type":"offer","to":"x","sdp":""}"#,
            r#"{"Signal":{"data":1}}"#,
            r#"{"Signal":{"receiver":7,"data":1}}"#,
            r#"{"Signal":{"receiver":"x"}}"#,
            r#"{"KeepAlive":null,"Signal":{}}"#,
        ] {
            assert!(
                matches!(parse(bad), Err(FrameError::NotMatchbox(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn events_are_written_as_matchbox_reads_them() {
        let peer = PeerId::parse(A).unwrap();
        let welcome = ServerMessage::Welcome {
            room: RoomId::parse("r").unwrap(),
            peer: peer.clone(),
            capacity: 2,
            peers: vec![],
            meta: Default::default(),
            ice_servers: crate::json::Json::parse("[]").unwrap(),
            resume: "s".into(),
            resumed: false,
        };
        assert_eq!(
            render(&welcome).unwrap(),
            format!(r#"{{"IdAssigned":"{A}"}}"#)
        );
        let joined = ServerMessage::PeerJoined {
            peer: peer.clone(),
            meta: None,
        };
        assert_eq!(render(&joined).unwrap(), format!(r#"{{"NewPeer":"{A}"}}"#));
        let left = ServerMessage::PeerLeft {
            peer: peer.clone(),
            reason: LeaveReason::Timeout,
        };
        assert_eq!(render(&left).unwrap(), format!(r#"{{"PeerLeft":"{A}"}}"#));
        let out = signal(&peer, r#"{"IceCandidate":"c"}"#);
        assert_eq!(
            out,
            format!(r#"{{"Signal":{{"sender":"{A}","data":{{"IceCandidate":"c"}}}}}}"#)
        );
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["Signal"]["data"]["IceCandidate"], "c");
    }

    #[test]
    fn ids_are_version_4_uuids() {
        let id = uuid_v4([0xff; 16]);
        assert_eq!(id, "ffffffff-ffff-4fff-bfff-ffffffffffff");
        assert_eq!(uuid_v4([0; 16]), "00000000-0000-4000-8000-000000000000");
        assert!(PeerId::parse(&id).is_ok());
    }
}
