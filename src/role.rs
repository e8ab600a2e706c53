//! What a Durable Object is for, from its name: parsed once, when the object is constructed,
//! into a [`Role`], and rendered by the one function that names objects ([`Role::object_name`]).
//! Names of different roles never collide: each role but the v1 room has a prefix outside the
//! room alphabet.

use crate::protocol::{RoomId, Wire};

/// The role of a Durable Object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// A room of `RoomObject`, speaking `wire` (a v1 room's name is its room's; a matchbox
    /// room's has the prefix `matchbox/`).
    Room { room: RoomId, wire: Wire },
    /// A matchbox `next=N` group (`RoomObject`): a matchbox room of capacity `n` that closes
    /// for good once it has been full.
    Group { room: RoomId, n: u32, group: u64 },
    /// The `RoomObject` that knows which of `room`'s groups of `n` is forming.
    Lobby { room: RoomId, n: u32 },
    /// A y-webrtc namespace (`RoomObject`): its sockets and their topics.
    Topics { namespace: RoomId },
    /// A PeerJS peer (`PeerObject`): the one socket of `id` on `key`.
    Peer { key: String, id: String },
    /// A PeerJS key's directory of connected ids (`PeerObject`), with discovery on.
    Directory { key: String },
}

const MATCHBOX: &str = "matchbox/";
const LOBBY: &str = "lobby/";
const YJS: &str = "yjs/";
const PEERJS: &str = "peerjs/";

impl Role {
    /// The name given to `idFromName` for this role.
    pub fn object_name(&self) -> String {
        match self {
            Role::Room {
                room,
                wire: Wire::V1,
            } => room.as_str().to_owned(),
            Role::Room {
                room,
                wire: Wire::Matchbox,
            } => format!("{MATCHBOX}{room}"),
            Role::Group { room, n, group } => format!("{MATCHBOX}{room}/next{n}/{group}"),
            Role::Lobby { room, n } => format!("{LOBBY}{room}/next{n}"),
            Role::Topics { namespace } => format!("{YJS}{namespace}"),
            Role::Peer { key, id } => format!("{PEERJS}{key}/{id}"),
            Role::Directory { key } => format!("{PEERJS}{key}"),
        }
    }

    /// The role of the object named `name`, if it is one [`Role::object_name`] makes.
    pub fn of(name: &str) -> Option<Role> {
        let next = |rest: &str| -> Option<u32> { rest.strip_prefix("next")?.parse().ok() };
        if let Some(rest) = name.strip_prefix(PEERJS) {
            return Some(match rest.split_once('/') {
                Some((key, id)) => Role::Peer {
                    key: key.to_owned(),
                    id: id.to_owned(),
                },
                None => Role::Directory {
                    key: rest.to_owned(),
                },
            });
        }
        if let Some(rest) = name.strip_prefix(LOBBY) {
            let (room, n) = rest.split_once('/')?;
            return Some(Role::Lobby {
                room: RoomId::parse(room).ok()?,
                n: next(n)?,
            });
        }
        if let Some(rest) = name.strip_prefix(YJS) {
            return Some(Role::Topics {
                namespace: RoomId::parse(rest).ok()?,
            });
        }
        if let Some(rest) = name.strip_prefix(MATCHBOX) {
            let mut parts = rest.split('/');
            let room = RoomId::parse(parts.next()?).ok()?;
            return match (parts.next(), parts.next(), parts.next()) {
                (None, _, _) => Some(Role::Room {
                    room,
                    wire: Wire::Matchbox,
                }),
                (Some(n), Some(group), None) => Some(Role::Group {
                    room,
                    n: next(n)?,
                    group: group.parse().ok()?,
                }),
                _ => None,
            };
        }
        Some(Role::Room {
            room: RoomId::parse(name).ok()?,
            wire: Wire::V1,
        })
    }

    /// The wire protocol of a room or group; v1 for the roles that have none.
    pub fn wire(&self) -> Wire {
        match self {
            Role::Room { wire, .. } => *wire,
            Role::Group { .. } => Wire::Matchbox,
            _ => Wire::V1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_reads_back_from_its_name() {
        let r = RoomId::parse("r1").unwrap();
        let roles = [
            Role::Room {
                room: r.clone(),
                wire: Wire::V1,
            },
            Role::Room {
                room: r.clone(),
                wire: Wire::Matchbox,
            },
            Role::Group {
                room: r.clone(),
                n: 2,
                group: 7,
            },
            Role::Lobby {
                room: r.clone(),
                n: 16,
            },
            Role::Topics {
                namespace: r.clone(),
            },
            Role::Peer {
                key: "k".into(),
                id: "a b".into(),
            },
            Role::Directory { key: "k".into() },
        ];
        let names: Vec<String> = roles.iter().map(Role::object_name).collect();
        assert_eq!(
            names,
            [
                "r1",
                "matchbox/r1",
                "matchbox/r1/next2/7",
                "lobby/r1/next16",
                "yjs/r1",
                "peerjs/k/a b",
                "peerjs/k"
            ]
        );
        for role in roles {
            assert_eq!(Role::of(&role.object_name()), Some(role));
        }
    }

    #[test]
    fn names_no_role_makes_are_none() {
        for name in [
            "",
            "a.b",
            "lobby/r",
            "lobby/r/nextx",
            "matchbox/r/next2",
            "matchbox/r/x/1",
            "yjs/a.b",
        ] {
            assert_eq!(Role::of(name), None, "{name}");
        }
    }

    #[test]
    fn a_namespace_and_a_room_of_one_name_are_different_objects() {
        let n = RoomId::parse("app").unwrap();
        let topics = Role::Topics {
            namespace: n.clone(),
        }
        .object_name();
        let room = Role::Room {
            room: n,
            wire: Wire::V1,
        }
        .object_name();
        assert_ne!(topics, room);
    }
}
