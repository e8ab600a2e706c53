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
use crate::protocol::{peerjs, PeerId, RoomId, Wire};
use crate::role::Role;

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

/// A checked admin request: the operation, and the object it is for: a room in the protocol it
/// speaks ([`Role::Room`]), a y-webrtc namespace ([`Role::Topics`]) or a PeerJS id
/// ([`Role::Peer`], which takes only [`Op::Get`] and [`Op::Close`]: the id is the peer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminRequest {
    pub role: Role,
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
/// protocol v1 live under `rooms/`, matchbox rooms under `matchbox/`, y-webrtc namespaces under
/// `yjs/` (their sockets are the peers), PeerJS ids under `peerjs/{key}/{id}`, and a matchbox
/// `next=N` group under `matchbox/{room}/next{N}/{group}`.
pub fn parse(method: &str, path: &str) -> Result<AdminRequest, Miss> {
    let rest = path.strip_prefix(PREFIX).ok_or(Miss::NotFound)?;
    let bad = |e: crate::protocol::InvalidId| Miss::BadName(e.to_string());
    let (kind, rest) = rest.split_once('/').ok_or(Miss::NotFound)?;
    if kind == "peerjs" {
        let op = match method {
            "GET" | "HEAD" => Op::Get,
            "DELETE" => Op::Close,
            _ => return Err(Miss::NotFound),
        };
        let (key, id) = rest.split_once('/').ok_or(Miss::NotFound)?;
        // An id's one character a path must escape is the space.
        let id = id.replace("%20", " ");
        if id.contains('/') {
            return Err(Miss::NotFound);
        }
        if !peerjs::valid_key(key) {
            return Err(Miss::BadName(format!("{key:?} is not a PeerJS key")));
        }
        if !peerjs::valid_id(&id) {
            return Err(Miss::BadName(format!("{id:?} is not a PeerJS id")));
        }
        let role = Role::Peer {
            key: key.to_owned(),
            id,
        };
        return Ok(AdminRequest { role, op });
    }
    let role_of: fn(RoomId) -> Role = match kind {
        "rooms" => |room| Role::Room {
            room,
            wire: Wire::V1,
        },
        "matchbox" => |room| Role::Room {
            room,
            wire: Wire::Matchbox,
        },
        "yjs" => |namespace| Role::Topics { namespace },
        _ => return Err(Miss::NotFound),
    };
    let mut parts = rest.split('/');
    let name = parts.next().unwrap_or_default();
    let tail: Vec<&str> = parts.collect();
    // A matchbox `next=N` group: `matchbox/{room}/next{N}/{group}/...` (N and the group as the
    // group's webhook events name them).
    let (group, tail) = match (kind, tail.as_slice()) {
        ("matchbox", [next, group, rest @ ..]) if next.starts_with("next") => {
            let n = next["next".len()..].parse::<u32>().ok().filter(|n| *n >= 2);
            match (n, group.parse::<u64>().ok()) {
                (Some(n), Some(group)) => (Some((n, group)), rest),
                _ => {
                    return Err(Miss::BadName(format!(
                        "{next}/{group} is not a matchbox group"
                    )))
                }
            }
        }
        (_, tail) => (None, tail),
    };
    let op = match (method, tail) {
        ("GET" | "HEAD", []) => Op::Get,
        ("DELETE", []) => Op::Close,
        ("POST", ["messages"]) => Op::Tell,
        ("DELETE", ["peers", peer]) => Op::Kick(PeerId::parse(peer).map_err(bad)?),
        _ => return Err(Miss::NotFound),
    };
    let room = RoomId::parse(name).map_err(bad)?;
    let role = match group {
        Some((n, group)) => Role::Group { room, n, group },
        None => role_of(room),
    };
    Ok(AdminRequest { role, op })
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

/// One socket of [`NamespaceReport`].
#[derive(Debug, Serialize)]
pub struct SocketReport<'a> {
    /// The socket's name (`s` and a number; its webhook events' `peer`).
    pub peer: String,
    pub joined_at: String,
    /// Its y-webrtc rooms, in the order subscribed.
    pub topics: &'a [String],
}

/// The answer to `GET .../yjs/{namespace}`: `capacity` and `session` are `null` when nobody
/// is connected.
#[derive(Debug, Serialize)]
pub struct NamespaceReport<'a> {
    pub namespace: &'a RoomId,
    pub capacity: Option<u32>,
    pub session: Option<&'a str>,
    pub peers: Vec<SocketReport<'a>>,
}

/// The answer to `GET .../peerjs/{key}/{id}`: whether the id is connected (then its session
/// and when it connected), and the messages held for it while it is not.
#[derive(Debug, Serialize)]
pub struct PeerJsReport<'a> {
    pub key: &'a str,
    pub id: &'a str,
    pub connected: bool,
    pub session: Option<&'a str>,
    pub joined_at: Option<String>,
    pub held: Held,
}

/// Messages held for an absent PeerJS id.
#[derive(Debug, Serialize)]
pub struct Held {
    pub messages: usize,
    pub bytes: usize,
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
            role: Role::Room {
                room: r1.clone(),
                wire: Wire::V1,
            },
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
            get("/api/admin/matchbox/r1").map(|r| r.role.wire()),
            Ok(Wire::Matchbox)
        );
    }

    #[test]
    fn namespaces_and_peerjs_ids_have_their_routes() {
        let ns = Role::Topics {
            namespace: RoomId::parse("app").unwrap(),
        };
        assert_eq!(
            parse("DELETE", "/api/admin/yjs/app/peers/s3"),
            Ok(AdminRequest {
                role: ns.clone(),
                op: Op::Kick(PeerId::parse("s3").unwrap())
            })
        );
        assert_eq!(get("/api/admin/yjs/app").map(|r| r.role), Ok(ns));
        let group = Role::Group {
            room: RoomId::parse("lobby").unwrap(),
            n: 4,
            group: 12,
        };
        assert_eq!(
            parse("DELETE", "/api/admin/matchbox/lobby/next4/12/peers/p1"),
            Ok(AdminRequest {
                role: group.clone(),
                op: Op::Kick(PeerId::parse("p1").unwrap())
            })
        );
        assert_eq!(
            get("/api/admin/matchbox/lobby/next4/12").map(|r| r.role),
            Ok(group)
        );
        for path in [
            "/api/admin/matchbox/lobby/next1/12",
            "/api/admin/matchbox/lobby/nextx/12",
            "/api/admin/matchbox/lobby/next4/-1",
        ] {
            assert!(matches!(get(path), Err(Miss::BadName(_))), "{path}");
        }
        assert_eq!(get("/api/admin/rooms/r1/next4/12"), Err(Miss::NotFound));
        let peer = |op| {
            Ok(AdminRequest {
                role: Role::Peer {
                    key: "peerjs".into(),
                    id: "ada lovelace".into(),
                },
                op,
            })
        };
        assert_eq!(
            get("/api/admin/peerjs/peerjs/ada%20lovelace"),
            peer(Op::Get)
        );
        assert_eq!(
            parse("DELETE", "/api/admin/peerjs/peerjs/ada%20lovelace"),
            peer(Op::Close)
        );
        // A PeerJS id is one peer: no peers of its own, no messages.
        for (method, path) in [
            ("POST", "/api/admin/peerjs/peerjs/ada/messages"),
            ("DELETE", "/api/admin/peerjs/peerjs/ada/peers/x"),
            ("POST", "/api/admin/peerjs/peerjs/ada"),
            ("GET", "/api/admin/peerjs/peerjs"),
        ] {
            assert_eq!(parse(method, path), Err(Miss::NotFound), "{method} {path}");
        }
        for path in [
            "/api/admin/peerjs/peerjs/a%2Fb",
            "/api/admin/peerjs/peerjs/-a",
            "/api/admin/peerjs/a.b/ada",
            "/api/admin/peerjs/peerjs/",
        ] {
            assert!(matches!(get(path), Err(Miss::BadName(_))), "{path}");
        }
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
