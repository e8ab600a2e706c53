//! Fuzz target: any bytes, as a text frame from a connected PeerJS peer, through the PeerJS codec
//! and the peer's state. It must never panic; it answers its own socket only with JSON (`ERROR`,
//! or a message to itself stamped with its id), hands other peers only frames stamped with its
//! id and addressed to a valid id, and closes nothing but its own socket.
#![no_main]

use edge_signal::action::{Hook, Outbound as Action};
use edge_signal::peer::Peer;
use edge_signal::protocol::peerjs::valid_id;
use edge_signal::room::{Frame, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let limits = Limits {
        default_capacity: 2,
        max_message_bytes: 4096,
        rate_burst: 1_000_000,
        rate_per_sec: 1,
        rate_bytes_burst: 1 << 30,
        rate_bytes_per_sec: 1 << 30,
        idle_timeout_ms: 60_000,
    };
    let mut peer: Peer<u8> = Peer::new("me", limits, 5000);
    let (seated, _) = peer.join(1, "t", 0, String::new(), |_| None);
    assert!(seated);
    for action in peer.frame(&1, Frame::Text(&text), 0) {
        match action {
            Action::Send { to, frame } => {
                assert_eq!(to, 1, "only its own socket is answered");
                let v: serde_json::Value = match serde_json::from_str(&frame) {
                    Ok(v) => v,
                    // A payload nested deeper than serde_json's Value allows: still JSON.
                    Err(_) => {
                        serde_json::from_str::<Box<serde_json::value::RawValue>>(&frame)
                            .expect("JSON");
                        continue;
                    }
                };
                if v["type"] != "ERROR" {
                    assert_eq!((v["src"].as_str(), v["dst"].as_str()), (Some("me"), Some("me")));
                }
            }
            Action::Deliver { dst, frame, .. } => {
                assert!(valid_id(&dst), "{dst:?}");
                let prefix = r#"{"type":""#;
                assert!(frame.starts_with(prefix), "{frame}");
                assert!(frame.contains(r#","src":"me","dst":""#), "{frame}");
                serde_json::from_str::<Box<serde_json::value::RawValue>>(&frame).expect("JSON");
            }
            Action::Close { to, .. } => assert_eq!(to, 1),
            Action::Touch { .. } | Action::ArmAlarm { .. } | Action::DisarmAlarm => {}
            // A frame that ends the connection (LEAVE, too big, over budget): its departure.
            Action::Hook { hook, .. } => assert!(
                matches!(&hook, Hook::PeerLeft { peer, peers: 0, .. } if peer == "me"),
                "{hook:?}"
            ),
            other => panic!("a peer's frame never asks for {other:?}"),
        }
    }
});
