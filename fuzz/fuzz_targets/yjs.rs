//! Fuzz target: any bytes, as text frames from the sockets of a y-webrtc namespace, through the
//! y-webrtc codec and the topics state. It must never panic; every frame it sends is JSON; a
//! delivered publish carries the count of its topic's subscribers as `clients`, once, and reaches
//! only that topic's subscribers; every attachment fits 2,048 bytes and reads back as the
//! socket's topics; nothing but the sender is ever closed.
#![no_main]

use edge_signal::action::Outbound;
use edge_signal::room::{Frame, Limits};
use edge_signal::topics::{Attachment, TopicLimits, Topics, ATTACHMENT_MAX_BYTES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        default_capacity: 2,
        max_message_bytes: 4096,
        rate_burst: 1_000_000,
        rate_per_sec: 1,
        rate_bytes_burst: 1 << 30,
        rate_bytes_per_sec: 1 << 30,
        idle_timeout_ms: 60_000,
    };
    let topic_limits = TopicLimits {
        max_connections: 3,
        max_topics: 16,
        max_topic_bytes: 96,
    };
    let mut topics: Topics<u8> = Topics::new(limits, topic_limits);
    for conn in 0..3 {
        assert!(topics.admit(conn, 0, String::new(), |_| None).seq.is_some());
    }
    // Frames separated by NUL bytes, each from the socket its first byte names.
    for chunk in data.split(|b| *b == 0) {
        let Some((&who, rest)) = chunk.split_first() else {
            continue;
        };
        let sender = who % 3;
        let text = String::from_utf8_lossy(rest);
        let topic = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["topic"].as_str().map(str::to_owned));
        let subscribers = topic.as_deref().map(|t| topics.subscribers_of(t));
        let Some(out) = topics.frame_from(&sender, Frame::Text(&text), 1) else {
            continue; // the sender was closed earlier
        };
        for action in out {
            match action.render(&text) {
                Outbound::Send { to, frame } => {
                    let v: serde_json::Value = match serde_json::from_str(&frame) {
                        Ok(v) => v,
                        Err(_) => {
                            serde_json::from_str::<Box<serde_json::value::RawValue>>(&frame)
                                .expect("JSON");
                            continue;
                        }
                    };
                    if v["type"] == "publish" {
                        let topic = topic.as_deref().expect("a publish has a topic");
                        assert_eq!(v["clients"], subscribers.unwrap() as u64, "{frame}");
                        assert_eq!(frame.matches(r#""clients":"#).count(), 1, "{frame}");
                        let seq = u64::from(to);
                        let theirs = topics.topics_of(seq).expect("delivered to a live socket");
                        assert!(theirs.iter().any(|t| t == topic), "outside its topic");
                    } else {
                        assert_eq!(to, sender, "only the sender is answered");
                    }
                }
                Outbound::Attach { to, text } => {
                    assert!(text.len() <= ATTACHMENT_MAX_BYTES, "{}", text.len());
                    let att = Attachment::from_text(&text).expect("an attachment reads back");
                    assert_eq!(Some(att.topics.as_slice()), topics.topics_of(u64::from(to)));
                }
                Outbound::Close { to, .. } => assert_eq!(to, sender),
                _ => {}
            }
        }
    }
});
