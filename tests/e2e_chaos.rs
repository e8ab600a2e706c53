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
//! Seeded: `CHAOS_SEED=<n>` replays a run; `CHAOS_SECS` sets its length (default 15; the PeerJS
//! run takes half).
//!
//! Always against standalone newest workerd (`make serve`), whose assets service sits in front
//! of the worker as Cloudflare's asset router does. Under `wrangler dev` 4.86, Miniflare's asset
//! router in front of the worker takes about a second per upgrade at this load and drops
//! connections mid-upgrade ("Network connection lost"), so rooms fill with seats whose sockets
//! already went and next to nothing is relayed (0 to 739 relays in 15 s, against 28,763 on
//! workerd, measured here): a test of Miniflare's router, not of the worker.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{unique_room, workerd_server as server, Client, Event};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

const ROOMS: usize = 100;

/// The two chaos tests share one server and two cores: one at a time, so each gets the traffic
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
