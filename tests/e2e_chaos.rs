//! Chaos, end to end: 500 sockets over 100 rooms joining, relaying, leaving, dropping abruptly
//! and resuming at random for a bounded time, with a corpus of over a thousand malformed frames
//! mixed in. Afterwards every room is consistent (`/api/rooms` counts equal the live sockets), no
//! message was delivered outside its room, and a normal two-peer exchange still works.
//!
//! The same for the PeerJS endpoint (`peerjs_chaos_leaves_every_peer_consistent`): 100 clients
//! contending for 50 ids over 10 keys, opening, relaying, taking over, dropping and sending
//! malformed frames; afterwards every id is held by exactly the socket that says so, and ids
//! whose holders closed open again for another token.
//!
//! The same for the y-webrtc endpoint (`yjs_chaos_leaves_every_topic_consistent`): 150 sockets
//! over 5 namespaces of the same 8 topic names, subscribing, unsubscribing, publishing, sending
//! malformed, oversized and binary frames, closing and dropping; no publish reaches a socket
//! outside its topic or namespace, and afterwards a probe's publish to every topic reaches
//! exactly the sockets that believe they subscribe to it, with that count as `clients`.
//!
//! Seeded: `CHAOS_SEED=<n>` replays a run; `CHAOS_SECS` sets its length (default 15; the PeerJS
//! run takes half, the y-webrtc run two thirds).
//!
//! Always against standalone newest workerd (`make serve`), whose assets service sits in front
//! of the worker as Cloudflare's asset router does. Under `wrangler dev` 4.86, Miniflare's asset
//! router in front of the worker takes about a second per upgrade at this load and drops
//! connections mid-upgrade ("Network connection lost"), so rooms fill with seats whose sockets
//! already went and next to nothing is relayed (0 to 739 relays in 15 s, against 28,763 on
//! workerd, measured here): a test of Miniflare's router, not of the worker.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{unique_room, webhooks, workerd_server_with, Client, Event, Server};
use futures_util::SinkExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::value::RawValue;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

const ROOMS: usize = 100;
const ADMIN: &str = "chaos-admin";

/// With webhooks on (to the test receiver) and the admin API, which the rooms' run checks the
/// delivered events against.
fn server() -> &'static Server {
    let [url, secret] = webhooks::settings();
    workerd_server_with(&[url, secret, ("ADMIN_SECRET", ADMIN)])
}

/// The chaos tests share one server and two cores: one at a time, so each gets the traffic
/// its floors expect.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
const SOCKETS: usize = 500;
const MAX_MESSAGE_BYTES: usize = 65536;

/// At least 1,000 frames the server must refuse or relay without harm.
fn malformed_corpus(rng: &mut StdRng) -> Vec<Vec<u8>> {
    let mut corpus: Vec<Vec<u8>> = Vec::new();
    let valid = r#"{"type":"offer","to":"p1","sdp":"v=0\r\no=- 1 1 IN IP4 0.0.0.0"}"#;
    // Every truncation of a valid frame.
    for i in 0..valid.len() {
        corpus.push(valid.as_bytes()[..i].to_vec());
    }
    // Random bytes (sent as text, so made valid UTF-8).
    for _ in 0..600 {
        let len = rng.gen_range(0..200);
        let bytes: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        corpus.push(String::from_utf8_lossy(&bytes).into_owned().into_bytes());
    }
    // Deep nesting, balanced and not.
    for depth in [10, 100, 1000, 10_000, 30_000] {
        corpus.push(
            format!(
                r#"{{"type":"message","data":{}{}}}"#,
                "[".repeat(depth),
                "]".repeat(depth)
            )
            .into_bytes(),
        );
        corpus.push(
            format!(r#"{{"type":"message","data":{}}}"#, "{\"a\":".repeat(depth)).into_bytes(),
        );
    }
    // Huge and odd numbers, odd unicode, wrong types, duplicate members, spoofing.
    let odd = [
        r#"{"type":"message","data":123456789012345678901234567890123456789e999999}"#,
        r#"{"type":"message","data":-0.0e-99999}"#,
        r#"{"type":"message","data":NaN}"#,
        r#"{"type":"message","data":"\ud800"}"#,
        r#"{"type":"message","data":"\u202e\u200b\ufeff𝕏"}"#,
        "{\"type\":\"message\",\"data\":\"\u{10FFFF}\"}",
        r#"{"type":"offer","to":"p1","sdp":null}"#,
        r#"{"type":"offer","to":{"x":1},"sdp":"v"}"#,
        r#"{"type":"offer","to":"p1","to":"p2","sdp":"v"}"#,
        r#"{"type":["offer"]}"#,
        r#"{"type":"message","data":1,"from":"p0","fr\u006fm":"p2"}"#,
        r#"{"type":"welcome"}"#,
        r#"{"type":"leave","extra":{"#,
        "\u{0}\u{1}\u{2}",
        "{}",
        "[]",
        "null",
        "\"\"",
    ];
    for _ in 0..20 {
        corpus.extend(odd.iter().map(|s| s.as_bytes().to_vec()));
    }
    // Exactly MAX_MESSAGE_BYTES (relayed) and one byte over (closes with 1009).
    let head = r#"{"type":"message","data":""#;
    for len in [MAX_MESSAGE_BYTES, MAX_MESSAGE_BYTES + 1] {
        corpus.push(format!("{head}{}\"}}", "x".repeat(len - head.len() - 2)).into_bytes());
    }
    assert!(corpus.len() >= 1000, "{} frames", corpus.len());
    corpus
}

struct Tally {
    relayed_seen: AtomicUsize,
    malformed_sent: AtomicUsize,
    actions: AtomicUsize,
}

/// One chaos client: a fixed peer id in a fixed room, reconnecting as often as it likes.
async fn run_client(
    i: usize,
    room: String,
    peers_in_room: Vec<String>,
    deadline: Instant,
    seed: u64,
    corpus: Arc<Vec<Vec<u8>>>,
    tally: Arc<Tally>,
) -> Option<Client> {
    let s = server();
    let me = format!("p{i}");
    let mut rng = StdRng::seed_from_u64(seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut socket: Option<Client> = None;
    let mut secret: Option<String> = None;
    let mut n = 0u64;

    // Checks everything that arrived; returns false if the socket closed.
    async fn drain(
        c: &mut Client,
        room: &str,
        me: &str,
        secret: &mut Option<String>,
        tally: &Tally,
        wait_ms: u64,
    ) -> bool {
        while let Some(event) = c.next_event_within(Duration::from_millis(wait_ms)).await {
            match event {
                Event::Close(_) => return false,
                Event::Text(t) => {
                    let Ok(v) = serde_json::from_str::<Value>(&t) else {
                        // A corpus frame relayed as it came: still JSON by the grammar (a lone
                        // surrogate escape, a number beyond f64), which serde_json will not
                        // decode into a Value but a browser's JSON.parse will.
                        serde_json::from_str::<Box<serde_json::value::RawValue>>(&t)
                            .expect("the server only sends JSON");
                        continue;
                    };
                    match v["type"].as_str().unwrap() {
                        "message" | "offer" => {
                            if let Some(r) = v["data"]["room"].as_str() {
                                assert_eq!(r, room, "a message crossed rooms: {t}");
                                assert_ne!(v["from"], me, "received its own message");
                                tally.relayed_seen.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        "welcome" => *secret = v["resume"].as_str().map(str::to_owned),
                        _ => {}
                    }
                }
            }
        }
        true
    }

    while Instant::now() < deadline {
        tally.actions.fetch_add(1, Ordering::Relaxed);
        let Some(c) = socket.as_mut() else {
            // Join, resuming the last seat half the time (it may or may not still be held).
            let query = match (&secret, rng.gen_bool(0.5)) {
                (Some(sec), true) => format!("peer={me}&capacity=16&resume={sec}"),
                _ => format!("peer={me}&capacity=16"),
            };
            if let Ok(mut c) = s.connect(&room, &query).await {
                let first = c.recv().await;
                if first["type"] == "welcome" {
                    secret = first["resume"].as_str().map(str::to_owned);
                    socket = Some(c);
                } else {
                    // Our old seat is still held and the resume lost the race: try later.
                    assert_eq!(first["code"], "peer_id_taken", "{first}");
                }
            }
            tokio::time::sleep(Duration::from_millis(rng.gen_range(20..120))).await;
            continue;
        };
        let roll: u32 = rng.gen_range(0..100);
        if roll < 55 {
            n += 1;
            let data = json!({"room": room, "n": n});
            let frame = if rng.gen_bool(0.5) {
                json!({"type":"message","data":data})
            } else {
                let to = &peers_in_room[rng.gen_range(0..peers_in_room.len())];
                json!({"type":"offer","to":to,"sdp":"v=0","data":data})
            };
            c.send_text(frame.to_string()).await;
        } else if roll < 80 {
            let frame = &corpus[rng.gen_range(0..corpus.len())];
            tally.malformed_sent.fetch_add(1, Ordering::Relaxed);
            c.send_text(String::from_utf8(frame.clone()).unwrap()).await;
        } else if roll < 86 {
            c.send_text(r#"{"type":"leave"}"#).await;
        } else if roll < 92 {
            socket = None; // dropped abruptly: no close frame
            continue;
        } else if roll < 96 {
            // Resume on a new socket while the old one is still open (a network change).
            let sec = secret.clone().unwrap_or_default();
            if let Ok(mut fresh) = s
                .connect(&room, &format!("peer={me}&capacity=16&resume={sec}"))
                .await
            {
                let first = fresh.recv().await;
                // Resumed, or a plain join if the old seat was already gone (a leave or a
                // 1009 whose close had not reached us yet).
                assert_eq!(
                    first["type"], "welcome",
                    "resume with the seat's secret: {first}"
                );
                secret = first["resume"].as_str().map(str::to_owned);
                socket = Some(fresh); // the old one gets 4009 and is dropped here
            }
            continue;
        } else {
            // Spaced, so the room answers it. Exact pings are answered by the runtime's
            // auto-response, and racing the room's own relays on the same socket they go wrong
            // in both runtimes: the workerd that wrangler 4.86 ships (1.20260426) can crash
            // ("another message send is already in progress", fixed by STOR-5552), and the
            // newest (1.20261117) loses the close of a socket dropped right after (its seat
            // stays until the idle sweep; tests/e2e_lost_close.rs). Exact pings are covered
            // there and by the hibernation and hardening tests.
            c.send_text(r#"{ "type": "ping" }"#).await;
        }
        let c = socket.as_mut().unwrap();
        if !drain(c, &room, &me, &mut secret, &tally, rng.gen_range(20..150)).await {
            socket = None;
        }
    }
    // Settle: a message to a made-up id is answered by the room itself, and only for a seated
    // socket, with an `unknown_peer` naming that id (unlike a pong, which could be a late answer
    // to an earlier ping). That answer means live and seated; a close means gone; silence would
    // be a socket the server keeps open without a seat, which must never happen.
    let mut c = socket?;
    let probe = format!("probe-{i}-{n}");
    c.send_text(json!({"type":"message","to":probe,"data":0}).to_string())
        .await;
    loop {
        match c.next_event_within(Duration::from_secs(10)).await {
            Some(Event::Close(_)) => return None,
            Some(Event::Text(t)) if t.contains(&format!(r#""peer":"{probe}""#)) => return Some(c),
            Some(Event::Text(_)) => continue, // traffic still in flight
            None => panic!("{me} in {room}: an open socket without a seat"),
        }
    }
}

/// `CHAOS_SEED` (else a random seed) and `CHAOS_SECS` (else `default_secs`), printed so that a
/// failing run can be replayed.
fn seed_and_secs(what: &str, default_secs: u64) -> (u64, u64) {
    let var = |name: &str| std::env::var(name).ok().and_then(|v| v.parse().ok());
    let seed: u64 = var("CHAOS_SEED").unwrap_or_else(rand::random);
    let secs: u64 = var("CHAOS_SECS").unwrap_or(default_secs);
    println!("{what}: seed {seed}, {secs} s (CHAOS_SEED={seed} replays it)");
    (seed, secs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_leaves_every_room_consistent() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let s = server();
    let (seed, secs) = seed_and_secs("chaos", 15);
    let mut rng = StdRng::seed_from_u64(seed);
    let corpus = Arc::new(malformed_corpus(&mut rng));
    let tally = Arc::new(Tally {
        relayed_seen: AtomicUsize::new(0),
        malformed_sent: AtomicUsize::new(0),
        actions: AtomicUsize::new(0),
    });
    let rooms: Vec<String> = (0..ROOMS)
        .map(|r| unique_room(&format!("chaos{r}")))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(secs);

    let mut tasks = Vec::new();
    for i in 0..SOCKETS {
        let room = rooms[i % ROOMS].clone();
        let peers: Vec<String> = (0..SOCKETS)
            .filter(|j| j % ROOMS == i % ROOMS)
            .map(|j| format!("p{j}"))
            .collect();
        tasks.push(tokio::spawn(run_client(
            i,
            room,
            peers,
            deadline,
            seed,
            corpus.clone(),
            tally.clone(),
        )));
    }
    let mut live: HashMap<String, Vec<Client>> = HashMap::new();
    for (i, t) in tasks.into_iter().enumerate() {
        if let Some(c) = t.await.expect("a chaos client panicked") {
            live.entry(rooms[i % ROOMS].clone()).or_default().push(c);
        }
    }
    let live_total: usize = live.values().map(Vec::len).sum();
    println!(
        "chaos: {} actions, {} malformed frames sent, {} relays checked, {live_total} sockets live at the end",
        tally.actions.load(Ordering::Relaxed),
        tally.malformed_sent.load(Ordering::Relaxed),
        tally.relayed_seen.load(Ordering::Relaxed),
    );
    assert!(
        tally.malformed_sent.load(Ordering::Relaxed) >= 1000,
        "too few malformed frames"
    );
    // Enough relays that "no message crossed rooms" says something. How many arrive depends on
    // timing (how many seats are held by sockets that just dropped): 28,763 and 37,597 in 15 s
    // runs here on workerd, so the floor sits well below the slowest.
    assert!(
        tally.relayed_seen.load(Ordering::Relaxed) > 5_000,
        "too little traffic"
    );

    // Every room's count equals its live sockets (departures land asynchronously: poll).
    for room in &rooms {
        let expected = live.get(room).map_or(0, Vec::len) as u64;
        s.wait_for_count(room, expected).await;
    }

    // The webhook events replay to each room's history: per session, seq 1, 2, 3, ... with no
    // gap, opened by room.started, every join and departure once and in order, finished when
    // it emptied; and what they leave is who the room holds now (the admin API's report).
    let auth = format!("Bearer {ADMIN}");
    let seated = |room: &str| -> BTreeSet<String> {
        let (status, body) = s.request(
            "GET",
            &format!("/api/admin/rooms/{room}"),
            &[("Authorization", &auth)],
            None,
        );
        assert_eq!(status, 200, "{body}");
        let report: Value = serde_json::from_str(&body).unwrap();
        report["peers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["peer"].as_str().unwrap().to_owned())
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut checked, mut events_total) = (0, 0);
    for room in &rooms {
        let now_in = seated(room);
        loop {
            let (all, invalid) = webhooks::received();
            assert_eq!(invalid, 0, "a signature did not verify");
            let mine: Vec<&Value> = all
                .iter()
                .filter(|e| e["body"]["data"]["room"] == room.as_str())
                .collect();
            match replay(&mine) {
                Ok(present) if present == now_in => {
                    checked += 1;
                    events_total += mine.len();
                    break;
                }
                // Still arriving: the outbox delivers one at a time.
                outcome if Instant::now() < deadline => {
                    let _ = outcome;
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                outcome => panic!("{room}: the events do not replay to {now_in:?}: {outcome:?}"),
            }
        }
    }
    println!("chaos: {events_total} webhook events replay to the history of {checked} rooms");

    // And the server still does its job: a normal two-peer exchange in a fresh room.
    let room = unique_room("after-chaos");
    let (mut alice, _) = s.join(&room, "peer=alice").await;
    let (mut bob, _) = s.join(&room, "peer=bob").await;
    assert_eq!(alice.recv().await["type"], "peer_joined");
    bob.send_json(json!({"type":"offer","to":"alice","sdp":"v=0"}))
        .await;
    assert_eq!(
        alice.recv().await,
        json!({"type":"offer","to":"alice","sdp":"v=0","from":"bob"})
    );
    alice
        .send_json(json!({"type":"answer","to":"bob","sdp":"v=0"}))
        .await;
    assert_eq!(bob.recv().await["from"], "alice");
}

/// Who is in a room after its webhook events (`events`, in arrival order), checking that they
/// are a history: per session, seq 1, 2, 3, ... without gaps or repeats (a retry delivered
/// twice is skipped), a session opened by `room.started` and ended by `room.finished` only when
/// empty, every peer joining before leaving and never twice, and `peers` the count after.
fn replay(events: &[&Value]) -> Result<BTreeSet<String>, String> {
    let mut present = BTreeSet::new();
    let mut session: Option<(String, u64)> = None; // the open session and its last seq
    let mut finished: BTreeSet<String> = BTreeSet::new();
    for e in events {
        let (kind, data) = (e["body"]["type"].as_str().unwrap_or(""), &e["body"]["data"]);
        let (id, seq) = (
            data["session"].as_str().unwrap_or("").to_owned(),
            data["seq"].as_u64().unwrap_or(0),
        );
        if data.get("dropped").is_some() {
            return Err(format!("events were dropped: {data}"));
        }
        match &session {
            Some((open, last)) if *open == id => {
                if seq <= *last {
                    continue; // delivered again (at least once)
                }
                if seq != last + 1 {
                    return Err(format!("gap: {last} then {seq} in {id}"));
                }
            }
            _ if finished.contains(&id) => continue, // a late repeat of a finished session
            _ => {
                if let Some((open, _)) = &session {
                    return Err(format!("session {id} began before {open} finished"));
                }
                if !present.is_empty() {
                    return Err(format!("a new session {id} while {present:?} are in"));
                }
                if kind != "room.started" || seq != 1 {
                    return Err(format!("session {id} began with {kind} {seq}"));
                }
            }
        }
        session = Some((id.clone(), seq));
        let peer = data["peer"].as_str().unwrap_or("").to_owned();
        match kind {
            "room.started" => {}
            "peer.joined" => {
                if !present.insert(peer.clone()) {
                    return Err(format!("{peer} joined twice"));
                }
            }
            "peer.left" => {
                if !present.remove(&peer) {
                    return Err(format!("{peer} left without joining"));
                }
            }
            "room.finished" => {
                if !present.is_empty() {
                    return Err(format!("finished with {present:?}"));
                }
                finished.insert(id);
                session = None;
            }
            other => return Err(format!("unknown type {other}")),
        }
        if kind.starts_with("peer.") && data["peers"].as_u64() != Some(present.len() as u64) {
            return Err(format!(
                "{kind} of {peer} says {} peers, replay has {}",
                data["peers"],
                present.len()
            ));
        }
    }
    Ok(present)
}

/// PeerJS clients (`docs/peerjs.md`): how many keys, ids per key, and clients per id (two: each
/// id is contended, so ID-TAKEN and takeovers happen).
const PJ_KEYS: usize = 10;
const PJ_IDS: usize = 5;
const PJ_CLIENTS_PER_ID: usize = 2;

/// Frames the PeerJS endpoint must answer with `ERROR` (or close, for oversized ones) without
/// harm to any other peer.
fn peerjs_corpus(rng: &mut StdRng) -> Vec<String> {
    let mut corpus = Vec::new();
    let valid =
        r#"{"type":"OFFER","dst":"i0","payload":{"sdp":{"type":"offer"},"connectionId":"dc_1"}}"#;
    for i in 0..valid.len() {
        corpus.push(valid[..i].to_owned());
    }
    for _ in 0..300 {
        let len = rng.gen_range(0..120);
        let bytes: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        corpus.push(String::from_utf8_lossy(&bytes).into_owned());
    }
    for depth in [10, 1000, 30_000] {
        corpus.push(format!(
            r#"{{"type":"OFFER","dst":"i0","payload":{}{}}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        ));
    }
    for odd in [
        r#"{"type":"OFFER"}"#,
        r#"{"type":"OFFER","dst":""}"#,
        r#"{"type":"OFFER","dst":"i0 "}"#,
        r#"{"type":"OFFER","dst":"../i0"}"#,
        r#"{"type":"OFFER","dst":7}"#,
        r#"{"type":"offer","dst":"i0"}"#,
        r#"{"type":"OPEN","dst":"i0"}"#,
        r#"{"type":"ID-TAKEN","dst":"i0"}"#,
        r#"{"type":null,"dst":"i0"}"#,
        r#"{"type":["OFFER"],"dst":"i0"}"#,
        r#"{"type":"OFFER","dst":"i0","payload":}"#,
        r#"["OFFER","i0"]"#,
        r#""HEARTBEAT""#,
        "null",
        "",
    ] {
        corpus.push(odd.to_owned());
    }
    corpus
}

/// What the PeerJS chaos clients share: the corpus, the counts, and the ids whose last holder
/// dropped without a close.
struct PeerJsShared {
    corpus: Vec<String>,
    tally: PeerJsTally,
    dropped: std::sync::Mutex<std::collections::HashSet<String>>,
}

#[derive(Default)]
struct PeerJsTally {
    relayed: AtomicUsize,
    errors: AtomicUsize,
    malformed_sent: AtomicUsize,
    id_taken: AtomicUsize,
    takeovers: AtomicUsize,
}

/// One PeerJS client of the chaos: `id` on `key`, with its own token. Returns its socket if it
/// still holds the id at the end, checked by a message to itself.
async fn run_peerjs_client(
    i: usize,
    key: String,
    id: String,
    deadline: Instant,
    seed: u64,
    shared: Arc<PeerJsShared>,
) -> Option<Client> {
    let PeerJsShared {
        corpus,
        tally,
        dropped,
    } = &*shared;
    let token = format!("t{i}");
    let path = format!("/peerjs/peerjs?key={key}&id={id}&token={token}&version=1.5.5");
    let mut rng =
        StdRng::seed_from_u64(seed ^ 0x5EED ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut socket: Option<Client> = None;
    let mut n = 0u64;

    // Opens the id: OPEN, or ID-TAKEN then 4002.
    async fn open(path: &str, tally: &PeerJsTally) -> Option<Client> {
        let (mut c, _) = server().connect_path(path, &[]).await.ok()?;
        let first = c.recv().await;
        match first["type"].as_str() {
            Some("OPEN") => Some(c),
            Some("ID-TAKEN") => {
                assert_eq!(c.recv_close().await, 4002);
                tally.id_taken.fetch_add(1, Ordering::Relaxed);
                None
            }
            _ => panic!("{path}: {first}"),
        }
    }

    // Checks what arrived; false if the socket closed.
    async fn drain(c: &mut Client, key: &str, me: &str, tally: &PeerJsTally, wait_ms: u64) -> bool {
        while let Some(event) = c.next_event_within(Duration::from_millis(wait_ms)).await {
            let Event::Text(t) = event else {
                return false;
            };
            let Ok(v) = serde_json::from_str::<Value>(&t) else {
                // A corpus payload relayed as it came, nested deeper than serde_json decodes
                // into a Value (a browser's JSON.parse takes it): still JSON.
                serde_json::from_str::<Box<serde_json::value::RawValue>>(&t)
                    .expect("the server only sends JSON");
                continue;
            };
            match v["type"].as_str().unwrap() {
                "OFFER" | "ANSWER" | "CANDIDATE" | "LEAVE" | "EXPIRE" => {
                    assert_eq!(v["dst"], me, "delivered to the wrong peer: {t}");
                    let src = v["src"].as_str().unwrap();
                    assert!(src.starts_with('i'), "src not stamped: {t}");
                    if let Some(k) = v["payload"]["k"].as_str() {
                        assert_eq!(k, key, "a message crossed keys: {t}");
                        tally.relayed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                "ERROR" => {
                    tally.errors.fetch_add(1, Ordering::Relaxed);
                }
                other => panic!("{me}: unexpected {other}: {t}"),
            }
        }
        true
    }

    while Instant::now() < deadline {
        let Some(c) = socket.as_mut() else {
            socket = open(&path, tally).await;
            if socket.is_some() {
                dropped.lock().unwrap().remove(&format!("{key}/{id}"));
            }
            tokio::time::sleep(Duration::from_millis(rng.gen_range(20..120))).await;
            continue;
        };
        let roll: u32 = rng.gen_range(0..100);
        if roll < 50 {
            n += 1;
            let kind = ["OFFER", "ANSWER", "CANDIDATE"][rng.gen_range(0..3)];
            let dst = format!("i{}", rng.gen_range(0..PJ_IDS + 1)); // one id nobody holds
            let frame = json!({"type": kind, "dst": dst, "payload": {"k": key, "n": n}});
            c.send_text(frame.to_string()).await;
        } else if roll < 78 {
            tally.malformed_sent.fetch_add(1, Ordering::Relaxed);
            c.send_text(corpus[rng.gen_range(0..corpus.len())].clone())
                .await;
        } else if roll < 82 {
            c.send_text(r#"{"type":"LEAVE"}"#).await;
        } else if roll < 88 {
            // Dropped abruptly: no close frame. The id may stay held if the runtime loses the
            // close (tests/e2e_lost_close.rs), until the idle timeout.
            dropped.lock().unwrap().insert(format!("{key}/{id}"));
            socket = None;
            continue;
        } else if roll < 92 {
            // The client's reconnect(): the same token on a new socket takes over.
            if let Some(fresh) = open(&path, tally).await {
                tally.takeovers.fetch_add(1, Ordering::Relaxed);
                socket = Some(fresh); // the old one gets 4009 and is dropped here
            }
            continue;
        } else {
            // Not byte-exact: the object sees it (and says nothing).
            c.send_text(r#"{ "type": "HEARTBEAT" }"#).await;
        }
        let c = socket.as_mut().unwrap();
        if !drain(c, &key, &id, tally, rng.gen_range(20..150)).await {
            socket = None;
        }
    }
    // Settle: a message to itself comes straight back to a seated socket; a close means gone;
    // silence would be a socket kept open without holding its id.
    let mut c = socket?;
    let probe = json!({"type": "CANDIDATE", "dst": id, "payload": {"probe": i}});
    c.send_text(probe.to_string()).await;
    loop {
        match c.next_event_within(Duration::from_secs(10)).await {
            Some(Event::Close(_)) => return None,
            Some(Event::Text(t)) if t.contains(&format!(r#""probe":{i}"#)) => return Some(c),
            Some(Event::Text(_)) => continue,
            None => panic!("{key}/{id}: an open socket that does not hold its id"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peerjs_chaos_leaves_every_peer_consistent() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let s = server();
    let (seed, secs) = seed_and_secs("peerjs chaos", 15);
    let secs = secs / 2;
    let mut rng = StdRng::seed_from_u64(seed);
    let shared = Arc::new(PeerJsShared {
        corpus: peerjs_corpus(&mut rng),
        tally: PeerJsTally::default(),
        dropped: std::sync::Mutex::default(),
    });
    let (tally, dropped) = (&shared.tally, &shared.dropped);
    let keys: Vec<String> = (0..PJ_KEYS)
        .map(|k| unique_room(&format!("pjchaos{k}")))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    let mut who = Vec::new();
    for (k, key) in keys.iter().enumerate() {
        for id in 0..PJ_IDS {
            for c in 0..PJ_CLIENTS_PER_ID {
                let i = (k * PJ_IDS + id) * PJ_CLIENTS_PER_ID + c;
                who.push((key.clone(), format!("i{id}")));
                tasks.push(tokio::spawn(run_peerjs_client(
                    i,
                    key.clone(),
                    format!("i{id}"),
                    deadline,
                    seed,
                    shared.clone(),
                )));
            }
        }
    }
    let mut holders: HashMap<String, Client> = HashMap::new();
    for (t, (key, id)) in tasks.into_iter().zip(who) {
        if let Some(c) = t.await.expect("a peerjs chaos client panicked") {
            let previous = holders.insert(format!("{key}/{id}"), c);
            assert!(previous.is_none(), "{key}/{id} held by two sockets at once");
        }
    }
    println!(
        "peerjs chaos: {} relays checked, {} malformed frames sent, {} ERRORs, {} ID-TAKEN, {} takeovers, {} ids held at the end",
        tally.relayed.load(Ordering::Relaxed),
        tally.malformed_sent.load(Ordering::Relaxed),
        tally.errors.load(Ordering::Relaxed),
        tally.id_taken.load(Ordering::Relaxed),
        tally.takeovers.load(Ordering::Relaxed),
        holders.len(),
    );
    assert!(
        tally.malformed_sent.load(Ordering::Relaxed) >= 200,
        "too few malformed frames"
    );
    assert!(
        tally.relayed.load(Ordering::Relaxed) > 500,
        "too little traffic"
    );
    assert!(tally.id_taken.load(Ordering::Relaxed) > 0, "no contention");

    // Every id: held by a live socket → ID-TAKEN for another token; free → OPEN. An id whose
    // last holder dropped without a close may still be held (a lost close): counted, not failed.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut lost = 0;
    let mut opened = Vec::new();
    for key in &keys {
        for id in (0..PJ_IDS).map(|n| format!("i{n}")) {
            let name = format!("{key}/{id}");
            let path = format!("/peerjs/peerjs?key={key}&id={id}&token=probe&version=1.5.5");
            let (mut c, _) = s.connect_path(&path, &[]).await.expect("upgrade");
            let first = c.recv().await;
            match (holders.contains_key(&name), first["type"].as_str().unwrap()) {
                (true, "ID-TAKEN") => {}
                (false, "OPEN") => opened.push((key.clone(), id, c)),
                (false, "ID-TAKEN") if dropped.lock().unwrap().contains(&name) => lost += 1,
                (held, got) => {
                    panic!("{name}: held by a live socket: {held}, but a new token got {got}")
                }
            }
        }
    }
    println!("peerjs chaos: {lost} ids still held by sockets dropped without a close");
    drop(opened);
    // Holders that close free their ids: every id not lost opens for a new token, and two of them
    // on one key talk.
    for (_, c) in holders.drain() {
        c.close().await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let key = &keys[0];
    let mut freed = Vec::new();
    for id in (0..PJ_IDS).map(|n| format!("i{n}")) {
        let path = format!("/peerjs/peerjs?key={key}&id={id}&token=again&version=1.5.5");
        let (mut c, _) = s.connect_path(&path, &[]).await.expect("upgrade");
        let first = c.recv().await;
        if first["type"] == "ID-TAKEN" && dropped.lock().unwrap().contains(&format!("{key}/{id}")) {
            continue;
        }
        assert_eq!(
            first["type"], "OPEN",
            "{key}/{id} after its holder closed: {first}"
        );
        freed.push((id, c));
    }
    assert!(
        freed.len() >= 2,
        "two ids of {key} free after the holders closed"
    );
    let (b_id, mut b) = freed.pop().unwrap();
    let (a_id, mut a) = freed.pop().unwrap();
    a.send_json(json!({"type": "OFFER", "dst": b_id, "payload": "after"}))
        .await;
    let got = b.recv().await;
    assert_eq!(
        (got["src"].as_str(), got["payload"].as_str()),
        (Some(a_id.as_str()), Some("after"))
    );
}

// --- y-webrtc ------------------------------------------------------------------------------

/// y-webrtc clients (`docs/yjs.md`): how many, over how many namespaces. Every namespace has the
/// same topic names ([`yjs_topics`]), so a publish that crossed namespaces would land on a topic
/// its receiver does subscribe to, and only the payload (which names its namespace) tells.
const YJS_SOCKETS: usize = 150;
const YJS_NAMESPACES: usize = 5;
/// The server's defaults (`YJS_MAX_TOPIC_BYTES`, `YJS_MAX_CONNECTIONS`); a client subscribes to
/// at most the 8 topics of its namespace, within `YJS_MAX_TOPICS` (16), so every subscribe it
/// sends is accepted whole.
const YJS_MAX_TOPIC_BYTES: usize = 96;
const YJS_MAX_CONNECTIONS: u64 = 256;
/// Not lib0's exact bytes: the namespace's object answers it, in order with the socket's other
/// frames (exact pings are the runtime's, and racing publishes to the socket they can lose its
/// close: tests/e2e_lost_close.rs).
const YJS_PING: &str = r#"{ "type": "ping" }"#;
/// The longest frame a chaos client publishes on purpose (oversized ones aside): anything
/// delivered longer is a frame that should have closed its sender.
const YJS_LONGEST_PUBLISH: usize = 16 * 1024;

/// The topics of every namespace: near-misses of each other (case, a trailing space), names
/// that need escapes or are not ASCII, and one of exactly `YJS_MAX_TOPIC_BYTES`.
fn yjs_topics() -> Vec<String> {
    let topics: Vec<String> = vec![
        "doc-0".into(),
        "Doc-0".into(),
        "doc-0 ".into(),
        "my-document".into(),
        "é ✓ 😀 room".into(),
        r#"a "quoted" \ name"#.into(),
        "a/b?c=d&e#f".into(),
        format!("{:-<YJS_MAX_TOPIC_BYTES$}", "long"),
    ];
    assert!(topics.iter().all(|t| t.len() <= YJS_MAX_TOPIC_BYTES));
    assert_eq!(topics[7].len(), YJS_MAX_TOPIC_BYTES);
    topics
}

/// `topic` as a JSON string with every UTF-16 unit escaped (`\u0064oc-0`): the same topic.
fn escaped_all(topic: &str) -> String {
    let mut out = String::from("\"");
    for unit in topic.encode_utf16() {
        out.push_str(&format!("\\u{unit:04x}"));
    }
    out.push('"');
    out
}

/// What a frame does to the topics, read as `docs/yjs.md` says the server reads it.
#[derive(Debug, PartialEq)]
enum YjsEffect {
    Nothing,
    Ping,
    Subscribe(Vec<String>),
    Unsubscribe(Vec<String>),
    Publish(String),
}

fn yjs_effect(frame: &str) -> YjsEffect {
    // The server reads objects with serde_json too (values raw); duplicate members it refuses,
    // where this map keeps the last: a frame it accepts reads the same here.
    let Ok(fields) = serde_json::from_str::<BTreeMap<String, &RawValue>>(frame) else {
        return YjsEffect::Nothing;
    };
    let string = |name: &str| {
        fields
            .get(name)
            .and_then(|raw| serde_json::from_str::<String>(raw.get()).ok())
    };
    // The string entries of `topics` a subscribe may add (longer names are refused).
    let entries = || -> Vec<String> {
        let Some(raw) = fields.get("topics") else {
            return Vec::new();
        };
        let entries: Vec<&RawValue> = serde_json::from_str(raw.get()).unwrap_or_default();
        entries
            .iter()
            .filter_map(|e| serde_json::from_str::<String>(e.get()).ok())
            .filter(|t| t.len() <= YJS_MAX_TOPIC_BYTES)
            .collect()
    };
    match string("type").as_deref() {
        Some("ping") => YjsEffect::Ping,
        Some("subscribe") => YjsEffect::Subscribe(entries()),
        Some("unsubscribe") => YjsEffect::Unsubscribe(entries()),
        Some("publish") => match string("topic") {
            Some(t) if t.len() <= YJS_MAX_TOPIC_BYTES => YjsEffect::Publish(t),
            _ => YjsEffect::Nothing,
        },
        _ => YjsEffect::Nothing,
    }
}

/// Checks that the corpus leaves the chaos's beliefs true: no frame pings (which would break a
/// client's count of its pings), subscribes to, unsubscribes from or publishes to a topic of the
/// chaos, and no topic it subscribes to is one it publishes to.
fn yjs_corpus_is_harmless(corpus: &[String], topics: &[String]) {
    let (mut subscribed, mut published) = (BTreeSet::new(), BTreeSet::new());
    for frame in corpus {
        let effect = yjs_effect(frame);
        let touched = match &effect {
            YjsEffect::Nothing => vec![],
            YjsEffect::Ping => panic!("the corpus pings: {frame:.200}"),
            YjsEffect::Subscribe(t) => {
                subscribed.extend(t.iter().cloned());
                t.clone()
            }
            YjsEffect::Unsubscribe(t) => t.clone(),
            YjsEffect::Publish(t) => {
                published.insert(t.clone());
                vec![t.clone()]
            }
        };
        assert!(
            !touched.iter().any(|t| topics.contains(t)),
            "the corpus touches a topic of the chaos: {frame:.200}"
        );
    }
    assert!(
        subscribed.is_disjoint(&published),
        "the corpus publishes to topics it subscribes to: {:?}",
        subscribed.intersection(&published).collect::<Vec<_>>()
    );
}

/// At least 1,000 frames the y-webrtc endpoint must refuse (`error` `bad_request`) or take
/// without effect on any topic of the chaos: none subscribes, unsubscribes, pings, or publishes
/// to one of them, nor publishes to a topic another subscribes to (checked). Oversized and
/// binary frames, which close, are sent apart.
fn yjs_corpus(rng: &mut StdRng, topics: &[String]) -> Vec<String> {
    let mut corpus = Vec::new();
    // Every truncation of valid frames (none is an object).
    for valid in [
        r#"{"type":"publish","topic":"doc-0","data":{"from":"corpus","ns":"x","topic":"doc-0","n":1}}"#,
        r#"{"type":"subscribe","topics":["doc-0","my-document"]}"#,
        r#"{"type":"unsubscribe","topics":["Doc-0"]}"#,
    ] {
        for i in 0..valid.len() {
            corpus.push(valid[..i].to_owned());
        }
    }
    // Random bytes (sent as text, so made valid UTF-8).
    for _ in 0..500 {
        let len = rng.gen_range(0..200);
        let bytes: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        corpus.push(String::from_utf8_lossy(&bytes).into_owned());
    }
    // Deep nesting, balanced and not, in a publish nobody subscribes to and in `topics`.
    for depth in [10, 100, 1000, 10_000, 30_000] {
        let (open, close) = ("[".repeat(depth), "]".repeat(depth));
        corpus.push(format!(
            r#"{{"type":"publish","topic":"nobody","data":{open}{close}}}"#
        ));
        corpus.push(format!(
            r#"{{"type":"publish","topic":"nobody","data":{}}}"#,
            "{\"a\":".repeat(depth.min(10_000)) // within MAX_MESSAGE_BYTES
        ));
        corpus.push(format!(
            r#"{{"type":"subscribe","topics":[{open}{close}]}}"#
        ));
        corpus.push(format!(r#"{{"type":"subscribe","topics":{open}"#));
    }
    // The 96-byte topic and one byte more: the longer is refused, and is not the shorter.
    let long = format!("{}-", topics[7]);
    let long = Value::from(long).to_string();
    let odd: Vec<String> = [
        // Not JSON, not an object, no type, a type the server does not know.
        "not json",
        "{",
        "",
        r#"{"type":"publish","topic":"nobody","data":1}}"#,
        r#"{"type":"publish","topic":"nobody","data":01}"#,
        "[1,2]",
        r#"[{"type":"subscribe","topics":["doc-0"]}]"#,
        r#""ping""#,
        "42",
        "null",
        "{}",
        r#"{"topics":["doc-0"]}"#,
        r#"{"topic":"doc-0","data":1}"#,
        r#"{"type":"what"}"#,
        r#"{"type":"Subscribe","topics":["doc-0"]}"#,
        r#"{"type":"PUBLISH","topic":"doc-0","data":1}"#,
        r#"{"type":"pong"}"#,
        r#"{"type":"error","code":"bad_request","message":"x"}"#,
        r#"{"type":"announce","from":"x"}"#,
        r#"{"type":"message","data":1}"#,
        // Wrong types.
        r#"{"type":1}"#,
        r#"{"type":null}"#,
        r#"{"type":["subscribe"],"topics":["doc-0"]}"#,
        r#"{"type":"subscribe","topics":"doc-0"}"#,
        r#"{"type":"subscribe","topics":{"0":"doc-0"}}"#,
        r#"{"type":"subscribe","topics":7}"#,
        r#"{"type":"unsubscribe","topics":"doc-0"}"#,
        r#"{"type":"publish","data":1}"#,
        r#"{"type":"publish","topic":1,"data":1}"#,
        r#"{"type":"publish","topic":null,"data":1}"#,
        r#"{"type":"publish","topic":["doc-0"],"data":1}"#,
        r#"{"type":"publish","topic":{"doc-0":1},"data":1}"#,
        // Duplicate members: refused whole (the first of each is a topic of the chaos).
        r#"{"type":"publish","topic":"doc-0","topic":"nobody","data":1}"#,
        r#"{"type":"subscribe","topics":["doc-0"],"topics":["quiet"]}"#,
        r#"{"type":"unsubscribe","topics":["doc-0"],"topics":["nobody"]}"#,
        r#"{"type":"subscribe","topics":["doc-0"],"type":"what"}"#,
        // Entries that are not strings: ignored, nothing added or removed.
        r#"{"type":"subscribe","topics":[1,null,{"t":"doc-0"},["doc-0"],true,2.5]}"#,
        r#"{"type":"unsubscribe","topics":[false,{"t":"my-document"},["Doc-0"]]}"#,
        r#"{"type":"subscribe","topics":["\ud800"]}"#,
        r#"{"type":"subscribe","topics":[]}"#,
        r#"{"type":"subscribe"}"#,
        r#"{"type":"unsubscribe","topics":["nobody","never"]}"#,
        r#"{"type":"publish","topic":"\ud800","data":1}"#,
        // A publish to nobody, odd in every other way.
        r#"{"type":"publish","topic":"nobody","data":123456789012345678901234567890e999999}"#,
        r#"{"type":"publish","topic":"nobody","data":"\ud800","clients":7}"#,
        r#"{"type":"publish","topic":"","data":1}"#,
        "\u{0}\u{1}\u{2}",
        "{\"type\":\"publish\",\"topic\":\"nobody\",\"data\":\"\u{10FFFF}\"}",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .chain([
        format!(r#"{{"type":"subscribe","topics":[{long}]}}"#),
        format!(r#"{{"type":"subscribe","topics":[{long},"quiet"]}}"#),
        format!(r#"{{"type":"publish","topic":{long},"data":1}}"#),
    ])
    .collect();
    for _ in 0..10 {
        corpus.extend(odd.iter().cloned());
    }
    // Exactly MAX_MESSAGE_BYTES: a publish nobody subscribes to (dropped) and an unknown type.
    for head in [
        r#"{"type":"publish","topic":"nobody","data":""#,
        r#"{"type":"what","data":""#,
    ] {
        let frame = format!(
            "{head}{}\"}}",
            "x".repeat(MAX_MESSAGE_BYTES - head.len() - 2)
        );
        assert_eq!(frame.len(), MAX_MESSAGE_BYTES);
        corpus.push(frame);
    }
    assert!(corpus.len() >= 1000, "{} frames", corpus.len());
    assert!(corpus.iter().all(|f| f.len() <= MAX_MESSAGE_BYTES));
    yjs_corpus_is_harmless(&corpus, topics);
    corpus
}

#[derive(Default)]
struct YjsTally {
    actions: AtomicUsize,
    sockets: AtomicUsize,
    subscribes: AtomicUsize,
    unsubscribes: AtomicUsize,
    published: AtomicUsize,
    delivered: AtomicUsize,
    malformed_sent: AtomicUsize,
    errors: AtomicUsize,
    oversized: AtomicUsize,
    binary: AtomicUsize,
    closed: AtomicUsize,
    dropped: AtomicUsize,
}

/// What the y-webrtc chaos clients share.
struct YjsShared {
    seed: u64,
    namespaces: Vec<String>,
    topics: Vec<String>,
    corpus: Vec<String>,
    tally: YjsTally,
}

/// A frame from the server, as far as the chaos reads it (`data` raw: it may hold what
/// serde_json does not decode into a Value, as a browser's JSON.parse does).
#[derive(serde::Deserialize)]
struct YjsIncoming<'a> {
    #[serde(rename = "type")]
    kind: String,
    topic: Option<String>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
    clients: Option<u64>,
    code: Option<String>,
}

/// The part of every chaos publish's `data` that names where it came from.
#[derive(serde::Deserialize)]
struct YjsSignature {
    from: String,
    ns: String,
    topic: String,
    probe: Option<String>,
}

/// A publish a socket got.
#[derive(Debug, PartialEq)]
struct YjsDelivery {
    topic: usize,
    from: String,
    clients: u64,
    probe: Option<String>,
}

/// One socket of a y-webrtc chaos client, and what the client believes of it.
struct YjsSocket {
    c: Client,
    /// Its name in its publishes: the client and which of its sockets (`c12.3`).
    name: String,
    ns: usize,
    /// The topics (indices into [`YjsShared::topics`]) it subscribed to and has not left: every
    /// subscribe it sends is accepted whole.
    subscribed: BTreeSet<usize>,
    /// Topics it unsubscribed from, each with the number of pings sent before the unsubscribe:
    /// publishes of the topic may still arrive until the pong to the next ping.
    leaving: HashMap<usize, u64>,
    pings: u64,
    pongs: u64,
    /// What it sent last, for failure messages.
    last_sent: String,
}

impl YjsSocket {
    async fn open(sh: &YjsShared, ns: usize, name: String) -> YjsSocket {
        let path = format!("/yjs/{}", sh.namespaces[ns]);
        let (c, _) = server()
            .connect_path(&path, &[])
            .await
            .unwrap_or_else(|e| panic!("CHAOS_SEED={}: {path} refused: {e:?}", sh.seed));
        sh.tally.sockets.fetch_add(1, Ordering::Relaxed);
        YjsSocket {
            c,
            name,
            ns,
            subscribed: BTreeSet::new(),
            leaving: HashMap::new(),
            pings: 0,
            pongs: 0,
            last_sent: String::new(),
        }
    }

    fn who(&self, sh: &YjsShared) -> String {
        format!(
            "CHAOS_SEED={}: {} on {} (last sent {})",
            sh.seed, self.name, sh.namespaces[self.ns], self.last_sent
        )
    }

    fn note(&mut self, frame: &Message) {
        let (kind, text) = match frame {
            Message::Text(t) => ("text", t.as_str()),
            Message::Binary(b) => ("binary", std::str::from_utf8(b).unwrap_or("")),
            _ => ("control", ""),
        };
        self.last_sent = format!("a {}-byte {kind} frame {:?}", frame.len(), clip(text));
    }

    async fn send(&mut self, text: impl Into<String>) {
        let text = text.into();
        self.last_sent = format!("a {}-byte text frame {:?}", text.len(), clip(&text));
        self.c.send_text(text).await;
    }

    async fn ping(&mut self) {
        self.send(YJS_PING).await;
        self.pings += 1;
    }

    /// Sends a frame the server may close the socket for part-way.
    async fn push(&mut self, frame: Message) {
        self.note(&frame);
        let _ = tokio::time::timeout(common::RECV_TIMEOUT, self.c.ws.send(frame)).await;
    }

    /// Checks one frame from the server; a publish comes back.
    fn take(&mut self, sh: &YjsShared, text: &str) -> Option<YjsDelivery> {
        let frame: YjsIncoming = serde_json::from_str(text).unwrap_or_else(|e| {
            serde_json::from_str::<Box<RawValue>>(text).unwrap_or_else(|_| {
                panic!("{}: the server sent non-JSON {text:.300}", self.who(sh))
            });
            panic!("{}: an unexpected frame: {e}: {text:.300}", self.who(sh))
        });
        match frame.kind.as_str() {
            "publish" => {
                assert!(
                    text.len() <= YJS_LONGEST_PUBLISH,
                    "{}: a {}-byte publish was delivered",
                    self.who(sh),
                    text.len()
                );
                let name = frame.topic.as_deref().unwrap_or_else(|| {
                    panic!("{}: a publish without a topic: {text:.300}", self.who(sh))
                });
                let Some(topic) = sh.topics.iter().position(|t| t == name) else {
                    panic!(
                        "{}: a publish to {name:?}, which no socket subscribes to: {text:.300}",
                        self.who(sh)
                    )
                };
                assert!(
                    self.subscribed.contains(&topic)
                        || self.leaving.get(&topic).is_some_and(|&p| self.pongs <= p),
                    "{}: a publish to {name:?}, which this socket is not subscribed to \
                     (subscribed: {:?}): {text:.300}",
                    self.who(sh),
                    self.subscribed
                        .iter()
                        .map(|&t| &sh.topics[t])
                        .collect::<Vec<_>>(),
                );
                let clients = frame.clients.unwrap_or(0);
                assert!(
                    (1..=YJS_MAX_CONNECTIONS).contains(&clients),
                    "{}: clients {clients}: {text:.300}",
                    self.who(sh)
                );
                let data = frame.data.map_or("null", RawValue::get);
                let sig: YjsSignature = serde_json::from_str(data).unwrap_or_else(|e| {
                    panic!(
                        "{}: a publish no chaos client sent: {e}: {text:.300}",
                        self.who(sh)
                    )
                });
                assert_eq!(
                    sig.ns,
                    sh.namespaces[self.ns],
                    "{}: a publish crossed namespaces: {text:.300}",
                    self.who(sh)
                );
                assert_eq!(
                    sig.topic,
                    name,
                    "{}: a publish crossed topics: {text:.300}",
                    self.who(sh)
                );
                assert!(
                    !sig.from.ends_with("!oversized"),
                    "{}: an oversized frame was delivered",
                    self.who(sh)
                );
                sh.tally.delivered.fetch_add(1, Ordering::Relaxed);
                Some(YjsDelivery {
                    topic,
                    from: sig.from,
                    clients,
                    probe: sig.probe,
                })
            }
            "pong" => {
                self.pongs += 1;
                assert!(
                    self.pongs <= self.pings,
                    "{}: a pong to no ping",
                    self.who(sh)
                );
                let pongs = self.pongs;
                self.leaving.retain(|_, p| pongs <= *p);
                None
            }
            "error" => {
                // Only the corpus is refused: the chaos stays within every limit, and a refused
                // subscribe, unsubscribe or rate-limited frame would make its beliefs wrong.
                assert_eq!(
                    frame.code.as_deref(),
                    Some("bad_request"),
                    "{}: {text:.300}",
                    self.who(sh)
                );
                sh.tally.errors.fetch_add(1, Ordering::Relaxed);
                None
            }
            _ => panic!("{}: an unexpected frame: {text:.300}", self.who(sh)),
        }
    }

    /// Checks what arrives for `wait_ms`. The socket must stay open.
    async fn drain(&mut self, sh: &YjsShared, wait_ms: u64) {
        while let Some(event) = self
            .c
            .next_event_within(Duration::from_millis(wait_ms))
            .await
        {
            match event {
                Event::Text(t) => {
                    self.take(sh, &t);
                }
                Event::Close(close) => panic!("{}: closed by the server: {close:?}", self.who(sh)),
            }
        }
    }

    /// A ping's round trip: everything this socket sent before has been handled, and everything
    /// the namespace sent it before has been read and checked; those publishes come back.
    async fn round_trip(&mut self, sh: &YjsShared) -> Vec<YjsDelivery> {
        self.ping().await;
        let mut got = Vec::new();
        while self.pongs < self.pings {
            match self.c.next_event_within(common::RECV_TIMEOUT).await {
                Some(Event::Text(t)) => got.extend(self.take(sh, &t)),
                None => panic!(
                    "{}: no pong within {:?}",
                    self.who(sh),
                    common::RECV_TIMEOUT
                ),
                Some(Event::Close(close)) => {
                    panic!("{}: closed by the server: {close:?}", self.who(sh))
                }
            }
        }
        got
    }

    /// The server closes the socket with `code`; what came before is checked.
    async fn expect_close(mut self, sh: &YjsShared, code: u16, why: &str) {
        loop {
            match self.c.next_event_within(common::RECV_TIMEOUT).await {
                Some(Event::Text(t)) => {
                    self.take(sh, &t);
                }
                Some(Event::Close(close)) => {
                    assert_eq!(close.map(|(c, _)| c), Some(code), "{}: {why}", self.who(sh));
                    return;
                }
                None => panic!("{}: {why}: not closed", self.who(sh)),
            }
        }
    }

    async fn subscribe(&mut self, topics: &[usize], sh: &YjsShared) {
        let names: Vec<String> = topics
            .iter()
            .map(|&t| Value::from(sh.topics[t].as_str()).to_string())
            .collect();
        self.send_subscribe("subscribe", &names).await;
        for &t in topics {
            self.subscribed.insert(t);
            self.leaving.remove(&t);
        }
    }

    async fn send_subscribe(&mut self, kind: &str, entries: &[String]) {
        let frame = format!(r#"{{"type":"{kind}","topics":[{}]}}"#, entries.join(","));
        self.send(frame).await;
    }

    /// A publish to `topic` whose data names its sender, namespace and topic.
    fn publish_frame(&self, sh: &YjsShared, topic: usize, extra: &str) -> String {
        let name = &sh.topics[topic];
        let data = format!(
            r#"{{"from":{},"ns":{},"topic":{}{extra}}}"#,
            Value::from(self.name.as_str()),
            Value::from(sh.namespaces[self.ns].as_str()),
            Value::from(name.as_str()),
        );
        format!(
            r#"{{"type":"publish","topic":{},"data":{data}}}"#,
            Value::from(name.as_str())
        )
    }
}

/// The first 160 characters of `text`.
fn clip(text: &str) -> &str {
    text.char_indices()
        .nth(160)
        .map_or(text, |(i, _)| &text[..i])
}

/// Odd `data` members, relayed as they came.
const YJS_ODD_DATA: &[&str] = &[
    r#","odd":123456789012345678901234567890e999999"#,
    r#","odd":-0.0e-99999"#,
    r#","odd":"\ud800""#,
    r#","odd":"\u202e\u200b\ufeff𝕏""#,
    r#","odd":{"clients":5,"type":"subscribe","topics":["doc-0"]}"#,
    r#","odd":"AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLi8wMTIzNDU2Nzg5Ojs8PT4/QA+/=""#,
    ",\"odd\":\"\u{10FFFF}\"",
];

/// One y-webrtc chaos client on namespace `ns`, reconnecting as a fresh socket as often as it
/// likes. Returns its socket if open at the end, every frame it sent handled and every frame it
/// was sent read.
async fn run_yjs_client(
    i: usize,
    ns: usize,
    deadline: Instant,
    sh: Arc<YjsShared>,
) -> Option<YjsSocket> {
    let mut rng =
        StdRng::seed_from_u64(sh.seed ^ 0x7A5 ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let tally = &sh.tally;
    let topics = sh.topics.len();
    let mut socket: Option<YjsSocket> = None;
    let (mut opened, mut n) = (0, 0u64);
    while Instant::now() < deadline {
        tally.actions.fetch_add(1, Ordering::Relaxed);
        let Some(y) = socket.as_mut() else {
            socket = Some(YjsSocket::open(&sh, ns, format!("c{i}.{opened}")).await);
            opened += 1;
            tokio::time::sleep(Duration::from_millis(rng.gen_range(20..120))).await;
            continue;
        };
        let roll: u32 = rng.gen_range(0..100);
        if roll < 20 {
            // Subscribe to one to three topics (some perhaps held already), now and then with
            // entries that are not strings (ignored) or names written all in escapes.
            let picked: Vec<usize> = (0..rng.gen_range(1..=3))
                .map(|_| rng.gen_range(0..topics))
                .collect();
            tally.subscribes.fetch_add(1, Ordering::Relaxed);
            if rng.gen_bool(0.3) {
                let mut entries: Vec<String> = picked
                    .iter()
                    .map(|&t| {
                        if rng.gen_bool(0.5) {
                            escaped_all(&sh.topics[t])
                        } else {
                            Value::from(sh.topics[t].as_str()).to_string()
                        }
                    })
                    .collect();
                entries.insert(rng.gen_range(0..=entries.len()), r#"{"t":"doc-0"}"#.into());
                entries.push("null".into());
                y.send_subscribe("subscribe", &entries).await;
                for &t in &picked {
                    y.subscribed.insert(t);
                    y.leaving.remove(&t);
                }
            } else {
                y.subscribe(&picked, &sh).await;
            }
        } else if roll < 30 {
            // Unsubscribe from one to three topics, mostly ones it holds.
            let held: Vec<usize> = y.subscribed.iter().copied().collect();
            let picked: Vec<usize> = (0..rng.gen_range(1..=3))
                .map(|_| {
                    if held.is_empty() || rng.gen_bool(0.2) {
                        rng.gen_range(0..topics)
                    } else {
                        held[rng.gen_range(0..held.len())]
                    }
                })
                .collect();
            let entries: Vec<String> = picked
                .iter()
                .map(|&t| Value::from(sh.topics[t].as_str()).to_string())
                .collect();
            tally.unsubscribes.fetch_add(1, Ordering::Relaxed);
            y.send_subscribe("unsubscribe", &entries).await;
            for t in picked {
                if y.subscribed.remove(&t) {
                    y.leaving.insert(t, y.pings);
                }
            }
        } else if roll < 58 {
            // Publish to any topic of the namespace (subscribed or not), in the many ways a
            // frame can be written.
            n += 1;
            let topic = rng.gen_range(0..topics);
            let mut extra = format!(r#","n":{n}"#);
            match rng.gen_range(0..10) {
                0 => extra.push_str(&format!(
                    r#","pad":"{}""#,
                    "p".repeat(rng.gen_range(1000..4000))
                )),
                1 => extra.push_str(YJS_ODD_DATA[rng.gen_range(0..YJS_ODD_DATA.len())]),
                2 => extra.push_str(&format!(
                    r#","deep":{}{}"#,
                    "[".repeat(500),
                    "]".repeat(500)
                )),
                _ => {}
            }
            let plain = y.publish_frame(&sh, topic, &extra);
            let frame = match rng.gen_range(0..10) {
                // A `clients` of the sender's own: replaced by the server's count.
                0 => plain.replacen(
                    r#""type":"publish","#,
                    r#""type":"publish","clients":99,"#,
                    1,
                ),
                // The topic written all in escapes.
                1 => plain.replacen(
                    &Value::from(sh.topics[topic].as_str()).to_string(),
                    &escaped_all(&sh.topics[topic]),
                    1,
                ),
                // Spacing, and a member y-webrtc does not send.
                2 => format!(
                    " {}\n",
                    plain.replacen(
                        r#""type":"publish","#,
                        r#""type" : "publish" , "extra":[1,{"a":null}],"#,
                        1
                    )
                ),
                _ => plain,
            };
            tally.published.fetch_add(1, Ordering::Relaxed);
            y.send(frame).await;
        } else if roll < 80 {
            tally.malformed_sent.fetch_add(1, Ordering::Relaxed);
            y.send(sh.corpus[rng.gen_range(0..sh.corpus.len())].clone())
                .await;
        } else if roll < 82 {
            // Over MAX_MESSAGE_BYTES, to a topic: closed with 1009, delivered to nobody.
            let topic = rng.gen_range(0..topics);
            let mut y = socket.take().unwrap();
            y.name.push_str("!oversized");
            let frame = y.publish_frame(&sh, topic, r#","pad":"""#);
            let pad = MAX_MESSAGE_BYTES + rng.gen_range(1..2000) - frame.len();
            let frame =
                frame.replacen(r#""pad":"""#, &format!(r#""pad":"{}""#, "o".repeat(pad)), 1);
            assert!(frame.len() > MAX_MESSAGE_BYTES);
            tally.oversized.fetch_add(1, Ordering::Relaxed);
            y.push(Message::Text(frame)).await;
            y.expect_close(&sh, 1009, "a frame over MAX_MESSAGE_BYTES")
                .await;
            continue;
        } else if roll < 84 {
            // A binary frame: closed with 1003.
            let mut y = socket.take().unwrap();
            let frame = y.publish_frame(&sh, rng.gen_range(0..topics), "");
            tally.binary.fetch_add(1, Ordering::Relaxed);
            y.push(Message::Binary(frame.into_bytes())).await;
            y.expect_close(&sh, 1003, "a binary frame").await;
            continue;
        } else if roll < 87 {
            tally.closed.fetch_add(1, Ordering::Relaxed);
            socket.take().unwrap().c.close().await;
            continue;
        } else if roll < 90 {
            // The TCP connection just goes, without a close frame.
            tally.dropped.fetch_add(1, Ordering::Relaxed);
            socket = None;
            continue;
        } else {
            y.ping().await;
        }
        let y = socket.as_mut().unwrap();
        y.drain(&sh, rng.gen_range(20..150)).await;
    }
    let mut y = socket?;
    y.round_trip(&sh).await;
    Some(y)
}

/// The sockets `/api/yjs/{ns}` counts.
fn yjs_sockets(s: &common::Server, ns: &str) -> u64 {
    let (status, v) = s.get_json(&format!("/api/yjs/{ns}"));
    assert_eq!(status, 200, "{v}");
    v["peers"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn yjs_chaos_leaves_every_topic_consistent() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let s = server();
    let (seed, secs) = seed_and_secs("yjs chaos", 15);
    let secs = secs * 2 / 3;
    let mut rng = StdRng::seed_from_u64(seed ^ 0x7A5);
    let topics = yjs_topics();
    let sh = Arc::new(YjsShared {
        seed,
        namespaces: (0..YJS_NAMESPACES)
            .map(|k| unique_room(&format!("yjschaos{k}")))
            .collect(),
        corpus: yjs_corpus(&mut rng, &topics),
        topics,
        tally: YjsTally::default(),
    });
    let tally = &sh.tally;
    let deadline = Instant::now() + Duration::from_secs(secs);
    let tasks: Vec<_> = (0..YJS_SOCKETS)
        .map(|i| tokio::spawn(run_yjs_client(i, i % YJS_NAMESPACES, deadline, sh.clone())))
        .collect();
    let mut live = Vec::new();
    for t in tasks {
        let socket = t
            .await
            .unwrap_or_else(|e| panic!("CHAOS_SEED={seed}: a yjs chaos client panicked: {e}"));
        live.extend(socket);
    }
    let count = |a: &AtomicUsize| a.load(Ordering::Relaxed);
    println!(
        "yjs chaos: {} actions on {} sockets: {} subscribes, {} unsubscribes, {} publishes \
         ({} deliveries checked), {} malformed frames ({} errors), {} oversized, {} binary, \
         {} closed, {} dropped; {} sockets live at the end",
        count(&tally.actions),
        count(&tally.sockets),
        count(&tally.subscribes),
        count(&tally.unsubscribes),
        count(&tally.published),
        count(&tally.delivered),
        count(&tally.malformed_sent),
        count(&tally.errors),
        count(&tally.oversized),
        count(&tally.binary),
        count(&tally.closed),
        count(&tally.dropped),
        live.len(),
    );
    assert!(
        count(&tally.malformed_sent) >= 1000,
        "CHAOS_SEED={seed}: too few malformed frames"
    );
    // Enough deliveries that "nothing crossed" says something: 15,256 to 22,699 in 10 s runs
    // alone here (two shared cores), 11,816 right after the other two chaos tests, so the floor
    // sits well below the slowest.
    assert!(
        count(&tally.delivered) > 5_000,
        "CHAOS_SEED={seed}: too little traffic"
    );
    assert!(
        count(&tally.oversized) > 0 && count(&tally.binary) > 0,
        "CHAOS_SEED={seed}: no socket closed by the server"
    );

    // Quiesce: anything still in flight lands, and is checked as during the run.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for y in live.iter_mut() {
        y.round_trip(&sh).await;
    }
    let believers = |live: &[YjsSocket], ns: usize, t: usize| {
        live.iter()
            .filter(|y| y.ns == ns && y.subscribed.contains(&t))
            .count() as u64
    };

    // Settle: a probe subscribed to every topic publishes to each until its own copy says
    // `clients` is the live sockets that believe they subscribe, plus itself (the departures of
    // sockets that closed or dropped land asynchronously). Those publishes reach the believers.
    let all: Vec<usize> = (0..sh.topics.len()).collect();
    let mut settles: HashMap<(usize, usize), usize> = HashMap::new();
    let mut probes = Vec::new();
    for ns in 0..YJS_NAMESPACES {
        let mut p = YjsSocket::open(&sh, ns, format!("probe{ns}")).await;
        p.subscribe(&all, &sh).await;
        for &t in &all {
            let want = believers(&live, ns, t) + 1;
            let started = Instant::now();
            loop {
                let frame = p.publish_frame(&sh, t, r#","probe":"settle""#);
                p.send(frame).await;
                *settles.entry((ns, t)).or_default() += 1;
                let got = p.round_trip(&sh).await;
                assert_eq!(got.len(), 1, "{}: its own copy", p.who(&sh));
                assert_eq!(got[0].topic, t);
                if got[0].clients == want {
                    break;
                }
                assert!(
                    started.elapsed() < common::RECV_TIMEOUT,
                    "CHAOS_SEED={seed}: topic {:?} of {} has {} subscribers; {} live sockets \
                     believe they subscribe to it, and the probe",
                    sh.topics[t],
                    sh.namespaces[ns],
                    got[0].clients,
                    want - 1,
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        // Out of every topic again; the namespace holds the live sockets and the probe.
        p.send_subscribe(
            "unsubscribe",
            &all.iter()
                .map(|&t| Value::from(sh.topics[t].as_str()).to_string())
                .collect::<Vec<_>>(),
        )
        .await;
        p.subscribed.clear();
        assert_eq!(p.round_trip(&sh).await, vec![]);
        let want = live.iter().filter(|y| y.ns == ns).count() as u64 + 1;
        let started = Instant::now();
        loop {
            let got = yjs_sockets(s, &sh.namespaces[ns]);
            if got == want {
                break;
            }
            assert!(
                started.elapsed() < common::RECV_TIMEOUT,
                "CHAOS_SEED={seed}: {} counts {got} sockets, {} live and the probe",
                sh.namespaces[ns],
                want - 1
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        probes.push(p);
    }
    // Every live socket got every settling publish of the topics it believes it has, and
    // nothing else.
    for y in live.iter_mut() {
        let got = y.round_trip(&sh).await;
        let mut per_topic: HashMap<usize, usize> = HashMap::new();
        for d in &got {
            assert_eq!(
                (d.from.as_str(), d.probe.as_deref()),
                (format!("probe{}", y.ns).as_str(), Some("settle")),
                "{}: a publish after the chaos ended",
                y.who(&sh)
            );
            *per_topic.entry(d.topic).or_default() += 1;
        }
        for &t in &all {
            let want = if y.subscribed.contains(&t) {
                settles[&(y.ns, t)]
            } else {
                0
            };
            assert_eq!(
                per_topic.get(&t).copied().unwrap_or(0),
                want,
                "{}: settling publishes of {:?}",
                y.who(&sh),
                sh.topics[t]
            );
        }
    }

    // The check: one publish to each topic from the probe, which subscribes to none, reaches
    // exactly the live sockets that believe they subscribe to it, counted in `clients`.
    for p in probes.iter_mut() {
        for &t in &all {
            let frame = p.publish_frame(&sh, t, r#","probe":"final""#);
            p.send(frame).await;
        }
        assert_eq!(p.round_trip(&sh).await, vec![], "{}", p.who(&sh));
    }
    let counts: HashMap<(usize, usize), u64> = (0..YJS_NAMESPACES)
        .flat_map(|ns| all.iter().map(move |&t| (ns, t)))
        .map(|(ns, t)| ((ns, t), believers(&live, ns, t)))
        .collect();
    let mut reached = 0;
    for y in live.iter_mut() {
        let got = y.round_trip(&sh).await;
        let want: Vec<YjsDelivery> = y
            .subscribed
            .iter()
            .map(|&t| YjsDelivery {
                topic: t,
                from: format!("probe{}", y.ns),
                clients: counts[&(y.ns, t)],
                probe: Some("final".into()),
            })
            .collect();
        reached += got.len();
        assert_eq!(got, want, "{}", y.who(&sh));
    }
    // How long the departures of closed and dropped sockets took to land: settling publishes
    // beyond one a topic were sent while some topic still counted a socket that had gone.
    let waited = settles.values().sum::<usize>() - settles.len();
    println!(
        "yjs chaos: the probes' publishes reached {reached} subscriptions, as believed \
         ({waited} settling publishes waited for departures)"
    );
}
