//! Real matchbox clients against edge-signal: two unmodified `matchbox_socket` 0.15 sockets
//! (native, webrtc-rs) meet in a room on `wrangler dev`'s `/matchbox/{room}` and exchange data
//! over a real WebRTC data channel; a third in a two-seat room is refused; a client that drops
//! is reported to the other. (`docs/matchbox.md`; the frame-by-frame protocol tests are
//! `tests/e2e_matchbox.rs`.)

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use matchbox_socket::{PeerId, PeerState, RtcIceServerConfig, WebRtcSocket};
use tokio::task::JoinHandle;

/// `wrangler dev` on a free port, killed (its whole process group) when dropped.
struct Dev {
    child: Child,
    port: u16,
}

impl Dev {
    fn start() -> Dev {
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
        let state = root.join("target/e2e/matchbox-sockets");
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
            .args(["-KILL", &format!("-{}", self.child.id())])
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_matchbox_sockets_meet_and_talk_a_third_is_refused_and_a_drop_is_reported() {
    let dev = tokio::task::spawn_blocking(Dev::start).await.unwrap();
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
