//! End to end: a room outlives its object. workerd evicts an idle Durable Object about 10 s after
//! its last event while its hibernatable sockets stay open; the next event rebuilds the room from
//! the sockets' attachments (logged as `room_restored`). Own test binary, own server, so nothing
//! else keeps the object awake.

mod common;

use std::time::{Duration, Instant};

use common::{server, unique_room};
use serde_json::json;

/// The log line of a restore of `room`.
fn restored(room: &str) -> String {
    format!(r#""event":"room_restored","room":"{room}""#)
}

/// Waits (idle) until workerd has evicted the object (it does so 10 s after the last event).
async fn idle_past_eviction() {
    tokio::time::sleep(Duration::from_secs(13)).await;
}

/// alice (in a room of `capacity`), then bob. Under `wrangler dev` a second apart: the workerd
/// that wrangler 4.86 ships (1.20260426) never evicts an object whose sockets were accepted
/// within moments of each other (workerd issue 6862), which would hide what these tests look
/// for. The newest workerd (`make serve`, `EDGE_SIGNAL_RUNTIME=workerd`) no longer has that bug,
/// so there they join back to back.
async fn join_pair_apart(
    s: &common::Server,
    room: &str,
    capacity: u32,
) -> (common::Client, common::Client) {
    let (mut alice, _) = s
        .join(room, &format!("peer=alice&capacity={capacity}"))
        .await;
    if !common::standalone_workerd() {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let (bob, _) = s.join(room, "peer=bob").await;
    assert_eq!(alice.recv().await["type"], "peer_joined");
    (alice, bob)
}

/// Waits until the log shows one more restore than `before`.
async fn wait_for_restore(s: &common::Server, room: &str, before: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while s.log_count(&restored(room)) == before {
        assert!(
            Instant::now() < deadline,
            "the object was never evicted and restored"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// After eviction, exact pings are answered without waking the object; the next relay wakes it,
/// and the rebuilt room has the same peers, join order and capacity.
#[tokio::test]
async fn the_room_survives_eviction_and_pings_do_not_wake_it() {
    let s = server();
    let room = unique_room("hib");
    let (mut alice, mut bob) = join_pair_apart(s, &room, 3).await;
    let before = s.log_count(&restored(&room));

    idle_past_eviction().await;
    for _ in 0..3 {
        alice.send_text(r#"{"type":"ping"}"#).await;
        assert_eq!(alice.recv_text().await, r#"{"type":"pong"}"#);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        s.log_count(&restored(&room)),
        before,
        "an exact ping woke the object"
    );

    // A relay wakes it: the room is rebuilt from the sockets and relays as before.
    alice
        .send_json(json!({"type":"offer","to":"bob","sdp":"after"}))
        .await;
    assert_eq!(
        bob.recv().await,
        json!({"type":"offer","to":"bob","sdp":"after","from":"alice"})
    );
    wait_for_restore(s, &room, before).await;
    let (_carol, welcome) = s.join(&room, "peer=carol").await;
    assert_eq!(welcome["peers"], json!(["alice", "bob"]));
    assert_eq!(welcome["capacity"], 3);
    let mut dave = s.connect(&room, "peer=dave").await.unwrap();
    assert_eq!(dave.recv().await["code"], "room_full");
}

/// A departure while the object is evicted still reaches the others.
#[tokio::test]
async fn a_disconnect_during_hibernation_gives_peer_left() {
    let s = server();
    let room = unique_room("hibleave");
    let (mut alice, bob) = join_pair_apart(s, &room, 2).await;
    idle_past_eviction().await;
    let before = s.log_count(&restored(&room));
    bob.close().await;
    assert_eq!(
        alice.recv().await,
        json!({"type":"peer_left","peer":"bob","reason":"disconnect"})
    );
    wait_for_restore(s, &room, before).await;
    s.wait_for_count(&room, 1).await;
}
