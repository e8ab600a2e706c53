//! The admin API (control v1, section 3): the app's back end asks about a room, removes a peer,
//! tells the peers something, or closes the room, behind `ADMIN_SECRET`.
//!
//! This module is the plain part: the routes, the secret's check, the message body's rules and
//! the room's report. The Worker (`runtime/entry.rs`) checks the secret before anything else
//! (an unknown route or a bad name is a 401 without it), then hands the operation to the room's
//! object as [`crate::request::Handoff::Admin`]; the room carries it out (`room/admin.rs`).

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::json::Json;
use crate::meta::Meta;
use crate::protocol::{PeerId, RoomId, Wire};

/// The path prefix of every admin route.
pub const PREFIX: &str = "/api/admin/";

/// What an admin request asks of a room.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// `GET .../rooms/{room}`: who is in it.
    Get,
    /// `DELETE .../rooms/{room}/peers/{peer}`: remove one peer.
    Kick(PeerId),
    /// `POST .../rooms/{room}/messages`: a `server_message` (the body comes separately).
    Tell,
    /// `DELETE .../rooms/{room}`: remove every peer.
    Close,
}

/// A checked admin request: the operation, and the room it is for in the protocol it speaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminRequest {
    pub wire: Wire,
    pub room: RoomId,
    pub op: Op,
}

/// Why an admin path names nothing (answered only to a request with the secret).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Miss {
    /// No such route: 404.
    NotFound,
    /// A room or peer name outside the alphabet: 400 with this message.
    BadName(String),
}

/// The admin request of `method` and `path` (the whole path, [`PREFIX`] included). Rooms of
/// protocol v1 live under `rooms/`, matchbox rooms under `matchbox/`.
pub fn parse(method: &str, path: &str) -> Result<AdminRequest, Miss> {
    let rest = path.strip_prefix(PREFIX).ok_or(Miss::NotFound)?;
    let (wire, rest) = if let Some(rest) = rest.strip_prefix("rooms/") {
        (Wire::V1, rest)
    } else if let Some(rest) = rest.strip_prefix("matchbox/") {
        (Wire::Matchbox, rest)
    } else {
        return Err(Miss::NotFound);
    };
    let mut parts = rest.split('/');
    let name = parts.next().unwrap_or_default();
    let tail: Vec<&str> = parts.collect();
    let op = match (method, tail.as_slice()) {
        ("GET" | "HEAD", []) => Op::Get,
        ("DELETE", []) => Op::Close,
        ("POST", ["messages"]) => Op::Tell,
        ("DELETE", ["peers", peer]) => {
            Op::Kick(PeerId::parse(peer).map_err(|e| Miss::BadName(e.to_string()))?)
        }
        _ => return Err(Miss::NotFound),
    };
    let room = RoomId::parse(name).map_err(|e| Miss::BadName(e.to_string()))?;
    Ok(AdminRequest { wire, room, op })
}

/// Whether `authorization` is `Bearer <secret>` (the scheme in any case, as HTTP's are), the
/// secret compared in constant time (a guess learns nothing from how long the comparison took).
pub fn authorized(authorization: Option<&str>, secret: &str) -> bool {
    let presented = authorization
        .and_then(|h| h.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map_or("", |(_, token)| token);
    !presented.is_empty() && bool::from(presented.as_bytes().ct_eq(secret.as_bytes()))
}

/// The body of `POST .../messages`: `{"data": <any JSON>, "to": "<peer>"?}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tell {
    pub data: Json,
    pub to: Option<PeerId>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)] // a misspelt `to` must not become a broadcast
struct TellBody {
    data: Json,
    #[serde(default)]
    to: Option<String>,
}

/// Reads a message body of at most `max_bytes` (`MAX_MESSAGE_BYTES`): the message of the 400
/// when it breaks the rules.
pub fn parse_tell(body: &str, max_bytes: usize) -> Result<Tell, String> {
    if let Some(message) = too_big(body.len(), max_bytes) {
        return Err(message);
    }
    let shape = "the body must be a JSON object {\"data\": <any JSON>, \"to\": \"<peer>\"?}";
    // Objects only: serde would also read a struct from an array (`[1]` as `{"data": 1}`).
    if !body.trim_start().starts_with('{') {
        return Err(shape.to_owned());
    }
    let parsed: TellBody = serde_json::from_str(body).map_err(|_| shape.to_owned())?;
    let to = match parsed.to {
        Some(to) => Some(PeerId::parse(&to).map_err(|e| e.to_string())?),
        None => None,
    };
    Ok(Tell {
        data: parsed.data,
        to,
    })
}

/// The 400's message for a message body of `len` bytes, if that is over `max_bytes` (the
/// Worker asks with the declared `Content-Length` before it reads the body).
pub fn too_big(len: usize, max_bytes: usize) -> Option<String> {
    (len > max_bytes)
        .then(|| format!("the body is {len} bytes; at most {max_bytes} (MAX_MESSAGE_BYTES)"))
}

/// One peer of [`Report`].
#[derive(Debug, Serialize)]
pub struct PeerReport<'a> {
    pub peer: &'a PeerId,
    /// RFC 3339, milliseconds, UTC.
    pub joined_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<&'a Meta>,
}

/// The answer to `GET .../rooms/{room}`: `capacity` and `session` are `null` for an empty room.
#[derive(Debug, Serialize)]
pub struct Report<'a> {
    pub room: &'a RoomId,
    pub capacity: Option<u32>,
    pub session: Option<&'a str>,
    pub peers: Vec<PeerReport<'a>>,
}

/// The answer to `POST .../messages`.
#[derive(Debug, Serialize)]
pub struct Delivered {
    pub delivered: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str) -> Result<AdminRequest, Miss> {
        parse("GET", path)
    }

    #[test]
    fn every_route_of_the_contract_parses() {
        let r1 = RoomId::parse("r1").unwrap();
        let req = |op| AdminRequest {
            wire: Wire::V1,
            room: r1.clone(),
            op,
        };
        assert_eq!(get("/api/admin/rooms/r1"), Ok(req(Op::Get)));
        assert_eq!(parse("DELETE", "/api/admin/rooms/r1"), Ok(req(Op::Close)));
        assert_eq!(
            parse("POST", "/api/admin/rooms/r1/messages"),
            Ok(req(Op::Tell))
        );
        assert_eq!(
            parse("DELETE", "/api/admin/rooms/r1/peers/alice"),
            Ok(req(Op::Kick(PeerId::parse("alice").unwrap())))
        );
        assert_eq!(
            get("/api/admin/matchbox/r1").map(|r| r.wire),
            Ok(Wire::Matchbox)
        );
    }

    #[test]
    fn anything_else_is_not_found_and_bad_names_are_named() {
        for (method, path) in [
            ("GET", "/api/admin/"),
            ("GET", "/api/admin/rooms"),
            ("GET", "/api/admin/other/r1"),
            ("POST", "/api/admin/rooms/r1"),
            ("GET", "/api/admin/rooms/r1/messages"),
            ("DELETE", "/api/admin/rooms/r1/peers"),
            ("DELETE", "/api/admin/rooms/r1/peers/a/b"),
            ("PUT", "/api/admin/rooms/r1"),
            ("GET", "/api/rooms/r1"),
        ] {
            assert_eq!(parse(method, path), Err(Miss::NotFound), "{method} {path}");
        }
        assert!(matches!(get("/api/admin/rooms/a.b"), Err(Miss::BadName(m)) if m.contains("room")));
        assert!(matches!(get("/api/admin/rooms/"), Err(Miss::BadName(_))));
        assert!(matches!(
            parse("DELETE", "/api/admin/rooms/r1/peers/a.b"),
            Err(Miss::BadName(m)) if m.contains("peer")
        ));
    }

    #[test]
    fn the_secret_is_a_bearer_token_compared_whole() {
        assert!(authorized(Some("Bearer s3cret"), "s3cret"));
        assert!(
            authorized(Some("bearer s3cret"), "s3cret"),
            "schemes are case-insensitive"
        );
        for header in [
            None,
            Some(""),
            Some("Bearer "),
            Some("s3cret"),
            Some("Bearer s3cre"),
            Some("Bearer s3cret2"),
            Some("Bearer  s3cret"),
            Some("Basic s3cret"),
        ] {
            assert!(!authorized(header, "s3cret"), "{header:?}");
        }
    }

    #[test]
    fn a_message_body_is_data_and_an_optional_recipient() {
        let tell = parse_tell(r#"{"data": {"a": [1, 2.5]}, "to": "bob"}"#, 100).unwrap();
        assert_eq!(tell.data.get(), r#"{"a": [1, 2.5]}"#, "data as posted");
        assert_eq!(tell.to, Some(PeerId::parse("bob").unwrap()));
        assert_eq!(parse_tell(r#"{"data": null}"#, 100).unwrap().to, None);
        for bad in [
            "",
            "[]",
            "[1]",
            r#"[1, "bob"]"#,
            r#"{"to": "bob"}"#,
            r#"{"data": 1, "too": "bob"}"#,
            r#"{"data": 1, "to": 5}"#,
            r#"{"data": 1} x"#,
        ] {
            assert!(
                parse_tell(bad, 100).unwrap_err().contains("JSON object"),
                "{bad}"
            );
        }
        assert!(parse_tell(r#"{"data": 1, "to": "a b"}"#, 100)
            .unwrap_err()
            .contains("peer"));
        let big = format!(r#"{{"data": "{}"}}"#, "x".repeat(100));
        assert!(parse_tell(&big, 100)
            .unwrap_err()
            .contains("MAX_MESSAGE_BYTES"));
    }

    #[test]
    fn an_empty_room_reports_nulls() {
        let room = RoomId::parse("r1").unwrap();
        let report = Report {
            room: &room,
            capacity: None,
            session: None,
            peers: vec![],
        };
        assert_eq!(
            serde_json::to_string(&report).unwrap(),
            r#"{"room":"r1","capacity":null,"session":null,"peers":[]}"#
        );
    }
}
