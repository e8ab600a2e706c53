//! The y-webrtc fan-out: T topics × N subscribers, one publisher per topic publishing in a
//! closed loop, against anything that speaks y-webrtc's signaling protocol (this worker's
//! `/yjs/{namespace}`, `docs/yjs.md`, and y-webrtc's own `bin/server.js`).
//!
//! - Every socket subscribes to its topic, then sends a spaced `{ "type": "ping" }` and waits
//!   for the `pong`: both servers answer it in order on the same socket, so the subscribe has
//!   been processed before the clock starts (the exact `{"type":"ping"}` bytes would be
//!   answered by workerd's auto-response, ahead of the subscribe).
//! - One untimed publish per topic then checks that every subscriber receives it with
//!   `"clients":N`.
//! - Timed: in each topic the first socket (itself a subscriber, as in y-webrtc, where every
//!   peer of a room publishes to the room it is in) publishes, waits until all N subscribers
//!   (itself included: both servers send a publish back to its sender) have received it, and
//!   publishes the next. Each delivery's latency is send → that subscriber's receipt; the rate
//!   is deliveries per second summed over every subscriber.
//!
//! Namespaces: by default one per topic (`{url}/{run}-{t}`), so 50 subscribers × 20 topics stay
//! far under `YJS_MAX_CONNECTIONS` (256 sockets per namespace) with the target's defaults;
//! `shared` puts every socket in one namespace (`{url}/{run}`), which needs that limit raised
//! past T × N. y-webrtc's server ignores the path: its topics are global, so topic names are
//! unique per run.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use futures_util::SinkExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::{histogram, next_json, next_text, run_id, Error, Measured, Ws};

/// A spaced ping: never caught by the runtime's byte-exact auto-response, so it is answered by
/// the namespace's object after the frames sent before it.
const SPACED_PING: &str = r#"{ "type": "ping" }"#;

/// A publish that took this long to reach every subscriber is counted lost.
const LOST_AFTER: Duration = Duration::from_secs(5);

/// What a fan-out run measured: the deliveries' latencies and rate, and how many publishes
/// were sent and lost.
pub struct FanOut {
    pub measured: Measured,
    pub publishes: u64,
    pub lost: u64,
    pub sockets: usize,
}

impl FanOut {
    pub fn to_json(&self) -> Value {
        let mut v = self.measured.to_json();
        v["deliveries_per_sec"] = v["messages_per_sec"].take();
        v.as_object_mut().unwrap().remove("messages_per_sec");
        v["deliveries"] = json!(self.measured.messages);
        v["publishes"] = json!(self.publishes);
        v["lost_publishes"] = json!(self.lost);
        v["sockets"] = json!(self.sockets);
        v
    }
}

/// The sequence number of a delivered publish (`"data":{"seq":k,...}`), read without decoding
/// the frame: both servers keep the sender's member order and spacing (the worker forwards the
/// text as sent, y-webrtc's server re-serialises it with `JSON.stringify`).
fn seq_of(frame: &str) -> Option<u64> {
    let at = frame.find(r#""seq":"#)? + 6;
    let digits = frame[at..]
        .bytes()
        .take_while(|b| b.is_ascii_digit())
        .count();
    frame[at..at + digits].parse().ok()
}

/// `{"type":"publish","topic":…,"data":{"seq":k,"pad":"vvv…"}}`, members in y-webrtc's
/// order (`seq` first, so it is found without scanning the padding). Topics here need no escapes.
fn publish_frame(topic: &str, seq: u64, pad: &str) -> String {
    format!(r#"{{"type":"publish","topic":"{topic}","data":{{"seq":{seq},"pad":"{pad}"}}}}"#)
}

/// Opens a socket on `url`, subscribes it to `topic` and waits for the pong that says the
/// subscribe was processed.
async fn subscriber(url: &str, topic: &str) -> Result<Ws, Error> {
    let (mut ws, _) = tokio::time::timeout(
        Duration::from_secs(30),
        tokio_tungstenite::connect_async(url),
    )
    .await??;
    ws.send(Message::Text(
        json!({"type": "subscribe", "topics": [topic]}).to_string(),
    ))
    .await?;
    ws.send(Message::Text(SPACED_PING.into())).await?;
    loop {
        let v = next_json(&mut ws).await?;
        match v["type"].as_str() {
            Some("pong") => return Ok(ws),
            Some("error") => return Err(format!("{url}: {v}").into()),
            _ => continue,
        }
    }
}

/// Reads until the publish numbered `seq` arrives (earlier ones, from a publish counted lost,
/// are skipped).
async fn receive(ws: &mut Ws, seq: u64) -> Result<(), Error> {
    loop {
        let text = next_text(ws).await?;
        match seq_of(&text) {
            Some(k) if k == seq => return Ok(()),
            Some(k) if k < seq => continue,
            Some(k) => return Err(format!("expected publish {seq}, got {k}").into()),
            // A pong or anything else the server sends: not a delivery.
            None => continue,
        }
    }
}

pub async fn fan_out(
    base: &str,
    subscribers: usize,
    topics: usize,
    dur: Duration,
    size: usize,
    shared: bool,
) -> Result<FanOut, Error> {
    if subscribers == 0 || topics == 0 {
        return Err("need at least one subscriber and one topic".into());
    }
    let id = run_id();
    let base = base.trim_end_matches('/');
    let pad = "v".repeat(size);

    // Every topic's sockets, subscribed; a topic's N connect at once, topics one after another.
    let mut groups: Vec<(String, Vec<Ws>)> = Vec::with_capacity(topics);
    for t in 0..topics {
        let url = if shared {
            format!("{base}/{id}")
        } else {
            format!("{base}/{id}-{t}")
        };
        let topic = format!("doc-{id}-{t}");
        let opened = join_all((0..subscribers).map(|_| subscriber(&url, &topic))).await;
        let sockets = opened.into_iter().collect::<Result<Vec<_>, _>>()?;
        groups.push((topic, sockets));
    }

    // One untimed publish per topic: every subscriber hears it, with the topic's count.
    let checks = groups.iter_mut().map(|(topic, sockets)| {
        let frame = publish_frame(topic, 0, &pad);
        async move {
            sockets[0].send(Message::Text(frame)).await?;
            for ws in sockets.iter_mut() {
                let v = loop {
                    let v = next_json(ws).await?;
                    if v["type"] == "publish" {
                        break v;
                    }
                };
                if v["data"]["seq"] != 0 || v["clients"] != subscribers {
                    return Err::<(), Error>(format!("unexpected delivery {v}").into());
                }
            }
            Ok(())
        }
    });
    for r in tokio::time::timeout(Duration::from_secs(30), join_all(checks)).await? {
        r?;
    }

    let started = Instant::now();
    let deadline = started + dur;
    let mut tasks = Vec::with_capacity(topics);
    for (topic, mut sockets) in groups {
        let pad = pad.clone();
        tasks.push(tokio::spawn(async move {
            let mut hist = histogram();
            let (mut publishes, mut lost, mut deliveries) = (0u64, 0u64, 0u64);
            let mut seq = 0;
            while Instant::now() < deadline {
                seq += 1;
                let frame = publish_frame(&topic, seq, &pad);
                let t0 = Instant::now();
                sockets[0].send(Message::Text(frame)).await?;
                publishes += 1;
                // Each subscriber's receipt is timed when it completes.
                let all = join_all(sockets.iter_mut().map(|ws| async move {
                    receive(ws, seq).await?;
                    Ok::<_, Error>(t0.elapsed())
                }));
                match tokio::time::timeout(LOST_AFTER, all).await {
                    Ok(times) => {
                        for took in times {
                            hist.record(took?.as_micros().max(1) as u64)?;
                            deliveries += 1;
                        }
                    }
                    Err(_) => {
                        lost += 1;
                        if lost > 3 {
                            return Err(format!("{topic}: {lost} publishes lost").into());
                        }
                    }
                }
            }
            let finished = Instant::now();
            for ws in sockets.iter_mut() {
                let _ = ws.close(None).await;
            }
            Ok::<_, Error>((hist, publishes, lost, deliveries, finished))
        }));
    }
    let mut hist = histogram();
    let (mut publishes, mut lost, mut deliveries) = (0, 0, 0);
    let mut elapsed = Duration::ZERO;
    for t in tasks {
        let (h, p, l, d, finished) = t.await??;
        // The clock stops when the last topic's last publish is delivered (not at the closes).
        elapsed = elapsed.max(finished - started);
        hist.add(h)?;
        publishes += p;
        lost += l;
        deliveries += d;
    }
    Ok(FanOut {
        measured: Measured {
            hist,
            messages: deliveries,
            elapsed,
        },
        publishes,
        lost,
        sockets: topics * subscribers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_is_read_from_either_servers_delivery() {
        let sent = publish_frame("doc", 42, "vv");
        // The worker: the text as sent, `clients` spliced in.
        let worker = format!("{},\"clients\":3}}", &sent[..sent.len() - 1]);
        assert_eq!(seq_of(&worker), Some(42));
        // y-webrtc's server: JSON.stringify of the parsed frame, `clients` appended.
        let mut v: Value = serde_json::from_str(&sent).unwrap();
        v["clients"] = json!(3);
        assert_eq!(seq_of(&v.to_string()), Some(42));
        assert_eq!(seq_of(r#"{"type":"pong"}"#), None);
    }
}
