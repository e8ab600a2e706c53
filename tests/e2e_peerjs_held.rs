//! End to end: messages held for an absent PeerJS id survive its object's eviction. workerd
//! evicts an idle object about 10 s after its last event; the held messages are in the object's
//! storage, read back when it is rebuilt (logged `peer_held_restored`): a peer that connects
//! after the eviction but within the expiry gets them, and one that never connects makes its
//! sender hear `EXPIRE` when the expiry passes, as without an eviction. Own test binary, own
//! server (a 30 s expiry, so the eviction comes first).

mod common;

use std::time::{Duration, Instant};

use common::{server_with, unique_room, Client, Server};
use serde_json::json;

const EXPIRE_MS: u64 = 30_000;

fn server() -> &'static Server {
    server_with(&[("PEERJS_EXPIRE_MS", "30000")])
}

/// A peer of `key` that got `OPEN` (an unsigned deployment: any token).
async fn open(s: &Server, key: &str, id: &str) -> Client {
    let path = format!("/peerjs/peerjs?key={key}&id={id}&token=t-{id}&version=1.5.5");
    let (mut c, _) = s
        .connect_path(&path, &[])
        .await
        .expect("PeerJS upgrades are always accepted");
    assert_eq!(c.recv().await, json!({"type": "OPEN"}), "{id}");
    c
}

/// Waits until the log shows that `id`'s object was rebuilt with held messages (it was
/// evicted first).
async fn wait_for_held_restore(s: &Server, key: &str, id: &str) {
    s.wait_for_log(&format!(
        r#""event":"peer_held_restored","room":"peerjs/{key}/{id}""#
    ))
    .await;
}

#[tokio::test]
async fn held_messages_outlive_the_recipients_eviction_until_they_expire() {
    let s = server();
    let k = unique_room("held");
    let mut a = open(s, &k, "a").await;
    let mut b = open(s, &k, "b").await;
    let sent = Instant::now();
    // To a connected peer too: sent, so its answers come together, asked for once the link
    // goes quiet; then the link closes, and a's object can hibernate like the others.
    for n in 0..3 {
        a.send_json(json!({"type": "CANDIDATE", "dst": "b", "payload": {"n": n}}))
            .await;
    }
    for n in 0..3 {
        assert_eq!(b.recv().await["payload"]["n"], n);
    }
    for (dst, n) in [("late", 1), ("late", 2), ("ghost", 3)] {
        let kind = if n == 2 { "CANDIDATE" } else { "OFFER" };
        a.send_json(json!({"type": kind, "dst": dst, "payload": {"n": n}}))
            .await;
    }
    // Both recipients' objects go idle and are evicted: a's links to them close after 5–6 s
    // idle (their last event), and the runtime evicts 10 s after that.
    tokio::time::sleep(Duration::from_secs(19)).await;
    let mut late = open(s, &k, "late").await;
    assert_eq!(late.recv().await["payload"]["n"], 1);
    assert_eq!(late.recv().await["payload"]["n"], 2);
    wait_for_held_restore(s, &k, "late").await;
    // The expiry alarm wakes ghost's rebuilt object: a's EXPIRE comes when it would have.
    let expired = match a.next_event_within(Duration::from_millis(EXPIRE_MS)).await {
        Some(common::Event::Text(text)) => {
            serde_json::from_str::<serde_json::Value>(&text).unwrap()
        }
        other => panic!("no EXPIRE: {other:?}"),
    };
    assert_eq!(
        expired,
        json!({"type": "EXPIRE", "src": "ghost", "dst": "a"})
    );
    let waited = sent.elapsed();
    assert!(
        waited >= Duration::from_millis(EXPIRE_MS - 200),
        "EXPIRE after {waited:?}"
    );
    wait_for_held_restore(s, &k, "ghost").await;
    // Once: no EXPIRE for late's (taken) messages, and ghost's are gone.
    a.expect_silence(1500).await;
    let mut ghost = open(s, &k, "ghost").await;
    ghost.expect_silence(300).await;
    // a's object was evicted too (its links had closed) and is rebuilt by its next frame.
    a.send_json(json!({"type": "OFFER", "dst": "b", "payload": "again"}))
        .await;
    assert_eq!(b.recv().await["payload"], "again");
    let line = format!(r#""event":"peer_restored","room":"peerjs/{k}/a""#);
    assert!(s.log_count(&line) > 0, "a's object was never evicted");
}
