//! End to end: the admin API (control v1, section 3) on a deployment with `ADMIN_SECRET`: the
//! secret checked before anything else, the room's report, kicking, server messages, closing a
//! room, and an empty room answered from nothing. (Unset, the routes are 404:
//! `tests/e2e.rs`.)

mod common;

use common::{server_with, unique_room, Server};
use serde_json::{json, Value};

const SECRET: &str = "admin-e2e-secret";

fn server() -> &'static Server {
    server_with(&[("ADMIN_SECRET", SECRET), ("ROOM_CAPACITY", "4")])
}

/// An admin request with the secret.
fn admin(s: &Server, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let auth = format!("Bearer {SECRET}");
    s.request(method, path, &[("Authorization", &auth)], body)
}

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn the_secret_is_checked_before_the_route_and_the_name() {
    let s = server();
    let room = unique_room("adminauth");
    let routes = [
        ("GET", format!("/api/admin/rooms/{room}")),
        ("DELETE", format!("/api/admin/rooms/{room}/peers/alice")),
        ("POST", format!("/api/admin/rooms/{room}/messages")),
        ("DELETE", format!("/api/admin/rooms/{room}")),
        ("GET", "/api/admin/nothing/here".to_owned()),
        ("GET", "/api/admin/rooms/a.b".to_owned()),
    ];
    for (method, path) in &routes {
        for headers in [
            vec![],
            vec![("Authorization", "Bearer wrong")],
            vec![("Authorization", SECRET)],
            vec![("Authorization", "Bearer admin-e2e-secre")],
        ] {
            let (status, body) = s.request(method, path, &headers, Some("{}"));
            assert_eq!(status, 401, "{method} {path} {headers:?}: {body}");
            assert_eq!(json_of(&body)["error"], "unauthorized", "{body}");
        }
    }
    // With it: an unknown route is 404, a bad name 400.
    let (status, body) = admin(s, "GET", "/api/admin/nothing/here", None);
    assert_eq!(
        (status, json_of(&body)["error"].clone()),
        (404, json!("not_found"))
    );
    let (status, body) = admin(s, "GET", "/api/admin/rooms/a.b", None);
    assert_eq!(
        (status, json_of(&body)["error"].clone()),
        (400, json!("bad_request"))
    );
}

/// (That the object stores nothing for it is proven where files can be read as empty:
/// `tests/e2e_serve_disk.rs`, whose reclaim leaves no file of such objects.)
#[tokio::test]
async fn an_empty_room_answers_from_nothing() {
    let s = server();
    let room = unique_room("adminempty");
    let (status, body) = admin(s, "GET", &format!("/api/admin/rooms/{room}"), None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        json_of(&body),
        json!({"room": room, "capacity": null, "session": null, "peers": []})
    );
    let (status, body) = admin(s, "DELETE", &format!("/api/admin/rooms/{room}"), None);
    assert_eq!(status, 204, "{body}");
    let path = format!("/api/admin/rooms/{room}/messages");
    let (status, body) = admin(s, "POST", &path, Some(r#"{"data":1}"#));
    assert_eq!((status, json_of(&body)), (200, json!({"delivered": 0})));
    assert_eq!(s.peer_count(&room), 0, "nobody was seated");
}

#[tokio::test]
async fn the_report_lists_peers_in_join_order_with_their_metadata() {
    let s = server();
    let room = unique_room("adminget");
    let meta = enc(r#"{"name":"Ada"}"#);
    let (_alice, _) = s.join(&room, &format!("peer=alice&meta={meta}")).await;
    let (_bob, _) = s.join(&room, "peer=bob").await;
    let (status, body) = admin(s, "GET", &format!("/api/admin/rooms/{room}"), None);
    assert_eq!(status, 200, "{body}");
    let report = json_of(&body);
    assert_eq!(report["room"], room.as_str());
    assert_eq!(report["capacity"], 4);
    let session = report["session"].as_str().expect("a session while open");
    assert_eq!(session.len(), 32, "{session}");
    let peers = report["peers"].as_array().unwrap();
    assert_eq!(peers.len(), 2);
    assert_eq!(
        (&peers[0]["peer"], &peers[0]["meta"]),
        (&json!("alice"), &json!({"name": "Ada"}))
    );
    assert_eq!(peers[1]["peer"], "bob");
    assert!(peers[1].get("meta").is_none(), "{body}");
    // RFC 3339 with milliseconds, in UTC, and in join order.
    let at = |p: &Value| p["joined_at"].as_str().unwrap().to_owned();
    for p in peers {
        let t = at(p);
        assert_eq!(
            (t.len(), &t[10..11], &t[19..20], &t[23..]),
            (24, "T", ".", "Z"),
            "{t}"
        );
    }
    assert!(at(&peers[0]) <= at(&peers[1]));
}

#[tokio::test]
async fn a_kick_tells_the_peer_closes_it_with_4010_and_tells_the_others() {
    let s = server();
    let room = unique_room("adminkick");
    let (mut alice, _) = s.join(&room, "peer=alice").await;
    let (mut bob, _) = s.join(&room, "peer=bob").await;
    alice.recv().await; // bob's peer_joined
    let path = format!("/api/admin/rooms/{room}/peers/bob");
    let (status, body) = admin(s, "DELETE", &path, None);
    assert_eq!(status, 204, "{body}");
    let error = bob.recv().await;
    assert_eq!(
        (&error["type"], &error["code"]),
        (&json!("error"), &json!("kicked"))
    );
    assert_eq!(bob.recv_close().await, 4010);
    assert_eq!(
        alice.recv().await,
        json!({"type": "peer_left", "peer": "bob", "reason": "kicked"})
    );
    // Gone: a second kick is unknown_peer, and so is a peer never seated.
    for peer in ["bob", "nobody"] {
        let (status, body) = admin(
            s,
            "DELETE",
            &format!("/api/admin/rooms/{room}/peers/{peer}"),
            None,
        );
        assert_eq!(
            (status, json_of(&body)["error"].clone()),
            (404, json!("unknown_peer")),
            "{peer}"
        );
    }
    // Kicking does not ban: bob may join again.
    let (_bob, welcome) = s.join(&room, "peer=bob").await;
    assert_eq!(welcome["peers"], json!(["alice"]));
}

#[tokio::test]
async fn server_messages_reach_everyone_or_one_and_bad_bodies_are_refused() {
    let s = server();
    let room = unique_room("admintell");
    let (mut alice, _) = s.join(&room, "peer=alice").await;
    let (mut bob, _) = s.join(&room, "peer=bob").await;
    alice.recv().await; // bob's peer_joined
    let path = format!("/api/admin/rooms/{room}/messages");
    let (status, body) = admin(s, "POST", &path, Some(r#"{"data": {"poll": [1, 2.50]}}"#));
    assert_eq!((status, json_of(&body)), (200, json!({"delivered": 2})));
    for peer in [&mut alice, &mut bob] {
        // `data` as posted, byte for byte.
        assert_eq!(
            peer.recv_text().await,
            r#"{"type":"server_message","data":{"poll": [1, 2.50]}}"#
        );
    }
    let (status, body) = admin(s, "POST", &path, Some(r#"{"data": "hi bob", "to": "bob"}"#));
    assert_eq!((status, json_of(&body)), (200, json!({"delivered": 1})));
    assert_eq!(
        bob.recv().await,
        json!({"type": "server_message", "data": "hi bob"})
    );
    alice.expect_silence(300).await;
    let (status, body) = admin(s, "POST", &path, Some(r#"{"data": 1, "to": "carol"}"#));
    assert_eq!(
        (status, json_of(&body)["error"].clone()),
        (404, json!("unknown_peer"))
    );
    let big = format!(r#"{{"data": "{}"}}"#, "x".repeat(70_000));
    for bad in [
        "",
        "[1]",
        r#"{"to": "bob"}"#,
        r#"{"data": 1, "too": "bob"}"#,
        "{",
        big.as_str(),
    ] {
        let (status, body) = admin(s, "POST", &path, Some(bad));
        assert_eq!(
            (status, json_of(&body)["error"].clone()),
            (400, json!("bad_request")),
            "{bad:.40}"
        );
    }
    alice.expect_silence(300).await;
    bob.expect_silence(0).await;
}

#[tokio::test]
async fn closing_a_room_kicks_everyone_and_empties_it() {
    let s = server();
    let room = unique_room("adminclose");
    let (mut alice, _) = s.join(&room, "peer=alice").await;
    let (mut bob, _) = s.join(&room, "peer=bob").await;
    alice.recv().await;
    let (_, before) = admin(s, "GET", &format!("/api/admin/rooms/{room}"), None);
    let (status, body) = admin(s, "DELETE", &format!("/api/admin/rooms/{room}"), None);
    assert_eq!(status, 204, "{body}");
    assert_eq!(alice.recv().await["code"], "kicked");
    assert_eq!(alice.recv_close().await, 4010);
    // In join order: bob first hears alice go.
    assert_eq!(
        bob.recv().await,
        json!({"type": "peer_left", "peer": "alice", "reason": "kicked"})
    );
    assert_eq!(bob.recv().await["code"], "kicked");
    assert_eq!(bob.recv_close().await, 4010);
    let (_, after) = admin(s, "GET", &format!("/api/admin/rooms/{room}"), None);
    assert_eq!(
        json_of(&after),
        json!({"room": room, "capacity": null, "session": null, "peers": []})
    );
    // The next opening is a new session.
    let (_carol, _) = s.join(&room, "peer=carol").await;
    let (_, again) = admin(s, "GET", &format!("/api/admin/rooms/{room}"), None);
    assert_ne!(json_of(&again)["session"], json_of(&before)["session"]);
}

#[tokio::test]
async fn matchbox_rooms_have_the_same_report_and_kick() {
    let s = server();
    let room = unique_room("adminmb");
    let mut players = Vec::new();
    for _ in 0..2 {
        let (mut c, _) = s
            .connect_path(&format!("/matchbox/{room}"), &[])
            .await
            .expect("upgrade");
        let id = c.recv().await["IdAssigned"].as_str().unwrap().to_owned();
        players.push((c, id));
    }
    let (status, body) = admin(s, "GET", &format!("/api/admin/matchbox/{room}"), None);
    assert_eq!(status, 200, "{body}");
    let report = json_of(&body);
    let ids: Vec<String> = players.iter().map(|(_, id)| id.clone()).collect();
    let listed: Vec<String> = report["peers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["peer"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, ids);
    // The v1 room of the same name is another room: empty.
    let (_, v1) = admin(s, "GET", &format!("/api/admin/rooms/{room}"), None);
    assert_eq!(json_of(&v1)["peers"], json!([]));
    let (mut first, first_id) = players.remove(0);
    let (mut second, _) = players.remove(0);
    assert_eq!(first.recv().await["NewPeer"], ids[1].as_str());
    let (status, body) = admin(
        s,
        "DELETE",
        &format!("/api/admin/matchbox/{room}/peers/{first_id}"),
        None,
    );
    assert_eq!(status, 204, "{body}");
    assert_eq!(
        first.recv_close().await,
        4010,
        "no error frame in matchbox: the close alone"
    );
    assert_eq!(second.recv().await, json!({"PeerLeft": first_id}));
}

#[tokio::test]
async fn y_webrtc_namespaces_report_kick_and_close_their_sockets() {
    let s = server();
    let ns = unique_room("adminyjs");
    let path = format!("/api/admin/yjs/{ns}");
    let (status, body) = admin(s, "GET", &path, None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        json_of(&body),
        json!({"namespace": ns, "capacity": null, "session": null, "peers": []})
    );
    let mut sockets = Vec::new();
    for topics in [json!(["doc-a"]), json!(["doc-a", "doc-b"])] {
        let (mut c, _) = s.connect_path(&format!("/yjs/{ns}"), &[]).await.unwrap();
        c.send_json(json!({"type": "subscribe", "topics": topics}))
            .await;
        c.send_text(r#"{ "type": "ping" }"#).await;
        assert_eq!(c.recv_text().await, r#"{"type":"pong"}"#);
        sockets.push(c);
    }
    let report = json_of(&admin(s, "GET", &path, None).1);
    assert!(report["capacity"].as_u64().unwrap() > 0, "{report}");
    assert_eq!(
        report["session"].as_str().map(str::len),
        Some(32),
        "{report}"
    );
    let peers = report["peers"].as_array().unwrap();
    let listed: Vec<(&Value, &Value)> = peers.iter().map(|p| (&p["peer"], &p["topics"])).collect();
    assert_eq!(
        listed,
        [
            (&json!("s0"), &json!(["doc-a"])),
            (&json!("s1"), &json!(["doc-a", "doc-b"]))
        ]
    );
    assert!(peers[0]["joined_at"].as_str().unwrap().ends_with('Z'));
    // y-webrtc has no server message: nobody hears one, and a `to` must still be here.
    let tell = format!("{path}/messages");
    let (status, body) = admin(s, "POST", &tell, Some(r#"{"data":1}"#));
    assert_eq!((status, json_of(&body)), (200, json!({"delivered": 0})));
    let (status, body) = admin(s, "POST", &tell, Some(r#"{"data":1,"to":"s9"}"#));
    assert_eq!(
        (status, json_of(&body)["error"].clone()),
        (404, json!("unknown_peer"))
    );
    // Kick: the socket is told, closed with 4010, and leaves its topics.
    let (status, body) = admin(s, "DELETE", &format!("{path}/peers/s0"), None);
    assert_eq!(status, 204, "{body}");
    let mut first = sockets.remove(0);
    let told = first.recv().await;
    assert_eq!(
        (told["type"].clone(), told["code"].clone()),
        (json!("error"), json!("kicked"))
    );
    assert_eq!(first.recv_close().await, 4010);
    let (status, _) = admin(s, "DELETE", &format!("{path}/peers/s0"), None);
    assert_eq!(status, 404, "gone");
    // Close: everyone else goes the same way, and the namespace is empty.
    let (status, _) = admin(s, "DELETE", &path, None);
    assert_eq!(status, 204);
    let mut second = sockets.remove(0);
    assert_eq!(second.recv().await["code"], "kicked");
    assert_eq!(second.recv_close().await, 4010);
    let report = json_of(&admin(s, "GET", &path, None).1);
    assert_eq!(
        (report["peers"].clone(), report["session"].clone()),
        (json!([]), json!(null))
    );
}

#[tokio::test]
async fn a_peerjs_id_reports_and_is_removed() {
    let s = server();
    let id = format!("{} admin", unique_room("pj"));
    let path = format!("/api/admin/peerjs/peerjs/{}", id.replace(' ', "%20"));
    let absent = json_of(&admin(s, "GET", &path, None).1);
    assert_eq!(
        absent,
        json!({"key": "peerjs", "id": id, "connected": false, "session": null,
               "joined_at": null, "held": {"messages": 0, "bytes": 0}})
    );
    let (status, body) = admin(s, "DELETE", &path, None);
    assert_eq!(
        (status, json_of(&body)["error"].clone()),
        (404, json!("unknown_peer"))
    );
    let query: String = form_urlencoded::byte_serialize(id.as_bytes()).collect();
    let socket = format!("/peerjs/peerjs?key=peerjs&id={query}&token=t1&version=1.5.5");
    let (mut c, _) = s.connect_path(&socket, &[]).await.unwrap();
    assert_eq!(c.recv().await, json!({"type": "OPEN"}));
    let report = json_of(&admin(s, "GET", &path, None).1);
    assert_eq!(report["connected"], true, "{report}");
    assert_eq!(
        report["session"].as_str().map(str::len),
        Some(32),
        "{report}"
    );
    assert!(report["joined_at"].as_str().unwrap().ends_with('Z'));
    let (status, body) = admin(s, "DELETE", &path, None);
    assert_eq!(status, 204, "{body}");
    let told = c.recv().await;
    assert_eq!(told["type"], "ERROR", "{told}");
    assert!(told["payload"]["msg"]
        .as_str()
        .unwrap()
        .starts_with("kicked"));
    assert_eq!(c.recv_close().await, 4010);
    assert_eq!(json_of(&admin(s, "GET", &path, None).1)["connected"], false);
    // Not a route of a PeerJS id, and not a PeerJS id.
    assert_eq!(
        admin(s, "POST", &format!("{path}/messages"), Some("{}")).0,
        404
    );
    assert_eq!(admin(s, "GET", "/api/admin/peerjs/peerjs/-x", None).0, 400);
}

#[tokio::test]
async fn a_matchbox_group_is_reached_by_its_size_and_number() {
    let s = server();
    let room = unique_room("admingroup");
    let mut players = Vec::new();
    for _ in 0..2 {
        let (mut c, _) = s
            .connect_path(&format!("/matchbox/{room}?next=2"), &[])
            .await
            .expect("upgrade");
        let id = c.recv().await["IdAssigned"].as_str().unwrap().to_owned();
        players.push((c, id));
    }
    let ids: Vec<Value> = players.iter().map(|(_, id)| json!(id)).collect();
    // The group's number is the one its webhook events and log lines carry.
    let marker = format!("\"room\":\"matchbox/{room}/next2/");
    // Wrangler writes the line a moment after the join that caused it.
    s.wait_for_log(&marker).await;
    let log = std::fs::read_to_string(&s.log_path).unwrap();
    let line = log
        .lines()
        .find(|l| l.contains(&marker))
        .expect("the join's log line");
    let rest = &line[line.find(&marker).unwrap() + marker.len()..];
    let group: u64 = rest[..rest.find('"').unwrap()].parse().unwrap();
    let path = format!("/api/admin/matchbox/{room}/next2/{group}");
    let report = json_of(&admin(s, "GET", &path, None).1);
    let listed: Vec<Value> = report["peers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["peer"].clone())
        .collect();
    assert_eq!(listed, ids, "{report}");
    let (status, body) = admin(
        s,
        "DELETE",
        &format!("/api/admin/matchbox/{room}/next2/{group}"),
        None,
    );
    assert_eq!(status, 204, "{body}");
    for (mut c, _) in players {
        loop {
            match c.next_event().await {
                common::Event::Close(close) => {
                    assert_eq!(close.map(|(code, _)| code), Some(4010));
                    break;
                }
                common::Event::Text(_) => {} // NewPeer / PeerLeft of the other
            }
        }
    }
    let path = format!("/api/admin/matchbox/{room}/next1/{group}");
    assert_eq!(admin(s, "GET", &path, None).0, 400);
}
