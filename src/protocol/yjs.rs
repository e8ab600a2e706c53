//! y-webrtc's signaling protocol (npm `y-webrtc` 10.3, `bin/server.js`; the client is
//! `src/y-webrtc.js` over lib0's `websocket.js`), for Yjs apps (`docs/yjs.md`). The topology it
//! feeds is [`crate::topics`].
//!
//! Client to server, JSON objects: `{"type":"subscribe","topics":[…]}`,
//! `{"type":"unsubscribe","topics":[…]}`, `{"type":"publish","topic":…,"data":…}` and
//! `{"type":"ping"}`. Server to client: a publish as it was sent with `"clients":N` added (the
//! topic's subscriber count), `{"type":"pong"}`, and, beyond y-webrtc's server, `error` frames
//! (the client ignores types it does not know). `data` is never read: it is forwarded as the raw
//! JSON it arrived as.

use super::json::{self, Fields};
use super::{Forwarding, FrameError};

/// A client frame, read only as far as the topics need.
#[derive(Debug, PartialEq)]
pub enum Request<'a> {
    /// The string entries of `topics` (others are skipped, as y-webrtc's server does); none
    /// when `topics` is absent.
    Subscribe(Vec<String>),
    Unsubscribe(Vec<String>),
    Publish(Publish<'a>),
    /// A ping the runtime's byte-exact auto-response did not catch.
    Ping,
}

/// A publish: its topic, and the frame's members as they came.
#[derive(Debug)]
pub struct Publish<'a> {
    pub topic: String,
    fields: Fields<'a>,
}

impl PartialEq for Publish<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.topic == other.topic && json::same_members(&self.fields, &other.fields)
    }
}

impl Publish<'_> {
    /// How the publish reaches a topic of `clients` subscribers: the received text with
    /// `,"clients":N` spliced in before its closing brace, or, if the client sent a `clients`
    /// member of its own, rebuilt without it (y-webrtc's server overwrites it).
    pub fn forwarding(&self, clients: usize) -> Forwarding {
        let suffix = format!(r#","clients":{clients}}}"#);
        if self.fields.iter().any(|(key, _)| key.0 == "clients") {
            Forwarding::Built(json::rebuild_without(&self.fields, "clients", &suffix))
        } else {
            Forwarding::Splice(suffix)
        }
    }
}

/// Reads a client frame. The error's text is the `bad_request` error's message.
pub fn parse(text: &str) -> Result<Request<'_>, FrameError> {
    let fields = json::object(text)?;
    let kind = json::required_string(&fields, "type")?;
    match kind.as_str() {
        "subscribe" => Ok(Request::Subscribe(topics(&fields)?)),
        "unsubscribe" => Ok(Request::Unsubscribe(topics(&fields)?)),
        "publish" => {
            let topic = json::required_string(&fields, "topic")?;
            Ok(Request::Publish(Publish { topic, fields }))
        }
        "ping" => Ok(Request::Ping),
        _ => Err(FrameError::UnknownType(kind)),
    }
}

/// The string entries of `topics`.
fn topics(fields: &Fields<'_>) -> Result<Vec<String>, FrameError> {
    let Some(raw) = json::member(fields, "topics")? else {
        return Ok(Vec::new());
    };
    let entries: Vec<&serde_json::value::RawValue> =
        serde_json::from_str(raw.get()).map_err(|_| FrameError::NotAnArray("topics"))?;
    Ok(entries
        .into_iter()
        .filter_map(|entry| serde_json::from_str::<String>(entry.get()).ok())
        .collect())
}

/// An error frame: `{"type":"error","code":…,"message":…}`.
pub fn error_frame(code: &str, message: &str) -> String {
    let message = serde_json::to_string(message).expect("a string serializes");
    format!(r#"{{"type":"error","code":"{code}","message":{message}}}"#)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::splice;

    fn publish(text: &str) -> Publish<'_> {
        match parse(text) {
            Ok(Request::Publish(p)) => p,
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn frames_are_read_as_y_webrtc_sends_them() {
        assert_eq!(
            parse(r#"{"type":"subscribe","topics":["a","b"]}"#),
            Ok(Request::Subscribe(vec!["a".into(), "b".into()]))
        );
        assert_eq!(
            parse(r#"{"type":"unsubscribe","topics":["a"]}"#),
            Ok(Request::Unsubscribe(vec!["a".into()]))
        );
        assert_eq!(parse(r#"{"type":"ping"}"#), Ok(Request::Ping));
        assert_eq!(parse(r#" { "type" : "ping" } "#), Ok(Request::Ping));
        assert_eq!(
            publish(r#"{"type":"publish","topic":"a","data":1}"#).topic,
            "a"
        );
        // As y-webrtc's server: no topics is none, and entries that are not strings are skipped.
        assert_eq!(
            parse(r#"{"type":"subscribe"}"#),
            Ok(Request::Subscribe(vec![]))
        );
        assert_eq!(
            parse(r#"{"type":"subscribe","topics":[1,"a",null,{"b":1},"\u0063"]}"#),
            Ok(Request::Subscribe(vec!["a".into(), "c".into()]))
        );
    }

    #[test]
    fn bad_frames_are_typed_errors() {
        let err = |text: &str| parse(text).expect_err(text);
        assert!(matches!(err("nope"), FrameError::NotJson(_)));
        assert_eq!(err("[]"), FrameError::NotAnObject);
        assert_eq!(err("{}"), FrameError::Missing("type"));
        assert_eq!(err(r#"{"type":1}"#), FrameError::NotAString("type"));
        assert_eq!(
            err(r#"{"type":"announce"}"#),
            FrameError::UnknownType("announce".into())
        );
        assert_eq!(
            err(r#"{"type":"subscribe","topics":"a"}"#),
            FrameError::NotAnArray("topics")
        );
        assert_eq!(
            err(r#"{"type":"publish","data":1}"#),
            FrameError::Missing("topic")
        );
        assert_eq!(
            err(r#"{"type":"publish","topic":7}"#),
            FrameError::NotAString("topic")
        );
        assert_eq!(
            err(r#"{"type":"publish","topic":"a","topic":"b"}"#),
            FrameError::Repeated("topic")
        );
    }

    #[test]
    fn a_publish_is_forwarded_as_sent_with_the_count_added() {
        let text = r#"{"type":"publish","topic":"a","data":{"n":12345678901234567890123,"s":"\ud83d\ude00"}}"#;
        let Forwarding::Splice(suffix) = publish(text).forwarding(3) else {
            panic!("spliced")
        };
        let out = splice(text, &suffix);
        assert_eq!(
            out,
            r#"{"type":"publish","topic":"a","data":{"n":12345678901234567890123,"s":"\ud83d\ude00"},"clients":3}"#
        );
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["clients"], 3);
    }

    #[test]
    fn a_client_sent_count_is_replaced() {
        let text = r#"{"type":"publish","clients":99,"topic":"a","data":"x"}"#;
        assert_eq!(
            publish(text).forwarding(2),
            Forwarding::Built(r#"{"type":"publish","topic":"a","data":"x","clients":2}"#.into())
        );
        let escaped = r#"{"type":"publish","topic":"a","cl\u0069ents":1}"#;
        let Forwarding::Built(out) = publish(escaped).forwarding(1) else {
            panic!("rebuilt")
        };
        assert_eq!(out.matches("clients").count(), 1, "{out}");
    }

    #[test]
    fn error_frames_are_json() {
        let frame = error_frame("bad_request", "a \"quoted\" word");
        let v: serde_json::Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(v["type"], "error");
        assert_eq!(v["code"], "bad_request");
        assert_eq!(v["message"], "a \"quoted\" word");
    }
}
