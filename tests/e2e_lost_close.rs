//! End to end, on the newest workerd (`make serve`): a socket dropped without a close frame while
//! its exact pings (answered by the runtime's auto-response) race the room's relays to it. On
//! workerd 1.20261117 the object then often never hears of the close: measured here, 21 of 60
//! such drops left the seat held 1.5 s later, 8 of 20 still 6 s later (0 of 60 with spaced pings,
//! which the room answers itself). Production runs the current runtime, so this is what the idle
//! sweep is for: the seat is freed, and the others told, within 1.5 × `IDLE_TIMEOUT_MS` of the
//! peer's last sign of life. Own test binary, with a short idle timeout.

mod common;

use std::time::{Duration, Instant};

use common::{unique_room, workerd_server_with};

const IDLE_TIMEOUT_MS: u64 = 4000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_seat_whose_close_is_lost_is_freed_by_the_sweep() {
    let s = workerd_server_with(&[("IDLE_TIMEOUT_MS", "4000")]);
    let deadline = Duration::from_millis(IDLE_TIMEOUT_MS * 3 / 2 + 3000);
    // Enough rounds that some closes are lost (a fifth to a third of sequential ones are, see
    // above; fewer when many run at once): 4 lanes of 6 rounds one after another. Each seat
    // must be freed, by the close or by the sweep.
    let lanes: Vec<_> = (0..4)
        .map(|lane| {
            tokio::spawn(async move {
                let mut took = Vec::new();
                for r in 0..6 {
                    took.push(round(s, &format!("lost{lane}-{r}"), deadline).await);
                }
                took
            })
        })
        .collect();
    let mut lost = 0;
    for lane in lanes {
        for took in lane.await.expect("a round failed") {
            if took > Duration::from_secs(1) {
                lost += 1; // freed by the sweep, not by a close
            }
        }
    }
    println!("{lost} of 24 closes lost, and those seats freed by the sweep");
}

/// One drop: bob pings (exactly) while alice relays to him, then vanishes; returns how long the
/// room took to free his seat.
async fn round(s: &'static common::Server, name: &str, deadline: Duration) -> Duration {
    let room = unique_room(name);
    let (mut alice, _) = s.join(&room, "peer=alice&capacity=4").await;
    let (mut bob, _) = s.join(&room, "peer=bob").await;
    assert_eq!(alice.recv().await["type"], "peer_joined");
    for i in 0..30 {
        alice
            .send_text(format!(r#"{{"type":"message","to":"bob","data":{i}}}"#))
            .await;
        bob.send_text(r#"{"type":"ping"}"#).await;
    }
    let dropped = Instant::now();
    // No close frame. alice stays alive (exact pings) while the room frees bob's seat.
    drop(bob);
    while s.peer_count(&room) != 1 {
        assert!(
            dropped.elapsed() < deadline,
            "{room}: bob's seat still held {deadline:?} after the drop"
        );
        alice.send_text(r#"{"type":"ping"}"#).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let took = dropped.elapsed();
    drop(alice);
    took
}
