//! End to end: the y-webrtc signaling endpoint (`docs/yjs.md`) on a signed deployment
//! (`AUTH_SECRET`): a socket needs `?token=<jwt>` whose `room` claim is `yjs:<namespace>`, and
//! so does `GET /api/yjs/{namespace}/ice-servers`. The unsigned protocol is `tests/e2e_yjs.rs`.

mod common;

use common::{server_with, unique_room, Client, Server};
use edge_signal::auth::{mint, peerjs_room_claim, Claims};
use serde_json::{json, Value};

const SECRET: &str = "yjs-test-secret";

fn server() -> &'static Server {
    server_with(&[("AUTH_SECRET", SECRET)])
}

fn ns() -> String {
    unique_room("yjss")
}

fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A token with `room` = `claim`, signed with `secret`, valid from `nbf` until `exp`.
fn token_with(secret: &str, claim: &str, peer: Option<&str>, exp: u64, nbf: Option<u64>) -> String {
    mint(
        secret.as_bytes(),
        &Claims {
            room: claim.into(),
            peer: peer.map(str::to_owned),
            exp,
            nbf,
            meta: None,
        },
    )
}

/// The namespace's token: `room` = `yjs:<namespace>`.
fn token(ns: &str) -> String {
    token_with(SECRET, &format!("yjs:{ns}"), None, now_s() + 600, None)
}

const PING: &str = r#"{ "type": "ping" }"#;
const PONG: &str = r#"{"type":"pong"}"#;

/// A socket on `/yjs/{ns}?{query}`; the upgrade is always accepted.
async fn socket(s: &Server, ns: &str, query: &str) -> Client {
    let path = if query.is_empty() {
        format!("/yjs/{ns}")
    } else {
        format!("/yjs/{ns}?{query}")
    };
    s.connect_path(&path, &[])
        .await
        .map(|(c, _)| c)
        .unwrap_or_else(|e| panic!("{path}: the upgrade was refused over HTTP: {e:?}"))
}

/// A round trip through the namespace's object: nothing came before the pong.
async fn sync(c: &mut Client) {
    c.send_text(PING).await;
    assert_eq!(
        c.recv_text().await,
        PONG,
        "expected nothing before the pong"
    );
}

/// A seated socket with the namespace's token.
async fn open(s: &Server, ns: &str) -> Client {
    let mut c = socket(s, ns, &format!("token={}", token(ns))).await;
    sync(&mut c).await;
    c
}

fn delivered(sent: &str, clients: usize) -> String {
    let end = sent.rfind('}').expect("a JSON object");
    format!("{},\"clients\":{clients}{}", &sent[..end], &sent[end..])
}

/// With the namespace's token a socket is seated, subscribes and publishes as unsigned.
#[tokio::test]
async fn a_socket_with_the_namespaces_token_is_seated_and_relays() {
    let s = server();
    let n = ns();
    let mut a = open(s, &n).await;
    let mut b = open(s, &n).await;
    for c in [&mut a, &mut b] {
        c.send_json(json!({"type": "subscribe", "topics": ["doc"]}))
            .await;
        sync(c).await;
    }
    let sent = r#"{"type":"publish","topic":"doc","data":{"type":"announce","from":"a"}}"#;
    a.send_text(sent).await;
    assert_eq!(a.recv_text().await, delivered(sent, 2));
    assert_eq!(b.recv_text().await, delivered(sent, 2));
    // The exact ping is answered as on an unsigned deployment.
    a.send_text(r#"{"type":"ping"}"#).await;
    assert_eq!(a.recv_text().await, PONG);
}

/// Without the namespace's token (none, empty, not a JWT, another namespace's, a room's, a
/// PeerJS key's, expired, not yet valid, signed with another secret), a socket is accepted,
/// sent `error` `unauthorized` and closed with 4003; none of them is seated.
#[tokio::test]
async fn joins_without_the_namespaces_token_are_refused_unauthorized_with_4003() {
    let s = server();
    let n = ns();
    let now = now_s();
    let yjs = format!("yjs:{n}");
    let refused = [
        ("no token", String::new()),
        ("an empty token", "token=".to_owned()),
        ("not a JWT", "token=not-a-jwt".to_owned()),
        (
            "another namespace's token",
            format!("token={}", token(&ns())),
        ),
        (
            "the room's token of the same name",
            format!("token={}", token_with(SECRET, &n, None, now + 600, None)),
        ),
        (
            "a PeerJS token of the same key",
            format!(
                "token={}",
                token_with(SECRET, &peerjs_room_claim(&n), Some("a"), now + 600, None)
            ),
        ),
        (
            "a claim of the namespace without the prefix's colon",
            format!(
                "token={}",
                token_with(SECRET, &format!("yjs{n}"), None, now + 600, None)
            ),
        ),
        (
            "an expired token",
            format!("token={}", token_with(SECRET, &yjs, None, now - 10, None)),
        ),
        (
            "a token not valid yet",
            format!(
                "token={}",
                token_with(SECRET, &yjs, None, now + 600, Some(now + 300))
            ),
        ),
        (
            "a token signed with another secret",
            format!(
                "token={}",
                token_with("another-secret", &yjs, None, now + 600, None)
            ),
        ),
    ];
    for (what, query) in &refused {
        let mut c = socket(s, &n, query).await;
        let error = c.recv().await;
        assert_eq!(error["type"], "error", "{what}: {error}");
        assert_eq!(error["code"], "unauthorized", "{what}: {error}");
        assert!(error["message"].is_string(), "{what}: {error}");
        assert_eq!(c.recv_close().await, 4003, "{what}");
    }
    // None took a seat or a topic: a subscriber is alone in its topic.
    let mut a = open(s, &n).await;
    a.send_json(json!({"type": "subscribe", "topics": ["t"]}))
        .await;
    sync(&mut a).await;
    let sent = r#"{"type":"publish","topic":"t","data":1}"#;
    a.send_text(sent).await;
    assert_eq!(a.recv_text().await, delivered(sent, 1));
}

/// `GET /api/yjs/{ns}/ice-servers` needs the namespace's token, as `?token=` or
/// `Authorization: Bearer`: 401 without it or with another's, 200 `{"iceServers":[...]}` with it.
#[tokio::test]
async fn the_ice_servers_endpoint_needs_the_namespaces_token() {
    let s = server();
    let n = ns();
    let path = format!("/api/yjs/{n}/ice-servers");
    let (status, body) = s.get(&path).unwrap();
    assert_eq!(status, 401, "{body}");
    for wrong in [
        token(&ns()),
        token_with(SECRET, &n, None, now_s() + 600, None),
        token_with(
            SECRET,
            &peerjs_room_claim(&n),
            Some("a"),
            now_s() + 600,
            None,
        ),
        token_with(SECRET, &format!("yjs:{n}"), None, now_s() - 10, None),
    ] {
        let (status, body) = s.get(&format!("{path}?token={wrong}")).unwrap();
        assert_eq!(status, 401, "{body}");
    }
    let (status, body) = s.get(&format!("{path}?token={}", token(&n))).unwrap();
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v,
        json!({"iceServers": [{"urls": "stun:stun.cloudflare.com:3478"}]})
    );
    let bearer = ureq::get(&s.http_url(&path))
        .set("Authorization", &format!("Bearer {}", token(&n)))
        .call()
        .unwrap();
    assert_eq!(bearer.status(), 200);
    let v: Value = serde_json::from_str(&bearer.into_string().unwrap()).unwrap();
    assert!(v["iceServers"].is_array(), "{v}");
}

/// A namespace's token is for it alone: it opens no room of the same name, nor a PeerJS key's
/// ICE servers (the colon is outside the room alphabet).
#[tokio::test]
async fn a_namespace_token_opens_nothing_but_its_namespace() {
    let s = server();
    let n = ns();
    let t = token(&n);
    let (status, body) = s
        .get(&format!("/api/rooms/{n}/ice-servers?token={t}"))
        .unwrap();
    assert_eq!(status, 401, "{body}");
    let (status, body) = s
        .get(&format!("/peerjs/{n}/ice-servers?id=a&token={t}"))
        .unwrap();
    assert_eq!(status, 401, "{body}");
    // Nor is it good for a matchbox room of the same name: closed with 4003, no frame.
    let (mut c, _) = s
        .connect_path(&format!("/matchbox/{n}?token={t}"), &[])
        .await
        .expect("upgrade accepted");
    match c.next_event().await {
        common::Event::Close(Some((code, _))) => assert_eq!(code, 4003),
        other => panic!("expected the close alone, got {other:?}"),
    }
}
