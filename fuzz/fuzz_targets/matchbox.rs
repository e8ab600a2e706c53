//! Fuzz target: any bytes, as a text frame from a seated matchbox peer, through the matchbox
//! codec and the room. The room must never panic, never answer the sender (matchbox has no error
//! event), send only JSON, stamp every forwarded `Signal` with the sender's id, and change who is
//! in the room only by closing the sender.
#![no_main]

use edge_signal::protocol::{PeerId, RoomId, Wire};
use edge_signal::room::{Frame, JoinRequest, Limits, Outbound, Room};
use libfuzzer_sys::fuzz_target;

const IDS: [&str; 3] = [
    "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa",
    "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb",
    "cccccccc-cccc-4ccc-8ccc-cccccccccccc",
];

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let limits = Limits {
        default_capacity: 3,
        max_message_bytes: 4096,
        rate_burst: 1_000_000,
        rate_per_sec: 1,
        rate_bytes_burst: 1 << 30,
        rate_bytes_per_sec: 1 << 30,
        idle_timeout_ms: 60_000,
    };
    let mut room: Room<u8> = Room::new(limits).speaking(Wire::Matchbox);
    let room_id = RoomId::parse("r").unwrap();
    let ice = edge_signal::json::Json::parse("[]").unwrap();
    for (conn, name) in IDS.iter().enumerate() {
        let req = JoinRequest {
            room: &room_id,
            peer: PeerId::parse(name).unwrap(),
            capacity: None,
            ice_servers: &ice,
            resume: None,
            new_resume_secret: String::new(),
            meta: None,
            new_session: String::new(),
        };
        room.join(req, conn as u8, 0).result.unwrap();
    }
    let out = room.frame(&PeerId::parse(IDS[0]).unwrap(), 0, Frame::Text(&text), 0);
    let mut closed_sender = false;
    for action in out.into_iter().map(|o| o.render(&text)) {
        match action {
            Outbound::Send { to, frame } => {
                assert_ne!(to, 0, "matchbox never answers the sender: {frame}");
                serde_json::from_str::<Box<serde_json::value::RawValue>>(&frame).expect("JSON");
                if frame.starts_with(r#"{"Signal""#) {
                    let prefix = format!(r#"{{"Signal":{{"sender":"{}","data":"#, IDS[0]);
                    assert!(frame.starts_with(&prefix), "{frame}");
                } else {
                    assert_eq!(frame, format!(r#"{{"PeerLeft":"{}"}}"#, IDS[0]));
                }
            }
            Outbound::Close { to, .. } => {
                assert_eq!(to, 0, "only the sender may be closed");
                closed_sender = true;
            }
            _ => {}
        }
    }
    let expected = if closed_sender { 2 } else { 3 };
    assert_eq!(room.len(), expected);
});
