//! End to end: peer metadata (control v1, section 1) on an unsigned deployment: `?meta=` on the
//! upgrade, in `welcome` and `peer_joined`, kept by a resume and by the room's eviction; bad
//! metadata refused with 400 before anything is touched. (A signed deployment's `meta` claim:
//! `tests/e2e_hardening.rs`.)

mod common;

use std::time::Duration;

use common::{server, unique_room};
use serde_json::json;

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn metadata_is_seen_by_the_others() {
    let s = server();
    let room = unique_room("meta");
    let (mut alice, welcome) = s
        .join(
            &room,
            &format!("peer=alice&capacity=3&meta={}", enc(r#"{ "name": "Ada" }"#)),
        )
        .await;
    // Nobody else yet: an empty object.
    assert_eq!(welcome["meta"], json!({}));
    let (mut bob, welcome) = s.join(&room, "peer=bob").await;
    assert_eq!(welcome["meta"], json!({"alice": {"name": "Ada"}}));
    // bob has none: no `meta` in his peer_joined.
    assert_eq!(
        alice.recv().await,
        json!({"type": "peer_joined", "peer": "bob"})
    );
    let (_carol, welcome) = s
        .join(
            &room,
            &format!("peer=carol&meta={}", enc(r#"{"name":"Cy","n":[1,2]}"#)),
        )
        .await;
    assert_eq!(welcome["meta"], json!({"alice": {"name": "Ada"}}));
    let joined =
        json!({"type": "peer_joined", "peer": "carol", "meta": {"name": "Cy", "n": [1, 2]}});
    assert_eq!(alice.recv().await, joined);
    assert_eq!(bob.recv().await, joined);
}

#[tokio::test]
async fn bad_metadata_is_refused_before_anything() {
    let s = server();
    let room = unique_room("metabad");
    let big = format!(r#"{{"n":"{}"}}"#, "x".repeat(1020));
    for meta in ["[1]", "\"name\"", "{", big.as_str()] {
        match s
            .connect(&room, &format!("peer=alice&meta={}", enc(meta)))
            .await
        {
            Err((400, body)) => assert!(body.contains("`meta`"), "{body}"),
            Err(other) => panic!("{meta}: {other:?}"),
            Ok(_) => panic!("{meta}: upgraded"),
        }
    }
    assert_eq!(s.get_json(&format!("/api/rooms/{room}")).1["peers"], 0);
}

#[tokio::test]
async fn a_resume_and_an_eviction_keep_the_metadata() {
    let s = server();
    let room = unique_room("metakeep");
    let (_alice, welcome) = s
        .join(
            &room,
            &format!("peer=alice&meta={}", enc(r#"{"name":"Ada"}"#)),
        )
        .await;
    let secret = welcome["resume"].as_str().unwrap().to_owned();
    // A resume with other metadata: the seat keeps its own.
    let (_alice2, welcome) = s
        .join(
            &room,
            &format!(
                "peer=alice&resume={secret}&meta={}",
                enc(r#"{"name":"Eve"}"#)
            ),
        )
        .await;
    assert_eq!(welcome["resumed"], true);
    let secret = welcome["resume"].as_str().unwrap().to_owned();
    // Idle past the object's eviction (workerd: about 10 s; the room is rebuilt from the
    // sockets' attachments), then a newcomer sees alice's.
    tokio::time::sleep(Duration::from_secs(13)).await;
    let (_bob, welcome) = s.join(&room, "peer=bob").await;
    assert_eq!(welcome["meta"], json!({"alice": {"name": "Ada"}}));
    if common::standalone_workerd() {
        // The newest workerd evicts it for sure (wrangler's may not: workerd issue 6862).
        let restored = format!(r#""event":"room_restored","room":"{room}""#);
        assert_eq!(s.log_count(&restored), 1, "the object was not evicted");
    }
    // alice resuming after the eviction: her welcome lists bob, who has none.
    let (_alice3, welcome) = s.join(&room, &format!("peer=alice&resume={secret}")).await;
    assert_eq!(
        welcome["meta"],
        json!({}),
        "alice's own welcome lists only bob, who has none"
    );
    assert_eq!(welcome["peers"], json!(["bob"]));
}
