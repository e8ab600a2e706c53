//! End to end: protocol v1 against a real `wrangler dev` (workerd, local Durable Objects), over
//! real WebSockets. One test per row of the contract; each uses rooms of its own, so they run
//! concurrently against one server.

mod common;

use common::{server, unique_room, Event};
use serde_json::{json, Value};

/// Two peers in a fresh room: (alice, bob).
async fn pair(prefix: &str) -> (String, common::Client, common::Client) {
    let s = server();
    let room = unique_room(prefix);
    let (alice, _) = s.join(&room, "peer=alice").await;
    let (bob, _) = s.join(&room, "peer=bob").await;
    let mut alice = alice;
    assert_eq!(
        alice.recv().await,
        json!({"type":"peer_joined","peer":"bob"})
    );
    (room, alice, bob)
}

/// `GET /healthz` answers 200 `ok`.
#[tokio::test]
async fn healthz_is_ok() {
    assert_eq!(server().get("/healthz").unwrap(), (200, "ok".to_owned()));
    assert_eq!(server().get("/readyz").unwrap(), (200, "ok".to_owned()));
}

/// The first frame is `welcome` with the room, the id, capacity, the peers in join order and the
/// configured ICE servers; those present hear `peer_joined`.
#[tokio::test]
async fn welcome_then_peer_joined() {
    let s = server();
    let room = unique_room("welcome");
    let (mut alice, mut welcome) = s.join(&room, "peer=alice&capacity=3").await;
    let resume = welcome
        .as_object_mut()
        .unwrap()
        .remove("resume")
        .expect("a resume secret");
    assert!(resume.as_str().is_some_and(|r| r.len() == 32), "{resume}");
    assert_eq!(
        welcome,
        json!({"type":"welcome","room":room,"peer":"alice","capacity":3,"peers":[],"meta":{},
               "ice_servers":[{"urls":"stun:stun.cloudflare.com:3478"}]})
    );
    let (mut bob, welcome) = s.join(&room, "peer=bob").await;
    assert_eq!(welcome["peers"], json!(["alice"]));
    assert_eq!(welcome["capacity"], 3);
    assert_eq!(
        alice.recv().await,
        json!({"type":"peer_joined","peer":"bob"})
    );
    let (_carol, welcome) = s.join(&room, "peer=carol").await;
    assert_eq!(welcome["peers"], json!(["alice", "bob"]), "join order");
    assert_eq!(
        alice.recv().await,
        json!({"type":"peer_joined","peer":"carol"})
    );
    assert_eq!(
        bob.recv().await,
        json!({"type":"peer_joined","peer":"carol"})
    );
}

/// Without `peer`, the server assigns a random, URL-safe id of at least 64 bits.
#[tokio::test]
async fn server_assigns_random_ids() {
    let s = server();
    let room = unique_room("assign");
    let (_a, w1) = s.join(&room, "").await;
    let (_b, w2) = s.join(&room, "").await;
    let (id1, id2) = (w1["peer"].as_str().unwrap(), w2["peer"].as_str().unwrap());
    assert_ne!(id1, id2);
    for id in [id1, id2] {
        assert!(
            id.len() >= 16 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "{id}"
        );
    }
    assert_eq!(w2["peers"], json!([id1]));
}

/// offer, answer and candidate reach only `to`, with `from` stamped; a spoofed `from` is replaced.
#[tokio::test]
async fn relay_stamps_from_and_overwrites_a_spoofed_one() {
    let (_room, mut alice, mut bob) = pair("relay").await;
    alice
        .send_json(json!({"type":"offer","to":"bob","sdp":"v=0 offer","from":"mallory"}))
        .await;
    assert_eq!(
        bob.recv().await,
        json!({"type":"offer","to":"bob","sdp":"v=0 offer","from":"alice"})
    );
    bob.send_json(json!({"type":"answer","to":"alice","sdp":"v=0 answer"}))
        .await;
    assert_eq!(
        alice.recv().await,
        json!({"type":"answer","to":"alice","sdp":"v=0 answer","from":"bob"})
    );
    let cand = json!({"candidate":"candidate:1 1 udp 2122260223 192.0.2.1 54400 typ host","sdpMid":"0","sdpMLineIndex":0});
    alice
        .send_json(json!({"type":"candidate","to":"bob","candidate":cand}))
        .await;
    assert_eq!(
        bob.recv().await,
        json!({"type":"candidate","to":"bob","candidate":cand,"from":"alice"})
    );
    alice.expect_silence(200).await; // a sender never receives its own message
}

/// Payload fields, including ones the contract does not name, reach the peer byte for byte.
#[tokio::test]
async fn payload_fields_pass_through_untouched() {
    let (_room, mut alice, mut bob) = pair("payload").await;
    let payload = r#"{"type":"message","to":"bob","data":{"n":123456789012345678901234567890,"f":1.50,"s":"\u00e9 é 😀","deep":[[[{}]]]},"extra":[1 ,2],"sdp":null}"#;
    alice.send_text(payload).await;
    let got = bob.recv_text().await;
    assert_eq!(
        got,
        format!("{},\"from\":\"alice\"}}", &payload[..payload.len() - 1])
    );
    // The sender's spacing stays; `from` goes in before the closing brace, and what follows
    // the object (here a newline) does not reach the peer.
    alice
        .send_text("{ \"type\" : \"message\",\n  \"to\": \"bob\", \"data\": \"é 😀 }\" }\n")
        .await;
    assert_eq!(
        bob.recv_text().await,
        "{ \"type\" : \"message\",\n  \"to\": \"bob\", \"data\": \"é 😀 }\" ,\"from\":\"alice\"}"
    );
}

/// `message` without `to` reaches every other peer; with `to`, only that peer.
#[tokio::test]
async fn broadcast_and_targeted_messages() {
    let s = server();
    let room = unique_room("bcast");
    let (mut a, _) = s.join(&room, "peer=a&capacity=3").await;
    let (mut b, _) = s.join(&room, "peer=b").await;
    let (mut c, _) = s.join(&room, "peer=c").await;
    a.recv().await; // peer_joined b
    a.recv().await; // peer_joined c
    b.recv().await; // peer_joined c
    b.send_json(json!({"type":"message","data":"hi all"})).await;
    let expected = json!({"type":"message","data":"hi all","from":"b"});
    assert_eq!(a.recv().await, expected);
    assert_eq!(c.recv().await, expected);
    b.expect_silence(200).await;
    c.send_json(json!({"type":"message","to":"a","data":{"x":1}}))
        .await;
    assert_eq!(
        a.recv().await,
        json!({"type":"message","to":"a","data":{"x":1},"from":"c"})
    );
    b.expect_silence(300).await;
}

/// `to` naming nobody in the room: `unknown_peer` carrying the id, and the socket stays open.
#[tokio::test]
async fn unknown_peer_is_reported_and_the_socket_stays() {
    let (_room, mut alice, mut bob) = pair("unknown").await;
    alice
        .send_json(json!({"type":"offer","to":"zed","sdp":"x"}))
        .await;
    let err = alice.recv().await;
    assert_eq!(
        (
            err["type"].as_str(),
            err["code"].as_str(),
            err["peer"].as_str()
        ),
        (Some("error"), Some("unknown_peer"), Some("zed"))
    );
    assert!(err["message"].is_string());
    alice.send_json(json!({"type":"message","data":1})).await;
    assert_eq!(bob.recv().await["from"], "alice");
}

/// Each bad_request case answers an error, drops the frame, and keeps the socket and room intact.
#[tokio::test]
async fn each_bad_request_case() {
    let (room, mut alice, mut bob) = pair("badreq").await;
    for frame in [
        "not json",
        "{\"type\":",
        "[1,2]",
        "42",
        "null",
        r#"{"to":"bob","sdp":"x"}"#,
        r#"{"type":7}"#,
        r#"{"type":"shout","to":"bob"}"#,
        r#"{"type":"offer","sdp":"x"}"#,
        r#"{"type":"offer","to":"bob"}"#,
        r#"{"type":"answer","to":"bob","sdp":{"not":"a string"}}"#,
        r#"{"type":"offer","to":["bob"],"sdp":"x"}"#,
        r#"{"type":"candidate","to":"bob"}"#,
        r#"{"type":"message","to":"bob"}"#,
        r#"{"type":"message","to":5,"data":1}"#,
    ] {
        alice.send_text(frame).await;
        let err = alice.recv().await;
        assert_eq!(err["type"], "error", "{frame}");
        assert_eq!(err["code"], "bad_request", "{frame}: {err}");
        assert!(!err["message"].as_str().unwrap().is_empty());
    }
    bob.expect_silence(200).await;
    assert_eq!(server().peer_count(&room), 2);
    alice
        .send_json(json!({"type":"message","data":"still here"}))
        .await;
    assert_eq!(bob.recv().await["data"], "still here");
}

/// A full room refuses with `room_full` then close 4001, and nobody inside notices.
#[tokio::test]
async fn room_full_closes_with_4001() {
    let (room, mut alice, _bob) = pair("full").await;
    let mut carol = server()
        .connect(&room, "peer=carol")
        .await
        .expect("upgrade succeeds");
    let err = carol.recv().await;
    assert_eq!(
        (err["type"].as_str(), err["code"].as_str()),
        (Some("error"), Some("room_full"))
    );
    assert_eq!(carol.recv_close().await, 4001);
    alice.expect_silence(200).await;
    assert_eq!(server().peer_count(&room), 2);
}

/// A live id in the room refuses with `peer_id_taken` then close 4002; the first holder stays.
#[tokio::test]
async fn peer_id_taken_closes_with_4002() {
    let s = server();
    let room = unique_room("taken");
    let (mut alice, _) = s.join(&room, "peer=alice&capacity=3").await;
    let mut imposter = s
        .connect(&room, "peer=alice")
        .await
        .expect("upgrade succeeds");
    assert_eq!(imposter.recv().await["code"], "peer_id_taken");
    assert_eq!(imposter.recv_close().await, 4002);
    alice.expect_silence(200).await;
    let (_bob, welcome) = s.join(&room, "peer=bob").await;
    assert_eq!(welcome["peers"], json!(["alice"]));
}

/// `leave`: the others get `peer_left` with reason `leave`, the leaver's socket closes with 1000.
#[tokio::test]
async fn leave_closes_with_1000() {
    let (room, mut alice, mut bob) = pair("leave").await;
    bob.send_json(json!({"type":"leave"})).await;
    assert_eq!(bob.recv_close().await, 1000);
    assert_eq!(
        alice.recv().await,
        json!({"type":"peer_left","peer":"bob","reason":"leave"})
    );
    alice.expect_silence(300).await; // exactly one peer_left, not a second for the close
    assert_eq!(server().peer_count(&room), 1);
}

/// A socket closed without `leave` gives `peer_left` with reason `disconnect`, once.
#[tokio::test]
async fn disconnect_gives_peer_left() {
    let (room, mut alice, bob) = pair("disc").await;
    bob.close().await;
    assert_eq!(
        alice.recv().await,
        json!({"type":"peer_left","peer":"bob","reason":"disconnect"})
    );
    alice.expect_silence(300).await;
    server().wait_for_count(&room, 1).await;
}

/// A socket dropped without any close handshake (TCP reset) also gives `peer_left`.
#[tokio::test]
async fn abrupt_drop_gives_peer_left() {
    let (room, mut alice, bob) = pair("drop").await;
    drop(bob);
    assert_eq!(
        alice.recv().await,
        json!({"type":"peer_left","peer":"bob","reason":"disconnect"})
    );
    server().wait_for_count(&room, 1).await;
}

/// Exact `{"type":"ping"}` gets exact `{"type":"pong"}`; other spacing gets a pong too.
#[tokio::test]
async fn ping_pong_exact_and_spaced() {
    let (_room, mut alice, mut bob) = pair("ping").await;
    alice.send_text(r#"{"type":"ping"}"#).await;
    assert_eq!(alice.recv_text().await, r#"{"type":"pong"}"#);
    alice.send_text("{ \"type\" : \"ping\" }").await;
    assert_eq!(alice.recv_text().await, r#"{"type":"pong"}"#);
    bob.expect_silence(200).await;
}

/// A frame over MAX_MESSAGE_BYTES (65536) closes with 1009; one of exactly 65536 is relayed.
#[tokio::test]
async fn oversized_frame_closes_with_1009() {
    let (room, mut alice, mut bob) = pair("big").await;
    let frame_of = |len: usize| {
        let head = r#"{"type":"message","data":""#;
        format!("{head}{}\"}}", "x".repeat(len - head.len() - 2))
    };
    alice.send_text(frame_of(65536)).await;
    assert_eq!(bob.recv().await["from"], "alice");
    // The limit counts UTF-8 bytes: 65536 of them, most in two-byte characters, pass whole;
    // one more (a two-byte character in place of a one-byte one) closes with 1009.
    let wide = |len: usize| {
        let head = r#"{"type":"message","data":""#;
        let narrow = len - head.len() - 2 - 2 * 32_000;
        format!("{head}{}{}\"}}", "é".repeat(32_000), "x".repeat(narrow))
    };
    assert_eq!(wide(65536).len(), 65536);
    alice.send_text(wide(65536)).await;
    let data = wide(65536)[r#"{"type":"message","data":""#.len()..65536 - 2].to_owned();
    assert_eq!(bob.recv().await["data"], json!(data));
    let over = wide(65536).replacen('x', "é", 1);
    assert_eq!(over.len(), 65537);
    alice.send_text(over).await;
    assert_eq!(alice.recv_close().await, 1009);
    assert_eq!(
        bob.recv().await,
        json!({"type":"peer_left","peer":"alice","reason":"disconnect"})
    );
    server().wait_for_count(&room, 1).await;
}

/// A binary frame closes with 1003.
#[tokio::test]
async fn binary_frame_closes_with_1003() {
    let (room, mut alice, mut bob) = pair("binary").await;
    alice.send_binary(b"{\"type\":\"ping\"}".to_vec()).await;
    assert_eq!(alice.recv_close().await, 1003);
    assert_eq!(
        bob.recv().await,
        json!({"type":"peer_left","peer":"alice","reason":"disconnect"})
    );
    server().wait_for_count(&room, 1).await;
}

/// Bad room names, peer ids and capacities are HTTP 400 with a JSON body, and no upgrade.
#[tokio::test]
async fn bad_upgrades_are_http_400() {
    let s = server();
    let long = "x".repeat(65);
    for (room, query, word) in [
        ("bad.room", "", "room"),
        ("a/b", "", "room"),
        ("sp%20ace", "", "room"),
        (long.as_str(), "", "room"),
        ("ok", "peer=bad%20id", "peer"),
        ("ok", "peer=", "peer"),
        ("ok", &format!("peer={long}"), "peer"),
        ("ok", "capacity=1", "capacity"),
        ("ok", "capacity=17", "capacity"),
        ("ok", "capacity=two", "capacity"),
        ("ok", "capacity=2.5", "capacity"),
    ] {
        let (status, body) = match s.connect(room, query).await {
            Err(refusal) => refusal,
            Ok(_) => panic!("{room}?{query} was upgraded"),
        };
        assert_eq!(status, 400, "{room}?{query}");
        let v: Value =
            serde_json::from_str(&body).unwrap_or_else(|_| panic!("{room}?{query}: {body}"));
        assert_eq!(v["error"], "bad_request", "{body}");
        assert!(
            v["message"].as_str().unwrap().contains(word),
            "{room}?{query}: {body}"
        );
    }
    // The same checks without an upgrade, on the info route.
    assert_eq!(s.get_json("/api/rooms/bad.room").0, 400);
    assert_eq!(s.get_json("/api/rooms/r/extra").0, 400);
}

/// `/api/rooms/{room}` counts the peers and never lists their ids.
#[tokio::test]
async fn api_rooms_counts_without_leaking_ids() {
    let s = server();
    let room = unique_room("api");
    assert_eq!(
        s.get_json(&format!("/api/rooms/{room}")),
        (200, json!({"room":room,"capacity":2,"peers":0}))
    );
    let (_a, _) = s.join(&room, "peer=secret-alice&capacity=4").await;
    let (_b, _) = s.join(&room, "peer=secret-bob").await;
    let (status, body) = s.get(&format!("/api/rooms/{room}")).unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"room":room,"capacity":4,"peers":2})
    );
    assert!(!body.contains("secret"), "{body}");
}

/// Anything else is a 404 with a JSON error.
#[tokio::test]
async fn unknown_routes_are_json_404() {
    let s = server();
    for path in [
        "/nope",
        "/rooms",
        "/api/rooms",
        "/api",
        "/healthz/x",
        "/ROOMS/r",
    ] {
        let (status, v) = s.get_json(path);
        assert_eq!(status, 404, "{path}");
        assert_eq!(v["error"], "not_found", "{path}");
    }
    // Without ADMIN_SECRET the admin API does not exist, with or without a bearer token.
    for (method, path) in [
        ("GET", "/api/admin/rooms/r1"),
        ("DELETE", "/api/admin/rooms/r1/peers/alice"),
        ("POST", "/api/admin/rooms/r1/messages"),
        ("DELETE", "/api/admin/rooms/r1"),
    ] {
        for headers in [vec![], vec![("Authorization", "Bearer anything")]] {
            let (status, body) = s.request(method, path, &headers, Some("{}"));
            assert_eq!(status, 404, "{method} {path}: {body}");
            assert!(body.contains("not_found"), "{body}");
        }
    }
}

/// `GET /rooms/{room}` without an upgrade answers the room page, `/` the landing page, and the
/// client and page scripts are served; every one carries the strict Content-Security-Policy.
#[tokio::test]
async fn pages_and_scripts_are_served_with_a_strict_csp() {
    let s = server();
    for (path, content_type, needle) in [
        ("/rooms/lobby", "text/html", "/room.js"),
        ("/", "text/html", "New room"),
        ("/edge-signal.js", "text/javascript", "RTCPeerConnection"),
        ("/room.js", "text/javascript", "edge-signal.js"),
        ("/landing.js", "text/javascript", "getRandomValues"),
        ("/app.css", "text/css", ".tile"),
    ] {
        let resp = ureq::get(&s.http_url(path)).call().unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        assert!(
            resp.header("content-type")
                .unwrap()
                .starts_with(content_type),
            "{path}"
        );
        let csp = resp
            .header("content-security-policy")
            .unwrap_or_default()
            .to_owned();
        assert!(
            csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
            "{path}: {csp}"
        );
        assert_eq!(
            resp.header("referrer-policy"),
            Some("no-referrer"),
            "{path}"
        );
        assert!(resp.into_string().unwrap().contains(needle), "{path}");
    }
}

/// 50 joins racing for a capacity-2 room: exactly 2 welcomes, 48 room_full.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_racing_joins_get_exactly_two_seats() {
    let s = server();
    let room = unique_room("race");
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let room = room.clone();
            tokio::spawn(async move {
                let mut c = s
                    .connect(&room, &format!("peer=p{i}&capacity=2"))
                    .await
                    .expect("upgrade");
                let first = c.recv().await;
                let kind = if first["type"] == "welcome" {
                    "welcome".to_owned()
                } else {
                    assert_eq!(c.recv_close().await, 4001);
                    first["code"].as_str().unwrap().to_owned()
                };
                (kind, c)
            })
        })
        .collect();
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    let welcomes = results.iter().filter(|(k, _)| k == "welcome").count();
    let full = results.iter().filter(|(k, _)| k == "room_full").count();
    assert_eq!((welcomes, full), (2, 48));
    assert_eq!(s.peer_count(&room), 2);
}

/// Messages never cross rooms, even between peers with the same ids.
#[tokio::test]
async fn rooms_are_isolated() {
    let (room1, mut a1, mut b1) = pair("iso1").await;
    let (room2, mut a2, mut b2) = pair("iso2").await;
    assert_ne!(room1, room2);
    a1.send_json(json!({"type":"message","data":"room1"})).await;
    a2.send_json(json!({"type":"offer","to":"bob","sdp":"room2"}))
        .await;
    assert_eq!(b1.recv().await["data"], "room1");
    assert_eq!(b2.recv().await["sdp"], "room2");
    b1.expect_silence(300).await;
    b2.expect_silence(10).await;
}

/// 500 messages from one sender arrive at the receiver in the order sent.
#[tokio::test]
async fn per_sender_order_of_500_messages() {
    let (_room, mut alice, mut bob) = pair("order").await;
    let send = async {
        for i in 0..500 {
            alice
                .send_json(json!({"type":"message","to":"bob","data":i}))
                .await;
        }
    };
    let recv = async {
        let mut got = Vec::with_capacity(500);
        for _ in 0..500 {
            got.push(bob.recv().await["data"].as_u64().unwrap());
        }
        got
    };
    let ((), got) = tokio::join!(send, recv);
    assert_eq!(got, (0..500).collect::<Vec<_>>());
}

/// When the last peer leaves, the room is empty and the next joiner opens it with a new capacity.
#[tokio::test]
async fn an_emptied_room_reopens_with_a_new_capacity() {
    let s = server();
    let room = unique_room("reopen");
    let (mut alice, w) = s.join(&room, "peer=alice&capacity=3").await;
    assert_eq!(w["capacity"], 3);
    alice.send_json(json!({"type":"leave"})).await;
    assert_eq!(alice.recv_close().await, 1000);
    s.wait_for_count(&room, 0).await;
    let (_bob, w) = s.join(&room, "peer=bob&capacity=5").await;
    assert_eq!(
        (w["capacity"].as_u64(), w["peers"].clone()),
        (Some(5), json!([]))
    );
    // And the id of a peer who left is free again.
    let (_alice, w) = s.join(&room, "peer=alice").await;
    assert_eq!(w["peers"], json!(["bob"]));
}

/// After a disconnect, the id is free for a rejoin (the network-blip case without resume).
#[tokio::test]
async fn a_disconnected_id_can_rejoin() {
    let (room, mut alice, bob) = pair("rejoin").await;
    bob.close().await;
    assert_eq!(alice.recv().await["type"], "peer_left");
    let (_bob, w) = server().join(&room, "peer=bob").await;
    assert_eq!(w["peers"], json!(["alice"]));
    assert_eq!(
        alice.recv().await,
        json!({"type":"peer_joined","peer":"bob"})
    );
}

/// A close frame alone (no error) is what a refused socket sees after its error: nothing else.
#[tokio::test]
async fn a_refused_socket_sees_only_the_error_and_the_close() {
    let (room, _alice, _bob) = pair("refused").await;
    let mut carol = server().connect(&room, "peer=carol").await.unwrap();
    let mut events = Vec::new();
    loop {
        let e = carol.next_event().await;
        let done = matches!(e, Event::Close(_));
        events.push(e);
        if done {
            break;
        }
    }
    assert_eq!(events.len(), 2, "{events:?}");
}

/// The client library is public code apps import from their own origins: it carries CORS and
/// CORP headers (pages do not), and every file revalidates with its ETag: 304 with no body
/// while unchanged. (All of it is Workers Static Assets with `public/_headers`, the room page
/// included, which the Worker reads through the `ASSETS` binding.)
#[tokio::test]
async fn the_client_library_is_served_for_other_origins_and_revalidates() {
    let s = server();
    let get = |path: &str, if_none_match: Option<&str>| {
        let mut req = ureq::get(&s.http_url(path)).set("Origin", "https://app.example.com");
        if let Some(tag) = if_none_match {
            req = req.set("If-None-Match", tag);
        }
        req.call().unwrap()
    };
    let client = get("/edge-signal.js", None);
    assert_eq!(client.header("access-control-allow-origin"), Some("*"));
    assert_eq!(
        client.header("cross-origin-resource-policy"),
        Some("cross-origin")
    );
    let etag = client.header("etag").expect("an ETag").to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    let again = get("/edge-signal.js", Some(&etag));
    assert_eq!(again.status(), 304);
    assert_eq!(again.header("etag"), Some(etag.as_str()));
    assert_eq!(again.header("access-control-allow-origin"), Some("*"));
    assert_eq!(again.into_string().unwrap(), "");
    let stale = get("/edge-signal.js", Some("\"0000000000000000\""));
    assert_eq!(stale.status(), 200);
    // One source: the served library is the npm package's file, byte for byte.
    let package_file = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/client/edge-signal.js"
    ))
    .unwrap();
    assert!(stale.into_string().unwrap() == package_file);
    // The assets' configuration is not itself served.
    let headers_file = ureq::get(&s.http_url("/_headers")).call();
    assert!(matches!(headers_file, Err(ureq::Error::Status(404, _))));

    for page in ["/", "/rooms/lobby", "/room.js"] {
        let resp = get(page, None);
        assert_eq!(resp.header("access-control-allow-origin"), None, "{page}");
        let etag = resp.header("etag").expect("an ETag").to_owned();
        assert_eq!(get(page, Some(&etag)).status(), 304, "{page}");
    }
}

/// `GET /api/rooms/{room}/check` runs the Worker's join checks without the upgrade (a browser
/// sees every refused upgrade as 1006, so the client asks here why): 200 `{"ok":true}`, or the
/// refusal the upgrade would get, readable from any origin. It touches no room.
#[tokio::test]
async fn the_join_check_answers_what_the_upgrade_would() {
    let s = server();
    let room = unique_room("check");
    let check = |query: &str| {
        let resp = ureq::get(&s.http_url(&format!("/api/rooms/{room}/check?{query}")))
            .set("Origin", "https://app.example.com")
            .call();
        let resp = match resp {
            Ok(resp) => resp,
            Err(ureq::Error::Status(_, resp)) => resp,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(resp.header("access-control-allow-origin"), Some("*"));
        let status = resp.status();
        let body: serde_json::Value = serde_json::from_str(&resp.into_string().unwrap()).unwrap();
        (status, body)
    };
    assert_eq!(check("peer=alice&capacity=4"), (200, json!({"ok": true})));
    let (status, body) = check("capacity=99");
    assert_eq!((status, body["error"].as_str()), (400, Some("bad_request")));
    assert_eq!(check("peer=a%20b").0, 400);
    assert_eq!(
        s.refusal(&format!("/rooms/{room}?capacity=99")).0,
        400,
        "the same answer"
    );
    assert_eq!(s.get("/api/rooms/a.b/check").unwrap().0, 400);
    assert_eq!(s.peer_count(&room), 0, "no room was joined");
}
