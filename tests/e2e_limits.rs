//! End to end: what one sender can cost the others and the isolate, with the default limits —
//! a byte budget per sender (a broadcast counts once per recipient), and frames over the size
//! limit refused from their length without entering wasm memory. `BENCH_COUNTERS` makes
//! `/api/rooms` report the isolate's wasm memory size.

mod common;

use std::time::{Duration, Instant};

use common::{server_with, unique_room, Client, Event, Server};
use futures_util::SinkExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

fn server() -> &'static Server {
    server_with(&[("BENCH_COUNTERS", "1")])
}

/// The size of the isolate's wasm memory (it only grows), as the room's object reports it.
fn wasm_memory(s: &Server, room: &str) -> u64 {
    let (status, v) = s.get_json(&format!("/api/rooms/{room}"));
    assert_eq!(status, 200, "{v}");
    v["wasm_memory_bytes"]
        .as_u64()
        .expect("BENCH_COUNTERS reports memory")
}

/// Sends a frame without waiting on the result: the server may close the socket part-way.
async fn push(c: &mut Client, text: String) {
    let _ = tokio::time::timeout(Duration::from_secs(10), c.ws.send(Message::Text(text))).await;
}

/// Frames of 4 and 8 MiB of multibyte text (and one whose UTF-16 length is under the limit but
/// whose UTF-8 length is over it) close the sender with 1009; the others hear `peer_left`,
/// another room keeps relaying, and the isolate's wasm memory does not grow by the frame.
#[tokio::test]
async fn oversized_multibyte_frames_are_refused_without_entering_wasm_memory() {
    let s = server();
    let other = unique_room("calm");
    let (mut carol, _) = s.join(&other, "peer=carol").await;
    let (mut dave, _) = s.join(&other, "peer=dave").await;
    assert_eq!(carol.recv().await["type"], "peer_joined");

    for (label, text) in [
        // 'é' is 2 bytes of UTF-8 and 1 UTF-16 unit: 4 MiB of UTF-8, 2 Mi units.
        ("4 MiB", "é".repeat(2 << 20)),
        ("8 MiB", "é".repeat(4 << 20)),
        // '€' is 3 bytes and 1 unit: 40,000 units (under 65,536) but 120,000 bytes.
        ("120 KB in 40k units", "€".repeat(40_000)),
    ] {
        let room = unique_room("big");
        let (mut alice, _) = s.join(&room, "peer=alice").await;
        let (mut bob, _) = s.join(&room, "peer=bob").await;
        assert_eq!(alice.recv().await["type"], "peer_joined");
        let before = wasm_memory(s, &room);
        let frame = format!(r#"{{"type":"message","data":"{text}"}}"#);
        push(&mut bob, frame).await;
        assert_eq!(bob.recv_close().await, 1009, "{label}");
        assert_eq!(
            alice.recv().await,
            json!({"type":"peer_left","peer":"bob","reason":"disconnect"}),
            "{label}"
        );
        let after = wasm_memory(s, &room);
        assert!(
            after < before + (1 << 20),
            "{label}: wasm memory grew from {before} to {after} bytes"
        );
        // The other room never noticed.
        carol
            .send_json(json!({"type":"message","to":"dave","data":label}))
            .await;
        assert_eq!(dave.recv().await["data"], label);
    }
}

/// One sender broadcasting 60 KB frames to two peers (120 KB a frame, counted per recipient)
/// gets through its 1 MiB burst, then `rate_limited`, then closed with 4006; a receiver gets
/// no more than the burst plus the 256 KiB/s refill.
#[tokio::test]
async fn a_broadcaster_is_held_to_its_byte_budget() {
    let s = server();
    let room = unique_room("bytes");
    let (mut alice, _) = s.join(&room, "peer=alice&capacity=3").await;
    let (mut bob, _) = s.join(&room, "peer=bob").await;
    let (mut carol, _) = s.join(&room, "peer=carol").await;
    assert_eq!(alice.recv().await["type"], "peer_joined");
    assert_eq!(alice.recv().await["type"], "peer_joined");
    assert_eq!(bob.recv().await["type"], "peer_joined");

    let started = Instant::now();
    let frame = format!(r#"{{"type":"message","data":"{}"}}"#, "x".repeat(60_000));
    for _ in 0..30 {
        push(&mut alice, frame.clone()).await;
    }
    let mut limited = 0;
    loop {
        match alice.next_event().await {
            Event::Text(t) => {
                let v: serde_json::Value = serde_json::from_str(&t).unwrap();
                assert_eq!(v["code"], "rate_limited", "{v}");
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
    let mut received = 0usize;
    loop {
        match bob.next_event().await {
            Event::Text(t) if t.contains(r#""type":"peer_left""#) => break,
            Event::Text(t) => received += t.len(),
            other => panic!("bob got {other:?}"),
        }
    }
    let allowed = (1 << 20) as f64 + 262_144.0 * elapsed;
    // Each recipient's share of the budget is half of it: two recipients per frame.
    assert!(
        (received as f64) <= allowed / 2.0 + 61_000.0,
        "bob received {received} bytes in {elapsed:.1} s"
    );
    assert!(
        received >= 7 * 60_000,
        "the burst was not let through: {received} bytes"
    );
    assert_eq!(carol.recv().await["type"], "message");
}

/// In a 16-peer room a 60 KB broadcast costs 900 KB of the sender's 1 MiB byte budget; the next
/// ones are refused with `rate_limited`, and a refusal counts its frame once, not once per
/// recipient, so the sender is not closed after its second refusal and can back off (hardening,
/// second round, item 7: it was closed with 4006 after two).
#[tokio::test]
async fn a_broadcaster_in_a_full_room_is_refused_before_it_is_closed() {
    let s = server();
    let room = unique_room("broadcast16");
    let (mut p0, _) = s.join(&room, "peer=p0&capacity=16").await;
    let mut others = Vec::new();
    for i in 1..16 {
        let (c, _) = s.join(&room, &format!("peer=p{i}")).await;
        others.push(c);
    }
    for _ in 1..16 {
        assert_eq!(p0.recv().await["type"], "peer_joined");
    }
    let frame = format!(r#"{{"type":"message","data":"{}"}}"#, "x".repeat(60_000));
    for _ in 0..6 {
        p0.send_text(frame.clone()).await;
    }
    // Five refusals, and the socket still open: a spaced ping is answered after them.
    for _ in 0..5 {
        let v = p0.recv().await;
        assert_eq!(v["code"], "rate_limited", "{v}");
    }
    p0.send_text(r#"{ "type": "ping" }"#).await;
    assert_eq!(p0.recv().await["type"], "pong");
    // Every other peer got the one broadcast that fitted.
    for c in &mut others {
        let mut v = c.recv().await;
        while v["type"] == "peer_joined" {
            v = c.recv().await;
        }
        assert_eq!(
            (v["type"].as_str(), v["from"].as_str()),
            (Some("message"), Some("p0"))
        );
    }
}
