//! Real matchbox clients against edge-signal: two unmodified `matchbox_socket` 0.15 sockets
//! (native, webrtc-rs) meet in a room on `wrangler dev`'s `/matchbox/{room}` and exchange data
//! over a real WebRTC data channel; a third in a two-seat room is refused; a client that drops
//! is reported to the other. Four with `?next=2` form two pairs that talk and never hear of each
//! other, and a full pair takes nobody again. (`docs/matchbox.md`; the frame-by-frame protocol
//! tests are `tests/e2e_matchbox.rs`.)
//!
//! Run these only inside a network namespace of their own (`make test-matchbox`, through
//! `scripts/netns-run.sh`): webrtc-rs gathers candidates on every interface and joins mDNS
//! multicast.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use matchbox_socket::{PeerId, PeerState, RtcIceServerConfig, WebRtcSocket};
use tokio::task::JoinHandle;

/// `wrangler dev` on a free port, killed (its whole process group) when dropped.
struct Dev {
    child: Child,
    port: u16,
}

/// One test at a time: each starts its own `wrangler dev`, and WebRTC connects within the test's
/// deadlines more surely on a quiet machine. (Held across awaits, which is sound here: each test
/// has a runtime of its own on the harness's thread, and only another test's thread waits.)
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Dev {
    /// `name`: the test's state directory, under target/e2e/.
    fn start(name: &str) -> Dev {
        use std::os::unix::process::CommandExt;
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let free = || {
            TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        };
        let port = free();
        let state = root.join("target/e2e").join(name);
        let _ = std::fs::remove_dir_all(&state);
        std::fs::create_dir_all(&state).unwrap();
        let log = std::fs::File::create(state.join("server.log")).unwrap();
        let child = Command::new(root.join("node_modules/.bin/wrangler"))
            .current_dir(&root)
            .args(["dev", "--ip", "127.0.0.1", "--port", &port.to_string()])
            .args(["--inspector-port", &free().to_string(), "--persist-to"])
            .arg(state.join("state"))
            // No STUN server: nothing is reachable from here, and host candidates connect.
            .args(["--var", "ICE_SERVERS:[]"])
            .env("WRANGLER_SEND_METRICS", "false")
            .env("CI", "true")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("start wrangler dev (run `make test`, which installs it)");
        let dev = Dev { child, port };
        let deadline = Instant::now() + Duration::from_secs(300);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "wrangler dev did not start; see {}",
                state.display()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
        // Listening is not ready: wait for the worker itself.
        std::thread::sleep(Duration::from_secs(2));
        dev
    }

    fn url(&self, room: &str) -> String {
        format!("ws://127.0.0.1:{}/matchbox/{room}", self.port)
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
    }
}

/// A socket with one reliable channel and no ICE servers, its message loop running.
fn socket(url: &str) -> (WebRtcSocket, JoinHandle<Result<(), matchbox_socket::Error>>) {
    let (socket, message_loop) = WebRtcSocket::builder(url)
        .ice_server(RtcIceServerConfig {
            urls: vec![],
            username: None,
            credential: None,
        })
        .add_reliable_channel()
        .reconnect_attempts(Some(1))
        .build();
    (socket, tokio::spawn(message_loop))
}

/// Polls `socket` until a peer reaches `state`; returns that peer.
async fn peer_in_state(socket: &mut WebRtcSocket, state: PeerState) -> PeerId {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some((peer, _)) = socket.update_peers().into_iter().find(|(_, s)| *s == state) {
            return peer;
        }
        assert!(Instant::now() < deadline, "no peer became {state:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn receive(socket: &mut WebRtcSocket) -> (PeerId, Vec<u8>) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        socket.update_peers();
        if let Some((peer, packet)) = socket.channel_mut(0).receive().into_iter().next() {
            return (peer, packet.to_vec());
        }
        assert!(Instant::now() < deadline, "no packet arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every peer `socket` has heard of, with its state now (pending changes taken in first).
fn known_peers(socket: &mut WebRtcSocket) -> Vec<(PeerId, PeerState)> {
    socket.update_peers();
    let mut peers: Vec<_> = socket
        .connected_peers()
        .map(|peer| (peer, PeerState::Connected))
        .collect();
    peers.extend(
        socket
            .disconnected_peers()
            .map(|peer| (*peer, PeerState::Disconnected)),
    );
    peers
}

/// `socket` (named `who`) has heard of exactly `peers`, and no packet is waiting for it.
fn expect_only(socket: &mut WebRtcSocket, who: &str, peers: &[(PeerId, PeerState)]) {
    assert_eq!(known_peers(socket), peers, "the peers {who} has heard of");
    let stray = socket.channel_mut(0).receive();
    assert!(
        stray.is_empty(),
        "{who} received packets nobody in its group sent: {stray:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[allow(clippy::await_holding_lock)]
async fn two_matchbox_sockets_meet_and_talk_a_third_is_refused_and_a_drop_is_reported() {
    let _one_at_a_time = one_at_a_time();
    let dev = tokio::task::spawn_blocking(|| Dev::start("matchbox-sockets"))
        .await
        .unwrap();
    let room = format!("game-{}", std::process::id());
    let url = dev.url(&room);

    let (mut a, loop_a) = socket(&url);
    let (mut b, loop_b) = socket(&url);
    let b_seen_by_a = peer_in_state(&mut a, PeerState::Connected).await;
    let a_seen_by_b = peer_in_state(&mut b, PeerState::Connected).await;
    assert_eq!(
        Some(b_seen_by_a),
        b.id(),
        "a sees b by the id the server assigned b"
    );
    assert_eq!(Some(a_seen_by_b), a.id());

    // Data both ways over the WebRTC data channel.
    a.channel_mut(0)
        .send(b"hello from a".to_vec().into(), b_seen_by_a);
    assert_eq!(
        receive(&mut b).await,
        (a_seen_by_b, b"hello from a".to_vec())
    );
    b.channel_mut(0)
        .send(b"hello from b".to_vec().into(), a_seen_by_b);
    assert_eq!(
        receive(&mut a).await,
        (b_seen_by_a, b"hello from b".to_vec())
    );

    // The room holds two: a third socket is closed (4001) before any id, and its message loop
    // ends (matchbox 0.15 ends it quietly, with Ok); a and b carry on.
    let (mut c, loop_c) = socket(&url);
    let ended = tokio::time::timeout(Duration::from_secs(15), loop_c).await;
    assert!(
        matches!(ended, Ok(Ok(_))),
        "the third socket's loop did not end: {ended:?}"
    );
    assert_eq!(c.id(), None, "the third socket was never given an id");
    a.channel_mut(0)
        .send(b"still here".to_vec().into(), b_seen_by_a);
    assert_eq!(receive(&mut b).await, (a_seen_by_b, b"still here".to_vec()));

    // b goes: a hears of it.
    loop_b.abort();
    drop(b);
    assert_eq!(
        peer_in_state(&mut a, PeerState::Disconnected).await,
        b_seen_by_a
    );
    loop_a.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[allow(clippy::await_holding_lock)]
async fn sockets_asking_for_next_2_pair_up_in_arrival_order_and_the_pairs_stay_apart() {
    use PeerState::{Connected, Disconnected};
    let _one_at_a_time = one_at_a_time();
    let dev = tokio::task::spawn_blocking(|| Dev::start("matchbox-next"))
        .await
        .unwrap();
    let room = format!("groups-{}", std::process::id());
    let url = format!("{}?next=2", dev.url(&room));

    // a and b arrive first and fill the first group of two.
    let (mut a, loop_a) = socket(&url);
    let (mut b, loop_b) = socket(&url);
    let b_seen_by_a = peer_in_state(&mut a, Connected).await;
    let a_seen_by_b = peer_in_state(&mut b, Connected).await;
    assert_eq!(Some(b_seen_by_a), b.id(), "a is paired with b");
    assert_eq!(Some(a_seen_by_b), a.id(), "b is paired with a");

    // c and d come next: the first group is full, so they form the second.
    let (mut c, loop_c) = socket(&url);
    let (mut d, loop_d) = socket(&url);
    let d_seen_by_c = peer_in_state(&mut c, Connected).await;
    let c_seen_by_d = peer_in_state(&mut d, Connected).await;
    assert_eq!(Some(d_seen_by_c), d.id(), "c is paired with d");
    assert_eq!(Some(c_seen_by_d), c.id(), "d is paired with c");

    // Each pair talks over its own WebRTC data channel.
    a.channel_mut(0)
        .send(b"a to b".to_vec().into(), b_seen_by_a);
    assert_eq!(receive(&mut b).await, (a_seen_by_b, b"a to b".to_vec()));
    c.channel_mut(0)
        .send(b"c to d".to_vec().into(), d_seen_by_c);
    assert_eq!(receive(&mut d).await, (c_seen_by_d, b"c to d".to_vec()));
    d.channel_mut(0)
        .send(b"d to c".to_vec().into(), c_seen_by_d);
    assert_eq!(receive(&mut c).await, (d_seen_by_c, b"d to c".to_vec()));
    b.channel_mut(0)
        .send(b"b to a".to_vec().into(), a_seen_by_b);
    assert_eq!(receive(&mut a).await, (b_seen_by_a, b"b to a".to_vec()));

    // Nobody hears of the other pair: a while later each knows its partner alone.
    tokio::time::sleep(Duration::from_secs(2)).await;
    expect_only(&mut a, "a", &[(b_seen_by_a, Connected)]);
    expect_only(&mut b, "b", &[(a_seen_by_b, Connected)]);
    expect_only(&mut c, "c", &[(d_seen_by_c, Connected)]);
    expect_only(&mut d, "d", &[(c_seen_by_d, Connected)]);

    // b leaves its full pair: a hears of it, and the pair takes nobody again. The next two, e
    // and f, pair with each other (not e with a), and a, c and d hear of neither.
    loop_b.abort();
    drop(b);
    assert_eq!(peer_in_state(&mut a, Disconnected).await, b_seen_by_a);
    let (mut e, loop_e) = socket(&url);
    let (mut f, loop_f) = socket(&url);
    let f_seen_by_e = peer_in_state(&mut e, Connected).await;
    let e_seen_by_f = peer_in_state(&mut f, Connected).await;
    assert_eq!(
        Some(f_seen_by_e),
        f.id(),
        "e is paired with f, not put in a's closed pair"
    );
    assert_eq!(Some(e_seen_by_f), e.id(), "f is paired with e");
    f.channel_mut(0)
        .send(b"f to e".to_vec().into(), e_seen_by_f);
    assert_eq!(receive(&mut e).await, (f_seen_by_e, b"f to e".to_vec()));
    tokio::time::sleep(Duration::from_secs(1)).await;
    expect_only(&mut a, "a", &[(b_seen_by_a, Disconnected)]);
    expect_only(&mut c, "c", &[(d_seen_by_c, Connected)]);
    expect_only(&mut d, "d", &[(c_seen_by_d, Connected)]);
    expect_only(&mut e, "e", &[(f_seen_by_e, Connected)]);
    for message_loop in [loop_a, loop_c, loop_d, loop_e, loop_f] {
        message_loop.abort();
    }
}
