//! End to end: a call that begins after its room was evicted still sweeps its dead peers. A lone
//! peer keeps her socket alive with exact pings (answered by the runtime, so the object is
//! evicted about 10 s after the join); the next join makes the room a call, and must set the
//! sweep alarm, although the rebuilt room cannot know from memory whether one was set. Own test
//! binary: a short idle timeout, and nothing else in it to keep the object awake.

mod common;

use std::time::{Duration, Instant};

use common::{server_with, unique_room, Event};
use serde_json::json;

#[tokio::test]
async fn a_call_opened_after_an_eviction_sweeps_a_silent_peer_without_a_third_join() {
    let s = server_with(&[("IDLE_TIMEOUT_MS", "4000")]);
    let room = unique_room("evsweep");
    let (mut alice, _) = s.join(&room, "peer=alice").await;
    let restored = format!(r#""event":"room_restored","room":"{room}""#);

    // Alone and pinging with the exact bytes for longer than workerd's 10 s eviction timer.
    let alone_until = Instant::now() + Duration::from_secs(13);
    while Instant::now() < alone_until {
        alice.send_text(r#"{"type":"ping"}"#).await;
        assert_eq!(alice.recv_text().await, r#"{"type":"pong"}"#);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    // bob's join wakes the object, which rebuilds the room from alice's socket.
    let (mut bob, welcome) = s.join(&room, "peer=bob").await;
    assert_eq!(welcome["peers"], json!(["alice"]));
    assert_eq!(alice.recv().await["type"], "peer_joined");
    s.wait_for_log(&restored).await;

    // bob goes silent (a half-open connection looks the same to the server); alice keeps
    // pinging. The sweep alarm the join set drops bob: 4008 to him, `timeout` to her.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        assert!(Instant::now() < deadline, "bob was never swept");
        alice.send_text(r#"{"type":"ping"}"#).await;
        match alice.next_event_within(Duration::from_secs(1)).await {
            Some(Event::Text(t)) if t == r#"{"type":"pong"}"# => {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Some(Event::Text(t)) => {
                let v: serde_json::Value = serde_json::from_str(&t).unwrap();
                assert_eq!(
                    v,
                    json!({"type":"peer_left","peer":"bob","reason":"timeout"})
                );
                break;
            }
            other => panic!("alice got {other:?}"),
        }
    }
    assert_eq!(bob.recv_close().await, 4008);
    s.wait_for_count(&room, 1).await;
}
