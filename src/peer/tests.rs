//! The PeerJS codec and one peer's state, on sockets that are plain strings.

use serde_json::Value;

use super::*;

type Conn = &'static str;

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

fn never(_: &Conn) -> Option<u64> {
    None
}

fn alice() -> Peer<Conn> {
    Peer::new("alice", limits(), 5000)
}

fn joined(session: &str) -> Outbound<Conn> {
    Outbound::Hook {
        session: session.into(),
        hook: Hook::PeerJoined {
            peer: "alice".into(),
            meta: None,
            peers: 1,
        },
    }
}

fn left(session: &str, reason: &'static str) -> Outbound<Conn> {
    Outbound::Hook {
        session: session.into(),
        hook: Hook::PeerLeft {
            peer: "alice".into(),
            reason,
            peers: 0,
        },
    }
}

fn without_hooks(out: Vec<Outbound<Conn>>) -> Vec<Outbound<Conn>> {
    out.into_iter()
        .filter(|o| !matches!(o, Outbound::Hook { .. }))
        .collect()
}

fn json(frame: &str) -> Value {
    serde_json::from_str(frame).unwrap()
}

fn sent(out: &[Outbound<Conn>]) -> Vec<(Conn, Value)> {
    out.iter()
        .filter_map(|a| match a {
            Outbound::Send { to, frame } => Some((*to, json(frame))),
            _ => None,
        })
        .collect()
}

#[test]
fn ids_follow_the_clients_validate_id() {
    for ok in ["a", "alice", "a b", "a-b_c d", "0", &"x".repeat(64)] {
        assert!(valid_id(ok), "{ok:?}");
    }
    for bad in [
        "",
        " a",
        "a ",
        "a  b",
        "a__b",
        "-a",
        "a-",
        "a.b",
        "é",
        "a\"b",
        &"x".repeat(65),
    ] {
        assert!(!valid_id(bad), "{bad:?}");
    }
    assert!(valid_token("abc123"));
    assert!(valid_token("eyJ.eyJ.sig-_"));
    assert!(!valid_token(""));
    assert!(!valid_token("a b"));
    assert!(!valid_token(&"t".repeat(TOKEN_MAX_LEN + 1)));
}

#[test]
fn the_join_query_needs_key_id_and_token() {
    let ok = Join::parse([
        ("key", "peerjs"),
        ("id", "a b"),
        ("token", "t1"),
        ("version", "1.5.5"),
    ]);
    assert_eq!(
        ok,
        Ok(Join {
            key: "peerjs".into(),
            id: "a b".into(),
            token: "t1".into()
        })
    );
    let missing = Join::parse([("key", "peerjs"), ("id", "a")]).unwrap_err();
    assert_eq!(missing, BadJoin::Missing);
    assert_eq!(
        missing.to_string(),
        "No id, token, or key supplied to websocket server"
    );
    assert_eq!(
        Join::parse([("key", "k/x"), ("id", "a"), ("token", "t")]),
        Err(BadJoin::Key)
    );
    assert_eq!(
        Join::parse([("key", "k"), ("id", "a!"), ("token", "t")]),
        Err(BadJoin::Id)
    );
    assert_eq!(
        Join::parse([("key", "k"), ("id", "a"), ("token", "t t")]),
        Err(BadJoin::Token)
    );
    assert_eq!(
        Join::parse([("key", "k"), ("id", "a"), ("id", "b"), ("token", "t")]),
        Err(BadJoin::Repeated("id".into()))
    );
}

#[test]
fn frames_parse_for_routing_only() {
    assert_eq!(parse(r#"{"type":"HEARTBEAT"}"#), Ok(Message::Heartbeat));
    assert_eq!(parse(r#" {"type" : "HEARTBEAT"} "#), Ok(Message::Heartbeat));
    assert_eq!(parse(r#"{"type":"LEAVE"}"#), Ok(Message::Goodbye));
    assert_eq!(
        parse(r#"{"type":"OFFER","dst":"bob","src":"mallory","payload":{"sdp":1}}"#),
        Ok(Message::Relay {
            kind: Kind::Offer,
            dst: "bob".into(),
            payload: Some(r#"{"sdp":1}"#)
        })
    );
    for bad in [
        "nope",
        "[]",
        "{}",
        r#"{"type":7}"#,
        r#"{"type":"OPEN"}"#,
        r#"{"type":"ANSWER"}"#,
        r#"{"type":"CANDIDATE","dst":"a/b"}"#,
        r#"{"type":"OFFER","dst":5}"#,
    ] {
        assert!(parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn a_relayed_frame_is_stamped_with_the_senders_id() {
    let frame = relay_frame(Kind::Answer, "a b", "c", Some(r#"{"x":"\u00e9"}"#));
    assert_eq!(
        json(&frame),
        json(r#"{"type":"ANSWER","src":"a b","dst":"c","payload":{"x":"é"}}"#)
    );
    assert_eq!(
        json(&relay_frame(Kind::Leave, "a", "b", None)),
        json(r#"{"type":"LEAVE","src":"a","dst":"b"}"#)
    );
    assert_eq!(
        json(&error_frame("say \"hi\"")),
        json(r#"{"type":"ERROR","payload":{"msg":"say \"hi\""}}"#)
    );
}

#[test]
fn a_join_opens_and_a_relay_goes_to_the_recipients_object() {
    let mut p = alice();
    let (seated, out) = p.join("ws1", "t", 0, "c".into(), never);
    assert!(seated);
    assert_eq!(sent(&out), vec![("ws1", json(OPEN_FRAME))]);
    let out = p.frame(
        &"ws1",
        Frame::Text(r#"{"type":"OFFER","src":"bob","dst":"bob","payload":{"sdp":"x"}}"#),
        1,
    );
    match &out[..] {
        [Outbound::Deliver {
            dst,
            frame,
            hold,
            wakes,
            expire,
        }] => {
            assert_eq!(dst, "bob");
            // The first message to bob: it may start his object.
            assert!(*hold && *wakes && *expire);
            // src is ours, whatever the client wrote.
            assert_eq!(json(frame)["src"], "alice");
        }
        other => panic!("{other:?}"),
    }
    let out = p.frame(&"ws1", Frame::Text(r#"{"type":"LEAVE","dst":"bob"}"#), 2);
    // LEAVE is not held, and bob was reached a moment ago: no wake.
    assert!(matches!(
        &out[..],
        [Outbound::Deliver {
            hold: false,
            wakes: false,
            expire: false,
            ..
        }]
    ));
}

#[test]
fn bad_frames_get_an_error_and_the_socket_stays() {
    let mut p = alice();
    p.join("ws1", "t", 0, "c".into(), never);
    for bad in [
        "nope",
        r#"{"type":"WHAT","dst":"b"}"#,
        r#"{"type":"OFFER"}"#,
    ] {
        let out = p.frame(&"ws1", Frame::Text(bad), 1);
        let sent = sent(&out);
        assert_eq!(sent.len(), 1, "{bad}");
        assert_eq!(sent[0].1["type"], "ERROR");
        assert!(sent[0].1["payload"]["msg"].is_string());
    }
    assert_eq!(p.socket(), Some(&"ws1"));
}

#[test]
fn binary_oversized_and_goodbye_close() {
    for (frame, code, reason) in [
        (Frame::Binary(3), close::UNSUPPORTED_DATA, "disconnect"),
        (Frame::TooBig, close::MESSAGE_TOO_BIG, "disconnect"),
        (Frame::Text(r#"{"type":"LEAVE"}"#), close::NORMAL, "leave"),
    ] {
        let mut p = alice();
        p.join("ws1", "t", 0, "c".into(), never);
        let out = p.frame(&"ws1", frame, 1);
        assert_eq!(
            out,
            vec![left("c", reason), Outbound::Close { to: "ws1", code }]
        );
        assert_eq!(p.socket(), None);
    }
    let mut p = alice();
    p.join("ws1", "t", 0, "c".into(), never);
    let big = format!(
        r#"{{"type":"OFFER","dst":"b","payload":"{}"}}"#,
        "x".repeat(1000)
    );
    assert_eq!(
        without_hooks(p.frame(&"ws1", Frame::Text(&big), 1)),
        vec![Outbound::Close {
            to: "ws1",
            code: close::MESSAGE_TOO_BIG
        }]
    );
}

const OFFER_TO_B: &str = r#"{"type":"OFFER","dst":"b","payload":{}}"#;

/// alice, seated on "ws1" with a burst of two messages, having spent both on offers to b.
fn alice_with_her_burst_spent() -> Peer<Conn> {
    let mut p = Peer::new(
        "alice",
        Limits {
            rate_burst: 2,
            rate_per_sec: 1,
            ..limits()
        },
        5000,
    );
    p.join("ws1", "t", 0, "c".into(), never);
    for _ in 0..2 {
        assert!(matches!(
            &p.frame(&"ws1", Frame::Text(OFFER_TO_B), 0)[..],
            [Outbound::Deliver { .. }]
        ));
    }
    p
}

#[test]
fn over_budget_is_refused_then_closed() {
    let mut p = alice_with_her_burst_spent();
    let offer = OFFER_TO_B;
    let refused = p.frame(&"ws1", Frame::Text(offer), 0);
    assert_eq!(sent(&refused)[0].1["type"], "ERROR");
    // Refused a whole burst's worth: closed.
    assert_eq!(
        without_hooks(p.frame(&"ws1", Frame::Text(offer), 0)),
        vec![Outbound::Close {
            to: "ws1",
            code: close::RATE_LIMITED
        }]
    );
}

#[test]
fn a_takeover_keeps_the_budget() {
    // Issue 21, item 8: taking the id over with the same token must not refill the budget.
    let mut p = alice_with_her_burst_spent();
    let offer = OFFER_TO_B;
    let (seated, _) = p.join("ws2", "t", 0, "c".into(), never);
    assert!(seated);
    let refused = p.frame(&"ws2", Frame::Text(offer), 0);
    assert_eq!(sent(&refused)[0].1["type"], "ERROR", "{refused:?}");
}

#[test]
fn another_token_is_refused_while_the_id_is_live() {
    let mut p = alice();
    p.join("ws1", "t1", 0, "c".into(), never);
    let (seated, out) = p.join("ws2", "t2", 1000, "c".into(), never);
    assert!(!seated);
    assert_eq!(
        out,
        vec![
            Outbound::Send {
                to: "ws2",
                frame: ID_TAKEN_FRAME.into()
            },
            Outbound::Close {
                to: "ws2",
                code: close::PEER_ID_TAKEN
            }
        ]
    );
    assert_eq!(p.socket(), Some(&"ws1"));
}

#[test]
fn the_same_token_takes_over_and_gets_open() {
    let mut p = alice();
    p.join("ws1", "t1", 0, "c".into(), never);
    let (seated, out) = p.join("ws2", "t1", 1000, "c".into(), never);
    assert!(seated);
    assert_eq!(
        out[0],
        Outbound::Close {
            to: "ws1",
            code: close::RESUMED_ELSEWHERE
        }
    );
    assert_eq!(sent(&out), vec![("ws2", json(OPEN_FRAME))]);
    // The replaced socket's frames and close no longer count.
    assert!(p
        .frame(&"ws1", Frame::Text(r#"{"type":"LEAVE"}"#), 2)
        .is_empty());
    p.closed(&"ws1");
    assert_eq!(p.socket(), Some(&"ws2"));
}

#[test]
fn a_silent_socket_loses_its_id() {
    let mut p = alice();
    p.join("ws1", "t1", 0, "c".into(), never);
    // Heartbeats (auto-answered) keep it: still taken at 90 s.
    let (seated, _) = p.join("ws2", "t2", 90_000, "c".into(), |_: &Conn| Some(50_000));
    assert!(!seated);
    // Silent for the idle timeout: closed with 4008, and the newcomer is seated.
    let (seated, out) = p.join("ws3", "t3", 200_000, "c".into(), |_: &Conn| Some(100_000));
    assert!(seated);
    assert_eq!(out[0], left("c", "timeout"), "stored before the close");
    assert_eq!(
        out[1],
        Outbound::Close {
            to: "ws1",
            code: close::TIMEOUT
        }
    );
}

#[test]
fn messages_for_an_absent_peer_are_held_then_expire_to_each_sender() {
    let mut p = alice();
    let (d, out) = p.incoming("bob", "offer1".into(), true, 100, never);
    assert_eq!(d, Delivery::Held);
    assert_eq!(
        out,
        vec![
            Outbound::Park {
                src: "bob".into(),
                frame: "offer1".into(),
                expire_at: 5100
            },
            Outbound::ArmAlarm { at: 5100 }
        ]
    );
    let (d, out) = p.incoming("bob", "cand1".into(), true, 200, never);
    assert_eq!(
        (d, out),
        (
            Delivery::Held,
            vec![Outbound::Park {
                src: "bob".into(),
                frame: "cand1".into(),
                // The first held message's expiry: they expire together.
                expire_at: 5100
            }]
        )
    );
    p.incoming("carol", "offer2".into(), true, 300, never);
    let (d, _) = p.incoming("bob", "leave".into(), false, 300, never);
    assert_eq!(d, Delivery::Dropped);
    assert_eq!(p.held(), (3, "offer1cand1offer2".len()));
    // Early: armed again.
    assert_eq!(p.alarm(5000), vec![Outbound::ArmAlarm { at: 5100 }]);
    let out = p.alarm(5100);
    assert_eq!(out[0], Outbound::DropParked);
    let expired: Vec<(String, Value)> = out[1..]
        .iter()
        .map(|a| match a {
            Outbound::Deliver {
                dst,
                frame,
                hold,
                wakes,
                expire,
            } => {
                assert!(!*hold && !*wakes && !*expire);
                (dst.clone(), json(frame))
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        expired,
        vec![
            (
                "bob".into(),
                json(r#"{"type":"EXPIRE","src":"alice","dst":"bob"}"#)
            ),
            (
                "carol".into(),
                json(r#"{"type":"EXPIRE","src":"alice","dst":"carol"}"#)
            ),
        ]
    );
    assert_eq!(p.held(), (0, 0));
    assert!(p.alarm(9000).is_empty());
}

/// After an eviction the runtime gives back what storage kept: the messages held, their
/// senders and the expiry, as they were; the alarm then expires them, or a join takes them.
#[test]
fn held_messages_restored_after_an_eviction_expire_or_are_taken_as_before() {
    let restored = || {
        let mut p = alice();
        p.restore_held(
            [
                ("bob".to_owned(), 6),
                ("carol".to_owned(), 5),
                ("bob".to_owned(), 2),
            ],
            5100,
        );
        p
    };
    let mut p = restored();
    assert_eq!((p.held(), p.expire_at()), ((3, 13), Some(5100)));
    assert_eq!(p.alarm(5000), vec![Outbound::ArmAlarm { at: 5100 }]);
    let out = p.alarm(5100);
    assert_eq!(out[0], Outbound::DropParked);
    let told: Vec<&str> = out[1..]
        .iter()
        .map(|a| match a {
            Outbound::Deliver { dst, .. } => dst.as_str(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(told, ["bob", "carol"]);
    // More held after the restore count on top, under the same expiry.
    let mut p = restored();
    let (d, out) = p.incoming("dave", "x".into(), true, 4000, never);
    assert_eq!(d, Delivery::Held);
    assert_eq!(
        out,
        vec![Outbound::Park {
            src: "dave".into(),
            frame: "x".into(),
            expire_at: 5100
        }]
    );
    assert_eq!(p.held(), (4, 14));
    let (_, out) = p.join("ws1", "t", 4500, "c".into(), never);
    assert!(out.contains(&Outbound::Unpark { to: "ws1" }));
    assert_eq!(out.last(), Some(&Outbound::DisarmAlarm));
    assert_eq!((p.held(), p.expire_at()), ((0, 0), None));
    // Nothing stored: nothing held, no expiry.
    let mut p = alice();
    p.restore_held([], 5100);
    assert_eq!(p.expire_at(), None);
}

#[test]
fn a_join_gets_the_held_messages_in_order_after_open() {
    let mut p = alice();
    p.incoming("bob", r#"{"n":1}"#.into(), true, 0, never);
    p.incoming("bob", r#"{"n":2}"#.into(), true, 1, never);
    let (_, out) = p.join("ws1", "t", 2, "c".into(), never);
    // The event stored, OPEN, then what was kept, in the order kept (the runtime keeps the texts).
    assert_eq!(
        out,
        vec![
            joined("c"),
            Outbound::Send {
                to: "ws1",
                frame: OPEN_FRAME.into()
            },
            Outbound::Unpark { to: "ws1" },
            Outbound::DisarmAlarm
        ]
    );
    assert!(p.alarm(10_000).is_empty());
    let (d, out) = p.incoming("bob", "x".into(), true, 3, never);
    assert_eq!(d, Delivery::Sent);
    assert_eq!(
        out,
        vec![Outbound::Send {
            to: "ws1",
            frame: "x".into()
        }]
    );
}

#[test]
fn held_bytes_are_capped() {
    let mut p = alice();
    let big = "x".repeat(HELD_MAX_BYTES / 2);
    assert_eq!(
        p.incoming("a", big.clone(), true, 0, never).0,
        Delivery::Held
    );
    assert_eq!(
        p.incoming("b", big.clone(), true, 0, never).0,
        Delivery::Held
    );
    assert_eq!(
        p.incoming("c", "y".into(), true, 0, never).0,
        Delivery::Dropped
    );
}

#[test]
fn a_message_to_oneself_comes_straight_back() {
    let mut p = alice();
    p.join("ws1", "t", 0, "c".into(), never);
    let out = p.frame(
        &"ws1",
        Frame::Text(r#"{"type":"CANDIDATE","dst":"alice","payload":1}"#),
        1,
    );
    assert_eq!(
        sent(&out),
        vec![(
            "ws1",
            json(r#"{"type":"CANDIDATE","src":"alice","dst":"alice","payload":1}"#)
        )]
    );
}

#[test]
fn an_undeliverable_message_is_answered_with_leave() {
    assert_eq!(
        json(&leave_from("bob", "alice")),
        json(r#"{"type":"LEAVE","src":"bob","dst":"alice"}"#)
    );
}

#[test]
fn object_requests_round_trip() {
    for request in [
        ObjectRequest::Join,
        ObjectRequest::List,
        ObjectRequest::Deliver {
            src: "a b".into(),
            hold: true,
        },
        ObjectRequest::Deliver {
            src: "x".into(),
            hold: false,
        },
        ObjectRequest::Listed {
            id: "a-b".into(),
            present: false,
        },
        ObjectRequest::Link { src: "a b".into() },
        ObjectRequest::Admin { kick: false },
        ObjectRequest::Admin { kick: true },
    ] {
        let url = request.to_url();
        let rest = url.strip_prefix("https://peerjs.internal").unwrap();
        let (path, query) = rest.split_once('?').unwrap();
        assert_eq!(ObjectRequest::parse(path, query), Ok(request));
    }
    assert!(ObjectRequest::parse("/deliver", "src=a%2Fb&hold=1").is_err());
    assert!(ObjectRequest::parse("/nope", "").is_err());
    assert!(ObjectRequest::parse("/link", "src=").is_err());
}

#[test]
fn link_frames_carry_the_hold_bit_then_the_frame() {
    let frame = r#"{"type":"OFFER","src":"a","dst":"b","payload":"1"}"#;
    for hold in [true, false] {
        assert_eq!(
            parse_link_frame(&link_frame(hold, frame)),
            Some((hold, frame))
        );
    }
    assert_eq!(parse_link_frame(&link_frame(false, "")), Some((false, "")));
    for bad in ["", "2{}", "{}"] {
        assert_eq!(parse_link_frame(bad), None, "{bad:?}");
    }
}

#[test]
fn a_sender_wakes_a_bounded_number_of_ids() {
    let mut p = alice();
    p.join("ws1", "t", 0, "c".into(), never);
    let offer = |dst: &str| format!(r#"{{"type":"OFFER","dst":"{dst}","payload":{{}}}}"#);
    let mut refused = 0;
    let mut woke = 0;
    for i in 0..40 {
        let id = format!("p{i}");
        let out = p.frame(&"ws1", Frame::Text(&offer(&id)), 0);
        match &out[..] {
            [Outbound::Deliver { wakes: true, .. }] => woke += 1,
            // Answered as if it had expired: the client's non-fatal peer-unavailable.
            [Outbound::Send { frame, .. }] => {
                assert_eq!(
                    json(frame),
                    json(&format!(
                        r#"{{"type":"EXPIRE","src":"{id}","dst":"alice"}}"#
                    ))
                );
                refused += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!((woke, refused), (32, 8));
    // An id reached a moment ago costs nothing; the socket stays.
    let out = p.frame(&"ws1", Frame::Text(&offer("p3")), 0);
    assert!(matches!(&out[..], [Outbound::Deliver { wakes: false, .. }]));
    // One second later, one more.
    let out = p.frame(&"ws1", Frame::Text(&offer("q")), 1000);
    assert!(matches!(&out[..], [Outbound::Deliver { wakes: true, .. }]));
}

#[test]
fn wakes_of_connected_ids_are_given_back_and_absent_ones_count_as_joins() {
    let mut p = alice();
    p.join("ws1", "t", 0, "c".into(), never);
    let offer = |dst: &str| format!(r#"{{"type":"OFFER","dst":"{dst}","payload":{{}}}}"#);
    let woke = (
        Route {
            wakes: true,
            hold: true,
        },
        true,
    );
    // A mesh of 100 connected peers: every wake comes back.
    for i in 0..100 {
        let id = format!("peer{i}");
        let out = p.frame(&"ws1", Frame::Text(&offer(&id)), 0);
        assert!(
            matches!(&out[..], [Outbound::Deliver { wakes: true, .. }]),
            "{id}"
        );
        let (out, joined) = p.answered(&id, 10, woke, Some(Delivery::Sent), 0);
        assert!(out.is_empty() && !joined);
    }
    // An absent id: the wake counts against the join rate.
    let out = p.frame(&"ws1", Frame::Text(&offer("ghost")), 0);
    assert!(matches!(&out[..], [Outbound::Deliver { wakes: true, .. }]));
    let (_, joined) = p.answered("ghost", 10, woke, Some(Delivery::Held), 0);
    assert!(joined);
    // Refused there: no more wakes for now, and "ghost" is a wake again.
    p.wake_refused("ghost", 0);
    let out = p.frame(&"ws1", Frame::Text(&offer("ghost")), 0);
    assert!(matches!(&out[..], [Outbound::Send { frame, .. }] if frame.contains("EXPIRE")));
}

#[test]
fn a_dropped_message_that_peerjs_would_hold_comes_back_as_one_expire() {
    let mut p = alice();
    p.join("ws1", "t", 0, "c".into(), never);
    let route = (
        Route {
            wakes: false,
            hold: true,
        },
        true,
    );
    let expire = Outbound::Send {
        to: "ws1",
        frame: r#"{"type":"EXPIRE","src":"bob","dst":"alice"}"#.into(),
    };
    assert_eq!(
        p.answered("bob", 10, route, Some(Delivery::Dropped), 1).0,
        vec![expire.clone()]
    );
    // Once per id within the expiry: a burst of candidates is one peer-unavailable.
    assert!(p
        .answered("bob", 10, route, Some(Delivery::Dropped), 2)
        .0
        .is_empty());
    assert_eq!(
        p.answered("bob", 10, route, Some(Delivery::Dropped), 5002)
            .0,
        vec![expire]
    );
    // Sent or held: nothing to say. A LEAVE that was dropped: nothing either.
    assert!(p
        .answered("bob", 10, route, Some(Delivery::Sent), 1)
        .0
        .is_empty());
    assert!(p
        .answered("bob", 10, route, Some(Delivery::Held), 1)
        .0
        .is_empty());
    let leave = (
        Route {
            wakes: false,
            hold: false,
        },
        false,
    );
    assert!(p
        .answered("carol", 10, leave, Some(Delivery::Dropped), 1)
        .0
        .is_empty());
}

#[test]
fn a_sender_parks_a_bounded_number_of_bytes() {
    let roomy = Limits {
        max_message_bytes: 100_000,
        ..limits()
    };
    let mut p = Peer::new("alice", roomy, 5000);
    p.join("ws1", "t", 0, "c".into(), never);
    let payload = "x".repeat(60 << 10);
    let offer = |dst: &str| format!(r#"{{"type":"OFFER","dst":"{dst}","payload":"{payload}"}}"#);
    let holds: Vec<bool> = (0..16)
        .map(|i| {
            let out = p.frame(&"ws1", Frame::Text(&offer(&format!("p{i}"))), 0);
            match &out[..] {
                [Outbound::Deliver { hold, .. }] => *hold,
                other => panic!("{other:?}"),
            }
        })
        .collect();
    // Four offers of 60 KB fit in PARK_MAX_BYTES (256 KiB); the rest go, not to be held.
    assert_eq!(holds.iter().filter(|h| **h).count(), 4);
    assert!(holds[..4].iter().all(|h| *h));
}

#[test]
fn each_connection_of_the_id_is_a_session_of_webhook_events() {
    let mut p = alice();
    let (_, out) = p.join("ws1", "t1", 0, "one".into(), never);
    assert_eq!(out[0], joined("one"), "stored before the OPEN");
    // A takeover with the same token (the client's reconnect) is no event, and keeps the session.
    let (seated, out) = p.join("ws2", "t1", 10, "unused".into(), never);
    assert!(seated);
    assert!(
        !out.iter().any(|o| matches!(o, Outbound::Hook { .. })),
        "{out:?}"
    );
    assert_eq!(p.connection().unwrap().session, "one");
    assert_eq!(p.connection().unwrap().joined_ms, 0);
    // The replaced socket's close is no departure; the live one's is.
    assert_eq!(p.closed(&"ws1"), vec![]);
    assert_eq!(p.closed(&"ws2"), vec![left("one", "disconnect")]);
    assert_eq!(p.connection(), None);
    // The next connection is a new session; a rebuilt peer keeps its attachment's.
    let (_, out) = p.join("ws3", "t2", 20, "two".into(), never);
    assert_eq!(out[0], joined("two"));
    let mut rebuilt = alice();
    let kept = p.connection().unwrap();
    rebuilt.restore("ws3", "t2".into(), 20, 30, kept.clone());
    assert_eq!(rebuilt.connection(), Some(kept));
}

#[test]
fn the_admin_api_removes_the_connected_socket() {
    let mut p = alice();
    assert_eq!(p.kick(), None, "nobody connected");
    p.join("ws1", "t", 0, "one".into(), never);
    let out = p.kick().expect("connected");
    assert_eq!(out[0], left("one", "kicked"), "stored first");
    assert_eq!(sent(&out)[0].1["type"], "ERROR");
    assert!(sent(&out)[0].1["payload"]["msg"]
        .as_str()
        .unwrap()
        .starts_with("kicked"));
    assert_eq!(
        out.last(),
        Some(&Outbound::Close {
            to: "ws1",
            code: close::KICKED
        })
    );
    assert_eq!(p.socket(), None);
    // Its close event that follows is nothing more.
    assert_eq!(p.closed(&"ws1"), vec![]);
}

#[test]
fn held_messages_are_stored_in_order_and_read_back_as_written() {
    assert_eq!(held_key(7), "peerjs:held:00000000000000000007");
    assert!(held_key(9) < held_key(10), "keys list in the order held");
    assert_eq!(held_number(&held_key(12)), Some(12));
    assert_eq!(held_number("webhook:event:00000000000000000001"), None);
    // A frame may hold newlines; the sender's id may not.
    let frame = "{\"type\":\"OFFER\",\n\"payload\":1}";
    let value = held_value(1_700_000_000_000, "bob", frame);
    assert_eq!(parse_held(&value), Some((1_700_000_000_000, "bob", frame)));
    for bad in ["", "12", "12\nbob", "x\nbob\nframe"] {
        assert_eq!(parse_held(bad), None, "{bad:?}");
    }
}

#[test]
fn a_link_reports_sent_messages_together_and_every_other_answer_at_once_in_order() {
    let mut a = LinkAnswers::default();
    for _ in 0..LINK_SENT_BATCH - 1 {
        assert_eq!(a.answer("sent", 10), None);
    }
    assert_eq!(a.answer("sent", 10).as_deref(), Some("16"));
    assert_eq!(a.answer("sent", 10), None);
    assert_eq!(a.answer("sent", 10), None);
    // The sent ones before it first, so the sender pairs "held" with its message.
    assert_eq!(a.answer("held", 10).as_deref(), Some("2held"));
    assert_eq!(a.answer("gone", 10).as_deref(), Some("0gone"));
    assert_eq!(a.answer("sent", 10), None);
    assert_eq!(a.flush(), "?1");
    assert_eq!(a.flush(), "?0");
    // Large messages are reported sooner.
    assert_eq!(a.answer("sent", LINK_SENT_BYTES / 2), None);
    assert_eq!(a.answer("sent", LINK_SENT_BYTES / 2).as_deref(), Some("2"));
}

#[test]
fn the_recipient_is_the_live_seat_and_a_silent_one_is_dropped_first() {
    let mut p = alice();
    assert_eq!(p.recipient(0, never), (None, vec![]));
    p.join("ws1", "t", 0, "c".into(), never);
    assert_eq!(p.recipient(10, never), (Some("ws1"), vec![]));
    // Silent past the idle timeout (no frame, no auto-answered ping): removed, nobody to send to.
    let late = limits().idle_timeout_ms + 1;
    let (to, out) = p.recipient(late, never);
    assert_eq!(to, None);
    assert!(
        out.iter()
            .any(|a| matches!(a, Outbound::Close { to: "ws1", .. })),
        "{out:?}"
    );
    assert_eq!(p.socket(), None);
}
