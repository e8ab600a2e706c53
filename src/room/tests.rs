//! Every rule of the contract that the room decides, on a room whose connections are plain
//! strings naming the socket.

use serde_json::Value;

use super::*;
use crate::error::close;
use crate::protocol::PONG_FRAME;

type Conn = &'static str;

const ICE: &str = r#"[{"urls":"stun:stun.example.com"}]"#;

fn limits() -> Limits {
    Limits {
        default_capacity: 2,
        max_message_bytes: 1000,
        rate_burst: 1000,
        rate_per_sec: 1000,
        rate_bytes_burst: 1 << 30,
        rate_bytes_per_sec: 1 << 30,
        idle_timeout_ms: 60_000,
    }
}

fn pid(s: &str) -> PeerId {
    PeerId::parse(s).unwrap()
}

struct Harness {
    room: Room<Conn>,
    name: RoomId,
    ice: crate::json::Json,
    /// The clock, in ms.
    now: u64,
    /// The next join's metadata.
    meta: Option<crate::meta::Meta>,
}

impl Harness {
    fn new() -> Self {
        Harness::with(limits())
    }

    fn with(limits: Limits) -> Self {
        Harness {
            room: Room::new(limits),
            name: RoomId::parse("r1").unwrap(),
            ice: crate::json::Json::parse(ICE).unwrap(),
            now: 0,
            meta: None,
        }
    }

    fn join_with(&mut self, peer: &str, capacity: Option<u32>, conn: Conn) -> JoinOutcome<Conn> {
        self.join_resuming(peer, capacity, conn, None)
    }

    /// A join presenting `resume`; the seat's new secret is `secret-<conn>`.
    fn join_resuming(
        &mut self,
        peer: &str,
        capacity: Option<u32>,
        conn: Conn,
        resume: Option<&str>,
    ) -> JoinOutcome<Conn> {
        let req = JoinRequest {
            room: &self.name,
            peer: pid(peer),
            capacity,
            ice_servers: &self.ice,
            resume,
            new_resume_secret: format!("secret-{conn}"),
            meta: self.meta.take(),
            new_session: format!("session-{conn}"),
        };
        self.room.join(req, conn, self.now)
    }

    /// Joins `peer` on socket `peer` and returns its seq.
    fn join(&mut self, peer: &'static str) -> u64 {
        self.join_with(peer, None, peer)
            .result
            .expect("join accepted")
            .seq
    }

    fn seq(&self, peer: &str) -> u64 {
        self.room
            .seats()
            .iter()
            .find(|s| s.peer.as_str() == peer)
            .unwrap()
            .seq
    }

    fn send(&mut self, peer: &str, text: &str) -> Vec<Outbound<Conn>> {
        let seq = self.seq(peer);
        self.room
            .frame(&pid(peer), seq, Frame::Text(text), self.now)
            .into_iter()
            .map(|o| o.render(text))
            .collect()
    }

    fn peers(&self) -> Vec<&str> {
        self.room.seats().iter().map(|s| s.peer.as_str()).collect()
    }
}

/// Only the frames and closes of `out` (no log events or touches).
fn wire(out: Vec<Outbound<Conn>>) -> Vec<Outbound<Conn>> {
    out.into_iter()
        .filter(|o| matches!(o, Outbound::Send { .. } | Outbound::Close { .. }))
        .collect()
}

fn events(out: &[Outbound<Conn>]) -> Vec<RoomEvent> {
    out.iter()
        .filter_map(|o| match o {
            Outbound::Event(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

fn seat(room: &Room<Conn>, peer: &str, seq: u64, conn: Conn) -> Seat<Conn> {
    room.restored_seat(
        pid(peer),
        seq,
        seq,
        conn,
        (format!("secret-{conn}"), None, 0),
        0,
        0,
    )
}

fn sent(out: &[Outbound<Conn>]) -> Vec<(Conn, Value)> {
    out.iter()
        .filter_map(|o| match o {
            Outbound::Send { to, frame } => {
                Some((*to, serde_json::from_str(frame).expect("frames are JSON")))
            }
            _ => None,
        })
        .collect()
}

fn closes(out: &[Outbound<Conn>]) -> Vec<(Conn, u16)> {
    out.iter()
        .filter_map(|o| match o {
            Outbound::Close { to, code, .. } => Some((*to, *code)),
            _ => None,
        })
        .collect()
}

#[test]
fn first_peer_gets_a_welcome_with_no_peers() {
    let mut h = Harness::new();
    let out = wire(h.join_with("alice", None, "a").out);
    assert_eq!(out.len(), 1);
    let (to, welcome) = &sent(&out)[0];
    assert_eq!(*to, "a");
    assert_eq!(
        welcome,
        &serde_json::json!({"type":"welcome","room":"r1","peer":"alice","capacity":2,"peers":[],
            "meta":{},"ice_servers":[{"urls":"stun:stun.example.com"}],"resume":"secret-a"})
    );
}

#[test]
fn newcomer_is_welcomed_first_then_the_others_hear_peer_joined() {
    let mut h = Harness::with(Limits {
        default_capacity: 4,
        ..limits()
    });
    h.join("alice");
    h.join("bob");
    let out = h.join_with("carol", None, "carol").out;
    let frames = sent(&out);
    assert_eq!(frames[0].0, "carol");
    assert_eq!(frames[0].1["type"], "welcome");
    assert_eq!(
        frames[0].1["peers"],
        serde_json::json!(["alice", "bob"]),
        "join order"
    );
    let rest: Vec<_> = frames[1..].iter().map(|(to, v)| (*to, v.clone())).collect();
    assert_eq!(
        rest,
        vec![
            (
                "alice",
                serde_json::json!({"type":"peer_joined","peer":"carol"})
            ),
            (
                "bob",
                serde_json::json!({"type":"peer_joined","peer":"carol"})
            ),
        ]
    );
}

#[test]
fn a_full_room_refuses_with_room_full_and_4001() {
    let mut h = Harness::new();
    h.join("alice");
    h.join("bob");
    let outcome = h.join_with("carol", None, "c");
    assert_eq!(outcome.result, Err(RoomError::RoomFull { capacity: 2 }));
    assert_eq!(sent(&outcome.out)[0].1["code"], "room_full");
    assert_eq!(closes(&outcome.out), vec![("c", close::ROOM_FULL)]);
    assert_eq!(
        wire(outcome.out).len(),
        2,
        "nobody else hears of a refused join"
    );
    assert_eq!(h.peers(), vec!["alice", "bob"]);
}

#[test]
fn a_taken_id_refuses_with_peer_id_taken_and_4002() {
    let mut h = Harness::new();
    h.join("alice");
    let outcome = h.join_with("alice", None, "a2");
    assert_eq!(outcome.result, Err(RoomError::PeerIdTaken("alice".into())));
    assert_eq!(sent(&outcome.out)[0].1["code"], "peer_id_taken");
    assert_eq!(closes(&outcome.out), vec![("a2", close::PEER_ID_TAKEN)]);
    assert_eq!(h.peers(), vec!["alice"]);
}

#[test]
fn a_taken_id_in_a_full_room_is_reported_as_taken() {
    let mut h = Harness::new();
    h.join("alice");
    h.join("bob");
    assert_eq!(
        h.join_with("bob", None, "b2").result,
        Err(RoomError::PeerIdTaken("bob".into()))
    );
}

#[test]
fn capacity_is_set_by_the_join_that_opens_the_room() {
    let mut h = Harness::new();
    assert_eq!(
        h.join_with("alice", Some(3), "alice")
            .result
            .unwrap()
            .capacity,
        3
    );
    // Later joiners get the existing capacity, whatever they ask for.
    assert_eq!(
        h.join_with("bob", Some(2), "bob").result.unwrap().capacity,
        3
    );
    assert!(h.join_with("carol", Some(10), "carol").result.is_ok());
    assert_eq!(
        h.join_with("dave", Some(10), "dave").result,
        Err(RoomError::RoomFull { capacity: 3 })
    );
    assert_eq!(h.room.capacity(), 3);
}

#[test]
fn an_emptied_room_reopens_with_a_new_capacity() {
    let mut h = Harness::new();
    h.join_with("alice", Some(3), "alice").result.unwrap();
    let seq = h.seq("alice");
    h.room.depart(&pid("alice"), seq);
    assert!(h.room.is_empty());
    assert_eq!(h.room.capacity(), 2, "an empty room reports the default");
    assert_eq!(
        h.join_with("bob", Some(5), "bob").result.unwrap().capacity,
        5
    );
}

#[test]
fn relay_goes_only_to_the_addressee_with_from_stamped() {
    let mut h = Harness::with(Limits {
        default_capacity: 3,
        ..limits()
    });
    h.join("alice");
    h.join("bob");
    h.join("carol");
    let out = h.send(
        "alice",
        r#"{"type":"offer","to":"bob","sdp":"v=0","from":"carol"}"#,
    );
    assert_eq!(
        out,
        vec![Outbound::Send {
            to: "bob",
            frame: r#"{"type":"offer","to":"bob","sdp":"v=0","from":"alice"}"#.into()
        }]
    );
    let out = h.send("bob", r#"{"type":"answer","to":"alice","sdp":"v=0"}"#);
    assert_eq!(
        sent(&out).iter().map(|(to, _)| *to).collect::<Vec<_>>(),
        vec!["alice"]
    );
    let out = h.send(
        "carol",
        r#"{"type":"candidate","to":"alice","candidate":{"candidate":"x"}}"#,
    );
    assert_eq!(sent(&out)[0].1["from"], "carol");
}

#[test]
fn a_message_without_to_reaches_every_other_peer() {
    let mut h = Harness::with(Limits {
        default_capacity: 3,
        ..limits()
    });
    h.join("alice");
    h.join("bob");
    h.join("carol");
    let out = h.send("bob", r#"{"type":"message","data":{"hi":1}}"#);
    let to: Vec<Conn> = sent(&out).iter().map(|(to, _)| *to).collect();
    assert_eq!(to, vec!["alice", "carol"]);
    assert!(sent(&out)
        .iter()
        .all(|(_, v)| v["from"] == "bob" && v["data"]["hi"] == 1));
}

#[test]
fn a_targeted_message_reaches_only_its_addressee() {
    let mut h = Harness::with(Limits {
        default_capacity: 3,
        ..limits()
    });
    h.join("alice");
    h.join("bob");
    h.join("carol");
    let out = h.send("bob", r#"{"type":"message","to":"carol","data":"x"}"#);
    assert_eq!(
        sent(&out).iter().map(|(to, _)| *to).collect::<Vec<_>>(),
        vec!["carol"]
    );
}

#[test]
fn a_message_alone_in_the_room_goes_nowhere() {
    let mut h = Harness::new();
    h.join("alice");
    assert!(h.send("alice", r#"{"type":"message","data":1}"#).is_empty());
}

#[test]
fn an_unknown_addressee_is_an_error_to_the_sender_only() {
    let mut h = Harness::new();
    h.join("alice");
    h.join("bob");
    let out = h.send("alice", r#"{"type":"offer","to":"zed","sdp":"v=0"}"#);
    assert_eq!(
        sent(&out),
        vec![(
            "alice",
            serde_json::json!({"type":"error","code":"unknown_peer","message":"no peer \"zed\" in this room","peer":"zed"})
        )]
    );
    assert!(closes(&out).is_empty());
}

#[test]
fn addressing_yourself_is_an_unknown_peer() {
    let mut h = Harness::new();
    h.join("alice");
    h.join("bob");
    let out = h.send("alice", r#"{"type":"message","to":"alice","data":1}"#);
    assert_eq!(sent(&out).len(), 1);
    assert_eq!(sent(&out)[0].0, "alice");
    assert_eq!(sent(&out)[0].1["code"], "unknown_peer");
}

#[test]
fn a_bad_frame_is_a_bad_request_and_the_room_is_unchanged() {
    let mut h = Harness::new();
    h.join("alice");
    h.join("bob");
    for text in [
        "nope",
        "[]",
        r#"{"type":"offer","to":"bob"}"#,
        r#"{"type":"dance"}"#,
    ] {
        let out = h.send("alice", text);
        assert_eq!(out.len(), 1, "{text}");
        let (to, v) = &sent(&out)[0];
        assert_eq!(
            (*to, v["type"].as_str(), v["code"].as_str()),
            ("alice", Some("error"), Some("bad_request")),
            "{text}"
        );
    }
    assert_eq!(h.peers(), vec!["alice", "bob"]);
}

#[test]
fn leave_tells_the_others_and_closes_with_1000() {
    let mut h = Harness::with(Limits {
        default_capacity: 3,
        ..limits()
    });
    h.join("alice");
    h.join("bob");
    h.join("carol");
    let out = h.send("bob", r#"{"type":"leave"}"#);
    let left = serde_json::json!({"type":"peer_left","peer":"bob","reason":"leave"});
    assert_eq!(sent(&out), vec![("alice", left.clone()), ("carol", left)]);
    assert_eq!(closes(&out), vec![("bob", close::NORMAL)]);
    assert_eq!(h.peers(), vec!["alice", "carol"]);
}

#[test]
fn a_disconnect_gives_peer_left_once() {
    let mut h = Harness::new();
    h.join("alice");
    let bob = h.join("bob");
    let out = h.room.depart(&pid("bob"), bob);
    assert_eq!(
        sent(&out),
        vec![(
            "alice",
            serde_json::json!({"type":"peer_left","peer":"bob","reason":"disconnect"})
        )]
    );
    assert!(closes(&out).is_empty(), "the socket is already gone");
    assert!(
        h.room.depart(&pid("bob"), bob).is_empty(),
        "a second close event is ignored"
    );
}

#[test]
fn the_close_after_a_leave_does_not_announce_a_second_departure() {
    let mut h = Harness::new();
    h.join("alice");
    let bob = h.join("bob");
    h.send("bob", r#"{"type":"leave"}"#);
    assert!(h.room.depart(&pid("bob"), bob).is_empty());
}

#[test]
fn a_late_close_of_an_old_socket_does_not_remove_a_newer_peer_with_its_id() {
    let mut h = Harness::new();
    h.join("alice");
    let old = h.join("bob");
    h.send("bob", r#"{"type":"leave"}"#);
    let new = h.join_with("bob", None, "bob2").result.unwrap().seq;
    assert_ne!(old, new);
    assert!(h.room.depart(&pid("bob"), old).is_empty());
    assert_eq!(h.peers(), vec!["alice", "bob"]);
    // And frames from the old socket are ignored, not relayed as the new bob.
    assert!(h
        .room
        .frame(
            &pid("bob"),
            old,
            Frame::Text(r#"{"type":"message","data":1}"#),
            0
        )
        .is_empty());
}

#[test]
fn a_binary_frame_closes_with_1003_and_the_others_hear_a_disconnect() {
    let mut h = Harness::new();
    h.join("alice");
    let bob = h.join("bob");
    let out = h.room.frame(&pid("bob"), bob, Frame::Binary(10), 0);
    assert_eq!(
        sent(&out),
        vec![(
            "alice",
            serde_json::json!({"type":"peer_left","peer":"bob","reason":"disconnect"})
        )]
    );
    assert_eq!(closes(&out), vec![("bob", close::UNSUPPORTED_DATA)]);
    assert_eq!(h.peers(), vec!["alice"]);
}

#[test]
fn a_frame_over_the_limit_closes_with_1009_and_one_at_the_limit_is_relayed() {
    let mut h = Harness::new();
    h.join("alice");
    h.join("bob");
    let frame_of = |len: usize| {
        let head = r#"{"type":"message","data":""#;
        format!("{head}{}\"}}", "x".repeat(len - head.len() - 2))
    };
    let exact = frame_of(1000);
    assert_eq!(exact.len(), 1000);
    assert_eq!(sent(&h.send("bob", &exact))[0].0, "alice");
    let over = frame_of(1001);
    let out = h.send("bob", &over);
    assert_eq!(closes(&out), vec![("bob", close::MESSAGE_TOO_BIG)]);
    assert_eq!(sent(&out)[0].1["type"], "peer_left");
    assert_eq!(h.peers(), vec!["alice"]);
}

#[test]
fn ping_with_other_spacing_is_answered_by_the_room() {
    let mut h = Harness::new();
    h.join("alice");
    h.join("bob");
    let out = h.send("alice", r#"{ "type": "ping" }"#);
    assert_eq!(
        out,
        vec![Outbound::Send {
            to: "alice",
            frame: PONG_FRAME.into()
        }]
    );
}

#[test]
fn per_sender_order_is_kept() {
    let mut h = Harness::new();
    h.join("alice");
    h.join("bob");
    let mut got = Vec::new();
    for i in 0..100 {
        for (_, v) in sent(&h.send("alice", &format!(r#"{{"type":"message","data":{i}}}"#))) {
            got.push(v["data"].as_u64().unwrap());
        }
    }
    assert_eq!(got, (0..100).collect::<Vec<_>>());
}

#[test]
fn restore_rebuilds_join_order_capacity_and_seq() {
    let empty: Room<Conn> = Room::new(limits());
    let seats = vec![
        seat(&empty, "bob", 7, "bob"),
        seat(&empty, "alice", 3, "alice"),
    ];
    let mut h = Harness::new();
    h.room = Room::restore(limits(), 4, seats).in_session("s0".into());
    assert_eq!(h.room.capacity(), 4);
    assert_eq!(h.peers(), vec!["alice", "bob"]);
    let joined = h.join_with("carol", None, "carol");
    assert_eq!(
        joined.result,
        Ok(Joined {
            seq: 8,
            order: 8,
            capacity: 4,
            resumed: false,
            meta: None,
            joined_ms: 0,
            session: "s0".into(),
        })
    );
    assert_eq!(
        sent(&joined.out)[0].1["peers"],
        serde_json::json!(["alice", "bob"])
    );
}

#[test]
fn restore_keeps_the_newest_socket_when_two_claim_one_id() {
    let empty: Room<Conn> = Room::new(limits());
    let seats = vec![
        seat(&empty, "bob", 1, "old"),
        seat(&empty, "alice", 2, "alice"),
        seat(&empty, "bob", 5, "new"),
    ];
    let room = Room::restore(limits(), 2, seats);
    let conns: Vec<Conn> = room.seats().iter().map(|s| s.conn).collect();
    assert_eq!(conns, vec!["alice", "new"]);
}

#[test]
fn restoring_no_sockets_gives_an_empty_room_with_the_default_capacity() {
    let room: Room<Conn> = Room::restore(limits(), 9, vec![]);
    assert!(room.is_empty());
    assert_eq!(room.capacity(), 2);
}

// ---- hardening: resume, rate limits, idle sweep, log events -------------------------------

#[test]
fn welcome_carries_a_resume_secret() {
    let mut h = Harness::new();
    let out = h.join_with("alice", None, "a1").out;
    assert_eq!(sent(&out)[0].1["resume"], "secret-a1");
    assert!(
        sent(&out)[0].1.get("resumed").is_none(),
        "absent on a plain join"
    );
}

#[test]
fn resume_takes_the_seat_over_without_churn() {
    let mut h = Harness::with(Limits {
        default_capacity: 3,
        ..limits()
    });
    h.join("alice");
    h.join_with("bob", None, "b1").result.unwrap();
    h.join("carol");
    let out = h.join_resuming("bob", None, "b2", Some("secret-b1"));
    assert_eq!(
        out.result,
        Ok(Joined {
            seq: 3,
            order: 1,
            capacity: 3,
            resumed: true,
            meta: None,
            joined_ms: 0,
            session: "session-alice".into(),
        })
    );
    // The old socket is closed with 4009; the new one is welcomed; nobody else hears anything.
    assert_eq!(closes(&out.out), vec![("b1", close::RESUMED_ELSEWHERE)]);
    let frames = sent(&out.out);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].0, "b2");
    assert_eq!(frames[0].1["resumed"], true);
    assert_eq!(frames[0].1["peers"], serde_json::json!(["alice", "carol"]));
    assert_eq!(frames[0].1["resume"], "secret-b2", "the secret rotates");
    assert_eq!(events(&out.out)[0].kind, EventKind::Resume);
    // Join order is kept, and messages now go to the new socket.
    assert_eq!(h.peers(), vec!["alice", "bob", "carol"]);
    let out = h.send("alice", r#"{"type":"message","to":"bob","data":1}"#);
    assert_eq!(sent(&out)[0].0, "b2");
    // The old socket's late close and frames do nothing.
    assert!(h.room.depart(&pid("bob"), 1).is_empty());
    assert!(h
        .room
        .frame(&pid("bob"), 1, Frame::Text(r#"{"type":"leave"}"#), 0)
        .is_empty());
    assert_eq!(h.peers(), vec!["alice", "bob", "carol"]);
}

#[test]
fn a_wrong_or_stale_resume_secret_is_peer_id_taken() {
    let mut h = Harness::new();
    h.join_with("bob", None, "b1").result.unwrap();
    for bad in [None, Some(""), Some("secret-b"), Some("secret-b1x")] {
        let out = h.join_resuming("bob", None, "b2", bad);
        assert_eq!(
            out.result,
            Err(RoomError::PeerIdTaken("bob".into())),
            "{bad:?}"
        );
        assert_eq!(closes(&out.out), vec![("b2", close::PEER_ID_TAKEN)]);
    }
    h.join_resuming("bob", None, "b3", Some("secret-b1"))
        .result
        .unwrap();
    // The first secret was rotated away: it no longer works.
    let out = h.join_resuming("bob", None, "b4", Some("secret-b1"));
    assert!(out.result.is_err());
}

#[test]
fn resuming_a_seat_that_is_gone_is_a_plain_join() {
    let mut h = Harness::new();
    h.join("alice");
    let bob = h.join_with("bob", None, "b1").result.unwrap().seq;
    h.room.depart(&pid("bob"), bob);
    let out = h.join_resuming("bob", None, "b2", Some("secret-b1"));
    assert!(!out.result.unwrap().resumed);
    assert_eq!(
        sent(&out.out)[1],
        (
            "alice",
            serde_json::json!({"type":"peer_joined","peer":"bob"})
        )
    );
}

#[test]
fn a_sender_over_budget_is_refused_then_closed_with_4006() {
    let mut h = Harness::with(Limits {
        rate_burst: 5,
        rate_per_sec: 1,
        ..limits()
    });
    h.join("alice");
    h.join("bob");
    let msg = r#"{"type":"message","data":1}"#;
    for _ in 0..5 {
        assert_eq!(sent(&h.send("alice", msg))[0].0, "bob");
    }
    // Over budget: dropped with rate_limited, and bob hears nothing.
    for _ in 0..4 {
        let out = h.send("alice", msg);
        assert_eq!(
            sent(&out),
            vec![(
                "alice",
                serde_json::json!({"type":"error","code":"rate_limited","message":"over the message or byte budget; the message was dropped"})
            )]
        );
    }
    // A whole burst refused: closed, and the others hear a disconnect.
    let out = h.send("alice", msg);
    assert_eq!(closes(&out), vec![("alice", close::RATE_LIMITED)]);
    assert_eq!(
        sent(&out)[0],
        (
            "bob",
            serde_json::json!({"type":"peer_left","peer":"alice","reason":"disconnect"})
        )
    );
    assert_eq!(h.peers(), vec!["bob"]);
}

#[test]
fn the_budget_refills_over_time() {
    let mut h = Harness::with(Limits {
        rate_burst: 2,
        rate_per_sec: 10,
        ..limits()
    });
    h.join("alice");
    h.join("bob");
    let msg = r#"{"type":"message","data":1}"#;
    h.send("alice", msg);
    h.send("alice", msg);
    assert_eq!(sent(&h.send("alice", msg))[0].1["code"], "rate_limited");
    h.now += 100; // one token back
    assert_eq!(sent(&h.send("alice", msg))[0].0, "bob");
    h.now += 10_000; // refilled to the burst, no more
    assert_eq!(sent(&h.send("alice", msg))[0].0, "bob");
    assert_eq!(sent(&h.send("alice", msg))[0].0, "bob");
    assert_eq!(sent(&h.send("alice", msg))[0].1["code"], "rate_limited");
}

#[test]
fn the_sweep_drops_only_silent_peers_with_4008() {
    let mut h = Harness::with(Limits {
        default_capacity: 3,
        idle_timeout_ms: 1000,
        ..limits()
    });
    h.join("alice");
    h.join("bob");
    h.join("carol");
    h.now = 800;
    h.send("alice", r#"{"type":"ping"}"#);
    h.now = 1500;
    // carol's client pings with the exact bytes, answered by the runtime at 1200.
    let out = h
        .room
        .sweep(h.now, |conn| (*conn == "carol").then_some(1200));
    assert_eq!(closes(&out), vec![("bob", close::TIMEOUT)]);
    let left = serde_json::json!({"type":"peer_left","peer":"bob","reason":"timeout"});
    assert_eq!(sent(&out), vec![("alice", left.clone()), ("carol", left)]);
    assert_eq!(h.peers(), vec!["alice", "carol"]);
    // Nothing more to do until someone is silent again.
    assert!(h.room.sweep(h.now, |_| Some(1200)).is_empty());
    assert_eq!(closes(&h.room.sweep(5000, |_| None)).len(), 2);
    assert!(h.room.is_empty());
}

#[test]
fn last_seen_is_recorded_on_the_socket_at_most_every_quarter_timeout() {
    let mut h = Harness::with(Limits {
        idle_timeout_ms: 1000,
        ..limits()
    });
    h.join("alice");
    h.join("bob");
    let touches = |out: &[Outbound<Conn>]| {
        out.iter()
            .filter(|o| matches!(o, Outbound::Touch { .. }))
            .count()
    };
    let msg = r#"{"type":"message","data":1}"#;
    let mut total = 0;
    for t in (0..2000).step_by(10) {
        h.now = t;
        total += touches(&h.send("alice", msg));
    }
    assert_eq!(
        total, 7,
        "one touch per 250 ms of activity, not one per message"
    );
}

#[test]
fn every_join_refusal_and_departure_is_logged_once() {
    let mut h = Harness::new();
    let out = h.join_with("alice", None, "alice").out;
    assert_eq!(
        events(&out),
        vec![RoomEvent {
            kind: EventKind::Join,
            peer: pid("alice"),
            reason: None,
            close_code: None
        }]
    );
    h.join("bob");
    let out = h.join_with("carol", None, "carol").out;
    assert_eq!(
        events(&out),
        vec![RoomEvent {
            kind: EventKind::Reject,
            peer: pid("carol"),
            reason: Some("room_full"),
            close_code: Some(4001)
        }]
    );
    let out = h.send("bob", r#"{"type":"leave"}"#);
    assert_eq!(
        events(&out),
        vec![RoomEvent {
            kind: EventKind::Depart,
            peer: pid("bob"),
            reason: Some("leave"),
            close_code: Some(1000)
        }]
    );
    let seq = h.seq("alice");
    let out = h.room.depart(&pid("alice"), seq);
    assert_eq!(
        events(&out),
        vec![RoomEvent {
            kind: EventKind::Depart,
            peer: pid("alice"),
            reason: Some("disconnect"),
            close_code: None
        }]
    );
    // Relays log nothing.
    h.join("x");
    h.join("y");
    assert!(events(&h.send("x", r#"{"type":"message","data":1}"#)).is_empty());
}

#[test]
fn frame_from_finds_the_sender_by_its_connection() {
    let mut h = Harness::new();
    h.join("alice");
    h.join("bob");
    let out = h
        .room
        .frame_from(&"alice", Frame::Text(r#"{"type":"message","data":1}"#), 0)
        .unwrap()
        .into_iter()
        .map(|o| o.render(r#"{"type":"message","data":1}"#))
        .collect::<Vec<_>>();
    assert_eq!(
        sent(&out),
        vec![(
            "bob",
            serde_json::json!({"type":"message","data":1,"from":"alice"})
        )]
    );
    assert!(
        h.room
            .frame_from(&"stranger", Frame::Text("{}"), 0)
            .is_none(),
        "no seat holds it"
    );
}

/// The sweep-alarm actions of `out`.
fn alarms(out: &[Outbound<Conn>]) -> Vec<Outbound<Conn>> {
    out.iter()
        .filter(|o| matches!(o, Outbound::ArmAlarm { .. } | Outbound::DisarmAlarm))
        .cloned()
        .collect()
}

#[test]
fn the_join_that_makes_a_call_arms_the_sweep_and_the_last_departure_disarms_it() {
    let mut h = Harness::with(Limits {
        default_capacity: 3,
        idle_timeout_ms: 1000,
        ..limits()
    });
    h.now = 100;
    assert!(
        alarms(&h.join_with("alice", None, "alice").out).is_empty(),
        "a room of one"
    );
    assert_eq!(h.room.sweep_alarm(), SweepAlarm::Off);
    let out = h.join_with("bob", None, "bob").out;
    assert_eq!(alarms(&out), vec![Outbound::ArmAlarm { at: 600 }]);
    assert!(
        alarms(&h.join_with("carol", None, "carol").out).is_empty(),
        "already armed"
    );
    let carol = h.seq("carol");
    assert!(alarms(&h.room.depart(&pid("carol"), carol)).is_empty());
    assert!(
        alarms(&h.send("bob", r#"{"type":"leave"}"#)).is_empty(),
        "one left"
    );
    let alice = h.seq("alice");
    let out = h.room.depart(&pid("alice"), alice);
    assert_eq!(alarms(&out), vec![Outbound::DisarmAlarm]);
    assert_eq!(h.room.sweep_alarm(), SweepAlarm::Off);
}

#[test]
fn the_alarm_rearms_only_while_the_room_is_a_call() {
    let mut h = Harness::with(Limits {
        default_capacity: 3,
        idle_timeout_ms: 1000,
        ..limits()
    });
    h.join("alice");
    h.join("bob");
    h.join("carol");
    h.now = 400;
    h.send("alice", r#"{"type":"ping"}"#);
    h.send("bob", r#"{"type":"ping"}"#);
    // carol is silent past the timeout: dropped, and the two left still need sweeping.
    let out = h.room.alarm_fired(1200, |_| None);
    assert_eq!(closes(&out), vec![("carol", close::TIMEOUT)]);
    assert_eq!(alarms(&out), vec![Outbound::ArmAlarm { at: 1700 }]);
    // bob goes too; a room of one needs no alarm (the next join sweeps it).
    let bob = h.seq("bob");
    h.room.depart(&pid("bob"), bob);
    assert!(alarms(&h.room.alarm_fired(1700, |_| None)).is_empty());
    assert_eq!(h.room.sweep_alarm(), SweepAlarm::Off);
}

/// Defect: a room of one evicted and restored assumed an alarm was set, so the join that made
/// it a call armed nothing and a dead peer was never swept.
#[test]
fn a_restored_room_of_one_arms_the_sweep_when_it_becomes_a_call() {
    let empty: Room<Conn> = Room::new(limits());
    let seats = vec![seat(&empty, "alice", 0, "alice")];
    let mut h = Harness::new();
    h.room = Room::restore(limits(), 2, seats);
    assert_eq!(h.room.sweep_alarm(), SweepAlarm::Unknown);
    // Not told what the runtime has: arm to be sure.
    let out = h.join_with("bob", None, "bob").out;
    assert_eq!(alarms(&out), vec![Outbound::ArmAlarm { at: 30_000 }]);

    // Told an alarm is set (a call evicted between sweeps): nothing to write.
    let empty: Room<Conn> = Room::new(limits());
    let seats = vec![seat(&empty, "alice", 0, "alice")];
    h.room = Room::restore(limits(), 2, seats);
    h.room.alarm_known(Some(12_345));
    assert!(alarms(&h.join_with("bob", None, "bob").out).is_empty());
    // Told none is set: arm.
    let seats = vec![seat(&empty, "alice", 0, "alice")];
    h.room = Room::restore(limits(), 2, seats);
    h.room.alarm_known(None);
    assert_eq!(alarms(&h.join_with("bob", None, "bob").out).len(), 1);
}

#[test]
fn a_restored_room_deletes_whatever_alarm_it_may_have_when_it_empties() {
    let empty: Room<Conn> = Room::new(limits());
    let mut h = Harness::new();
    h.room = Room::restore(limits(), 2, vec![seat(&empty, "alice", 0, "alice")]);
    let out = h.room.depart(&pid("alice"), 0);
    assert_eq!(alarms(&out), vec![Outbound::DisarmAlarm]);
}

#[test]
fn admit_sweeps_silent_peers_before_seating_the_newcomer() {
    let mut h = Harness::with(Limits {
        idle_timeout_ms: 1000,
        ..limits()
    });
    h.join("alice");
    h.now = 5000;
    let req = JoinRequest {
        room: &h.name,
        peer: pid("alice"),
        capacity: None,
        ice_servers: &h.ice,
        resume: None,
        new_resume_secret: "s".into(),
        meta: None,
        new_session: "s".into(),
    };
    // alice is long dead: her id is free again, and the newcomer is alone.
    let outcome = h.room.admit(req, "alice2", h.now, |_| None);
    assert!(outcome.result.is_ok());
    assert_eq!(closes(&outcome.out), vec![("alice", close::TIMEOUT)]);
    assert_eq!(sent(&outcome.out)[0].1["peers"], serde_json::json!([]));
}

#[test]
fn bytes_are_budgeted_once_per_recipient() {
    let mut h = Harness::with(Limits {
        default_capacity: 4,
        rate_bytes_burst: 1000,
        rate_bytes_per_sec: 100,
        ..limits()
    });
    h.join("alice");
    h.join("bob");
    h.join("carol");
    h.join("dave");
    // 100 bytes to three peers costs 300.
    let broadcast = format!(r#"{{"type":"message","data":"{}"}}"#, "x".repeat(72));
    assert_eq!(broadcast.len(), 100);
    for _ in 0..3 {
        assert_eq!(sent(&h.send("alice", &broadcast)).len(), 3);
    }
    // 100 left: a broadcast is refused, a direct message of 100 still fits.
    assert_eq!(
        sent(&h.send("alice", &broadcast))[0].1["code"],
        "rate_limited"
    );
    let direct = format!(
        r#"{{"type":"message","to":"bob","data":"{}"}}"#,
        "x".repeat(61)
    );
    assert_eq!(direct.len(), 100);
    assert_eq!(
        sent(&h.send("alice", &direct)),
        vec![("bob", {
            let mut v: Value = serde_json::from_str(&direct).unwrap();
            v["from"] = "alice".into();
            v
        })]
    );
    assert_eq!(sent(&h.send("alice", &direct))[0].1["code"], "rate_limited");
    // The bucket refills: a second later, 100 bytes are back.
    h.now += 1000;
    assert_eq!(sent(&h.send("alice", &direct))[0].0, "bob");
    // Far over (refused a whole burst's worth, net of the refill): closed with 4006. A refused
    // frame counts its own 100 bytes once, whatever its recipients: with 200 already counted
    // (a refused broadcast and a refused direct message, less a second's refill of 100), eight
    // more refusals reach the burst of 1000.
    for _ in 0..8 {
        assert_eq!(
            sent(&h.send("alice", &broadcast))[0].1["code"],
            "rate_limited"
        );
    }
    let out = h.send("alice", &broadcast);
    assert_eq!(closes(&out), vec![("alice", close::RATE_LIMITED)]);
    assert_eq!(h.peers(), vec!["bob", "carol", "dave"]);
}

#[test]
fn a_refused_broadcast_counts_once_so_a_broadcaster_can_back_off() {
    // Issue 21, item 7: in a 16-peer room, 65 KB broadcasts to 15 peers cost 975 KB each; the
    // second is refused, and its refusal must not count 15 times (it closed the sender at the
    // third).
    let mut h = Harness::with(Limits {
        default_capacity: 16,
        max_message_bytes: 65_536,
        rate_bytes_burst: 1 << 20,
        rate_bytes_per_sec: 256 << 10,
        ..limits()
    });
    for i in 0..16 {
        h.join(Box::leak(format!("p{i}").into_boxed_str()));
    }
    let broadcast = format!(r#"{{"type":"message","data":"{}"}}"#, "x".repeat(65_000));
    assert_eq!(sent(&h.send("p0", &broadcast)).len(), 15);
    for _ in 0..5 {
        let out = h.send("p0", &broadcast);
        assert!(
            closes(&out).is_empty(),
            "closed after a few refused broadcasts"
        );
        assert_eq!(sent(&out)[0].1["code"], "rate_limited");
    }
    // Backing off works: four seconds refill the burst, and a broadcast goes through.
    h.now += 4000;
    assert_eq!(sent(&h.send("p0", &broadcast)).len(), 15);
    assert_eq!(h.peers().len(), 16);
}

#[test]
fn a_leave_is_honoured_even_over_budget() {
    let mut h = Harness::with(Limits {
        rate_burst: 2,
        rate_per_sec: 1,
        ..limits()
    });
    h.join("alice");
    h.join("bob");
    h.send("alice", r#"{"type":"message","data":1}"#);
    h.send("alice", r#"{"type":"message","data":1}"#);
    assert_eq!(
        sent(&h.send("alice", r#"{"type":"message","data":1}"#))[0].1["code"],
        "rate_limited"
    );
    let out = h.send("alice", r#"{"type":"leave"}"#);
    assert_eq!(closes(&out), vec![("alice", close::NORMAL)]);
    assert_eq!(
        sent(&out),
        vec![(
            "bob",
            serde_json::json!({"type":"peer_left","peer":"alice","reason":"leave"})
        )]
    );
}

#[test]
fn a_frame_known_too_big_from_its_length_closes_with_1009() {
    let mut h = Harness::new();
    h.join("alice");
    h.join("bob");
    let seq = h.seq("alice");
    let out = h.room.frame(&pid("alice"), seq, Frame::TooBig, 0);
    assert_eq!(closes(&out), vec![("alice", close::MESSAGE_TOO_BIG)]);
    assert_eq!(sent(&out)[0].1["type"], "peer_left");
    assert_eq!(h.peers(), vec!["bob"]);
}

// ---- the same room speaking matchbox (crate::matchbox) ------------------------------------

const MA: &str = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa";
const MB: &str = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb";
const MC: &str = "cccccccc-cccc-4ccc-8ccc-cccccccccccc";

fn matchbox(limits: Limits) -> Harness {
    let mut h = Harness::with(limits);
    h.room = Room::new(h.room.limits().clone()).speaking(Wire::Matchbox);
    h
}

#[test]
fn a_matchbox_room_assigns_ids_and_tells_those_present_of_newcomers() {
    let mut h = matchbox(limits());
    let out = h.join_with(MA, None, "a").out;
    assert_eq!(
        sent(&out),
        vec![("a", serde_json::json!({ "IdAssigned": MA }))]
    );
    let out = h.join_with(MB, None, "b").out;
    assert_eq!(
        sent(&out),
        vec![
            ("b", serde_json::json!({ "IdAssigned": MB })),
            ("a", serde_json::json!({ "NewPeer": MB })),
        ]
    );
    // Full: refused with the close alone, matchbox having no error message.
    let refused = h.join_with(MC, None, "c");
    assert_eq!(refused.result.unwrap_err().code().as_str(), "room_full");
    assert_eq!(
        wire(refused.out),
        vec![Outbound::Close {
            to: "c",
            code: close::ROOM_FULL
        }]
    );
}

#[test]
fn a_matchbox_signal_reaches_its_receiver_with_the_sender_stamped_and_data_untouched() {
    let mut h = matchbox(limits());
    h.join_with(MA, None, "a");
    h.join_with(MB, None, "b");
    let data = r#"{"Offer":"v=0\r\no=- 1 1 IN IP4 0.0.0.0","extra":[1e400, "\ud800"]}"#;
    let frame = format!(r#"{{"Signal":{{"receiver":"{MB}","data":{data}}}}}"#);
    let out = wire(h.send(MA, &frame));
    assert_eq!(
        out,
        vec![Outbound::Send {
            to: "b",
            frame: format!(r#"{{"Signal":{{"sender":"{MA}","data":{data}}}}}"#)
        }]
    );
}

#[test]
fn matchbox_frames_the_room_cannot_route_are_dropped_and_keepalive_answers_nothing() {
    let mut h = matchbox(limits());
    h.join_with(MA, None, "a");
    h.join_with(MB, None, "b");
    for dropped in [
        r#""KeepAlive""#.to_owned(),
        "not json".to_owned(),
        r#"{"type":"ping"}"#.to_owned(),
        format!(r#"{{"Signal":{{"receiver":"{MC}","data":1}}}}"#),
        format!(r#"{{"Signal":{{"receiver":"{MA}","data":1}}}}"#), // to itself
        r#"{"Signal":{"data":1}}"#.to_owned(),
    ] {
        assert_eq!(wire(h.send(MA, &dropped)), vec![], "{dropped}");
    }
    assert_eq!(h.peers(), vec![MA, MB], "nobody was harmed");
    // Binary and oversized frames close the sender as in v1; the other hears PeerLeft.
    let seq = h.seq(MA);
    let out = h.room.frame(&pid(MA), seq, Frame::Binary(3), h.now);
    assert_eq!(
        wire(out),
        vec![
            Outbound::Send {
                to: "b",
                frame: format!(r#"{{"PeerLeft":"{MA}"}}"#)
            },
            Outbound::Close {
                to: "a",
                code: close::UNSUPPORTED_DATA
            },
        ]
    );
}

#[test]
fn a_matchbox_sender_far_over_its_budget_is_closed_and_the_others_hear_peer_left() {
    let mut h = matchbox(Limits {
        rate_burst: 2,
        rate_per_sec: 1,
        ..limits()
    });
    h.join_with(MA, None, "a");
    h.join_with(MB, None, "b");
    let frame = format!(r#"{{"Signal":{{"receiver":"{MB}","data":0}}}}"#);
    let mut closed = None;
    for _ in 0..100 {
        let out = wire(h.send(MA, &frame));
        // Over the budget: dropped silently (no `rate_limited` frame in matchbox) ...
        if let Some(code) = closes(&out).first() {
            closed = Some(*code);
            assert!(sent(&out).contains(&("b", serde_json::json!({ "PeerLeft": MA }))));
            break;
        }
        assert!(
            out.iter()
                .all(|o| matches!(o, Outbound::Send { to: "b", .. })),
            "{out:?}"
        );
    }
    // ... and far over it, closed with 4006.
    assert_eq!(closed, Some(("a", close::RATE_LIMITED)));
}

#[test]
fn metadata_is_in_welcome_and_peer_joined_and_kept_by_a_resume() {
    let meta = |text: &str| crate::meta::Meta::parse(text).unwrap();
    let mut h = Harness::new();
    h.meta = meta(r#"{"name":"Ada"}"#);
    let out = sent(&h.join_with("alice", Some(4), "a").out);
    // The first peer's welcome lists nobody: its meta is empty.
    assert_eq!(out[0].1["meta"], serde_json::json!({}));
    // bob has none: his peer_joined has no `meta`, alice's welcome-side view names hers.
    let out = sent(&h.join_with("bob", None, "b").out);
    assert_eq!(
        out[0].1["meta"],
        serde_json::json!({"alice": {"name": "Ada"}})
    );
    assert_eq!(
        out[1].1,
        serde_json::json!({"type":"peer_joined","peer":"bob"})
    );
    h.meta = meta(r#"{"name":"Cy"}"#);
    let out = sent(&h.join_with("carol", None, "c").out);
    assert_eq!(
        out[0].1["meta"],
        serde_json::json!({"alice": {"name": "Ada"}})
    );
    assert_eq!(
        out[1].1,
        serde_json::json!({"type":"peer_joined","peer":"carol","meta":{"name":"Cy"}})
    );
    // alice resumes with other metadata: her seat keeps hers.
    h.meta = meta(r#"{"name":"Eve"}"#);
    let outcome = h.join_resuming("alice", None, "a2", Some("secret-a"));
    assert_eq!(
        outcome.result.unwrap().meta,
        meta(r#"{"name":"Ada"}"#),
        "what the adapter writes to the new socket"
    );
    h.meta = None;
    let out = sent(&h.join_with("dave", None, "d").out);
    assert_eq!(
        out[0].1["meta"],
        serde_json::json!({"alice": {"name": "Ada"}, "carol": {"name": "Cy"}})
    );
}

#[test]
fn the_largest_attachment_fits_the_runtimes_limit() {
    // The longest id, 1,024 bytes of metadata, a resume secret as the adapter makes them (32
    // hex digits), and every number at its largest. The metadata is all escapes (`\\`), which
    // would double if the attachment held it as a string.
    let longest = "x".repeat(crate::protocol::ID_MAX_LEN);
    let meta = format!(
        r#"{{"n":"{}"}}"#,
        r"\\".repeat((crate::meta::META_MAX_BYTES - 8) / 2)
    );
    let meta = crate::meta::Meta::parse(&meta).unwrap().unwrap();
    assert_eq!(meta.as_str().len(), crate::meta::META_MAX_BYTES);
    let att = Attachment {
        peer: pid(&longest),
        seq: u64::MAX,
        order: Some(u64::MAX),
        capacity: u32::MAX,
        resume: "f".repeat(32),
        seen_ms: u64::MAX,
        closed: true,
        meta: Some(meta.to_json()),
        joined_ms: Some(u64::MAX),
        // As the adapter makes them: 16 random bytes as 32 hex digits.
        session: Some("f".repeat(32)),
    };
    let text = serde_json::to_string(&att).unwrap();
    assert!(
        text.len() <= crate::seat::ATTACHMENT_MAX_BYTES,
        "{} bytes",
        text.len()
    );
    // And it reads back as it was.
    assert_eq!(serde_json::from_str::<Attachment>(&text).unwrap(), att);
}

// ---- the admin API (control v1, section 3) ----------------------------------------------------

#[test]
fn a_kicked_peer_is_told_and_closed_with_4010_and_the_others_hear_kicked() {
    let mut h = Harness::with(Limits {
        default_capacity: 3,
        ..limits()
    });
    h.join("alice");
    h.join("bob");
    h.join("carol");
    let out = wire(h.room.kick(&pid("bob")).expect("bob is seated"));
    assert_eq!(
        out,
        vec![
            Outbound::Send {
                to: "bob",
                frame: r#"{"type":"error","code":"kicked","message":"removed from the room by the app's server"}"#.into()
            },
            Outbound::Send {
                to: "alice",
                frame: r#"{"type":"peer_left","peer":"bob","reason":"kicked"}"#.into()
            },
            Outbound::Send {
                to: "carol",
                frame: r#"{"type":"peer_left","peer":"bob","reason":"kicked"}"#.into()
            },
            Outbound::Close {
                to: "bob",
                code: 4010
            },
        ]
    );
    assert_eq!(h.peers(), vec!["alice", "carol"]);
    assert!(h.room.kick(&pid("bob")).is_none(), "no longer seated");
    assert!(h.room.kick(&pid("dave")).is_none(), "never seated");
    // Kicking does not ban: the id is free for a new join.
    assert!(h.join_with("bob", None, "bob2").result.is_ok());
}

#[test]
fn closing_a_room_kicks_everyone_and_ends_its_session() {
    let mut h = Harness::new();
    h.join("alice");
    h.join("bob");
    assert_eq!(h.room.session(), Some("session-alice"));
    let out = h.room.close_room();
    let closes: Vec<_> = wire(out.clone())
        .into_iter()
        .filter(|o| matches!(o, Outbound::Close { .. }))
        .collect();
    assert_eq!(
        closes,
        vec![
            Outbound::Close {
                to: "alice",
                code: 4010
            },
            Outbound::Close {
                to: "bob",
                code: 4010
            }
        ]
    );
    assert!(
        out.contains(&Outbound::DisarmAlarm),
        "no sweep outlives the room"
    );
    assert!(h.room.is_empty());
    assert_eq!(h.room.session(), None);
    assert!(
        h.room.close_room().is_empty(),
        "an empty room: nothing to do"
    );
    // The next opening is a new session.
    h.join_with("carol", None, "carol").result.unwrap();
    assert_eq!(h.room.session(), Some("session-carol"));
}

#[test]
fn a_server_message_reaches_everyone_or_its_one_recipient() {
    let mut h = Harness::new();
    h.join("alice");
    h.join("bob");
    let data = crate::json::Json::parse(r#"{"poll": [1, 2]}"#).unwrap();
    let frame = r#"{"type":"server_message","data":{"poll": [1, 2]}}"#;
    let (n, out) = h.room.tell(&data, None).unwrap();
    assert_eq!(n, 2);
    assert_eq!(
        sent(&out).into_iter().map(|(to, _)| to).collect::<Vec<_>>(),
        vec!["alice", "bob"]
    );
    assert!(out
        .iter()
        .all(|o| matches!(o, Outbound::Send { frame: f, .. } if f == frame)));
    let (n, out) = h.room.tell(&data, Some(&pid("bob"))).unwrap();
    assert_eq!((n, sent(&out)[0].0), (1, "bob"));
    assert!(h.room.tell(&data, Some(&pid("dave"))).is_none());
    let empty: Room<Conn> = Room::new(limits());
    assert_eq!(empty.tell(&data, None).map(|(n, _)| n), Some(0));
}

#[test]
fn a_seat_keeps_its_join_time_and_the_room_its_session_through_a_resume() {
    let mut h = Harness::new();
    h.now = 1_000;
    h.join_with("alice", None, "a1").result.unwrap();
    h.now = 9_000;
    let joined = h
        .join_resuming("alice", None, "a2", Some("secret-a1"))
        .result
        .unwrap();
    assert_eq!(
        (joined.joined_ms, joined.session.as_str()),
        (1_000, "session-a1")
    );
    assert_eq!(h.room.seats()[0].joined_ms, 1_000);
}

// ---- webhook events (control v1, section 2) ---------------------------------------------------

/// The webhook events of `out`, with the index of each in `out`.
fn hooks(out: &[Outbound<Conn>]) -> Vec<(usize, String, Hook)> {
    out.iter()
        .enumerate()
        .filter_map(|(i, o)| match o {
            Outbound::Hook { session, hook } => Some((i, session.clone(), hook.clone())),
            _ => None,
        })
        .collect()
}

/// The index of the first frame or close in `out`.
fn first_wire(out: &[Outbound<Conn>]) -> usize {
    out.iter()
        .position(|o| matches!(o, Outbound::Send { .. } | Outbound::Close { .. }))
        .unwrap_or(out.len())
}

#[test]
fn every_join_and_departure_is_a_webhook_event_before_anyone_hears_of_it() {
    let meta = |text: &str| crate::meta::Meta::parse(text).unwrap();
    let mut h = Harness::with(Limits {
        default_capacity: 3,
        ..limits()
    });
    let out = h.join_with("alice", Some(3), "a1").out;
    let s = "session-a1".to_owned();
    assert_eq!(
        hooks(&out),
        vec![
            (0, s.clone(), Hook::RoomStarted { capacity: 3 }),
            (
                1,
                s.clone(),
                Hook::PeerJoined {
                    peer: "alice".into(),
                    meta: None,
                    peers: 1
                }
            ),
        ]
    );
    assert!(first_wire(&out) > 1, "the welcome after the events");
    h.meta = meta(r#"{"n":1}"#);
    let out = h.join_with("bob", None, "b1").out;
    assert_eq!(
        hooks(&out),
        vec![(
            0,
            s.clone(),
            Hook::PeerJoined {
                peer: "bob".into(),
                meta: meta(r#"{"n":1}"#),
                peers: 2
            }
        )]
    );
    // A resume and a refusal are not events.
    assert!(hooks(&h.join_resuming("bob", None, "b2", Some("secret-b1")).out).is_empty());
    assert!(hooks(&h.join_with("bob", None, "b3").out).is_empty());
    // A leave, a kick, a disconnect: each a peer.left first; the last one also room.finished.
    h.join("carol");
    let out = h.send("carol", r#"{"type":"leave"}"#);
    let left = |peer: &str, reason, peers| Hook::PeerLeft {
        peer: peer.into(),
        reason,
        peers,
    };
    assert_eq!(hooks(&out), vec![(0, s.clone(), left("carol", "leave", 2))]);
    assert!(first_wire(&out) > 0);
    let out = h.room.kick(&pid("bob")).unwrap();
    assert_eq!(hooks(&out), vec![(0, s.clone(), left("bob", "kicked", 1))]);
    assert!(
        first_wire(&out) > 0,
        "even the kicked peer's error comes after"
    );
    let seq = h.seq("alice");
    let out = h.room.depart(&pid("alice"), seq);
    assert_eq!(
        hooks(&out),
        vec![
            (0, s.clone(), left("alice", "disconnect", 0)),
            (1, s, Hook::RoomFinished)
        ]
    );
    // The next opening is another session.
    let out = h.join_with("dave", None, "d1").out;
    assert_eq!(hooks(&out)[0].1, "session-d1");
}

#[test]
fn a_silent_peer_swept_is_a_timeout_event() {
    let mut h = Harness::with(Limits {
        idle_timeout_ms: 1000,
        ..limits()
    });
    h.join("alice");
    h.join("bob");
    h.now = 5_000;
    let out = h.room.alarm_fired(h.now, |_| None);
    let reasons: Vec<_> = hooks(&out).into_iter().map(|(_, _, hook)| hook).collect();
    assert_eq!(
        reasons,
        vec![
            Hook::PeerLeft {
                peer: "alice".into(),
                reason: "timeout",
                peers: 1
            },
            Hook::PeerLeft {
                peer: "bob".into(),
                reason: "timeout",
                peers: 0
            },
            Hook::RoomFinished
        ]
    );
}
