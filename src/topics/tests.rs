//! The topics topology on sockets that are plain numbers.

use serde_json::Value;

use super::*;
use crate::protocol::splice;

type Conn = u32;

fn limits() -> Limits {
    Limits {
        default_capacity: 2,
        max_message_bytes: 4096,
        rate_burst: 1000,
        rate_per_sec: 1000,
        rate_bytes_burst: 1 << 30,
        rate_bytes_per_sec: 1 << 30,
        idle_timeout_ms: 60_000,
    }
}

fn topic_limits() -> TopicLimits {
    TopicLimits {
        max_connections: 3,
        max_topics: 4,
        max_topic_bytes: 96,
    }
}

fn never(_: &Conn) -> Option<u64> {
    None
}

/// A namespace with sockets 1..=n joined at t=0.
fn namespace(n: u32) -> Topics<Conn> {
    let mut topics = Topics::new(limits(), topic_limits());
    for conn in 1..=n {
        assert!(topics.admit(conn, 0, "ns".into(), never).seq.is_some());
    }
    topics
}

fn text(topics: &mut Topics<Conn>, conn: Conn, frame: &str) -> Vec<Outbound<Conn>> {
    topics
        .frame_from(&conn, Frame::Text(frame), 1)
        .expect("seated")
        .into_iter()
        .map(|o| o.render(frame))
        .collect()
}

/// The frames each socket was sent, in order.
fn sent(out: &[Outbound<Conn>]) -> Vec<(Conn, String)> {
    out.iter()
        .filter_map(|o| match o {
            Outbound::Send { to, frame } => Some((*to, frame.clone())),
            _ => None,
        })
        .collect()
}

fn error_code(frame: &str) -> String {
    let v: Value = serde_json::from_str(frame).unwrap();
    assert_eq!(v["type"], "error", "{frame}");
    v["code"].as_str().unwrap().to_owned()
}

#[test]
fn a_publish_reaches_every_subscriber_the_sender_included_with_the_count() {
    let mut t = namespace(3);
    text(&mut t, 1, r#"{"type":"subscribe","topics":["doc"]}"#);
    text(
        &mut t,
        2,
        r#"{"type":"subscribe","topics":["doc","other"]}"#,
    );
    let publish = r#"{"type":"publish","topic":"doc","data":{"type":"announce","from":"x"}}"#;
    let out = sent(&text(&mut t, 1, publish));
    let expected = splice(publish, r#","clients":2}"#);
    assert_eq!(out, vec![(1, expected.clone()), (2, expected)]);
    // Socket 3 subscribes to nothing, so it receives nothing, but may publish.
    let out = sent(&text(&mut t, 3, publish));
    assert_eq!(
        out.iter().map(|(to, _)| *to).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert!(text(&mut t, 3, r#"{"type":"publish","topic":"none","data":1}"#).is_empty());
}

#[test]
fn unsubscribing_and_leaving_change_the_count() {
    let mut t = namespace(3);
    for conn in 1..=3 {
        text(&mut t, conn, r#"{"type":"subscribe","topics":["doc"]}"#);
    }
    assert_eq!(t.subscribers_of("doc"), 3);
    text(&mut t, 3, r#"{"type":"unsubscribe","topics":["doc"]}"#);
    assert_eq!(t.subscribers_of("doc"), 2);
    let counts = |out: Vec<(Conn, String)>| -> Vec<(Conn, Value)> {
        out.into_iter()
            .map(|(to, f)| {
                (
                    to,
                    serde_json::from_str::<Value>(&f).unwrap()["clients"].clone(),
                )
            })
            .collect()
    };
    let publish = r#"{"type":"publish","topic":"doc","data":0}"#;
    assert_eq!(
        counts(sent(&text(&mut t, 3, publish))),
        vec![(1, Value::from(2)), (2, Value::from(2))]
    );
    // Socket 1 (seq 0) goes: it is nobody's recipient any more, and the count says so.
    assert!(t
        .depart(0)
        .iter()
        .all(|o| matches!(o, Outbound::Event(_) | Outbound::Hook { .. })));
    assert_eq!(
        counts(sent(&text(&mut t, 2, publish))),
        vec![(2, Value::from(1))]
    );
}

#[test]
fn topics_apart() {
    let mut t = namespace(2);
    text(&mut t, 1, r#"{"type":"subscribe","topics":["a"]}"#);
    text(&mut t, 2, r#"{"type":"subscribe","topics":["b"]}"#);
    let out = sent(&text(
        &mut t,
        1,
        r#"{"type":"publish","topic":"a","data":1}"#,
    ));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, 1);
}

#[test]
fn subscriptions_are_attached_and_survive_a_restore() {
    let mut t = namespace(2);
    let out = text(&mut t, 1, r#"{"type":"subscribe","topics":["a","b"]}"#);
    let attached: Vec<Attachment> = out
        .iter()
        .filter_map(|o| match o {
            Outbound::Attach { to: 1, text } => Attachment::from_text(text),
            _ => None,
        })
        .collect();
    assert_eq!(attached.len(), 1);
    assert_eq!(attached[0].topics, vec!["a", "b"]);
    text(&mut t, 2, r#"{"type":"subscribe","topics":["a"]}"#);
    let sockets = vec![
        (
            2,
            Attachment {
                seq: 1,
                seen_ms: 1,
                topics: vec!["a".into()],
                session: None,
                joined_ms: None,
            },
        ),
        (1, attached[0].clone()),
    ];
    let mut restored = Topics::restore(limits(), topic_limits(), sockets, 5);
    assert!(restored.alarm_unknown());
    assert_eq!(restored.subscribers_of("a"), 2);
    assert_eq!(
        restored.topics_of(0),
        Some(&["a".to_owned(), "b".to_owned()][..])
    );
    let out = sent(&text(
        &mut restored,
        2,
        r#"{"type":"publish","topic":"a","data":1}"#,
    ));
    assert_eq!(out.len(), 2);
    // A newcomer after the restore gets a seq no restored socket has.
    assert_eq!(restored.admit(3, 6, "s2".into(), never).seq, Some(2));
}

#[test]
fn bounds_are_answered_with_errors_and_the_socket_stays() {
    let mut t = namespace(3);
    // A fourth socket: room_full, closed with 4001.
    let refused = t.admit(4, 0, "s1".into(), never);
    assert_eq!(refused.seq, None);
    assert_eq!(error_code(&sent(&refused.out)[0].1), "room_full");
    assert!(refused.out.contains(&Outbound::Close {
        to: 4,
        code: close::ROOM_FULL
    }));
    // Topics: four at most, the fifth refused once per frame, the others kept.
    let out = sent(&text(
        &mut t,
        1,
        r#"{"type":"subscribe","topics":["a","b","c","d","e","f"]}"#,
    ));
    assert_eq!(out.len(), 1);
    assert_eq!(error_code(&out[0].1), "too_many_topics");
    assert_eq!(t.topics_of(0).unwrap().len(), 4);
    // Topic length.
    let long = "x".repeat(97);
    let out = sent(&text(
        &mut t,
        2,
        &format!(r#"{{"type":"subscribe","topics":["{long}","ok"]}}"#),
    ));
    assert_eq!(error_code(&out[0].1), "bad_request");
    assert_eq!(t.topics_of(1).unwrap(), &["ok".to_owned()][..]);
    // Bad frames: bad_request, socket kept.
    for bad in [
        "nope",
        "[]",
        r#"{"type":"x"}"#,
        r#"{"type":"subscribe","topics":5}"#,
    ] {
        let out = sent(&text(&mut t, 2, bad));
        assert_eq!(error_code(&out[0].1), "bad_request", "{bad}");
    }
    assert_eq!(t.len(), 3);
    // Binary and oversized frames close the socket.
    let out = t.frame_from(&3, Frame::Binary(3), 1).unwrap();
    assert!(out.contains(&Outbound::Close {
        to: 3,
        code: close::UNSUPPORTED_DATA
    }));
    let out = t.frame_from(&2, Frame::TooBig, 1).unwrap();
    assert!(out.contains(&Outbound::Close {
        to: 2,
        code: close::MESSAGE_TOO_BIG
    }));
    assert_eq!(t.len(), 1);
}

#[test]
fn escaped_topics_stop_at_the_attachment_limit() {
    let topic_limits = TopicLimits {
        max_connections: 2,
        max_topics: 64,
        max_topic_bytes: 96,
    };
    let mut t = Topics::new(limits(), topic_limits);
    t.admit(1, 0, "s1".into(), never);
    // Control characters take six bytes each in JSON: the worst case per topic.
    let nasty: String = "\u{1}".repeat(96);
    let mut refused = false;
    for n in 0..64 {
        let topic = format!("{n:02}{}", &nasty[2..]);
        let frame = serde_json::json!({"type": "subscribe", "topics": [topic]}).to_string();
        let out = t.frame_from(&1, Frame::Text(&frame), 1).unwrap();
        for o in &out {
            if let Outbound::Attach { text, .. } = o {
                assert!(text.len() <= ATTACHMENT_MAX_BYTES, "{}", text.len());
            }
        }
        if sent(&out)
            .iter()
            .any(|(_, f)| error_code(f) == "too_many_topics")
        {
            refused = true;
            break;
        }
    }
    assert!(refused, "the attachment limit refused a topic");
    let kept = t.topics_of(0).unwrap().to_vec();
    let worst = Attachment {
        seq: u64::MAX,
        seen_ms: u64::MAX,
        topics: kept,
        session: Some(SESSION_WIDEST.into()),
        joined_ms: Some(u64::MAX),
    };
    assert!(worst.to_text().len() <= ATTACHMENT_MAX_BYTES);
}

#[test]
fn the_default_limits_fit_the_attachment_and_too_large_ones_do_not() {
    assert!(TopicLimits {
        max_connections: 1,
        max_topics: 16,
        max_topic_bytes: 96
    }
    .fit_attachment());
    assert!(!TopicLimits {
        max_connections: 1,
        max_topics: 16,
        max_topic_bytes: 200
    }
    .fit_attachment());
}

#[test]
fn silent_sockets_are_swept_and_the_alarm_follows_the_count() {
    let mut t = Topics::new(limits(), topic_limits());
    let first = t.admit(1, 0, "s1".into(), never);
    assert!(!first
        .out
        .iter()
        .any(|o| matches!(o, Outbound::ArmAlarm { .. })));
    let second = t.admit(2, 0, "s1".into(), never);
    assert!(second.out.contains(&Outbound::ArmAlarm { at: 30_000 }));
    // Socket 2 pings (auto-answered) at 50 s; socket 1 says nothing.
    let pinged = |c: &Conn| (*c == 2).then_some(50_000);
    let out = t.alarm_fired(61_000, pinged);
    assert!(out.contains(&Outbound::Close {
        to: 1,
        code: close::TIMEOUT
    }));
    assert_eq!(t.len(), 1);
    assert!(
        !out.iter().any(|o| matches!(o, Outbound::ArmAlarm { .. })),
        "one socket: no sweep"
    );
    // An armed alarm is deleted when the last socket goes.
    let mut t = namespace(2);
    assert!(!t.depart(0).contains(&Outbound::DisarmAlarm));
    assert!(t.depart(1).contains(&Outbound::DisarmAlarm));
}

#[test]
fn budgets_refuse_then_close() {
    let mut lim = limits();
    lim.rate_burst = 2;
    lim.rate_per_sec = 0;
    let mut t = Topics::new(lim, topic_limits());
    t.admit(1, 0, "s1".into(), never);
    let ping = r#"{ "type":"ping" }"#;
    assert_eq!(sent(&text(&mut t, 1, ping))[0].1, PONG_FRAME);
    assert_eq!(sent(&text(&mut t, 1, ping))[0].1, PONG_FRAME);
    assert_eq!(
        error_code(&sent(&text(&mut t, 1, ping))[0].1),
        "rate_limited"
    );
    let out = text(&mut t, 1, ping);
    assert!(out.contains(&Outbound::Close {
        to: 1,
        code: close::RATE_LIMITED
    }));
    assert!(t.is_empty());
}

/// The webhook events among `out`, as (session, hook).
fn hooks(out: &[Outbound<Conn>]) -> Vec<(String, Hook)> {
    out.iter()
        .filter_map(|o| match o {
            Outbound::Hook { session, hook } => Some((session.clone(), hook.clone())),
            _ => None,
        })
        .collect()
}

fn joined(peer: &str, peers: usize) -> Hook {
    Hook::PeerJoined {
        peer: peer.into(),
        meta: None,
        peers,
    }
}

fn left(peer: &str, reason: &'static str, peers: usize) -> Hook {
    Hook::PeerLeft {
        peer: peer.into(),
        reason,
        peers,
    }
}

#[test]
fn a_namespace_opening_is_a_session_of_webhook_events_stored_before_anything_else() {
    let mut t = Topics::new(limits(), topic_limits());
    let first = t.admit(1, 0, "one".into(), never).out;
    assert_eq!(
        hooks(&first),
        [
            ("one".into(), Hook::RoomStarted { capacity: 3 }),
            ("one".into(), joined("s0", 1))
        ]
    );
    assert!(
        matches!(first[0], Outbound::Hook { .. }) && matches!(first[1], Outbound::Hook { .. }),
        "before the attachment and everything else: {first:?}"
    );
    let second = t.admit(2, 0, "unused".into(), never).out;
    assert_eq!(hooks(&second), [("one".into(), joined("s1", 2))]);
    assert_eq!(t.session(), Some("one"));
    // The session travels in the attachments, so a namespace rebuilt keeps it.
    let att = second
        .iter()
        .find_map(|o| match o {
            Outbound::Attach { text, .. } => Attachment::from_text(text),
            _ => None,
        })
        .unwrap();
    assert_eq!(att.session.as_deref(), Some("one"));
    let restored = Topics::restore(limits(), topic_limits(), vec![(2, att)], 5);
    assert_eq!(restored.session(), Some("one"));
    // Departures, then the last one finishes the session; the next opening is a new one.
    assert_eq!(
        hooks(&t.depart(0)),
        [("one".into(), left("s0", "disconnect", 1))]
    );
    let last = t.sweep(61_000, &never);
    assert_eq!(
        hooks(&last),
        [
            ("one".into(), left("s1", "timeout", 0)),
            ("one".into(), Hook::RoomFinished)
        ]
    );
    assert!(matches!(last[0], Outbound::Hook { .. }), "before the close");
    assert_eq!(t.session(), None);
    let again = t.admit(3, 62_000, "two".into(), never).out;
    assert_eq!(
        hooks(&again)[0],
        ("two".into(), Hook::RoomStarted { capacity: 3 })
    );
}

#[test]
fn a_full_namespace_sends_no_events_for_the_refused() {
    let mut t = namespace(3);
    assert_eq!(hooks(&t.admit(4, 0, "x".into(), never).out), []);
}

#[test]
fn the_admin_api_kicks_sockets_and_closes_namespaces() {
    let mut t = namespace(3);
    let s1 = PeerId::parse("s1").unwrap();
    let report: Vec<_> = t
        .sockets()
        .map(|(name, at, _)| (name.to_string(), at))
        .collect();
    assert_eq!(
        report,
        [("s0".into(), 0), ("s1".into(), 0), ("s2".into(), 0)]
    );
    let out = t.kick(&s1).expect("seated");
    assert_eq!(hooks(&out), [("ns".into(), left("s1", "kicked", 2))]);
    // Stored, then told, then closed.
    assert!(matches!(out[0], Outbound::Hook { .. }));
    assert_eq!(sent(&out).len(), 1);
    assert_eq!(sent(&out)[0].0, 2);
    assert_eq!(error_code(&sent(&out)[0].1), "kicked");
    let closed = out
        .iter()
        .position(|o| matches!(o, Outbound::Close { to: 2, code } if *code == close::KICKED));
    let told = out.iter().position(|o| matches!(o, Outbound::Send { .. }));
    assert!(told < closed && closed.is_some(), "{out:?}");
    assert_eq!(t.kick(&s1), None, "gone");
    assert!(t.has(None) && !t.has(Some(&s1)) && t.has(Some(&PeerId::parse("s2").unwrap())));
    let out = t.close_all();
    assert!(t.is_empty());
    assert_eq!(
        hooks(&out).last(),
        Some(&("ns".into(), Hook::RoomFinished)),
        "the namespace's session ends"
    );
    assert_eq!(
        out.iter()
            .filter(|o| matches!(o, Outbound::Close { code, .. } if *code == close::KICKED))
            .count(),
        2
    );
}
