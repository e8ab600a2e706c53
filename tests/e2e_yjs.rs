//! End to end: the y-webrtc signaling endpoint `/yjs/{namespace}` (`docs/yjs.md`) frame by
//! frame, as y-webrtc's own `bin/server.js` answers y-webrtc, plus what edge-signal adds: error
//! frames, limits, an origin list, hibernation. One server for the binary, with small yjs limits
//! (3 sockets a namespace, 2 topics a socket, 16-byte topics), a small frame and byte budget and
//! an origin allow-list; the tests send no `Origin` (allowed) unless they test origins, and each
//! uses namespaces of its own, so they run concurrently. Signed joins are `tests/e2e_yjs_signed.rs`.

mod common;

use std::time::{Duration, Instant};

use common::{server_with, standalone_workerd, unique_room, Client, Event, Server, RECV_TIMEOUT};
use futures_util::SinkExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// The one origin of the allow-list.
const APP: &str = "https://app.example";
const MAX_CONNECTIONS: usize = 3;
const MAX_TOPIC_BYTES: usize = 16;
/// Frames a socket may send at once (`RATE_LIMIT_BURST`), refilled at `RATE_LIMIT_PER_SEC`.
const FRAME_BURST: usize = 100;
const FRAMES_PER_SEC: usize = 20;
/// Bytes a socket may have delivered at once (`RATE_LIMIT_BYTES_BURST`, at least
/// `MAX_MESSAGE_BYTES`), refilled at `RATE_LIMIT_BYTES_PER_SEC`.
const BYTES_BURST: usize = 200_000;
const BYTES_PER_SEC: usize = 20_000;

fn server() -> &'static Server {
    server_with(&[
        ("YJS_MAX_CONNECTIONS", "3"),
        ("YJS_MAX_TOPICS", "2"),
        ("YJS_MAX_TOPIC_BYTES", "16"),
        ("RATE_LIMIT_BURST", "100"),
        ("RATE_LIMIT_PER_SEC", "20"),
        ("RATE_LIMIT_BYTES_BURST", "200000"),
        ("RATE_LIMIT_BYTES_PER_SEC", "20000"),
        ("ALLOWED_ORIGINS", APP),
    ])
}

/// A namespace no other test uses.
fn ns() -> String {
    unique_room("yjs")
}

/// Not the exact bytes of lib0's ping, so it reaches the namespace's object, which answers.
const PING: &str = r#"{ "type": "ping" }"#;
/// lib0's ping, byte for byte: the runtime answers it without waking the object.
const EXACT_PING: &str = r#"{"type":"ping"}"#;
const PONG: &str = r#"{"type":"pong"}"#;

/// A socket on `/yjs/{ns}` with extra request headers; the upgrade must be accepted (a refused
/// socket is accepted too, then sent an `error` and closed).
async fn open_with(s: &Server, ns: &str, headers: &[(&str, &str)]) -> Client {
    s.connect_path(&format!("/yjs/{ns}"), headers)
        .await
        .map(|(c, _)| c)
        .unwrap_or_else(|e| panic!("/yjs/{ns}: the upgrade was refused over HTTP: {e:?}"))
}

/// A socket on `/yjs/{ns}`, seated (y-webrtc's server sends nothing on connect: a round trip
/// shows the socket was not refused).
async fn open(s: &Server, ns: &str) -> Client {
    let mut c = open_with(s, ns, &[]).await;
    sync(&mut c).await;
    c
}

/// A round trip through the namespace's object: every frame this socket sent before has been
/// handled, and every frame the object sent it before has been read (none may be pending: the
/// next frame must be the pong).
async fn sync(c: &mut Client) {
    c.send_text(PING).await;
    let got = c.recv_text().await;
    assert_eq!(got, PONG, "expected nothing before the pong");
}

/// After [`sync`] on every sender: `c` has been sent nothing.
async fn nothing_for(c: &mut Client) {
    sync(c).await;
}

async fn subscribe(c: &mut Client, topics: &[&str]) {
    c.send_json(json!({"type": "subscribe", "topics": topics}))
        .await;
    sync(c).await;
}

async fn unsubscribe(c: &mut Client, topics: &[&str]) {
    c.send_json(json!({"type": "unsubscribe", "topics": topics}))
        .await;
    sync(c).await;
}

/// A publish as y-webrtc writes it, `data` as raw JSON text.
fn publish_frame(topic: &str, data: &str) -> String {
    format!(
        r#"{{"type":"publish","topic":{},"data":{data}}}"#,
        Value::from(topic)
    )
}

/// What a subscriber gets for `sent`: the sender's text with `,"clients":N` before its closing
/// brace.
fn delivered(sent: &str, clients: usize) -> String {
    let end = sent.rfind('}').expect("a JSON object");
    format!("{},\"clients\":{clients}{}", &sent[..end], &sent[end..])
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("server sent non-JSON {text:?}: {e}"))
}

/// The next frame is an `error` with `code`.
async fn expect_error(c: &mut Client, code: &str, what: &str) {
    let v = c.recv().await;
    assert_eq!(v["type"], "error", "{what}: {v}");
    assert_eq!(v["code"], code, "{what}: {v}");
    assert!(v["message"].is_string(), "{what}: {v}");
}

/// A refused socket: one `error` with `code`, then a close with `close`.
async fn refused(c: &mut Client, code: &str, close: u16) {
    expect_error(c, code, "the refusal").await;
    assert_eq!(c.recv_close().await, close, "the refusal of {code}");
}

/// Sends a frame without waiting on the result: the server may close the socket part-way.
async fn push(c: &mut Client, text: String) {
    let _ = tokio::time::timeout(RECV_TIMEOUT, c.ws.send(Message::Text(text))).await;
}

/// Publishes probes on `topic` from `c`, a subscriber of it, until the copy `c` gets back says
/// `clients` is `n` (departures land asynchronously); returns how many probes were sent, which
/// every other subscriber of `topic` was sent too.
async fn publish_until_clients(c: &mut Client, topic: &str, n: u64) -> usize {
    let deadline = Instant::now() + RECV_TIMEOUT;
    let mut sent = 0;
    loop {
        let frame = publish_frame(topic, &format!(r#"{{"probe":{sent}}}"#));
        c.send_text(frame.clone()).await;
        sent += 1;
        let got = c.recv_text().await;
        let v = parse(&got);
        assert_eq!(v["data"]["probe"], sent - 1, "{got}");
        if v["clients"] == n {
            assert_eq!(got, delivered(&frame, n as usize));
            return sent;
        }
        assert!(
            Instant::now() < deadline,
            "{topic} still has {} subscribers, expected {n}",
            v["clients"]
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `c` gets the `n` probes of [`publish_until_clients`].
async fn drain_probes(c: &mut Client, n: usize) {
    for i in 0..n {
        let v = c.recv().await;
        assert_eq!(v["data"]["probe"], i, "{v}");
    }
}

// --- The protocol ------------------------------------------------------------------------

/// A publish goes to every subscriber of its topic, the sender included when it is one, as the
/// sender's text with `,"clients":N` (the topic's subscriber count) spliced before the closing
/// brace; one sender's publishes arrive in order.
#[tokio::test]
async fn a_publish_reaches_every_subscriber_the_sender_included_with_clients_appended() {
    let s = server();
    let n = ns();
    let mut a = open(s, &n).await;
    let mut b = open(s, &n).await;
    subscribe(&mut a, &["my-document"]).await;
    subscribe(&mut b, &["my-document"]).await;
    // What y-webrtc publishes when it announces itself.
    let sent = publish_frame(
        "my-document",
        r#"{"type":"announce","from":"8f0e2c1a-4b7d-4f1e-9a3c-1d2e3f4a5b6c"}"#,
    );
    a.send_text(sent.clone()).await;
    assert_eq!(a.recv_text().await, delivered(&sent, 2));
    assert_eq!(b.recv_text().await, delivered(&sent, 2));
    let sent = publish_frame("my-document", r#"{"type":"signal","to":"a","signal":{}}"#);
    b.send_text(sent.clone()).await;
    assert_eq!(b.recv_text().await, delivered(&sent, 2));
    assert_eq!(a.recv_text().await, delivered(&sent, 2));
    // Order from one sender.
    for i in 0..30 {
        a.send_text(publish_frame("my-document", &i.to_string()))
            .await;
    }
    for i in 0..30 {
        let want = delivered(&publish_frame("my-document", &i.to_string()), 2);
        assert_eq!(b.recv_text().await, want);
        assert_eq!(a.recv_text().await, want);
    }
}

/// `clients` is the topic's subscriber count at the time of the publish: it follows
/// subscribes, unsubscribes and departures.
#[tokio::test]
async fn clients_counts_the_topics_subscribers_as_they_come_and_go() {
    let s = server();
    let n = ns();
    let mut a = open(s, &n).await;
    let mut b = open(s, &n).await;
    let mut c = open(s, &n).await;
    subscribe(&mut a, &["t"]).await;
    let sent = publish_frame("t", "1");
    a.send_text(sent.clone()).await;
    assert_eq!(a.recv_text().await, delivered(&sent, 1));

    subscribe(&mut b, &["t"]).await;
    let sent = publish_frame("t", "2");
    a.send_text(sent.clone()).await;
    assert_eq!(a.recv_text().await, delivered(&sent, 2));
    assert_eq!(b.recv_text().await, delivered(&sent, 2));

    subscribe(&mut c, &["t"]).await;
    let sent = publish_frame("t", "3");
    b.send_text(sent.clone()).await;
    for x in [&mut a, &mut b, &mut c] {
        assert_eq!(x.recv_text().await, delivered(&sent, 3));
    }

    unsubscribe(&mut c, &["t"]).await;
    let sent = publish_frame("t", "4");
    a.send_text(sent.clone()).await;
    assert_eq!(a.recv_text().await, delivered(&sent, 2));
    assert_eq!(b.recv_text().await, delivered(&sent, 2));
    sync(&mut a).await;
    nothing_for(&mut c).await;

    // b goes: a is alone in the topic again.
    b.close().await;
    publish_until_clients(&mut a, "t", 1).await;
    nothing_for(&mut c).await;
}

/// The sender need not subscribe to publish (y-webrtc's server): the subscribers get it, and a
/// sender that is not a subscriber gets nothing back.
#[tokio::test]
async fn a_sender_that_is_not_subscribed_can_publish_and_hears_nothing_back() {
    let s = server();
    let n = ns();
    let mut a = open(s, &n).await;
    let mut b = open(s, &n).await;
    subscribe(&mut b, &["t"]).await;
    let sent = publish_frame("t", r#"{"from":"a"}"#);
    a.send_text(sent.clone()).await;
    assert_eq!(b.recv_text().await, delivered(&sent, 1));
    // The pong is the next thing a gets: no copy of its publish, no error.
    sync(&mut a).await;
}

/// A publish to a topic nobody subscribes to is dropped, with no answer, and reaches nobody.
#[tokio::test]
async fn a_publish_to_a_topic_with_no_subscribers_is_dropped_silently() {
    let s = server();
    let n = ns();
    let mut a = open(s, &n).await;
    let mut b = open(s, &n).await;
    subscribe(&mut b, &["other"]).await;
    a.send_text(publish_frame("nobody", r#"{"x":1}"#)).await;
    sync(&mut a).await;
    nothing_for(&mut b).await;
    // Nor is a topic made by publishing to it: a later subscriber hears nothing of it.
    subscribe(&mut b, &["nobody"]).await;
    let sent = publish_frame("nobody", "2");
    a.send_text(sent.clone()).await;
    assert_eq!(b.recv_text().await, delivered(&sent, 1));
}

/// A `clients` member the sender wrote is dropped: the delivered frame has one `clients`, the
/// server's count, at the end, wherever the sender's was; the rest of the frame is kept. A
/// `clients` inside `data` is data, and kept.
#[tokio::test]
async fn a_clients_member_from_the_sender_is_replaced_by_the_servers_count() {
    let s = server();
    let n = ns();
    let mut a = open(s, &n).await;
    let mut b = open(s, &n).await;
    subscribe(&mut a, &["t"]).await;
    subscribe(&mut b, &["t"]).await;
    for sent in [
        r#"{"type":"publish","topic":"t","data":{"n":1},"clients":99}"#,
        r#"{"type":"publish","topic":"t","clients":99,"data":{"n":1}}"#,
        r#"{"clients":"many","type":"publish","topic":"t","data":{"n":1}}"#,
        r#"{"type":"publish","clients":{"a":[1,2]},"topic":"t","data":{"n":1}}"#,
    ] {
        a.send_text(sent).await;
        for x in [&mut a, &mut b] {
            let got = x.recv_text().await;
            assert_eq!(got.matches(r#""clients""#).count(), 1, "{sent} -> {got}");
            assert!(got.ends_with(r#","clients":2}"#), "{sent} -> {got}");
            assert_eq!(
                parse(&got),
                json!({"type": "publish", "topic": "t", "data": {"n": 1}, "clients": 2}),
                "{sent} -> {got}"
            );
        }
    }
    // In data, it is the sender's.
    let sent = publish_frame("t", r#"{"clients":5}"#);
    a.send_text(sent.clone()).await;
    assert_eq!(a.recv_text().await, delivered(&sent, 2));
    assert_eq!(b.recv_text().await, delivered(&sent, 2));
}

/// `data` is forwarded as the JSON text it arrived as: numbers beyond any float, escapes,
/// whitespace, nesting, a password room's encrypted string. So is the rest of the frame: members
/// y-webrtc does not send, their order, the sender's spacing.
#[tokio::test]
async fn data_and_the_rest_of_the_frame_pass_through_byte_for_byte() {
    let s = server();
    let n = ns();
    let mut a = open(s, &n).await;
    let mut b = open(s, &n).await;
    subscribe(&mut b, &["doc"]).await;
    let datas = [
        "12345678901234567890123".to_owned(),
        "-0.000000000000000000000000000001e-400".to_owned(),
        r#"{"n":12345678901234567890123,"f":1e400,"z":-0,"x":1.50}"#.to_owned(),
        r#""\ud83d\ude00 \u00e9 \"quoted\" \\ \/ \n \u0000""#.to_owned(),
        r#"{"type":"signal","to":"b","from":"a","token":0.123,"signal":{"type":"offer","sdp":"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"}}"#.to_owned(),
        r#"{ "a" : [ 1 , { "b" : null } , [ ] , { } ] ,	"c" : true }"#.to_owned(),
        r#"{"a":{"b":{"c":{"d":{"e":{"f":[[[["deep"]]]]}}}}}}"#.to_owned(),
        // y-webrtc's password rooms: data is AES-GCM output, base64.
        r#""AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLi8wMTIzNDU2Nzg5Ojs8PT4/QA+/=""#.to_owned(),
        "[]".to_owned(),
        "null".to_owned(),
        "\"é ✓ 😀\"".to_owned(),
    ];
    for data in &datas {
        let sent = publish_frame("doc", data);
        a.send_text(sent.clone()).await;
        assert_eq!(b.recv_text().await, delivered(&sent, 1), "{data}");
    }
    for sent in [
        // Members y-webrtc does not send are the sender's, kept where it put them.
        r#"{"type":"publish","topic":"doc","data":1,"extra":[1,2]}"#,
        r#"{"topic":"doc","data":{"x":1},"type":"publish"}"#,
        // Its spacing too: the count goes before the closing brace.
        r#"{ "type" : "publish" , "topic" : "doc" , "data" : { "x" : 1 } }"#,
        "{\n  \"type\": \"publish\",\n  \"topic\": \"doc\",\n  \"data\": 2\n}",
        // A topic written with escapes is the topic it decodes to.
        r#"{"type":"publish","topic":"\u0064oc","data":3}"#,
    ] {
        a.send_text(sent).await;
        assert_eq!(b.recv_text().await, delivered(sent, 1), "{sent}");
    }
    sync(&mut a).await;
}

/// `{"type":"ping"}` gets `{"type":"pong"}`: the exact bytes from the runtime's auto-response,
/// any other spelling of a ping from the namespace's object.
#[tokio::test]
async fn pings_are_answered_with_pong_exact_or_not() {
    let s = server();
    let n = ns();
    let mut a = open(s, &n).await;
    subscribe(&mut a, &["t"]).await;
    for _ in 0..3 {
        a.send_text(EXACT_PING).await;
        assert_eq!(a.recv_text().await, PONG);
    }
    for ping in [
        r#"{ "type": "ping" }"#,
        r#"{"type":"ping" }"#,
        r#" {"type":"ping"}"#,
        "{\"type\":\n\"ping\"}",
        r#"{"type":"\u0070ing"}"#,
    ] {
        a.send_text(ping).await;
        assert_eq!(a.recv_text().await, PONG, "{ping:?}");
    }
    // And the socket's subscriptions are untouched.
    let sent = publish_frame("t", "1");
    a.send_text(sent.clone()).await;
    assert_eq!(a.recv_text().await, delivered(&sent, 1));
}

/// Unsubscribing stops deliveries of that topic (for good, until a new subscribe), and leaves
/// the socket's other topics; unsubscribing a topic the socket is not in is harmless.
#[tokio::test]
async fn unsubscribe_stops_deliveries_of_that_topic_only() {
    let s = server();
    let n = ns();
    let mut a = open(s, &n).await;
    let mut b = open(s, &n).await;
    subscribe(&mut a, &["x", "y"]).await;
    subscribe(&mut b, &["x"]).await;
    unsubscribe(&mut a, &["x"]).await;
    let sent = publish_frame("x", "1");
    b.send_text(sent.clone()).await;
    assert_eq!(b.recv_text().await, delivered(&sent, 1));
    nothing_for(&mut a).await;
    let sent = publish_frame("y", "2");
    b.send_text(sent.clone()).await;
    assert_eq!(a.recv_text().await, delivered(&sent, 1));
    // Harmless: a topic the socket never had, and one nobody has; a repeat.
    unsubscribe(&mut a, &["x", "never", "x"]).await;
    let sent = publish_frame("y", "3");
    b.send_text(sent.clone()).await;
    assert_eq!(a.recv_text().await, delivered(&sent, 1));
    // Back in.
    subscribe(&mut a, &["x"]).await;
    let sent = publish_frame("x", "4");
    b.send_text(sent.clone()).await;
    assert_eq!(b.recv_text().await, delivered(&sent, 2));
    assert_eq!(a.recv_text().await, delivered(&sent, 2));
    // Subscribing twice counts once.
    subscribe(&mut a, &["x"]).await;
    let sent = publish_frame("x", "5");
    b.send_text(sent.clone()).await;
    assert_eq!(b.recv_text().await, delivered(&sent, 2));
    assert_eq!(a.recv_text().await, delivered(&sent, 2));
    sync(&mut a).await;
}

/// One socket holds several topics (subscribed in one frame), each publish goes to its own
/// topic's subscribers only, with that topic's count.
#[tokio::test]
async fn several_topics_on_one_socket_and_topics_are_apart() {
    let s = server();
    let n = ns();
    let mut a = open(s, &n).await;
    let mut b = open(s, &n).await;
    let mut c = open(s, &n).await;
    subscribe(&mut a, &["x", "y"]).await;
    subscribe(&mut b, &["x"]).await;
    subscribe(&mut c, &["z"]).await;
    let sent_x = publish_frame("x", r#""for x""#);
    let sent_y = publish_frame("y", r#""for y""#);
    c.send_text(sent_x.clone()).await;
    c.send_text(sent_y.clone()).await;
    assert_eq!(a.recv_text().await, delivered(&sent_x, 2));
    assert_eq!(a.recv_text().await, delivered(&sent_y, 1));
    assert_eq!(b.recv_text().await, delivered(&sent_x, 2));
    sync(&mut c).await;
    nothing_for(&mut b).await;
    // z is c's alone.
    let sent_z = publish_frame("z", r#""for z""#);
    a.send_text(sent_z.clone()).await;
    assert_eq!(c.recv_text().await, delivered(&sent_z, 1));
    sync(&mut a).await;
    nothing_for(&mut b).await;
}

/// The same topic name in two namespaces is two topics: publishes never cross, and each
/// namespace counts its own subscribers.
#[tokio::test]
async fn namespaces_are_apart() {
    let s = server();
    let (n1, n2) = (ns(), ns());
    let mut a1 = open(s, &n1).await;
    let mut b1 = open(s, &n1).await;
    let mut a2 = open(s, &n2).await;
    let mut b2 = open(s, &n2).await;
    for x in [&mut a1, &mut b1, &mut a2] {
        subscribe(x, &["shared"]).await;
    }
    let sent = publish_frame("shared", r#""in 1""#);
    b1.send_text(sent.clone()).await;
    assert_eq!(a1.recv_text().await, delivered(&sent, 2));
    assert_eq!(b1.recv_text().await, delivered(&sent, 2));
    let sent = publish_frame("shared", r#""in 2""#);
    b2.send_text(sent.clone()).await;
    assert_eq!(a2.recv_text().await, delivered(&sent, 1));
    sync(&mut b2).await;
    sync(&mut b1).await;
    nothing_for(&mut a1).await;
}

/// A socket that goes, with a close frame or without one, leaves all its topics: the others'
/// `clients` drops.
#[tokio::test]
async fn a_socket_that_closes_leaves_its_topics() {
    let s = server();
    let n = ns();
    let mut a = open(s, &n).await;
    let mut b = open(s, &n).await;
    let mut c = open(s, &n).await;
    subscribe(&mut a, &["t", "u"]).await;
    subscribe(&mut b, &["t"]).await;
    subscribe(&mut c, &["t", "u"]).await;
    let sent = publish_frame("u", "0");
    a.send_text(sent.clone()).await;
    assert_eq!(a.recv_text().await, delivered(&sent, 2));
    assert_eq!(c.recv_text().await, delivered(&sent, 2));
    // c closes properly: t has 2 subscribers, u 1.
    c.close().await;
    let probes = publish_until_clients(&mut a, "t", 2).await;
    drain_probes(&mut b, probes).await;
    publish_until_clients(&mut a, "u", 1).await;
    // b's connection just drops (no close frame): t has a alone.
    drop(b);
    publish_until_clients(&mut a, "t", 1).await;
}

// --- Bad frames --------------------------------------------------------------------------

/// Every bad frame gets `{"type":"error","code":"bad_request",...}` and the socket stays open,
/// seated and subscribed; none of them subscribes it or reaches another socket.
#[tokio::test]
async fn bad_frames_get_bad_request_and_the_socket_carries_on() {
    let s = server();
    let n = ns();
    let mut a = open(s, &n).await;
    let mut b = open(s, &n).await;
    subscribe(&mut a, &["mine"]).await;
    subscribe(&mut b, &["t"]).await;
    for bad in [
        // Not JSON.
        "not json",
        "{",
        r#"{"type":"publish","topic":"t","data":1"#,
        r#"{"type":"publish","topic":"t","data":1}}"#,
        r#"{"type":"publish","topic":"t","data":01}"#,
        "",
        // Not an object.
        "[1,2]",
        r#"[{"type":"publish","topic":"t","data":1}]"#,
        r#""ping""#,
        "42",
        "null",
        // No type.
        "{}",
        r#"{"topics":["t"]}"#,
        r#"{"topic":"t","data":1}"#,
        // A type y-webrtc's server does not know.
        r#"{"type":"what"}"#,
        r#"{"type":"Subscribe","topics":["t"]}"#,
        r#"{"type":"PUBLISH","topic":"t","data":1}"#,
        // topics not an array.
        r#"{"type":"subscribe","topics":"t"}"#,
        r#"{"type":"subscribe","topics":{"0":"t"}}"#,
        r#"{"type":"subscribe","topics":7}"#,
        r#"{"type":"unsubscribe","topics":"mine"}"#,
        // A publish without a topic, or whose topic is not a string.
        r#"{"type":"publish","data":1}"#,
        r#"{"type":"publish","topic":1,"data":1}"#,
        r#"{"type":"publish","topic":null,"data":1}"#,
        r#"{"type":"publish","topic":["t"],"data":1}"#,
        r#"{"type":"publish","topic":{"t":1},"data":1}"#,
    ] {
        a.send_text(bad).await;
        expect_error(&mut a, "bad_request", bad).await;
    }
    sync(&mut a).await;
    nothing_for(&mut b).await;
    // Still subscribed to its topic, and not to t (b is alone there).
    let sent = publish_frame("mine", "1");
    b.send_text(sent.clone()).await;
    assert_eq!(a.recv_text().await, delivered(&sent, 1));
    let sent = publish_frame("t", "2");
    a.send_text(sent.clone()).await;
    assert_eq!(b.recv_text().await, delivered(&sent, 1));
    sync(&mut a).await;
}

/// Entries of `topics` that are not strings are ignored, as y-webrtc's server does, and the
/// strings beside them subscribed, with no error.
#[tokio::test]
async fn non_string_entries_of_topics_are_ignored_and_the_others_added() {
    let s = server();
    let n = ns();
    let mut a = open(s, &n).await;
    let mut b = open(s, &n).await;
    a.send_text(r#"{"type":"subscribe","topics":[1,"x",null,{"t":"y"},["y"],true,"y",2.5]}"#)
        .await;
    sync(&mut a).await; // no error before the pong
    for topic in ["x", "y"] {
        let sent = publish_frame(topic, "1");
        b.send_text(sent.clone()).await;
        assert_eq!(a.recv_text().await, delivered(&sent, 1));
    }
    // The same for unsubscribe.
    a.send_text(r#"{"type":"unsubscribe","topics":[false,"x",{}]}"#)
        .await;
    sync(&mut a).await;
    b.send_text(publish_frame("x", "2")).await;
    sync(&mut b).await;
    nothing_for(&mut a).await;
}

/// Frames the doc names no answer for (a type that is not a string, a subscribe without
/// `topics`): whatever the answer, it is at most an `error`, and the socket carries on.
#[tokio::test]
async fn other_odd_frames_get_at_most_an_error_and_the_socket_carries_on() {
    let s = server();
    let n = ns();
    let mut a = open(s, &n).await;
    let mut b = open(s, &n).await;
    subscribe(&mut a, &["t"]).await;
    for odd in [
        r#"{"type":1}"#,
        r#"{"type":null}"#,
        r#"{"type":["publish"],"topic":"t","data":1}"#,
        r#"{"type":"subscribe"}"#,
        r#"{"type":"subscribe","topics":null}"#,
        r#"{"type":"subscribe","topics":[]}"#,
        r#"{"type":"unsubscribe"}"#,
        r#"{"type":"unsubscribe","topics":[]}"#,
    ] {
        a.send_text(odd).await;
        a.send_text(PING).await;
        loop {
            let got = a.recv_text().await;
            if got == PONG {
                break;
            }
            let v = parse(&got);
            assert_eq!(v["type"], "error", "{odd} -> {got}");
        }
    }
    let sent = publish_frame("t", "1");
    b.send_text(sent.clone()).await;
    assert_eq!(a.recv_text().await, delivered(&sent, 1));
}

/// A binary frame closes the socket with 1003; it leaves its topics, and the others carry on.
#[tokio::test]
async fn a_binary_frame_closes_the_socket_with_1003() {
    let s = server();
    let n = ns();
    let mut a = open(s, &n).await;
    let mut b = open(s, &n).await;
    subscribe(&mut a, &["t"]).await;
    subscribe(&mut b, &["t"]).await;
    a.send_binary(br#"{"type":"publish","topic":"t","data":1}"#.to_vec())
        .await;
    assert_eq!(a.recv_close().await, 1003);
    publish_until_clients(&mut b, "t", 1).await;
}

/// A frame over `MAX_MESSAGE_BYTES` (65,536) closes the socket with 1009 and is delivered to
/// nobody; one under it goes through. The closed socket leaves its topics.
#[tokio::test]
async fn a_frame_over_max_message_bytes_closes_the_socket_with_1009() {
    let s = server();
    let n = ns();
    let mut a = open(s, &n).await;
    let mut b = open(s, &n).await;
    subscribe(&mut a, &["t"]).await;
    subscribe(&mut b, &["t"]).await;
    let sent = publish_frame("t", &format!(r#""{}""#, "x".repeat(60_000)));
    a.send_text(sent.clone()).await;
    assert_eq!(a.recv_text().await, delivered(&sent, 2));
    assert_eq!(b.recv_text().await, delivered(&sent, 2));
    push(
        &mut a,
        publish_frame("t", &format!(r#""{}""#, "x".repeat(70_000))),
    )
    .await;
    assert_eq!(a.recv_close().await, 1009);
    // The first thing b gets is its own probe: the oversized frame went nowhere.
    publish_until_clients(&mut b, "t", 1).await;
}

// --- Limits ------------------------------------------------------------------------------

/// Waits until a socket on `ns` is seated (not refused `room_full`; departures land
/// asynchronously).
async fn open_when_seat_free(s: &Server, ns: &str) -> Client {
    let deadline = Instant::now() + RECV_TIMEOUT;
    loop {
        let mut c = open_with(s, ns, &[]).await;
        match c.next_event_within(Duration::from_millis(1000)).await {
            None => {
                sync(&mut c).await;
                return c;
            }
            Some(Event::Text(t)) => {
                assert_eq!(parse(&t)["code"], "room_full", "{t}");
                assert_eq!(c.recv_close().await, 4001);
            }
            Some(other) => panic!("expected room_full or nothing, got {other:?}"),
        }
        assert!(Instant::now() < deadline, "no seat came free on {ns}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `YJS_MAX_CONNECTIONS` sockets a namespace: the next one gets `error` `room_full` and close
/// 4001, and the seated ones never notice; another namespace is not affected; a departure frees
/// a seat.
#[tokio::test]
async fn a_socket_past_max_connections_is_refused_room_full_with_4001() {
    let s = server();
    let n = ns();
    let mut seated = Vec::new();
    for _ in 0..MAX_CONNECTIONS {
        seated.push(open(s, &n).await);
    }
    for x in seated.iter_mut() {
        subscribe(x, &["t"]).await;
    }
    let mut extra = open_with(s, &n, &[]).await;
    refused(&mut extra, "room_full", 4001).await;
    // Another namespace has its own seats.
    let other = ns();
    let mut elsewhere = Vec::new();
    for _ in 0..MAX_CONNECTIONS {
        elsewhere.push(open(s, &other).await);
    }
    // The seated ones carry on, three in the topic.
    let sent = publish_frame("t", "1");
    seated[0].send_text(sent.clone()).await;
    for x in seated.iter_mut() {
        assert_eq!(x.recv_text().await, delivered(&sent, MAX_CONNECTIONS));
    }
    // One goes; a newcomer gets its seat.
    seated.pop().unwrap().close().await;
    let mut newcomer = open_when_seat_free(s, &n).await;
    subscribe(&mut newcomer, &["t"]).await;
    let sent = publish_frame("t", "2");
    newcomer.send_text(sent.clone()).await;
    assert_eq!(newcomer.recv_text().await, delivered(&sent, 3));
    for x in seated.iter_mut() {
        assert_eq!(x.recv_text().await, delivered(&sent, 3));
    }
    // Full again.
    let mut extra = open_with(s, &n, &[]).await;
    refused(&mut extra, "room_full", 4001).await;
}

/// `YJS_MAX_TOPICS` topics a socket: past it, the topic is not added (`error`
/// `too_many_topics`) and those before it are; an unsubscribe frees a place; subscribing again
/// to a topic the socket is in adds nothing and costs nothing.
#[tokio::test]
async fn a_socket_holds_at_most_max_topics() {
    let s = server();
    let n = ns();
    let mut a = open(s, &n).await;
    let mut b = open(s, &n).await;
    a.send_text(r#"{"type":"subscribe","topics":["t1","t2","t3"]}"#)
        .await;
    expect_error(&mut a, "too_many_topics", "a third topic").await;
    sync(&mut a).await;
    for topic in ["t1", "t2"] {
        let sent = publish_frame(topic, "1");
        b.send_text(sent.clone()).await;
        assert_eq!(a.recv_text().await, delivered(&sent, 1), "{topic}");
    }
    // t3 was not added.
    b.send_text(publish_frame("t3", "1")).await;
    sync(&mut b).await;
    nothing_for(&mut a).await;
    // Again, alone in a frame.
    a.send_text(r#"{"type":"subscribe","topics":["t3"]}"#).await;
    expect_error(&mut a, "too_many_topics", "t3 alone").await;
    sync(&mut a).await;
    // Those it holds, again: no error, no second seat in the topic.
    subscribe(&mut a, &["t1", "t2"]).await;
    subscribe(&mut b, &["t1"]).await;
    let sent = publish_frame("t1", "2");
    b.send_text(sent.clone()).await;
    assert_eq!(b.recv_text().await, delivered(&sent, 2));
    assert_eq!(a.recv_text().await, delivered(&sent, 2));
    // An unsubscribe frees a place.
    unsubscribe(&mut a, &["t1"]).await;
    subscribe(&mut a, &["t3"]).await;
    let sent = publish_frame("t3", "3");
    b.send_text(sent.clone()).await;
    assert_eq!(a.recv_text().await, delivered(&sent, 1));
    sync(&mut a).await;
}

/// A topic name over `YJS_MAX_TOPIC_BYTES` (UTF-8 bytes of the name, not characters nor the
/// escaped JSON) is not added, with `error` `bad_request`, and the names beside it are; a
/// publish to one is dropped with `bad_request`. A name of exactly the limit works.
#[tokio::test]
async fn topic_names_over_max_topic_bytes_are_refused_with_bad_request() {
    let s = server();
    let n = ns();
    let mut a = open(s, &n).await;
    let mut b = open(s, &n).await;
    let mut c = open(s, &n).await;
    let ascii_max = "x".repeat(MAX_TOPIC_BYTES);
    let ascii_over = "x".repeat(MAX_TOPIC_BYTES + 1);
    let utf8_max = "é".repeat(MAX_TOPIC_BYTES / 2); // 8 characters, 16 bytes
    let utf8_over = format!("{utf8_max}a"); // 9 characters, 17 bytes
    subscribe(&mut b, &[&ascii_over[..MAX_TOPIC_BYTES]]).await; // b is in the truncation
    for long in [&ascii_over, &utf8_over] {
        a.send_json(json!({"type": "subscribe", "topics": [long]}))
            .await;
        expect_error(&mut a, "bad_request", long).await;
    }
    sync(&mut a).await;
    // Beside a name that fits: that one is added.
    c.send_json(json!({"type": "subscribe", "topics": [ascii_over, "fits"]}))
        .await;
    expect_error(&mut c, "bad_request", "a long name beside one that fits").await;
    sync(&mut c).await;
    // A publish to a long name: bad_request, and delivered to nobody (not to b, whose topic is
    // its first 16 bytes).
    for long in [&ascii_over, &utf8_over] {
        b.send_text(publish_frame(long, "1")).await;
        expect_error(&mut b, "bad_request", long).await;
    }
    sync(&mut b).await;
    nothing_for(&mut a).await;
    nothing_for(&mut c).await;
    // a had no topic added: it can take two of exactly the limit.
    subscribe(&mut a, &[ascii_max.as_str(), utf8_max.as_str()]).await;
    let sent = publish_frame(&ascii_max, "2");
    c.send_text(sent.clone()).await;
    assert_eq!(a.recv_text().await, delivered(&sent, 2));
    assert_eq!(b.recv_text().await, delivered(&sent, 2));
    // The UTF-8 one, written escaped (48 characters of JSON for 16 bytes).
    let sent = format!(
        r#"{{"type":"publish","topic":"{}","data":3}}"#,
        "\\u00e9".repeat(MAX_TOPIC_BYTES / 2)
    );
    c.send_text(sent.clone()).await;
    assert_eq!(a.recv_text().await, delivered(&sent, 1));
    let sent = publish_frame("fits", "4");
    a.send_text(sent.clone()).await;
    assert_eq!(c.recv_text().await, delivered(&sent, 1));
    sync(&mut a).await;
}

/// A socket's frames are held to `RATE_LIMIT_BURST` at once: past it each frame is dropped with
/// `error` `rate_limited`, and a flood that goes far over is closed with 4006. The subscriber
/// gets the burst and no more than the refill, in order, and carries on.
#[tokio::test]
async fn a_flood_of_frames_is_rate_limited_then_closed_with_4006() {
    let s = server();
    let n = ns();
    let mut a = open(s, &n).await; // not subscribed: it gets nothing but errors
    let mut b = open(s, &n).await;
    subscribe(&mut b, &["t"]).await;
    let started = Instant::now();
    for i in 0..4 * FRAME_BURST {
        push(&mut a, publish_frame("t", &i.to_string())).await;
    }
    let mut limited = 0;
    loop {
        match a.next_event().await {
            Event::Text(t) => {
                let v = parse(&t);
                assert_eq!(v["type"], "error", "{t}");
                assert_eq!(v["code"], "rate_limited", "{t}");
                limited += 1;
            }
            Event::Close(close) => {
                assert_eq!(close.map(|(code, _)| code), Some(4006));
                break;
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    assert!(limited >= 1, "never answered rate_limited");
    let (mut received, mut last) = (0, None);
    while let Some(event) = b.next_event_within(Duration::from_millis(1000)).await {
        let t = match event {
            Event::Text(t) => t,
            other => panic!("b got {other:?}"),
        };
        let v = parse(&t);
        assert_eq!(v["type"], "publish", "{t}");
        assert_eq!(v["clients"], 1, "{t}");
        // In order, with gaps only where frames were dropped.
        let i = v["data"].as_u64().unwrap();
        assert!(last.is_none_or(|last| i > last), "{t} after {last:?}");
        last = Some(i);
        received += 1;
    }
    let allowed = FRAME_BURST as f64 + FRAMES_PER_SEC as f64 * (elapsed + 1.0);
    assert!(
        received >= FRAME_BURST - 5,
        "the burst was not let through: {received}"
    );
    assert!(
        (received as f64) <= allowed,
        "b got {received} publishes in {elapsed:.1} s"
    );
    // The namespace carries on; a left nothing behind.
    let sent = publish_frame("t", r#""after""#);
    b.send_text(sent.clone()).await;
    assert_eq!(b.recv_text().await, delivered(&sent, 1));
}

/// Delivered bytes are held to `RATE_LIMIT_BYTES_BURST`, a publish counting once per
/// recipient: twelve 15 KB publishes to one subscriber fit; to two they do not (`error`
/// `rate_limited`, dropped), and more of them close the sender with 4006.
#[tokio::test]
async fn delivered_bytes_count_once_per_recipient_against_the_byte_budget() {
    let s = server();
    let payload = format!(r#""{}""#, "y".repeat(15_000));

    // One recipient: 12 × 15 KB = 180 KB, within the 200 KB burst.
    let n = ns();
    let mut a = open(s, &n).await;
    let mut b = open(s, &n).await;
    subscribe(&mut b, &["t"]).await;
    for _ in 0..12 {
        a.send_text(publish_frame("t", &payload)).await;
    }
    sync(&mut a).await; // no rate_limited
    for _ in 0..12 {
        assert_eq!(b.recv().await["clients"], 1);
    }

    // Two recipients: 30 KB a publish; the burst holds six or so.
    let n = ns();
    let mut a = open(s, &n).await;
    let mut b = open(s, &n).await;
    let mut c = open(s, &n).await;
    subscribe(&mut b, &["t"]).await;
    subscribe(&mut c, &["t"]).await;
    let started = Instant::now();
    // About 6 go through, the 7th to 13th are refused, and the 13th or so closes the sender.
    for _ in 0..25 {
        push(&mut a, publish_frame("t", &payload)).await;
    }
    let mut limited = 0;
    loop {
        match a.next_event().await {
            Event::Text(t) => {
                let v = parse(&t);
                assert_eq!(v["code"], "rate_limited", "{t}");
                limited += 1;
            }
            Event::Close(close) => {
                assert_eq!(close.map(|(code, _)| code), Some(4006));
                break;
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    assert!(limited >= 1, "never answered rate_limited");
    let mut counts = Vec::new();
    for x in [&mut b, &mut c] {
        let mut received = 0;
        while let Some(event) = x.next_event_within(Duration::from_millis(1000)).await {
            let t = match event {
                Event::Text(t) => t,
                other => panic!("got {other:?}"),
            };
            assert_eq!(parse(&t)["clients"], 2);
            received += 1;
        }
        counts.push(received);
        let allowed = (BYTES_BURST as f64 + BYTES_PER_SEC as f64 * (elapsed + 1.0)) / 30_000.0;
        assert!(received >= 5, "the burst was not let through: {received}");
        assert!(
            received as f64 <= allowed + 1.0,
            "got {received} publishes of 30 KB in {elapsed:.1} s"
        );
    }
    // A publish is let through or dropped whole.
    assert_eq!(
        counts[0], counts[1],
        "the two subscribers got different publishes"
    );
}

// --- Origins -----------------------------------------------------------------------------

/// With `ALLOWED_ORIGINS`, a socket from another origin is accepted, sent `error`
/// `forbidden_origin` and closed with 1008, taking no seat; the listed origin, the server's own
/// and none (not a browser) are let in.
#[tokio::test]
async fn a_foreign_origin_is_refused_forbidden_origin_with_1008() {
    let s = server();
    let n = ns();
    for foreign in ["https://evil.example", "null", "https://app.example.evil"] {
        let mut c = open_with(s, &n, &[("Origin", foreign)]).await;
        refused(&mut c, "forbidden_origin", 1008).await;
    }
    let own = format!("http://127.0.0.1:{}", s.port);
    let mut seated = Vec::new();
    for origin in [Some(APP), Some(own.as_str()), None] {
        let headers: Vec<(&str, &str)> = origin.map(|o| ("Origin", o)).into_iter().collect();
        let mut c = open_with(s, &n, &headers).await;
        sync(&mut c).await;
        subscribe(&mut c, &["t"]).await;
        seated.push(c);
    }
    // The three refused took no seat: the three allowed hold them all.
    let sent = publish_frame("t", "1");
    seated[0].send_text(sent.clone()).await;
    for c in seated.iter_mut() {
        assert_eq!(c.recv_text().await, delivered(&sent, 3));
    }
}

// --- HTTP --------------------------------------------------------------------------------

/// `GET /api/yjs/{ns}/ice-servers` on an unsigned deployment: 200 `{"iceServers":[...]}`, the
/// configured servers, readable from the app's page on another origin.
#[tokio::test]
async fn the_ice_servers_endpoint_answers_the_configured_servers() {
    let s = server();
    let n = ns();
    let path = format!("/api/yjs/{n}/ice-servers");
    let (status, v) = s.get_json(&path);
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v,
        json!({"iceServers": [{"urls": "stun:stun.cloudflare.com:3478"}]})
    );
    let resp = ureq::get(&s.http_url(&path))
        .set("Origin", APP)
        .call()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let allowed = resp
        .header("access-control-allow-origin")
        .map(str::to_owned);
    assert!(
        allowed.as_deref() == Some("*") || allowed.as_deref() == Some(APP),
        "the page cannot read it: {allowed:?}"
    );
    // A bad namespace.
    assert_eq!(s.get("/api/yjs/a.b/ice-servers").unwrap().0, 400);
}

/// `/yjs/{ns}` takes WebSocket upgrades only (400 otherwise); a namespace is 1 to 64 characters
/// of `A-Z a-z 0-9 _ -`, anything else 400.
#[tokio::test]
async fn the_endpoint_takes_upgrades_on_valid_namespaces_only() {
    let s = server();
    let n = ns();
    let (status, body) = s.get(&format!("/yjs/{n}")).unwrap();
    assert_eq!(status, 400, "{body}");
    let longest = format!("{n}{}", "x".repeat(64 - n.len()));
    let too_long = format!("{longest}x");
    for bad in ["a.b", "a%20b", "a%2Fb", "%C3%A9", too_long.as_str()] {
        let path = format!("/yjs/{bad}");
        assert_eq!(s.get(&path).unwrap().0, 400, "{path}");
        let (status, body) = s.refusal(&path);
        assert_eq!(status, 400, "{path} upgrade: {body}");
    }
    // 64 characters of the alphabet, `_` and `-` among them.
    assert_eq!(longest.len(), 64);
    let mut a = open(s, &longest).await;
    let mut b = open(s, &longest).await;
    subscribe(&mut a, &["t"]).await;
    let sent = publish_frame("t", "1");
    b.send_text(sent.clone()).await;
    assert_eq!(a.recv_text().await, delivered(&sent, 1));
    let mut c = open(s, "A_z-09").await;
    sync(&mut c).await;
}

// --- Hibernation -------------------------------------------------------------------------

/// The log line of a rebuild of the namespace's topics after an eviction.
fn restores(s: &Server, ns: &str) -> usize {
    s.log_count_all(&[r#""event":"topics_restored""#, &format!("{ns}\"")])
}

/// Waits until the log shows one more rebuild of `ns` than `before`.
async fn wait_for_restore(s: &Server, ns: &str, before: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while restores(s, ns) == before {
        assert!(
            Instant::now() < deadline,
            "the namespace's object was never evicted and rebuilt (no topics_restored for {ns} in {})",
            s.log_path.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Under `wrangler dev`, sockets accepted a second apart: the workerd that wrangler ships never
/// evicts an object whose sockets were accepted within moments of each other (workerd issue
/// 6862; see tests/e2e_hibernation.rs). The newest workerd (`make serve`) has no such bug.
async fn apart() {
    if !standalone_workerd() {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Idle past the runtime's eviction of an object with only hibernatable sockets (10 s).
async fn idle_past_eviction() {
    tokio::time::sleep(Duration::from_secs(13)).await;
}

/// The namespace's object is evicted while its sockets stay open; exact pings are answered
/// meanwhile without waking it; the next publish rebuilds the topics from the sockets'
/// attachments (subscribes and unsubscribes alike), and reaches every subscriber with the right
/// `clients`; the seats are counted again.
#[tokio::test]
async fn subscriptions_survive_an_eviction_and_exact_pings_do_not_wake_the_namespace() {
    let s = server();
    let n = ns();
    let mut a = open(s, &n).await;
    subscribe(&mut a, &["doc", "gone"]).await;
    unsubscribe(&mut a, &["gone"]).await;
    subscribe(&mut a, &["side"]).await;
    apart().await;
    let mut b = open(s, &n).await;
    subscribe(&mut b, &["doc"]).await;
    apart().await;
    let mut c = open(s, &n).await; // publishes, subscribes to nothing
    let sent = publish_frame("doc", r#""before""#);
    b.send_text(sent.clone()).await;
    assert_eq!(a.recv_text().await, delivered(&sent, 2));
    assert_eq!(b.recv_text().await, delivered(&sent, 2));
    let before = restores(s, &n);

    idle_past_eviction().await;
    for _ in 0..3 {
        for x in [&mut a, &mut b, &mut c] {
            x.send_text(EXACT_PING).await;
            assert_eq!(x.recv_text().await, PONG);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(restores(s, &n), before, "an exact ping woke the namespace");

    // A publish wakes it: both subscribers of doc, counted.
    let sent = publish_frame("doc", r#"{"type":"announce","from":"b"}"#);
    b.send_text(sent.clone()).await;
    assert_eq!(b.recv_text().await, delivered(&sent, 2));
    assert_eq!(a.recv_text().await, delivered(&sent, 2));
    wait_for_restore(s, &n, before).await;
    // a's other topic came back; the one it left did not.
    let sent = publish_frame("side", "1");
    c.send_text(sent.clone()).await;
    assert_eq!(a.recv_text().await, delivered(&sent, 1));
    c.send_text(publish_frame("gone", "2")).await;
    sync(&mut c).await;
    nothing_for(&mut a).await;
    nothing_for(&mut b).await;
    // Three seats are taken.
    let mut d = open_with(s, &n, &[]).await;
    refused(&mut d, "room_full", 4001).await;
    // And the rebuilt topics change as before.
    unsubscribe(&mut a, &["doc"]).await;
    let sent = publish_frame("doc", "3");
    b.send_text(sent.clone()).await;
    assert_eq!(b.recv_text().await, delivered(&sent, 1));
    nothing_for(&mut a).await;
}

/// A socket that closes while the namespace's object is evicted leaves its topics: the close
/// wakes the object, and the others' `clients` drops.
#[tokio::test]
async fn a_socket_that_closes_during_hibernation_leaves_its_topics() {
    let s = server();
    let n = ns();
    let mut a = open(s, &n).await;
    subscribe(&mut a, &["t"]).await;
    apart().await;
    let mut b = open(s, &n).await;
    subscribe(&mut b, &["t"]).await;
    let sent = publish_frame("t", "0");
    a.send_text(sent.clone()).await;
    assert_eq!(a.recv_text().await, delivered(&sent, 2));
    assert_eq!(b.recv_text().await, delivered(&sent, 2));
    let before = restores(s, &n);

    idle_past_eviction().await;
    b.close().await;
    publish_until_clients(&mut a, "t", 1).await;
    wait_for_restore(s, &n, before).await;
}
