//! Property tests of the room state machine and the frame parser (proptest), natively.
//!
//! Random sequences of joins (with and without resume secrets, right and wrong), frames (relays,
//! broadcasts, leaves, pings, binary, oversized, garbage), disconnects, sweeps and clock jumps
//! run against one `Room`, while a model of what every socket has been told checks after each
//! step that:
//! - capacity is never exceeded and ids stay unique (so a resume never leaves two sockets with
//!   one id);
//! - a message never reaches its sender, a closed socket, or anyone not in the room;
//! - each departure gives exactly one `peer_left` to each remaining peer, and every seated
//!   socket's view of who is in the room equals the room.
//!
//! The arbitrary-bytes properties at the end complement the coverage-guided fuzz target
//! (`fuzz/fuzz_targets/frame.rs`, `make fuzz`), which drives the same parser and state machine.

use std::collections::{BTreeSet, HashMap};

use edge_signal::protocol::{parse_client_frame, ClientFrame, PeerId, RoomId};
use edge_signal::room::{Frame, Hook, JoinRequest, Limits, Outbound, Room, SweepAlarm};

/// The seated peers in join order.
fn before_order(room: &Room<usize>) -> Vec<String> {
    room.seats().iter().map(|s| s.peer.to_string()).collect()
}
use proptest::prelude::*;
use serde_json::Value;

const NAMES: [&str; 6] = ["a", "b", "c", "d", "e", "f"];

#[derive(Clone, Debug)]
enum Op {
    Join {
        name: usize,
        capacity: Option<u32>,
        resume: ResumeTry,
    },
    Send {
        socket: usize,
        frame: FrameKind,
    },
    Disconnect {
        socket: usize,
    },
    /// The sweep alarm fires if one is set; otherwise the join path's sweep runs.
    Sweep,
    /// The runtime evicts the object; the next event rebuilds the room from the sockets'
    /// attachments.
    Evict,
    Wait {
        ms: u64,
    },
}

#[derive(Clone, Debug)]
enum ResumeTry {
    None,
    Right,
    Wrong,
}

#[derive(Clone, Debug)]
enum FrameKind {
    Offer { to: usize },
    Broadcast,
    Message { to: usize },
    Leave,
    Ping,
    Binary,
    Oversized,
    Garbage(String),
}

fn op() -> impl Strategy<Value = Op> {
    let resume = prop_oneof![
        Just(ResumeTry::None),
        Just(ResumeTry::Right),
        Just(ResumeTry::Wrong)
    ];
    let frame = prop_oneof![
        4 => (0..7usize).prop_map(|to| FrameKind::Offer { to }),
        3 => Just(FrameKind::Broadcast),
        2 => (0..7usize).prop_map(|to| FrameKind::Message { to }),
        1 => Just(FrameKind::Leave),
        1 => Just(FrameKind::Ping),
        1 => Just(FrameKind::Binary),
        1 => Just(FrameKind::Oversized),
        2 => ".{0,40}".prop_map(FrameKind::Garbage),
    ];
    prop_oneof![
        4 => (0..NAMES.len(), proptest::option::of(2..5u32), resume)
            .prop_map(|(name, capacity, resume)| Op::Join { name, capacity, resume }),
        8 => (0..64usize, frame).prop_map(|(socket, frame)| Op::Send { socket, frame }),
        2 => (0..64usize).prop_map(|socket| Op::Disconnect { socket }),
        1 => Just(Op::Sweep),
        1 => Just(Op::Evict),
        2 => (0..3000u64).prop_map(|ms| Op::Wait { ms }),
    ]
}

/// One socket the test opened.
struct Socket {
    name: &'static str,
    seq: Option<u64>,
    open: bool,
    /// Who this socket has been told is in the room (welcome, then joins and lefts).
    view: BTreeSet<String>,
    secret: Option<String>,
}

struct World {
    room: Room<usize>,
    sockets: Vec<Socket>,
    now: u64,
    limits: Limits,
    /// The sweep alarm as storage holds it: set by `ArmAlarm`, deleted by `DisarmAlarm`.
    alarm: Option<u64>,
    /// Who is in the room as its webhook events tell it (`Outbound::Hook`), and the session
    /// they are of (`None` between sessions).
    hooked: BTreeSet<String>,
    hook_session: Option<String>,
}

impl World {
    fn new() -> Self {
        let limits = Limits {
            default_capacity: 3,
            max_message_bytes: 256,
            rate_burst: 8,
            rate_per_sec: 4,
            rate_bytes_burst: 1 << 30,
            rate_bytes_per_sec: 1 << 30,
            idle_timeout_ms: 5000,
        };
        World {
            room: Room::new(limits.clone()),
            sockets: Vec::new(),
            now: 0,
            limits,
            alarm: None,
            hooked: BTreeSet::new(),
            hook_session: None,
        }
    }

    fn seated(&self) -> HashMap<usize, String> {
        self.room
            .seats()
            .iter()
            .map(|s| (s.conn, s.peer.to_string()))
            .collect()
    }

    fn apply(&mut self, op: Op) {
        let before = self.seated();
        let (out, sender) = match op {
            Op::Join {
                name,
                capacity,
                resume,
            } => {
                let name = NAMES[name];
                let conn = self.sockets.len();
                let holder = self
                    .room
                    .seats()
                    .iter()
                    .find(|s| s.peer.as_str() == name)
                    .map(|s| s.conn);
                let presented = match (resume, holder) {
                    (ResumeTry::Right, Some(h)) => self.sockets[h].secret.clone(),
                    (ResumeTry::Wrong, _) => Some("wrong".to_owned()),
                    _ => None,
                };
                self.sockets.push(Socket {
                    name,
                    seq: None,
                    open: true,
                    view: BTreeSet::new(),
                    secret: None,
                });
                let room_id = RoomId::parse("r").unwrap();
                let ice = edge_signal::json::Json::parse("[]").unwrap();
                let req = JoinRequest {
                    room: &room_id,
                    peer: PeerId::parse(name).unwrap(),
                    capacity,
                    ice_servers: &ice,
                    resume: presented.as_deref(),
                    new_resume_secret: format!("s{conn}"),
                    meta: None,
                    new_session: format!("session{conn}"),
                };
                // As the adapter does: a restored room learns what storage holds before a join.
                if self.room.sweep_alarm() == SweepAlarm::Unknown {
                    self.room.alarm_known(self.alarm);
                }
                let outcome = self.room.join(req, conn, self.now);
                match &outcome.result {
                    Ok(joined) => {
                        self.sockets[conn].seq = Some(joined.seq);
                        self.sockets[conn].secret = Some(format!("s{conn}"));
                        if joined.resumed {
                            // The seat moved: the new socket takes over the old one's view.
                            let old = holder.expect("a resume replaces a holder");
                            self.sockets[conn].view = self.sockets[old].view.clone();
                        }
                    }
                    Err(_) => assert_eq!(
                        self.room.seats().len(),
                        before.len(),
                        "a refusal changes nothing"
                    ),
                }
                (outcome.out, None)
            }
            Op::Send { socket, frame } => {
                let Some(s) = self.sockets.get(socket) else {
                    return;
                };
                let Some(seq) = s.seq else { return };
                let peer = PeerId::parse(s.name).unwrap();
                let name = |i: usize| NAMES.get(i).copied().unwrap_or("nobody");
                let text = match &frame {
                    FrameKind::Offer { to } => format!(
                        r#"{{"type":"offer","to":"{}","sdp":"x","from":"spoof"}}"#,
                        name(*to)
                    ),
                    FrameKind::Broadcast => r#"{"type":"message","data":{"n":1}}"#.to_owned(),
                    FrameKind::Message { to } => {
                        format!(r#"{{"type":"message","to":"{}","data":2}}"#, name(*to))
                    }
                    FrameKind::Leave => r#"{"type":"leave"}"#.to_owned(),
                    FrameKind::Ping => r#"{ "type":"ping" }"#.to_owned(),
                    FrameKind::Oversized => {
                        format!(r#"{{"type":"message","data":"{}"}}"#, "x".repeat(300))
                    }
                    FrameKind::Garbage(g) => g.clone(),
                    FrameKind::Binary => String::new(),
                };
                let f = match frame {
                    FrameKind::Binary => Frame::Binary(3),
                    _ => Frame::Text(&text),
                };
                let out: Vec<_> = (self.room.frame(&peer, seq, f, self.now).into_iter())
                    .map(|o| o.render(&text))
                    .collect();
                if !before.contains_key(&socket) {
                    assert!(
                        out.is_empty(),
                        "a socket that is not seated changes nothing"
                    );
                }
                (out, Some(socket))
            }
            Op::Disconnect { socket } => {
                let Some(s) = self.sockets.get_mut(socket) else {
                    return;
                };
                let Some(seq) = s.seq else { return };
                let peer = PeerId::parse(s.name).unwrap();
                s.open = false;
                (self.room.depart(&peer, seq), None)
            }
            Op::Sweep => match self.alarm.take() {
                Some(_) => (self.room.alarm_fired(self.now, |_| None), None),
                None => (self.room.sweep(self.now, |_| None), None),
            },
            Op::Evict => {
                let capacity = self.room.capacity();
                let order: Vec<String> = before_order(&self.room);
                // What the attachments hold: the last-seen time recorded on each socket.
                let seats: Vec<_> = (self.room.seats().iter())
                    .map(|s| {
                        self.room.restored_seat(
                            s.peer.clone(),
                            s.seq,
                            s.order,
                            s.conn,
                            (s.resume.clone(), s.meta.clone(), s.joined_ms),
                            s.recorded_seen_ms,
                            self.now,
                        )
                    })
                    .rev() // getWebSockets() promises no order
                    .collect();
                let session = self.room.session().map(str::to_owned);
                self.room = Room::restore(self.limits.clone(), capacity, seats)
                    .in_session(session.clone().unwrap_or_default());
                assert_eq!(
                    self.room.session().map(str::to_owned),
                    session,
                    "the session survives"
                );
                // A socket no longer seated has a cleared attachment: after the rebuild the
                // adapter cannot name it (its late frames find no seat), so it sends nothing.
                for socket in &mut self.sockets {
                    if !socket.open {
                        socket.seq = None;
                    }
                }
                assert_eq!(
                    before_order(&self.room),
                    order,
                    "peers and join order survive"
                );
                assert_eq!(self.room.capacity(), capacity, "capacity survives");
                (Vec::new(), None)
            }
            Op::Wait { ms } => {
                self.now += ms;
                return;
            }
        };
        self.check(out, &before, sender);
    }

    fn check(
        &mut self,
        out: Vec<Outbound<usize>>,
        before: &HashMap<usize, String>,
        sender: Option<usize>,
    ) {
        let after = self.seated();
        // Who is in the room at each action: a sweep or a resume closes sockets part-way.
        let mut present: BTreeSet<usize> = before.keys().copied().collect();
        for action in out {
            match action {
                Outbound::Send { to, frame } => {
                    assert!(self.sockets[to].open, "sent to a closed socket");
                    let v: Value = serde_json::from_str(&frame).expect("every frame is JSON");
                    match v["type"].as_str().unwrap() {
                        "welcome" => {
                            present.insert(to);
                            self.sockets[to].view = v["peers"]
                                .as_array()
                                .unwrap()
                                .iter()
                                .map(|p| p.as_str().unwrap().to_owned())
                                .collect();
                        }
                        "peer_joined" => {
                            let p = v["peer"].as_str().unwrap().to_owned();
                            assert!(
                                present.contains(&to),
                                "peer_joined to someone outside the room"
                            );
                            assert!(self.sockets[to].view.insert(p), "joined twice");
                        }
                        "peer_left" => {
                            let p = v["peer"].as_str().unwrap();
                            assert!(
                                present.contains(&to),
                                "peer_left to someone outside the room"
                            );
                            assert_ne!(self.sockets[to].name, p, "told of its own departure");
                            assert!(
                                self.sockets[to].view.remove(p),
                                "peer_left for a peer not known, or twice"
                            );
                        }
                        "offer" | "message" => {
                            let from = sender.expect("relays have a sender");
                            assert_ne!(to, from, "a sender received its own message");
                            assert!(present.contains(&to), "relayed outside the room");
                            assert_eq!(v["from"], self.sockets[from].name, "from is the sender");
                        }
                        "error" | "pong" => {
                            if let Some(from) = sender {
                                assert_eq!(to, from, "errors go to the sender");
                            }
                        }
                        other => panic!("unexpected frame type {other}"),
                    }
                }
                Outbound::Close { to, .. } => {
                    self.sockets[to].open = false;
                    present.remove(&to);
                }
                Outbound::Touch { to, .. } => assert!(after.contains_key(&to)),
                Outbound::ArmAlarm { at } => {
                    assert!(at > self.now, "a sweep in the past");
                    self.alarm = Some(at);
                }
                Outbound::DisarmAlarm => self.alarm = None,
                Outbound::Event(_) => {}
                Outbound::Hook { session, hook } => {
                    // A receiver replaying the events rebuilds the room: each join and
                    // departure once, a session opened and finished around them.
                    match &hook {
                        Hook::RoomStarted { .. } => {
                            assert!(self.hook_session.is_none(), "started twice");
                            assert!(self.hooked.is_empty());
                            self.hook_session = Some(session.clone());
                        }
                        Hook::PeerJoined { peer, peers, .. } => {
                            assert!(self.hooked.insert(peer.to_string()), "joined twice");
                            assert_eq!(*peers, self.hooked.len(), "the count after");
                        }
                        Hook::PeerLeft { peer, peers, .. } => {
                            assert!(self.hooked.remove(peer.as_str()), "left without joining");
                            assert_eq!(*peers, self.hooked.len(), "the count after");
                        }
                        Hook::RoomFinished => {
                            assert!(self.hooked.is_empty(), "finished with peers in it");
                            assert!(self.hook_session.take().is_some(), "finished unstarted");
                        }
                    }
                    if !matches!(hook, Hook::RoomFinished) {
                        assert_eq!(self.hook_session.as_ref(), Some(&session), "one session");
                    }
                }
                Outbound::Forward { .. } => unreachable!("rendered into a Send by `apply`"),
                Outbound::Attach { .. }
                | Outbound::Deliver { .. }
                | Outbound::Park { .. }
                | Outbound::Unpark { .. }
                | Outbound::DropParked => {
                    panic!("a room never asks for {action:?}")
                }
            }
        }
        // A call always has a sweep alarm (or a dead peer would never be swept); an empty room
        // never has one.
        if self.room.len() >= 2 {
            assert!(self.alarm.is_some(), "a call without a sweep alarm");
        }
        if self.room.is_empty() {
            assert_eq!(self.alarm, None, "an alarm outlived the room");
        }
        // The events tell who is in the room.
        let seated: BTreeSet<String> = self
            .room
            .seats()
            .iter()
            .map(|s| s.peer.to_string())
            .collect();
        assert_eq!(self.hooked, seated, "the webhook events' room is the room");
        assert_eq!(
            self.hook_session.as_deref(),
            self.room.session(),
            "the session"
        );
        // Invariants of the room itself.
        let seats = self.room.seats();
        assert!(
            seats.len() <= self.room.capacity() as usize,
            "capacity exceeded"
        );
        let ids: BTreeSet<&str> = seats.iter().map(|s| s.peer.as_str()).collect();
        assert_eq!(ids.len(), seats.len(), "two seats share an id");
        for seat in seats {
            assert!(self.sockets[seat.conn].open, "a seated socket was closed");
            // Everyone's view of the room is the room.
            let others: BTreeSet<String> = seats
                .iter()
                .filter(|s| s.conn != seat.conn)
                .map(|s| s.peer.to_string())
                .collect();
            assert_eq!(
                self.sockets[seat.conn].view, others,
                "{} sees the wrong room",
                seat.peer
            );
        }
        let _ = &self.limits;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    /// The invariants above hold after every step of any sequence of events.
    #[test]
    fn the_room_stays_consistent(ops in proptest::collection::vec(op(), 1..120)) {
        let mut world = World::new();
        for op in ops {
            world.apply(op);
        }
    }

    /// Any text parses or is refused with a message: no panic, whatever the bytes.
    #[test]
    fn the_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = parse_client_frame(&text);
    }

    /// A relayed frame is the sent object with `from` replaced: same members, same raw values.
    #[test]
    fn a_relay_keeps_every_member_but_from(
        members in proptest::collection::btree_map("[a-z]{1,6}", any::<i64>(), 0..6),
        data in ".{0,30}",
    ) {
        let mut object = serde_json::Map::new();
        object.insert("type".into(), "message".into());
        object.insert("data".into(), data.clone().into());
        for (k, v) in &members {
            if !["type", "data", "to"].contains(&k.as_str()) {
                object.insert(k.clone(), (*v).into());
            }
        }
        let text = Value::Object(object.clone()).to_string();
        let Ok(ClientFrame::Relay(relay)) = parse_client_frame(&text) else { panic!("{text}") };
        let out: Value = serde_json::from_str(&relay.to_frame(&PeerId::parse("me").unwrap())).unwrap();
        object.insert("from".into(), "me".into());
        prop_assert_eq!(out, Value::Object(object));
    }

    /// Arbitrary frames from a seated peer never change who is in the room, unless they leave.
    #[test]
    fn arbitrary_frames_never_corrupt_the_room(frames in proptest::collection::vec(".{0,64}", 1..40)) {
        let limits = Limits { default_capacity: 3, max_message_bytes: 4096, rate_burst: 1000, rate_per_sec: 1000, rate_bytes_burst: 1 << 30, rate_bytes_per_sec: 1 << 30, idle_timeout_ms: 60_000 };
        let mut room: Room<u8> = Room::new(limits);
        let room_id = RoomId::parse("r").unwrap();
        let ice = edge_signal::json::Json::parse("[]").unwrap();
        for (i, name) in ["a", "b"].iter().enumerate() {
            let req = JoinRequest { room: &room_id, peer: PeerId::parse(name).unwrap(), capacity: None, ice_servers: &ice, resume: None, new_resume_secret: String::new(), meta: None, new_session: String::new() };
            room.join(req, i as u8, 0).result.unwrap();
        }
        let a = PeerId::parse("a").unwrap();
        for text in frames {
            let leaving = matches!(parse_client_frame(&text), Ok(ClientFrame::Leave));
            let out: Vec<_> = (room.frame(&a, 0, Frame::Text(&text), 0).into_iter())
                .map(|o| o.render(&text))
                .collect();
            for action in &out {
                if let Outbound::Send { frame, .. } = action {
                    prop_assert!(serde_json::from_str::<Value>(frame).is_ok());
                }
            }
            if leaving {
                prop_assert_eq!(room.len(), 1);
                break;
            }
            prop_assert_eq!(room.len(), 2);
        }
    }
}
