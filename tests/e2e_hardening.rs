//! End to end: every defence, against a `wrangler dev` configured the way production would be —
//! an `AUTH_SECRET`, an origin allow-list — with a small budget and a short idle timeout so the
//! rate limit and the dead-peer sweep can be seen within a test.

mod common;

use std::time::{Duration, Instant};

use common::{server_with, unique_room, Client, Server};
use edge_signal::auth::{mint, Claims};
use serde_json::json;

const SECRET: &str = "e2e-secret-0123456789abcdef";
const APP: &str = "https://app.example.com";

fn server() -> &'static Server {
    server_with(&[
        ("AUTH_SECRET", SECRET),
        ("ALLOWED_ORIGINS", APP),
        ("RATE_LIMIT_BURST", "20"),
        ("RATE_LIMIT_PER_SEC", "5"),
        ("IDLE_TIMEOUT_MS", "2000"),
    ])
}

fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn token(room: &str, peer: Option<&str>, exp: u64) -> String {
    let claims = Claims {
        room: room.into(),
        peer: peer.map(str::to_owned),
        exp,
        nbf: None,
        meta: None,
    };
    mint(SECRET.as_bytes(), &claims)
}

/// A valid token for `peer` in `room`, as a query string.
fn signed(room: &str, peer: &str) -> String {
    format!(
        "peer={peer}&token={}",
        token(room, Some(peer), now_s() + 600)
    )
}

async fn join_signed(room: &str, peer: &str) -> (Client, serde_json::Value) {
    server().join(room, &signed(room, peer)).await
}

/// The socket is upgraded, then gets `unauthorized` and close 4003; the message says why.
async fn assert_unauthorized(room: &str, query: &str, why: &str) {
    let mut c = server().connect(room, query).await.expect("upgraded");
    let err = c.recv().await;
    assert_eq!(err["code"], "unauthorized", "{query}: {err}");
    assert!(err["message"].as_str().unwrap().contains(why), "{err}");
    assert_eq!(c.recv_close().await, 4003);
}

/// Joins without a valid token are refused with 4003, and never reach the room.
#[tokio::test]
async fn joins_need_a_valid_token() {
    let room = unique_room("auth");
    let (mut alice, _) = join_signed(&room, "alice").await;
    assert_unauthorized(&room, "peer=bob", "required").await;
    assert_unauthorized(
        &room,
        &format!("peer=bob&token={}", token(&room, Some("bob"), now_s() - 1)),
        "expired",
    )
    .await;
    assert_unauthorized(
        &room,
        &format!(
            "peer=bob&token={}",
            token("other-room", Some("bob"), now_s() + 60)
        ),
        "another room",
    )
    .await;
    let forged = mint(
        b"not-the-secret",
        &Claims {
            room: room.clone(),
            peer: Some("bob".into()),
            exp: now_s() + 60,
            nbf: None,
            meta: None,
        },
    );
    assert_unauthorized(&room, &format!("peer=bob&token={forged}"), "signature").await;
    assert_unauthorized(
        &room,
        &format!(
            "peer=bob&token={}",
            token(&room, Some("carol"), now_s() + 60)
        ),
        "another peer",
    )
    .await;
    assert_unauthorized(&room, "peer=bob&token=not.a.jwt", "not an HS256 JWT").await;
    alice.expect_silence(200).await;
    assert_eq!(server().peer_count(&room), 1);
}

/// A token that names the peer fixes the id even when the client asks for none.
#[tokio::test]
async fn the_token_names_the_peer() {
    let room = unique_room("authpeer");
    let (_c, welcome) = server()
        .join(
            &room,
            &format!("token={}", token(&room, Some("tokenpeer"), now_s() + 60)),
        )
        .await;
    assert_eq!(welcome["peer"], "tokenpeer");
    // A token without `peer` admits any id.
    let (_d, welcome) = server()
        .join(
            &room,
            &format!("peer=free&token={}", token(&room, None, now_s() + 60)),
        )
        .await;
    assert_eq!(welcome["peer"], "free");
}

/// An Origin outside ALLOWED_ORIGINS is HTTP 403 before any room is touched; listed origins,
/// the worker's own origin and non-browser clients (no Origin) are let through.
#[tokio::test]
async fn origins_outside_the_list_get_403() {
    let s = server();
    let room = unique_room("origin");
    let query = signed(&room, "alice");
    match s
        .connect_from(&room, &query, Some("https://evil.example"))
        .await
    {
        Err((403, body)) => assert!(body.contains("forbidden"), "{body}"),
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("a foreign origin was upgraded"),
    }
    assert_eq!(s.peer_count(&room), 0);
    // The join check (what the browser client asks after a refused upgrade) says the same.
    let refused = ureq::get(&s.http_url(&format!("/api/rooms/{room}/check")))
        .set("Origin", "https://evil.example")
        .call();
    match refused {
        Err(ureq::Error::Status(403, resp)) => {
            assert!(resp.into_string().unwrap().contains("forbidden"))
        }
        other => panic!("{other:?}"),
    }
    let own = format!("http://127.0.0.1:{}", s.port);
    for origin in [Some(APP), Some(own.as_str()), None] {
        let peer = format!("p{}", origin.map_or(0, str::len));
        let (_c, w) = {
            let mut c = s
                .connect_from(&room, &signed(&room, &peer), origin)
                .await
                .expect("allowed");
            let w = c.recv().await;
            (c, w)
        };
        assert_eq!(w["type"], "welcome", "{origin:?}");
    }
}

/// A flood gets `rate_limited` (dropped, not relayed), then close 4006; the room carries on.
#[tokio::test]
async fn a_flood_is_limited_then_closed_with_4006() {
    let room = unique_room("flood");
    let (mut alice, _) = join_signed(&room, "alice").await;
    let (mut bob, _) = join_signed(&room, "bob").await;
    assert_eq!(alice.recv().await["type"], "peer_joined");
    for i in 0..200 {
        alice
            .send_text(json!({"type":"message","data":i}).to_string())
            .await;
    }
    let (mut relayed, mut limited) = (0, 0);
    loop {
        match alice.next_event().await {
            common::Event::Text(t) => {
                let v: serde_json::Value = serde_json::from_str(&t).unwrap();
                assert_eq!(v["code"], "rate_limited", "{v}");
                limited += 1;
            }
            common::Event::Close(frame) => {
                assert_eq!(frame.map(|f| f.0), Some(4006));
                break;
            }
        }
    }
    loop {
        let v = bob.recv().await;
        if v["type"] == "peer_left" {
            assert_eq!(v["reason"], "disconnect");
            break;
        }
        relayed += 1;
    }
    // The burst (20, plus what refilled meanwhile) went through; the rest was refused, until
    // a second burst's worth of refusals closed the socket.
    assert!((20..40).contains(&relayed), "relayed {relayed}");
    assert!(limited >= 19, "limited {limited}");
    server().wait_for_count(&room, 1).await;
    let (_carol, w) = join_signed(&room, "carol").await;
    assert_eq!(w["peers"], json!(["bob"]));
}

/// A silent peer is closed with 4008 and the others hear `peer_left` with reason `timeout`;
/// a peer that only sends exact pings (answered by the runtime) stays.
#[tokio::test]
async fn a_silent_peer_times_out_and_a_pinging_one_stays() {
    let room = unique_room("idle");
    let (mut alice, _) = join_signed(&room, "alice").await;
    let (mut silent, _) = join_signed(&room, "silent").await;
    assert_eq!(alice.recv().await["type"], "peer_joined");
    let started = Instant::now();
    let pinger = tokio::spawn(async move {
        loop {
            alice.send_text(r#"{"type":"ping"}"#).await;
            match alice.next_event_within(Duration::from_millis(500)).await {
                Some(common::Event::Text(t)) if t == r#"{"type":"pong"}"# => {}
                Some(common::Event::Text(t)) => return (alice, t),
                other => panic!("{other:?}"),
            }
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
    });
    assert_eq!(silent.recv_close().await, 4008);
    let (mut alice, left) = pinger.await.unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&left).unwrap(),
        json!({"type":"peer_left","peer":"silent","reason":"timeout"})
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1900) && waited < Duration::from_secs(6),
        "{waited:?}"
    );
    // alice, pinging, is still seated and served.
    alice.send_text("{ \"type\": \"ping\" }").await;
    assert_eq!(alice.recv_text().await, r#"{"type":"pong"}"#);
    assert_eq!(server().peer_count(&room), 1);
}

/// Resume: a new socket with the seat's secret takes it over while the old one is still open.
/// The old socket is closed with 4009, the others see no leave/join, messages reach the new one.
#[tokio::test]
async fn resume_takes_over_the_seat_without_churn() {
    let room = unique_room("resume");
    let (mut alice, _) = join_signed(&room, "alice").await;
    let (mut old, welcome) = join_signed(&room, "bob").await;
    assert_eq!(alice.recv().await["type"], "peer_joined");
    let secret = welcome["resume"].as_str().unwrap().to_owned();

    // A wrong secret is just a taken id.
    let mut wrong = server()
        .connect(&room, &format!("{}&resume=nope", signed(&room, "bob")))
        .await
        .unwrap();
    assert_eq!(wrong.recv().await["code"], "peer_id_taken");
    assert_eq!(wrong.recv_close().await, 4002);

    let (mut new, welcome) = server()
        .join(&room, &format!("{}&resume={secret}", signed(&room, "bob")))
        .await;
    assert_eq!(welcome["resumed"], true);
    assert_eq!(welcome["peers"], json!(["alice"]));
    assert_ne!(
        welcome["resume"].as_str().unwrap(),
        secret,
        "the secret rotates"
    );
    assert_eq!(old.recv_close().await, 4009);
    alice.expect_silence(300).await; // no peer_left, no peer_joined
    alice
        .send_json(json!({"type":"offer","to":"bob","sdp":"after resume"}))
        .await;
    assert_eq!(new.recv().await["sdp"], "after resume");
    new.send_json(json!({"type":"answer","to":"alice","sdp":"from new"}))
        .await;
    assert_eq!(alice.recv().await["from"], "bob");
    assert_eq!(server().peer_count(&room), 2);
}

/// Joins, refusals and departures are logged as JSON lines, and the log never holds SDP,
/// candidates, tokens or resume secrets.
#[tokio::test]
async fn logs_are_structured_and_hold_no_secrets() {
    let s = server();
    let room = unique_room("logs");
    let query = signed(&room, "alice");
    let token = query.split("token=").nth(1).unwrap().to_owned();
    let (mut alice, welcome) = s.join(&room, &query).await;
    let (mut bob, _) = join_signed(&room, "bob").await;
    assert_eq!(alice.recv().await["type"], "peer_joined");
    alice
        .send_json(json!({"type":"offer","to":"bob","sdp":"v=0 SDP-MARKER-77"}))
        .await;
    alice
        .send_json(
            json!({"type":"candidate","to":"bob","candidate":{"candidate":"CAND-MARKER-88"}}),
        )
        .await;
    bob.recv().await;
    bob.recv().await;
    assert_unauthorized(&room, "peer=carol", "required").await;
    bob.send_json(json!({"type":"leave"})).await;
    assert_eq!(alice.recv().await["type"], "peer_left");

    let deadline = Instant::now() + Duration::from_secs(5);
    let lines = loop {
        let log = std::fs::read_to_string(&s.log_path).unwrap();
        let lines: Vec<serde_json::Value> = log
            .lines()
            .filter_map(|l| l.find('{').and_then(|i| serde_json::from_str(&l[i..]).ok()))
            .filter(|v: &serde_json::Value| v["room"] == room.as_str())
            .collect();
        if lines.len() >= 4 || Instant::now() > deadline {
            for marker in [
                "SDP-MARKER-77",
                "CAND-MARKER-88",
                token.as_str(),
                welcome["resume"].as_str().unwrap(),
            ] {
                assert!(!log.contains(marker), "the log holds {marker}");
            }
            break lines;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let summary: Vec<(String, String)> = lines
        .iter()
        .map(|v| {
            (
                v["event"].as_str().unwrap().to_owned(),
                v["reason"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("join".into(), "".into()),
            ("join".into(), "".into()),
            ("reject".into(), "unauthorized".into()),
            ("depart".into(), "leave".into()),
        ]
    );
    assert_eq!(lines[3]["close_code"], 1000);
    assert_eq!(lines[2]["close_code"], 4003);
}

/// The sweep alarm runs while a room is a call (two peers) and is gone once it empties: an empty
/// room costs nothing.
#[tokio::test]
async fn no_alarm_is_left_once_the_room_is_empty() {
    let s = server();
    let room = unique_room("alarm");
    let sweeps = || s.log_count(&format!(r#""event":"sweep","room":"{room}""#));
    let (mut alice, _) = join_signed(&room, "alice").await;
    let (mut bob, _) = join_signed(&room, "bob").await;
    assert_eq!(alice.recv().await["type"], "peer_joined");
    // Sweeps every second (IDLE_TIMEOUT_MS 2000): wait for one while both are here and pinging.
    let deadline = Instant::now() + Duration::from_secs(5);
    while sweeps() == 0 {
        assert!(
            Instant::now() < deadline,
            "no sweep while the room was a call"
        );
        for c in [&mut alice, &mut bob] {
            c.send_text(r#"{"type":"ping"}"#).await;
            assert_eq!(c.recv_text().await, r#"{"type":"pong"}"#);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    bob.send_json(json!({"type":"leave"})).await;
    assert_eq!(bob.recv_close().await, 1000);
    assert_eq!(alice.recv().await["type"], "peer_left");
    alice.send_json(json!({"type":"leave"})).await;
    assert_eq!(alice.recv_close().await, 1000);
    // Without the alarm deleted, the pending one would fire within a second and sweep an empty
    // room; with it deleted, nothing fires.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let empty_sweeps = s.log_count(&format!(r#""event":"sweep","room":"{room}","peers":0"#));
    assert_eq!(empty_sweeps, 0, "an alarm fired in the empty room");
}

/// A room of one sets no alarm (nobody to tell about a silent peer, and no storage write for the
/// join); the next join sweeps it first, so a newcomer never meets a peer that is gone.
#[tokio::test]
async fn a_silent_lone_peer_is_swept_by_the_next_join() {
    let s = server();
    let room = unique_room("lone");
    let (mut ghost, _) = join_signed(&room, "ghost").await;
    // Silent for longer than IDLE_TIMEOUT_MS (2000): no alarm ran (no sweep line), and the seat
    // is still held.
    tokio::time::sleep(Duration::from_millis(2600)).await;
    assert_eq!(
        s.log_count(&format!(r#""event":"sweep","room":"{room}""#)),
        0,
        "a room of one ran a sweep alarm"
    );
    assert_eq!(s.peer_count(&room), 1);
    // The next join drops it (4008) before seating the newcomer, who sees an empty room.
    let (_alice, w) = join_signed(&room, "alice").await;
    assert_eq!(w["peers"], json!([]), "{w}");
    assert_eq!(ghost.recv_close().await, 4008);
    // wrangler writes the worker's log lines a moment after the socket events.
    s.wait_for_log(&format!(
        r#""event":"depart","room":"{room}","peer":"ghost","reason":"timeout","close_code":4008"#
    ))
    .await;
}

/// The token and the resume secret can travel in `Sec-WebSocket-Protocol` instead of the URL:
/// the server selects `edge-signal.v1` (or a browser would fail the upgrade), the join and the
/// resume work as with the query, and neither secret appears in the server's log, whose request
/// lines show URLs.
#[tokio::test]
async fn secrets_can_travel_in_the_subprotocol_header() {
    let s = server();
    let room = unique_room("subproto");
    let (mut alice, _) = join_signed(&room, "alice").await;
    let bob_token = token(&room, Some("bob"), now_s() + 600);
    let header = format!("edge-signal.v1, edge-signal.token.{bob_token}");
    let (mut bob, selected) = s
        .connect_with(&room, "peer=bob", &[("Sec-WebSocket-Protocol", &header)])
        .await
        .expect("upgraded");
    assert_eq!(selected.as_deref(), Some("edge-signal.v1"));
    let welcome = bob.recv().await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    assert_eq!(alice.recv().await["type"], "peer_joined");
    let secret = welcome["resume"].as_str().unwrap().to_owned();

    // Resume through the header too.
    let header =
        format!("edge-signal.v1,edge-signal.token.{bob_token},edge-signal.resume.{secret}");
    let (mut new, selected) = s
        .connect_with(&room, "peer=bob", &[("Sec-WebSocket-Protocol", &header)])
        .await
        .expect("upgraded");
    assert_eq!(selected.as_deref(), Some("edge-signal.v1"));
    let welcome = new.recv().await;
    assert_eq!(welcome["resumed"], true, "{welcome}");
    assert_eq!(bob.recv_close().await, 4009);

    // A refusal by token selects the protocol as well, so a browser sees the 4003.
    let (mut forged, selected) = s
        .connect_with(
            &room,
            "peer=eve",
            &[(
                "Sec-WebSocket-Protocol",
                "edge-signal.v1, edge-signal.token.x.y.z",
            )],
        )
        .await
        .expect("upgraded");
    assert_eq!(selected.as_deref(), Some("edge-signal.v1"));
    assert_eq!(forged.recv().await["code"], "unauthorized");
    assert_eq!(forged.recv_close().await, 4003);

    // Protocols offered without ours, or a secret given twice: a 400 that says why.
    let (status, body) = s.refusal_with(
        &format!("/rooms/{room}?peer=carol"),
        &[("Sec-WebSocket-Protocol", "chat")],
    );
    assert_eq!(status, 400);
    assert!(body.contains("edge-signal.v1"), "{body}");
    let (status, body) = s.refusal_with(
        &format!("/rooms/{room}?{}", signed(&room, "carol")),
        &[(
            "Sec-WebSocket-Protocol",
            &format!("edge-signal.v1, edge-signal.token.{bob_token}"),
        )],
    );
    assert_eq!(status, 400);
    assert!(body.contains("more than once"), "{body}");

    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(s.log_count(&bob_token), 0, "the token reached the log");
    assert_eq!(s.log_count(&secret), 0, "the resume secret reached the log");
}

/// On a signed deployment a peer's metadata is its token's `meta` claim (control v1): others
/// see it; a `?meta=` is refused with 400, before anything is touched.
#[tokio::test]
async fn metadata_comes_from_the_token() {
    let room = unique_room("authmeta");
    let with_meta = mint(
        SECRET.as_bytes(),
        &Claims {
            room: room.clone(),
            peer: Some("alice".into()),
            exp: now_s() + 60,
            nbf: None,
            meta: Some(edge_signal::json::Json::parse(r#"{"name": "Ada"}"#).unwrap()),
        },
    );
    let (mut alice, _) = server()
        .join(&room, &format!("peer=alice&token={with_meta}"))
        .await;
    let (_bob, welcome) = join_signed(&room, "bob").await;
    assert_eq!(
        welcome["meta"],
        serde_json::json!({"alice": {"name": "Ada"}})
    );
    assert_eq!(alice.recv().await["type"], "peer_joined");
    let query = format!("{}&meta=%7B%7D", signed(&room, "carol"));
    match server().connect(&room, &query).await {
        Err((400, body)) => assert!(body.contains("`meta` claim"), "{body}"),
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("a `?meta=` on a signed deployment was upgraded"),
    }
}
