//! Fuzz target: any bytes, as a text frame from a seated peer, through the frame parser and the
//! room state machine. The room must never panic, every frame it sends must be JSON, a relay
//! must never reach its sender, and only a `leave` (or a frame that closes the sender) may
//! change who is in the room.
#![no_main]

use edge_signal::protocol::{parse_client_frame, ClientFrame, PeerId, RoomId};
use edge_signal::room::{Frame, JoinRequest, Limits, Outbound, Room};
use libfuzzer_sys::fuzz_target;

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
    let mut room: Room<u8> = Room::new(limits);
    let room_id = RoomId::parse("r").unwrap();
    let ice = edge_signal::json::Json::parse("[]").unwrap();
    for (conn, name) in [(0u8, "a"), (1, "b"), (2, "c")] {
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
        room.join(req, conn, 0).result.unwrap();
    }
    let parsed = parse_client_frame(&text);
    let out: Vec<_> = (room.frame(&PeerId::parse("a").unwrap(), 0, Frame::Text(&text), 0))
        .into_iter()
        .map(|o| o.render(&text))
        .collect();
    let mut closed_sender = false;
    for action in &out {
        match action {
            Outbound::Send { to, frame } => {
                let v: serde_json::Value = match serde_json::from_str(frame) {
                    Ok(v) => v,
                    // A relayed payload may hold JSON serde_json will not decode (a lone
                    // surrogate escape, a number beyond f64): it must still be JSON by grammar.
                    Err(_) => {
                        serde_json::from_str::<Box<serde_json::value::RawValue>>(frame)
                            .expect("JSON");
                        assert_ne!(*to, 0, "relayed to its sender");
                        continue;
                    }
                };
                if v["from"].is_string() {
                    assert_ne!(*to, 0, "relayed to its sender");
                    assert_eq!(v["from"], "a");
                }
            }
            Outbound::Close { to, .. } => closed_sender |= *to == 0,
            _ => {}
        }
    }
    let leaving = matches!(parsed, Ok(ClientFrame::Leave));
    let expected = if leaving || closed_sender { 2 } else { 3 };
    assert_eq!(room.len(), expected);
});
