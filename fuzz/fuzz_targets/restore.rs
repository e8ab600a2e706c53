//! Fuzz target: any set of socket attachments (ids, seqs, join orders, last-seen times, in any
//! order, duplicates included, as after an eviction) through `Room::restore`, then a join and a
//! sweep. Nothing may panic; the rebuilt room has unique ids in join order, the recorded
//! capacity, and gives the next join a seq no restored socket has.
#![no_main]

use edge_signal::protocol::{PeerId, RoomId};
use edge_signal::room::{JoinRequest, Limits, Room};
use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 5] = ["a", "b", "c", "d", "e"];

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        default_capacity: 2,
        max_message_bytes: 4096,
        rate_burst: 10,
        rate_per_sec: 1,
        rate_bytes_burst: 1 << 20,
        rate_bytes_per_sec: 1 << 10,
        idle_timeout_ms: 1000,
    };
    let Some((&capacity, rest)) = data.split_first() else {
        return;
    };
    let capacity = 2 + u32::from(capacity % 15);
    let empty: Room<usize> = Room::new(limits.clone());
    let seats: Vec<_> = rest
        .chunks_exact(4)
        .enumerate()
        .map(|(conn, c)| {
            let peer = PeerId::parse(NAMES[usize::from(c[0]) % NAMES.len()]).unwrap();
            let (seq, order) = (u64::from(c[1]), u64::from(c[2]));
            empty.restored_seat(
                peer,
                seq,
                order,
                conn,
                (String::new(), None, 0),
                u64::from(c[3]) * 10,
                0,
            )
        })
        .collect();
    let seqs: Vec<u64> = seats.iter().map(|s| s.seq).collect();
    let mut room = Room::restore(limits, capacity, seats);

    let ids: std::collections::BTreeSet<_> = room.seats().iter().map(|s| &s.peer).collect();
    assert_eq!(ids.len(), room.len(), "two seats share an id");
    assert!(
        room.seats().windows(2).all(|w| w[0].order <= w[1].order),
        "join order"
    );
    if !room.is_empty() {
        assert_eq!(room.capacity(), capacity);
    }
    let room_id = RoomId::parse("r").unwrap();
    let ice = edge_signal::json::Json::parse("[]").unwrap();
    let req = JoinRequest {
        room: &room_id,
        peer: PeerId::parse("newcomer").unwrap(),
        capacity: None,
        ice_servers: &ice,
        resume: None,
        new_resume_secret: String::new(),
        meta: None,
        new_session: String::new(),
    };
    let outcome = room.admit(req, usize::MAX, 5000, |_| None);
    if let Ok(joined) = outcome.result {
        assert!(seqs.iter().all(|&s| s < joined.seq), "a seq reused");
    }
});
