use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;

/// 2026-12-02T02:40:12.123Z
const T0: u64 = 1_796_179_212_123;
const SUBJECT: &str = r#""protocol":"v1","room":"r1""#;

fn joined(peer: &str, peers: usize) -> What<'_> {
    What::PeerJoined {
        peer,
        meta: None,
        peers,
    }
}

/// A Durable Object's storage, as the caller keeps it: the returned operations carried out.
#[derive(Clone, Debug, Default)]
struct Storage(BTreeMap<String, String>);

impl Storage {
    fn apply(&mut self, ops: &[Store]) {
        for op in ops {
            match op {
                Store::Put { key, value } => {
                    self.0.insert(key.clone(), value.clone());
                }
                Store::Delete { key } => {
                    self.0.remove(key);
                }
            }
        }
    }

    fn restore(&self) -> Outbox {
        let events = self
            .0
            .iter()
            .filter(|(k, _)| k.starts_with(EVENT_PREFIX))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Outbox::restore(self.0.get(STATE_KEY).map(String::as_str), events)
    }

    fn events(&self) -> usize {
        self.0
            .keys()
            .filter(|k| k.starts_with(EVENT_PREFIX))
            .count()
    }
}

/// What an outbox restored from its storage must equal: the same, with nothing in flight.
fn at_rest(outbox: &Outbox) -> Outbox {
    let mut outbox = outbox.clone();
    outbox.in_flight = None;
    outbox
}

/// An outbox and its storage, driven together.
struct Object {
    outbox: Outbox,
    storage: Storage,
}

impl Object {
    fn new() -> Object {
        Object {
            outbox: Outbox::new(),
            storage: Storage::default(),
        }
    }

    fn record(&mut self, now_ms: u64, what: What) -> Vec<Store> {
        let ops = self.outbox.record(now_ms, what, SUBJECT, "s1");
        self.storage.apply(&ops);
        ops
    }

    fn delivered(&mut self, key: u64, now_ms: u64) -> Vec<Store> {
        let ops = self.outbox.delivered(key, now_ms);
        self.storage.apply(&ops);
        ops
    }

    fn failed(&mut self, key: u64, now_ms: u64) -> Vec<Store> {
        let ops = self.outbox.failed(key, now_ms);
        self.storage.apply(&ops);
        ops
    }
}

fn data_of(body: &str) -> serde_json::Value {
    serde_json::from_str::<serde_json::Value>(body).unwrap()["data"].clone()
}

#[test]
fn signatures_match_the_standard_webhooks_test_vector() {
    // From the Standard Webhooks reference libraries' tests: a receiver's library must accept
    // what we send, which a round trip through our own code could not show.
    let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    assert_eq!(
        signature(
            &secret,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#
        ),
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    );
}

#[test]
fn bad_secrets_are_refused_with_their_reason() {
    assert_eq!(
        Secret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        Err(BadSecret::MissingPrefix)
    );
    assert_eq!(Secret::parse(""), Err(BadSecret::MissingPrefix));
    assert_eq!(
        Secret::parse("whsec_not base64!"),
        Err(BadSecret::NotBase64)
    );
    assert_eq!(Secret::parse("whsec_MfKQ9r8"), Err(BadSecret::NotBase64));
    assert_eq!(Secret::parse("whsec_"), Err(BadSecret::EmptyKey));
    // A pasted newline is not part of the secret.
    assert_eq!(
        Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n"),
        Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    );
    for bad in [
        BadSecret::MissingPrefix,
        BadSecret::NotBase64,
        BadSecret::EmptyKey,
    ] {
        assert!(bad.to_string().contains("WEBHOOK_SECRET"), "{bad}");
    }
    assert_eq!(
        BadSecret::MissingPrefix.to_string(),
        "WEBHOOK_SECRET must start with `whsec_`"
    );
    // The key never reaches a log line through Debug.
    let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    assert_eq!(format!("{secret:?}"), "Secret(..)");
}

#[test]
fn timestamps_are_rfc3339_utc_with_milliseconds() {
    for (ms, text) in [
        (0, "1970-01-01T00:00:00.000Z"),
        (1, "1970-01-01T00:00:00.001Z"),
        (86_399_999, "1970-01-01T23:59:59.999Z"),
        (94_694_399_999, "1972-12-31T23:59:59.999Z"),
        (946_684_799_999, "1999-12-31T23:59:59.999Z"),
        (951_782_400_000, "2000-02-29T00:00:00.000Z"),
        (1_709_251_199_999, "2024-02-29T23:59:59.999Z"),
        (T0, "2026-12-02T02:40:12.123Z"),
        (4_107_542_400_000, "2100-03-01T00:00:00.000Z"),
    ] {
        assert_eq!(rfc3339(ms), text, "{ms}");
    }
    // 2100 is not a leap year: February 28 is followed by March 1.
    assert_eq!(rfc3339(4_107_542_400_000 - 1), "2100-02-28T23:59:59.999Z");
    // No panic at the far end.
    let _ = rfc3339(u64::MAX);
}

#[test]
fn each_event_type_has_its_exact_body() {
    let mut outbox = Outbox::new();
    let cases = [
        (
            What::RoomStarted { capacity: 4 },
            r#"{"type":"room.started","timestamp":"2026-12-02T02:40:12.123Z","data":{"protocol":"v1","room":"r1","session":"s1","seq":1,"capacity":4}}"#,
        ),
        (
            What::PeerJoined {
                peer: "alice",
                meta: Some(r#"{"name":"Alice"}"#),
                peers: 1,
            },
            r#"{"type":"peer.joined","timestamp":"2026-12-02T02:40:12.123Z","data":{"protocol":"v1","room":"r1","session":"s1","seq":2,"peer":"alice","meta":{"name":"Alice"},"peers":1}}"#,
        ),
        (
            joined("bob", 2),
            r#"{"type":"peer.joined","timestamp":"2026-12-02T02:40:12.123Z","data":{"protocol":"v1","room":"r1","session":"s1","seq":3,"peer":"bob","peers":2}}"#,
        ),
        (
            What::PeerJoined {
                peer: "carol",
                meta: Some("{}"),
                peers: 3,
            },
            r#"{"type":"peer.joined","timestamp":"2026-12-02T02:40:12.123Z","data":{"protocol":"v1","room":"r1","session":"s1","seq":4,"peer":"carol","peers":3}}"#,
        ),
        (
            What::PeerLeft {
                peer: "bob",
                reason: "timeout",
                peers: 2,
            },
            r#"{"type":"peer.left","timestamp":"2026-12-02T02:40:12.123Z","data":{"protocol":"v1","room":"r1","session":"s1","seq":5,"peer":"bob","reason":"timeout","peers":2}}"#,
        ),
        (
            What::RoomFinished,
            r#"{"type":"room.finished","timestamp":"2026-12-02T02:40:12.123Z","data":{"protocol":"v1","room":"r1","session":"s1","seq":6}}"#,
        ),
    ];
    for (seq, (what, body)) in cases.into_iter().enumerate() {
        let ops = outbox.record(T0, what, SUBJECT, "s1");
        let Store::Put { key, value } = &ops[0] else {
            panic!("{ops:?}")
        };
        assert_eq!(key, &format!("webhook:event:{seq:020}"));
        let id = format!("evt_s1_{}", seq + 1);
        assert_eq!(value, &format!(r#"{{"id":"{id}","body":{body}}}"#));
        assert_eq!(outbox.events.back().unwrap().body, body);
        assert_eq!(outbox.events.back().unwrap().id, id);
    }
    // Strings are escaped; an empty subject leaves no stray comma.
    let mut outbox = Outbox::new();
    outbox.record(0, What::RoomStarted { capacity: 2 }, "", "s2");
    outbox.record(
        0,
        What::PeerLeft {
            peer: "a\"b",
            reason: "x\\y",
            peers: 0,
        },
        "",
        "",
    );
    assert_eq!(
        outbox.events[1].body,
        r#"{"type":"peer.left","timestamp":"1970-01-01T00:00:00.000Z","data":{"session":"s2","seq":2,"peer":"a\"b","reason":"x\\y","peers":0}}"#
    );
}

#[test]
fn seq_counts_within_a_session_and_room_started_opens_a_new_one() {
    let mut outbox = Outbox::new();
    outbox.record(T0, What::RoomStarted { capacity: 2 }, SUBJECT, "aaaa");
    // A later event of the session keeps the subject the session started with; one without a
    // session (a room rebuilt from attachments older than sessions) continues it.
    outbox.record(T0, joined("alice", 1), r#""room":"other""#, "aaaa");
    outbox.record(T0, What::RoomFinished, "", "");
    outbox.record(
        T0 + 5,
        What::RoomStarted { capacity: 3 },
        r#""protocol":"v1","room":"r2""#,
        "bbbb",
    );
    outbox.record(T0 + 5, joined("bob", 1), "", "");
    let seen: Vec<(String, String, u64, String)> = outbox
        .events
        .iter()
        .map(|e| {
            let data = data_of(&e.body);
            (
                data["room"].as_str().unwrap().to_owned(),
                data["session"].as_str().unwrap().to_owned(),
                data["seq"].as_u64().unwrap(),
                e.id.clone(),
            )
        })
        .collect();
    let expect = [
        ("r1", "aaaa", 1, "evt_aaaa_1"),
        ("r1", "aaaa", 2, "evt_aaaa_2"),
        ("r1", "aaaa", 3, "evt_aaaa_3"),
        ("r2", "bbbb", 1, "evt_bbbb_1"),
        ("r2", "bbbb", 2, "evt_bbbb_2"),
    ];
    let expect: Vec<_> = expect
        .iter()
        .map(|(r, s, q, id)| (r.to_string(), s.to_string(), *q, id.to_string()))
        .collect();
    assert_eq!(seen, expect);
}

#[test]
fn an_event_of_another_session_starts_it_without_a_room_started() {
    // A PeerJS id: each connection is a session of `peer.joined` and `peer.left` alone.
    let mut outbox = Outbox::new();
    let left = |peer| What::PeerLeft {
        peer,
        reason: "leave",
        peers: 0,
    };
    outbox.record(T0, joined("ada", 1), SUBJECT, "one");
    outbox.record(T0, left("ada"), SUBJECT, "one");
    outbox.record(T0, joined("ada", 1), SUBJECT, "two");
    outbox.record(T0, left("ada"), SUBJECT, "two");
    let seen: Vec<String> = outbox.events.iter().map(|e| e.id.clone()).collect();
    assert_eq!(seen, ["evt_one_1", "evt_one_2", "evt_two_1", "evt_two_2"]);
}

#[test]
fn an_event_with_no_session_known_starts_one() {
    // Webhooks turned on while the room was open: its first event is not a room.started.
    let mut outbox = Outbox::new();
    outbox.record(T0, joined("alice", 2), SUBJECT, "cccc");
    let data = data_of(&outbox.events[0].body);
    assert_eq!(data["session"], "cccc");
    assert_eq!(data["seq"], 1);
    assert_eq!(data["room"], "r1");
}

#[test]
fn writes_are_minimal() {
    let mut o = Object::new();
    let ops = o.record(T0, What::RoomStarted { capacity: 2 });
    assert!(
        matches!(&ops[..], [Store::Put { key: a, .. }, Store::Put { key: b, .. }]
        if a.starts_with(EVENT_PREFIX) && b == STATE_KEY)
    );
    let d = o.outbox.begin(T0).unwrap();
    let ops = o.failed(d.key, T0 + 10);
    assert!(matches!(&ops[..], [Store::Put { key, .. }] if key == STATE_KEY));
    let d = o.outbox.begin(T0 + 1010).unwrap();
    let ops = o.delivered(d.key, T0 + 1020);
    assert!(
        matches!(&ops[..], [Store::Delete { key: a }, Store::Put { key: b, .. }]
        if a == &event_key(0) && b == STATE_KEY)
    );
    assert_eq!(o.storage.events(), 0);
}

#[test]
fn past_max_pending_the_oldest_go_and_the_next_delivery_says_how_many() {
    let mut o = Object::new();
    o.record(T0, What::RoomStarted { capacity: 2 });
    for i in 1..MAX_PENDING {
        o.record(T0, joined("p", i));
    }
    assert_eq!((o.outbox.len(), o.outbox.dropped()), (MAX_PENDING, 0));
    for i in 0..3u64 {
        let ops = o.record(T0 + 1, joined("late", 1));
        assert_eq!(ops.len(), 3);
        assert_eq!(ops[1], Store::Delete { key: event_key(i) });
    }
    assert_eq!((o.outbox.len(), o.outbox.dropped()), (MAX_PENDING, 3));
    assert_eq!(o.storage.events(), MAX_PENDING);

    let d = o.outbox.begin(T0 + 1).unwrap();
    assert_eq!((d.key, d.dropped), (3, 3));
    let stored = &o.outbox.events[0].body;
    assert_eq!(
        d.body,
        format!("{},\"dropped\":3}}}}", &stored[..stored.len() - 2])
    );
    assert!(d
        .body
        .ends_with(r#""seq":4,"peer":"p","peers":3,"dropped":3}}"#));
    // A failed attempt keeps the count; the next attempt sends it again.
    o.failed(d.key, T0 + 2);
    let again = o.outbox.begin(T0 + 2 + RETRY_MIN_DELAY_MS).unwrap();
    assert_eq!(again.body, d.body);
    o.delivered(again.key, T0 + 3000);
    assert_eq!(o.outbox.dropped(), 0);
    let next = o.outbox.begin(T0 + 3000).unwrap();
    assert_eq!((next.key, next.dropped), (4, 0));
    assert_eq!(next.body, o.outbox.events[0].body);
}

#[test]
fn failures_retry_with_doubling_delays_up_to_five_minutes() {
    let mut o = Object::new();
    o.record(T0, What::RoomStarted { capacity: 2 });
    let mut now = T0;
    let mut delays = Vec::new();
    for _ in 0..12 {
        let d = o.outbox.begin(now).unwrap();
        let ops = o.failed(d.key, now);
        assert_eq!(ops.len(), 1);
        let at = o.outbox.wake_at().unwrap();
        delays.push((at - now) / 1000);
        // Not before its time.
        assert_eq!(o.outbox.begin(at - 1), None);
        now = at;
    }
    assert_eq!(delays, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
    assert_eq!(retry_delay(u32::MAX), RETRY_MAX_DELAY_MS);
}

#[test]
fn an_event_failing_for_24_hours_is_dropped_and_counted() {
    let mut o = Object::new();
    o.record(T0, What::RoomStarted { capacity: 2 });
    o.record(T0, joined("alice", 1));
    let first = T0 + 100;
    let d = o.outbox.begin(first).unwrap();
    o.failed(d.key, first);
    // Still retried just before the 24 hours are up...
    let before = first + RETRY_FOR_MS - 1;
    let d = o.outbox.begin(before).unwrap();
    assert_eq!(o.failed(d.key, before).len(), 1);
    assert_eq!(o.outbox.len(), 2);
    // ...and dropped on the first failure at or after it.
    let at = o.outbox.wake_at().unwrap();
    assert!(at >= first + RETRY_FOR_MS);
    let d = o.outbox.begin(at).unwrap();
    assert_eq!(d.key, 0);
    let ops = o.failed(d.key, at);
    assert_eq!(ops[0], Store::Delete { key: event_key(0) });
    assert_eq!((o.outbox.len(), o.outbox.dropped()), (1, 1));
    // The next event is due at once, with a fresh retry state, and reports the loss.
    assert_eq!(o.outbox.wake_at(), Some(at));
    let d = o.outbox.begin(at).unwrap();
    assert_eq!((d.key, d.dropped), (1, 1));
    assert_eq!(data_of(&d.body)["dropped"], 1);
    o.failed(d.key, at);
    assert_eq!(o.outbox.wake_at(), Some(at + RETRY_MIN_DELAY_MS));
}

#[test]
fn events_go_strictly_in_order_one_at_a_time() {
    let mut o = Object::new();
    o.record(T0, What::RoomStarted { capacity: 2 });
    o.record(T0, joined("alice", 1));
    let d = o.outbox.begin(T0).unwrap();
    assert_eq!(d.key, 0);
    // Nothing else while it is in flight, whatever is recorded meanwhile.
    o.record(T0, joined("bob", 2));
    assert_eq!(o.outbox.begin(T0 + 1), None);
    // A failure holds the rest back: the head is retried, not skipped.
    o.failed(0, T0 + 2);
    assert_eq!(o.outbox.begin(T0 + 2), None);
    let d = o.outbox.begin(T0 + 2 + RETRY_MIN_DELAY_MS).unwrap();
    assert_eq!(d.key, 0);
    o.delivered(0, T0 + 2000);
    let keys: Vec<u64> = (0..2)
        .map(|i| {
            let d = o.outbox.begin(T0 + 3000 + i).unwrap();
            o.delivered(d.key, T0 + 3000 + i);
            d.key
        })
        .collect();
    assert_eq!(keys, [1, 2]);
    assert_eq!(o.outbox.begin(T0 + 4000), None);
}

#[test]
fn wake_at_follows_each_state() {
    let mut o = Object::new();
    assert_eq!(o.outbox.wake_at(), None);
    // A fresh event: now.
    o.record(T0, What::RoomStarted { capacity: 2 });
    assert_eq!(o.outbox.wake_at(), Some(T0));
    // In flight: the attempt's deadline.
    let d = o.outbox.begin(T0 + 7).unwrap();
    assert_eq!(
        o.outbox.wake_at(),
        Some(T0 + 7 + ATTEMPT_TIMEOUT_MS + ATTEMPT_MARGIN_MS)
    );
    // Failed: the retry.
    o.failed(d.key, T0 + 50);
    assert_eq!(o.outbox.wake_at(), Some(T0 + 50 + RETRY_MIN_DELAY_MS));
    // A new event behind a retrying head changes nothing.
    o.record(T0 + 60, joined("alice", 1));
    assert_eq!(o.outbox.wake_at(), Some(T0 + 50 + RETRY_MIN_DELAY_MS));
    // Delivered with more pending: the next is due when it became the head.
    let d = o.outbox.begin(T0 + 2000).unwrap();
    o.delivered(d.key, T0 + 2100);
    assert_eq!(o.outbox.wake_at(), Some(T0 + 2100));
    // All delivered: no alarm.
    let d = o.outbox.begin(T0 + 2100).unwrap();
    o.delivered(d.key, T0 + 2200);
    assert_eq!(o.outbox.wake_at(), None);
    assert!(o.outbox.is_empty());
}

#[test]
fn an_attempt_never_answered_is_sent_again_after_its_deadline() {
    let mut o = Object::new();
    o.record(T0, What::RoomStarted { capacity: 2 });
    let d = o.outbox.begin(T0).unwrap();
    let deadline = o.outbox.wake_at().unwrap();
    assert_eq!(o.outbox.begin(deadline - 1), None);
    let again = o.outbox.begin(deadline).unwrap();
    assert_eq!((again.key, &again.id, &again.body), (d.key, &d.id, &d.body));
    // Lost, not failed: no retry state.
    assert_eq!(o.outbox.state.attempts, 0);
}

#[test]
fn answers_for_anything_but_the_attempt_in_flight_change_nothing() {
    let mut o = Object::new();
    o.record(T0, What::RoomStarted { capacity: 2 });
    o.record(T0, joined("alice", 1));
    // Nothing in flight.
    let before = o.outbox.clone();
    assert_eq!(o.delivered(0, T0), []);
    assert_eq!(o.failed(0, T0), []);
    assert_eq!(o.outbox, before);
    // Another key than the one in flight.
    o.outbox.begin(T0).unwrap();
    let before = o.outbox.clone();
    assert_eq!(o.delivered(1, T0), []);
    assert_eq!(o.failed(7, T0), []);
    assert_eq!(o.outbox, before);
}

#[test]
fn an_event_pushed_out_while_in_flight_is_answered_without_effect_on_the_rest() {
    let mut o = Object::new();
    o.record(T0, What::RoomStarted { capacity: 2 });
    for i in 1..MAX_PENDING {
        o.record(T0, joined("p", i));
    }
    let d = o.outbox.begin(T0).unwrap();
    assert_eq!(d.key, 0);
    o.record(T0 + 1, joined("late", 1)); // pushes key 0, the one in flight, out
    o.record(T0 + 1, joined("late", 1)); // and key 1
    assert_eq!(o.outbox.dropped(), 2);
    // Still in flight: the next waits for its answer.
    assert_eq!(o.outbox.begin(T0 + 2), None);

    // Failed: it is already counted as dropped; nothing else changes.
    let mut failed = Object {
        outbox: o.outbox.clone(),
        storage: o.storage.clone(),
    };
    assert_eq!(failed.failed(0, T0 + 3), []);
    assert_eq!(failed.outbox.dropped(), 2);
    let next = failed.outbox.begin(T0 + 3).unwrap();
    assert_eq!((next.key, next.dropped), (2, 2));

    // Delivered: the receiver has it, so only key 1 is lost.
    let ops = o.delivered(0, T0 + 3);
    assert!(matches!(&ops[..], [Store::Put { key, .. }] if key == STATE_KEY));
    assert_eq!(o.outbox.dropped(), 1);
    let next = o.outbox.begin(T0 + 3).unwrap();
    assert_eq!((next.key, next.dropped), (2, 1));
    assert_eq!(o.storage.restore(), at_rest(&o.outbox));
}

#[test]
fn storage_restores_the_same_outbox_with_nothing_in_flight() {
    let mut o = Object::new();
    o.record(T0, What::RoomStarted { capacity: 2 });
    o.record(T0, joined("alice", 1));
    o.record(T0, joined("bob", 2));
    let d = o.outbox.begin(T0).unwrap();
    o.delivered(d.key, T0 + 10);
    let d = o.outbox.begin(T0 + 10).unwrap();
    o.failed(d.key, T0 + 20);
    let d = o.outbox.begin(T0 + 1020).unwrap();
    // Evicted mid-attempt: the answer never comes.
    let mut woken = o.storage.restore();
    assert_eq!(woken, at_rest(&o.outbox));
    assert_eq!(woken.wake_at(), Some(T0 + 20 + RETRY_MIN_DELAY_MS));
    // The same attempt again (at least once), and the session carries on.
    let again = woken.begin(T0 + 9000).unwrap();
    assert_eq!((again.key, again.id, again.body), (d.key, d.id, d.body));
    woken.record(T0 + 9000, What::RoomFinished, "", "");
    let data = data_of(&woken.events.back().unwrap().body);
    assert_eq!(
        (data["session"].as_str(), data["seq"].as_u64()),
        (Some("s1"), Some(4))
    );
    assert_eq!(data["room"], "r1");
    // An emptied outbox restores too, counter and all.
    let mut o = Object::new();
    o.record(T0, What::RoomStarted { capacity: 2 });
    let d = o.outbox.begin(T0).unwrap();
    o.delivered(d.key, T0);
    assert_eq!(o.storage.restore(), o.outbox);
    assert_eq!(o.storage.restore().state.next, 1);
}

#[test]
fn garbage_in_storage_is_skipped() {
    let good = |key: u64, seq: u64| {
        (
            event_key(key),
            format!(
                r#"{{"id":"evt_s_{seq}","body":{{"type":"room.finished","timestamp":"x","data":{{"session":"s","seq":{seq}}}}}}}"#
            ),
        )
    };
    let events = vec![
        good(7, 2),
        ("webhook:event:5".into(), good(5, 1).1), // not the written form
        ("webhook:event:+0000000000000000005".into(), good(5, 1).1),
        ("webhook:event:99999999999999999999".into(), good(5, 1).1), // over u64
        ("other:key".into(), good(5, 1).1),
        (event_key(1), "not json".into()),
        (event_key(2), r#"{"id":"x"}"#.into()),
        (event_key(3), r#"{"id":"x","body":[1,2]}"#.into()),
        (event_key(4), r#"{"id":"x","body":{"data":1}}"#.into()),
        good(6, 1),
        good(7, 2), // listed twice
    ];
    let outbox = Outbox::restore(Some("{not json"), events);
    let keys: Vec<u64> = outbox.events.iter().map(|e| e.key).collect();
    assert_eq!(keys, [6, 7]);
    // The counter moves past what storage holds, and the head is due now.
    assert_eq!(outbox.state.next, 8);
    assert_eq!(outbox.wake_at(), Some(0));
    assert_eq!(outbox.state.session, None);

    // A state whose retry state is for another event is not applied to the head.
    let state = r#"{"session":"s","seq":2,"subject":"","next":3,"dropped":1,"head":0,"attempts":5,"first_failure_ms":10,"retry_at_ms":99999}"#;
    let mut outbox = Outbox::restore(Some(state), vec![good(1, 2)]);
    assert_eq!((outbox.state.attempts, outbox.wake_at()), (0, Some(0)));
    assert_eq!((outbox.dropped(), outbox.state.next), (1, 3));
    assert_eq!(outbox.begin(0).unwrap().dropped, 1);
    // Fields of the wrong type make the whole state unreadable, not a panic.
    let outbox = Outbox::restore(Some(r#"{"seq":"x"}"#), Vec::new());
    assert_eq!(outbox, Outbox::new());
    let outbox = Outbox::restore(Some(r#"{"seq":18446744073709551615}"#), Vec::new());
    let mut outbox = outbox;
    outbox.record(0, What::RoomFinished, "", "s"); // no overflow panic
}

// ---- The property test: random operations against a model of the receiver. ----

#[derive(Clone, Debug)]
enum Op {
    Start,
    Join,
    Leave,
    Finish,
    /// Many joins at once, to go past MAX_PENDING.
    Burst(usize),
    Begin,
    /// The attempt in flight is answered: 2xx or not.
    Answer(bool),
    /// An answer for something not in flight.
    Stray(bool),
    Advance(u64),
    /// Evicted: rebuilt from storage, the attempt in flight forgotten.
    Restore,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => Just(Op::Start),
        4 => Just(Op::Join),
        3 => Just(Op::Leave),
        1 => Just(Op::Finish),
        1 => (1usize..1100).prop_map(Op::Burst),
        6 => Just(Op::Begin),
        3 => Just(Op::Answer(true)),
        4 => Just(Op::Answer(false)),
        1 => any::<bool>().prop_map(Op::Stray),
        4 => prop::sample::select(vec![
            0u64,
            400,
            1_000,
            4_000,
            10_000,
            300_000,
            3_600_000,
            30 * 3_600_000,
            30 * 3_600_000,
        ])
        .prop_map(Op::Advance),
        2 => Just(Op::Restore),
    ]
}

/// The receiver's view and what was recorded, to check every delivery against.
struct Model {
    object: Object,
    now: u64,
    /// The attempt in flight and when it began.
    attempt: Option<(Delivery, u64)>,
    /// Every recorded event by key: (session, seq, stored body, id).
    recorded: Vec<(String, u64, String, String)>,
    /// The session and seq the next event gets, as the contract says.
    session: Option<(String, u64)>,
    sessions: u64,
    /// The last event answered 2xx: its key, session and seq.
    last: Option<(u64, String, u64)>,
    /// The failed attempts of an event: its key, how many, and when the first was.
    failures: Option<(u64, u32, u64)>,
}

impl Model {
    fn record(&mut self, what: What) {
        let starts = matches!(what, What::RoomStarted { .. }) || self.session.is_none();
        self.sessions += 1;
        let fresh = format!("{:016x}", self.sessions);
        let (session, seq) = match (&self.session, starts) {
            (Some((s, q)), false) => (s.clone(), q + 1),
            _ => (fresh.clone(), 1),
        };
        self.session = Some((session.clone(), seq));
        // The room passes its session: a fresh one only when it starts.
        let ops = self.object.outbox.record(self.now, what, SUBJECT, &session);
        self.object.storage.apply(&ops);
        let key = self.recorded.len() as u64;
        assert_eq!(
            ops.first(),
            Some(&Store::Put {
                key: event_key(key),
                value: format!(
                    r#"{{"id":"evt_{session}_{seq}","body":{}}}"#,
                    self.object.outbox.events.back().unwrap().body
                ),
            })
        );
        let body = self.object.outbox.events.back().unwrap().body.clone();
        let data = data_of(&body);
        assert_eq!(data["session"].as_str(), Some(session.as_str()));
        assert_eq!(data["seq"].as_u64(), Some(seq));
        assert_eq!(data["room"], "r1");
        self.recorded
            .push((session.clone(), seq, body, format!("evt_{session}_{seq}")));
    }

    fn step(&mut self, op: Op) {
        match op {
            Op::Start => self.record(What::RoomStarted { capacity: 4 }),
            Op::Join => self.record(joined("alice", 1)),
            Op::Leave => self.record(What::PeerLeft {
                peer: "alice",
                reason: "leave",
                peers: 0,
            }),
            Op::Finish => self.record(What::RoomFinished),
            Op::Burst(n) => {
                for _ in 0..n {
                    self.record(joined("bob", 2));
                }
            }
            Op::Begin => self.begin(),
            Op::Answer(ok) => {
                if let Some((d, _)) = self.attempt.take() {
                    if ok {
                        self.acknowledged(&d);
                        let ops = self.object.delivered(d.key, self.now);
                        assert!(!ops.is_empty());
                    } else {
                        self.failed(&d);
                    }
                }
            }
            Op::Stray(ok) => {
                let key = match &self.attempt {
                    Some((d, _)) => d.key + 1,
                    None => self.object.outbox.head_key().unwrap_or(0),
                };
                let before = self.object.outbox.clone();
                let ops = if ok {
                    self.object.delivered(key, self.now)
                } else {
                    self.object.failed(key, self.now)
                };
                assert_eq!(ops, []);
                assert_eq!(self.object.outbox, before);
            }
            Op::Advance(ms) => self.now += ms,
            Op::Restore => {
                let restored = self.object.storage.restore();
                assert_eq!(restored, at_rest(&self.object.outbox));
                self.object.outbox = restored;
                self.attempt = None;
            }
        }
        let outbox = &self.object.outbox;
        assert_eq!(
            self.attempt.as_ref().map(|(d, _)| d.key),
            outbox.in_flight.as_ref().map(|f| f.key)
        );
        assert!(outbox.len() <= MAX_PENDING);
        assert_eq!(self.object.storage.events(), outbox.len());
        match &self.attempt {
            Some((_, started)) => assert_eq!(
                outbox.wake_at(),
                Some(started + ATTEMPT_TIMEOUT_MS + ATTEMPT_MARGIN_MS)
            ),
            None => assert_eq!(outbox.wake_at().is_some(), !outbox.is_empty()),
        }
    }

    fn begin(&mut self) {
        let outbox = &self.object.outbox;
        let head_due = !outbox.is_empty() && self.now >= outbox.state.retry_at_ms;
        let expect = match &self.attempt {
            // Given up at its deadline (lost, as after an eviction): the head goes again.
            Some((_, started)) => {
                head_due && self.now >= started + ATTEMPT_TIMEOUT_MS + ATTEMPT_MARGIN_MS
            }
            None => {
                assert_eq!(head_due, outbox.wake_at().is_some_and(|at| self.now >= at));
                head_due
            }
        };
        let got = self.object.outbox.begin(self.now);
        assert_eq!(got.is_some(), expect);
        let deadline = ATTEMPT_TIMEOUT_MS + ATTEMPT_MARGIN_MS;
        if let Some((_, started)) = &self.attempt {
            if self.now >= started + deadline {
                self.attempt = None;
            }
        }
        let Some(d) = got else { return };
        // The oldest pending event, with the stored bytes, and the count owed.
        assert_eq!(Some(d.key), self.object.outbox.head_key());
        assert_eq!(d.dropped, self.object.outbox.dropped());
        let (_, _, body, id) = &self.recorded[d.key as usize];
        assert_eq!(&d.id, id);
        if d.dropped == 0 {
            assert_eq!(&d.body, body);
        } else {
            let open = &body[..body.len() - 2];
            assert_eq!(d.body, format!("{open},\"dropped\":{}}}}}", d.dropped));
        }
        self.attempt = Some((d, self.now));
    }

    /// `d` failed: retried after 1 s, 2 s, 4 s, ... at most 5 min, or dropped on a failure
    /// 24 hours or more after its first.
    fn failed(&mut self, d: &Delivery) {
        let present = self.object.outbox.head_key() == Some(d.key);
        let (count, first) = match self.failures {
            Some((key, count, first)) if key == d.key => (count + 1, first),
            _ => (1, self.now),
        };
        let ops = self.object.failed(d.key, self.now);
        if !present {
            // Pushed out while in flight: already counted.
            assert_eq!(ops, []);
        } else if self.now >= first + RETRY_FOR_MS {
            assert_eq!(ops.len(), 2);
            assert_ne!(self.object.outbox.head_key(), Some(d.key));
            self.failures = None;
        } else {
            assert_eq!(ops.len(), 1);
            let delay = (1000u64 << (count - 1).min(20)).min(300_000);
            assert_eq!(self.object.outbox.wake_at(), Some(self.now + delay));
            self.failures = Some((d.key, count, first));
        }
    }

    /// The receiver got `d` (2xx): in record order, with every gap reported.
    fn acknowledged(&mut self, d: &Delivery) {
        let (session, seq, _, _) = self.recorded[d.key as usize].clone();
        let first_unseen = self.last.as_ref().map_or(0, |(k, _, _)| k + 1);
        assert!(d.key >= first_unseen, "out of order");
        assert_eq!(d.dropped, d.key - first_unseen, "gap not reported exactly");
        assert_eq!(
            data_of(&d.body)["dropped"].as_u64(),
            (d.dropped > 0).then_some(d.dropped)
        );
        if let Some((_, last_session, last_seq)) = &self.last {
            if *last_session == session {
                assert!(seq > *last_seq);
                assert!(seq - last_seq - 1 <= d.dropped);
            }
        }
        self.last = Some((d.key, session, seq));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn deliveries_are_in_order_counted_bounded_and_survive_restores(
        ops in prop::collection::vec(op(), 1..80)
    ) {
        let mut model = Model {
            object: Object::new(),
            now: T0,
            attempt: None,
            recorded: Vec::new(),
            session: None,
            sessions: 0,
            last: None,
            failures: None,
        };
        for op in ops {
            model.step(op);
        }
        // Storage at the end restores to the same outbox, which behaves the same.
        let mut restored = model.object.storage.restore();
        let mut live = at_rest(&model.object.outbox);
        prop_assert_eq!(&restored, &live);
        let later = model.now + 30 * 3_600_000;
        for i in 0..5 {
            let (a, b) = (restored.begin(later + i), live.begin(later + i));
            prop_assert_eq!(&a, &b);
            if let Some(d) = a {
                prop_assert_eq!(restored.failed(d.key, later + i), live.failed(d.key, later + i));
            }
        }
    }
}

#[test]
fn the_alarm_is_the_earlier_of_the_sweep_and_the_next_delivery() {
    assert_eq!(alarm_at(None, None), None);
    assert_eq!(alarm_at(Some(5), None), Some(5));
    assert_eq!(alarm_at(None, Some(7)), Some(7));
    assert_eq!(alarm_at(Some(9), Some(7)), Some(7));
    assert_eq!(alarm_at(Some(3), Some(7)), Some(3));
}

#[test]
fn each_room_names_itself_in_its_events() {
    use crate::protocol::{RoomId, Wire};
    use crate::role::Role;
    let room = RoomId::parse("r1").unwrap();
    let of = |role| subject_of(&role);
    assert_eq!(
        of(Role::Room {
            room: room.clone(),
            wire: Wire::V1
        })
        .as_deref(),
        Some(r#""protocol":"v1","room":"r1""#)
    );
    assert_eq!(
        of(Role::Room {
            room: room.clone(),
            wire: Wire::Matchbox
        })
        .as_deref(),
        Some(r#""protocol":"matchbox","room":"r1""#)
    );
    assert_eq!(
        of(Role::Group {
            room: room.clone(),
            n: 2,
            group: 7
        })
        .as_deref(),
        Some(r#""protocol":"matchbox","room":"r1","next":2,"group":7"#)
    );
    assert_eq!(
        of(Role::Lobby {
            room: room.clone(),
            n: 2
        }),
        None
    );
    assert_eq!(
        of(Role::Topics { namespace: room }).as_deref(),
        Some(r#""protocol":"yjs","namespace":"r1""#)
    );
    assert_eq!(
        of(Role::Peer {
            key: "k\"1".into(),
            id: "a b".into()
        })
        .as_deref(),
        Some(r#""protocol":"peerjs","key":"k\"1""#),
        "the key quoted; the id is each event's peer"
    );
    assert_eq!(of(Role::Directory { key: "k".into() }), None);
}

#[test]
fn a_restart_records_the_departures_of_the_peers_whose_sockets_went_silently() {
    let mut o = Object::new();
    o.record(T0, What::RoomStarted { capacity: 3 });
    o.record(T0, joined("alice", 1));
    o.record(T0, joined("bob", 2));
    o.record(T0, joined("carol", 3));
    o.record(
        T0,
        What::PeerLeft {
            peer: "bob",
            reason: "leave",
            peers: 2,
        },
    );
    // The object comes back after a restart: storage says alice and carol are in.
    let mut restarted = o.storage.restore();
    assert_eq!(restarted.seated(), ["alice", "carol"]);
    // An eviction kept carol's socket; alice's went without a close event.
    let ops = restarted.reconcile(T0 + 1, &["carol"]);
    o.storage.apply(&ops);
    let mut restarted = o.storage.restore();
    assert_eq!(restarted.seated(), ["carol"]);
    assert!(
        restarted.reconcile(T0 + 2, &["carol"]).is_empty(),
        "nothing more to say"
    );
    // Then carol's goes too: her departure, and the session's end.
    o.storage.apply(&restarted.reconcile(T0 + 3, &[]));
    let mut outbox = o.storage.restore();
    let mut kinds = Vec::new();
    let mut now = T0 + 10;
    while let Some(d) = outbox.begin(now) {
        let data = data_of(&d.body);
        kinds.push((
            data["seq"].as_u64().unwrap(),
            data["peer"].as_str().map(str::to_owned),
            data["reason"].as_str().map(str::to_owned),
        ));
        outbox.delivered(d.key, now);
        now += 1;
    }
    let left = |seq, peer: &str| (seq, Some(peer.to_owned()), Some("disconnect".to_owned()));
    assert_eq!(
        &kinds[5..],
        [left(6, "alice"), left(7, "carol"), (8, None, None)]
    );
    assert!(outbox.seated().is_empty());
    // Nobody in the room and nobody the events left in it: nothing to record.
    assert!(outbox.reconcile(now, &[]).is_empty());
}

#[test]
fn the_shared_alarm_wants_no_sweep_after_one_fired_until_the_room_asks_again() {
    let mut o = Object::new();
    let mut alarm = SharedAlarm::default();
    assert_eq!(alarm.at(&o.outbox), None);
    alarm.sweep(Some(T0 + 30_000));
    assert_eq!(alarm.at(&o.outbox), Some(T0 + 30_000));
    o.record(T0, What::RoomStarted { capacity: 2 });
    assert_eq!(alarm.at(&o.outbox), Some(T0), "the delivery is due first");
    // The sweep fires and the room, now of one peer, asks for no other: only the outbox's
    // wake is left (a past sweep time kept here made the alarm fire again at once, for ever).
    let d = o.outbox.begin(T0).unwrap();
    o.delivered(d.key, T0 + 1);
    alarm.fired();
    assert_eq!(alarm.at(&o.outbox), None);
    alarm.sweep(Some(T0 + 60_000));
    assert_eq!(alarm.at(&o.outbox), Some(T0 + 60_000));
    alarm.sweep(None);
    assert_eq!(alarm.at(&o.outbox), None);
    assert_eq!(SharedAlarm::restored(Some(5)).at(&o.outbox), Some(5));
}
