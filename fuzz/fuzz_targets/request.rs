//! Fuzz target: any bytes as what a client controls in a join — the path, the query and the
//! `Sec-WebSocket-Protocol` header — through `Route::parse`, `JoinParams::parse` and the
//! handoff to the room's object. Nothing may panic; whatever is accepted must satisfy the rules
//! (ids in the alphabet, capacity and matchbox's `next` in range) and survive the handoff
//! unchanged.
#![no_main]

use edge_signal::config::Config;
use edge_signal::protocol::{is_valid_id, RoomId};
use edge_signal::request::{check_matchbox_query, query_pairs, Handoff, JoinParams, Route};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // Three parts: path, query, header (missing parts are empty / absent).
    let mut parts = text.splitn(3, '\n');
    let path = parts.next().unwrap_or("");
    let query = parts.next().unwrap_or("");
    let header = parts.next();
    let config = Config::default();

    if let Route::Room(room) | Route::RoomInfo(room) = Route::parse("GET", path) {
        assert!(is_valid_id(room.as_str()));
    }
    let pairs = query_pairs(query);
    let Ok(params) = JoinParams::parse(
        pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        header,
        &config,
    ) else {
        return;
    };
    if let Some(peer) = &params.peer {
        assert!(is_valid_id(peer.as_str()));
    }
    if let Some(capacity) = params.capacity {
        assert!((2..=config.max_room_capacity).contains(&capacity));
    }
    // matchbox's groups: sized by `next` alone, within the capacity bounds.
    let pairs_again = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    if let Ok(Some(n)) = check_matchbox_query(pairs_again, &params, &config) {
        assert!((2..=config.max_room_capacity).contains(&n));
        assert!(params.capacity.is_none() && params.peer.is_none());
    }
    let handoff = Handoff::join(&RoomId::parse("r").unwrap(), &params);
    let (url, header) = handoff.to_request();
    let path = &url["https://room.internal".len()..];
    assert_eq!(Handoff::parse(path, header.as_deref()), Ok(handoff));
});
