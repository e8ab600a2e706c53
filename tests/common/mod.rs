//! Test support: one real server per test binary, and WebSocket/HTTP client helpers.
//!
//! The server is `wrangler dev`, or with `EDGE_SIGNAL_RUNTIME=workerd` the standalone newest
//! workerd of `make serve` (scripts/serve.mjs, serve/workerd.capnp). It is started on first use
//! on a free loopback port, with its own local-state directory under `target/`, so it never
//! collides with a `make dev` running beside it. It runs in its own process group, which is
//! killed when the test binary exits.

#![allow(dead_code)] // each test binary uses a different part of this module

pub mod webhooks;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a test waits for a frame it expects.
pub const RECV_TIMEOUT: Duration = Duration::from_secs(10);

/// A running server.
pub struct Server {
    pub port: u16,
    /// Where wrangler's output (the worker's log lines among it) goes.
    pub log_path: PathBuf,
}

static SERVER: OnceLock<Server> = OnceLock::new();
static SERVER_PGID: AtomicI32 = AtomicI32::new(0);

extern "C" fn stop_server() {
    let pgid = SERVER_PGID.load(Ordering::SeqCst);
    if pgid > 0 {
        // SAFETY: kill(2) with a negative pid signals our own child's process group. SIGKILL:
        // the whole group goes at once (standalone workerd drains on SIGTERM, and can keep
        // draining while sockets are open); its state directory is emptied at the next start.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}

/// Set by a test binary that always runs against standalone workerd (see [`workerd_server`]).
static FORCE_WORKERD: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether the tests run against standalone workerd (`make serve`) rather than `wrangler dev`.
pub fn standalone_workerd() -> bool {
    FORCE_WORKERD.load(Ordering::SeqCst)
        || std::env::var("EDGE_SIGNAL_RUNTIME").is_ok_and(|r| r == "workerd")
}

/// The server of a test binary that always runs against standalone newest workerd
/// (`make serve`), whatever `EDGE_SIGNAL_RUNTIME` says.
pub fn workerd_server() -> &'static Server {
    workerd_server_with(&[])
}

/// [`workerd_server`] with settings (`NAME`, `VALUE`) on first call.
pub fn workerd_server_with(vars: &[(&str, &str)]) -> &'static Server {
    FORCE_WORKERD.store(true, Ordering::SeqCst);
    server_with(vars)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The server shared by this test binary, started with the given `--var NAME:VALUE` overrides on
/// first call.
pub fn server_with(vars: &[(&str, &str)]) -> &'static Server {
    SERVER.get_or_init(|| start_or_retry(vars, &[]))
}

/// The server shared by this test binary, started with extra `wrangler dev` arguments (such as
/// `--env production`) on first call.
pub fn server_with_args(args: &[&str]) -> &'static Server {
    SERVER.get_or_init(|| start_or_retry(&[], args))
}

/// [`start`], once more if the server is not ready within [`READY_WITHIN`]: a clean clone's CI
/// run once saw a `wrangler dev` that never answered (its log was lost to the next start; it is
/// kept now, as `<dir>-failed-start.log`).
fn start_or_retry(vars: &[(&str, &str)], args: &[&str]) -> Server {
    match start(vars, args) {
        Ok(server) => server,
        Err(log_path) => {
            let kept = log_path
                .parent()
                .unwrap()
                .with_extension("failed-start.log");
            let _ = std::fs::copy(&log_path, &kept);
            eprintln!(
                "the server did not become ready; trying once more (its log: {})",
                kept.display()
            );
            start(vars, args).unwrap_or_else(|log| {
                panic!(
                    "the server did not become ready twice; see {} and {}",
                    kept.display(),
                    log.display()
                )
            })
        }
    }
}

/// How long a server may take to answer `/healthz` (a fresh `wrangler dev` takes seconds).
const READY_WITHIN: Duration = Duration::from_secs(150);

pub fn server() -> &'static Server {
    server_with(&[])
}

/// A started server, or the path of its log if it did not become ready (then it is stopped).
fn start(vars: &[(&str, &str)], args: &[&str]) -> Result<Server, PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let port = free_port();
    let name = std::env::args()
        .next()
        .and_then(|a| a.rsplit('/').next().map(str::to_owned))
        .unwrap_or_default();
    // Cargo names test binaries `<test>-<hash>`; one directory per test, emptied at each start.
    let name = name
        .rsplit_once('-')
        .map_or(name.as_str(), |(n, _)| n)
        .to_owned();
    let runtime = if standalone_workerd() {
        "workerd"
    } else {
        "wrangler"
    };
    let state_dir = root.join("target/e2e").join(format!("{name}-{runtime}"));
    let _ = std::fs::remove_dir_all(&state_dir);
    std::fs::create_dir_all(&state_dir).unwrap();
    let log_path = state_dir.join("server.log");
    let log = std::fs::File::create(&log_path).unwrap();

    let mut cmd = if standalone_workerd() {
        // `make serve`: vars as environment variables, which its config binds.
        let mut cmd = Command::new("node");
        cmd.arg(root.join("scripts/serve.mjs"))
            .env("PORT", port.to_string())
            .env("STATE_DIR", state_dir.join("state"))
            .envs(vars.iter().copied());
        cmd
    } else {
        let mut cmd = Command::new(root.join("node_modules/.bin/wrangler"));
        cmd.args(["dev", "--ip", "127.0.0.1", "--port", &port.to_string()])
            .args(["--inspector-port", &free_port().to_string()])
            .arg("--persist-to")
            .arg(state_dir.join("state"))
            .env("WRANGLER_SEND_METRICS", "false");
        for (k, v) in vars {
            cmd.args(["--var", &format!("{k}:{v}")]);
        }
        cmd
    };
    cmd.current_dir(&root)
        .env("CI", "true")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    cmd.args(args);
    use std::os::unix::process::CommandExt;
    cmd.process_group(0);
    // Never waited on: it lives as long as the test binary, whose exit kills its process group.
    #[allow(clippy::zombie_processes)]
    let child = cmd
        .spawn()
        .expect("start the server (run `make test`, which installs it)");
    SERVER_PGID.store(child.id() as i32, Ordering::SeqCst);
    // SAFETY: registering a plain extern "C" fn with no captured state.
    unsafe {
        libc::atexit(stop_server);
    }

    let server = Server {
        port,
        log_path: log_path.clone(),
    };
    let deadline = Instant::now() + READY_WITHIN;
    loop {
        if let Ok((200, body)) = server.get("/healthz") {
            assert_eq!(body, "ok");
            return Ok(server);
        }
        if Instant::now() > deadline {
            stop_server();
            return Err(log_path);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

impl Server {
    /// How many lines of the server's log so far contain `needle`.
    pub fn log_count(&self, needle: &str) -> usize {
        std::fs::read_to_string(&self.log_path)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// How many lines of the server's log so far contain every one of `needles` (in any order).
    pub fn log_count_all(&self, needles: &[&str]) -> usize {
        std::fs::read_to_string(&self.log_path)
            .unwrap_or_default()
            .lines()
            .filter(|l| needles.iter().all(|n| l.contains(n)))
            .count()
    }

    /// Waits until a line of the server's log contains `needle` (wrangler writes the worker's
    /// log lines a moment after the events that cause them).
    pub async fn wait_for_log(&self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.log_count(needle) == 0 {
            assert!(
                Instant::now() < deadline,
                "no log line with {needle:?} in {}",
                self.log_path.display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn http_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://127.0.0.1:{}{}", self.port, path)
    }

    /// A plain GET: the status and body, whatever the status.
    pub fn get(&self, path: &str) -> Result<(u16, String), String> {
        let req = ureq::get(&self.http_url(path)).timeout(Duration::from_secs(10));
        let (status, resp) = match req.call() {
            Ok(resp) => (resp.status(), resp),
            Err(ureq::Error::Status(code, resp)) => (code, resp),
            Err(e) => return Err(e.to_string()),
        };
        Ok((status, resp.into_string().map_err(|e| e.to_string())?))
    }

    /// The status and body of an upgrade request that the server refuses.
    pub fn refusal(&self, path: &str) -> (u16, String) {
        self.refusal_from(path, None)
    }

    pub fn refusal_from(&self, path: &str, origin: Option<&str>) -> (u16, String) {
        let headers: Vec<(&str, &str)> = origin.map(|o| ("Origin", o)).into_iter().collect();
        self.refusal_with(path, &headers)
    }

    /// The status and body of an upgrade request with extra headers that the server refuses.
    pub fn refusal_with(&self, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
        let mut req = ureq::get(&self.http_url(path))
            .timeout(Duration::from_secs(10))
            .set("Upgrade", "websocket")
            .set("Connection", "Upgrade")
            .set("Sec-WebSocket-Version", "13")
            .set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
        for (name, value) in headers {
            req = req.set(name, value);
        }
        match req.call() {
            Ok(resp) => (resp.status(), resp.into_string().unwrap_or_default()),
            Err(ureq::Error::Status(code, resp)) => (code, resp.into_string().unwrap_or_default()),
            Err(e) => panic!("{path}: {e}"),
        }
    }

    /// Any request, with headers and a body: the status and body, whatever the status.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> (u16, String) {
        let mut req = ureq::request(method, &self.http_url(path)).timeout(Duration::from_secs(10));
        for (name, value) in headers {
            req = req.set(name, value);
        }
        let sent = match body {
            Some(body) => req.send_string(body),
            None => req.call(),
        };
        match sent {
            Ok(resp) => (resp.status(), resp.into_string().unwrap_or_default()),
            Err(ureq::Error::Status(code, resp)) => (code, resp.into_string().unwrap_or_default()),
            Err(e) => panic!("{method} {path}: {e}"),
        }
    }

    /// A GET whose body is JSON.
    pub fn get_json(&self, path: &str) -> (u16, Value) {
        let (status, body) = self.get(path).expect("request");
        (
            status,
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}")),
        )
    }

    /// The peer count `/api/rooms/{room}` reports.
    pub fn peer_count(&self, room: &str) -> u64 {
        let (status, v) = self.get_json(&format!("/api/rooms/{room}"));
        assert_eq!(status, 200, "{v}");
        v["peers"].as_u64().unwrap()
    }

    /// Waits until the room reports `n` peers (departures land asynchronously).
    pub async fn wait_for_count(&self, room: &str, n: u64) {
        let deadline = Instant::now() + RECV_TIMEOUT;
        loop {
            let count = self.peer_count(room);
            if count == n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "room {room} has {count} peers, expected {n}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Opens a socket on `/rooms/{room}?{query}`; an HTTP refusal comes back as the status and body.
    pub async fn connect(&self, room: &str, query: &str) -> Result<Client, (u16, String)> {
        self.connect_from(room, query, None).await
    }

    /// Like [`Server::connect`], sending `Origin: <origin>` as a browser page would.
    pub async fn connect_from(
        &self,
        room: &str,
        query: &str,
        origin: Option<&str>,
    ) -> Result<Client, (u16, String)> {
        let mut headers = Vec::new();
        if let Some(origin) = origin {
            headers.push(("Origin", origin));
        }
        self.connect_with(room, query, &headers)
            .await
            .map(|(client, _)| client)
    }

    /// Opens a socket on `/rooms/{room}?{query}` with extra request headers; returns the client
    /// and the `Sec-WebSocket-Protocol` the server selected, or an HTTP refusal's status and body.
    pub async fn connect_with(
        &self,
        room: &str,
        query: &str,
        headers: &[(&str, &str)],
    ) -> Result<(Client, Option<String>), (u16, String)> {
        self.connect_path(&format!("/rooms/{room}?{query}"), headers)
            .await
    }

    /// Opens a socket on any path (`/matchbox/{room}?..` among them); as [`Server::connect_with`].
    pub async fn connect_path(
        &self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<(Client, Option<String>), (u16, String)> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let room = path;
        let mut request = self.ws_url(path).into_client_request().unwrap();
        for (name, value) in headers {
            let name = tungstenite::http::HeaderName::from_bytes(name.as_bytes()).unwrap();
            request.headers_mut().insert(name, value.parse().unwrap());
        }
        let connecting =
            tokio::time::timeout(RECV_TIMEOUT, tokio_tungstenite::connect_async(request));
        #[allow(clippy::result_large_err)] // tungstenite's error type, not ours
        let connected = connecting.await.unwrap_or_else(|_| {
            panic!("no answer to the upgrade of {room} within {RECV_TIMEOUT:?}: is the server alive? see {}", self.log_path.display())
        });
        match connected {
            Ok((ws, response)) => {
                let selected = response
                    .headers()
                    .get("Sec-WebSocket-Protocol")
                    .map(|v| v.to_str().unwrap().to_owned());
                Ok((Client { ws }, selected))
            }
            Err(tungstenite::Error::Http(resp)) => {
                // tungstenite keeps only the part of the body that came with the headers; ask
                // again with a client that reads the whole refusal.
                let (status, body) = self.refusal_with(path, headers);
                assert_eq!(status, resp.status().as_u16());
                Err((status, body))
            }
            Err(e) => panic!("connect to {room}: {e}"),
        }
    }

    /// Joins `room` as `peer` (if given) and returns the client and its `welcome`.
    pub async fn join(&self, room: &str, query: &str) -> (Client, Value) {
        let mut client = self
            .connect(room, query)
            .await
            .unwrap_or_else(|e| panic!("join {room}?{query}: {e:?}"));
        let welcome = client.recv().await;
        assert_eq!(welcome["type"], "welcome", "{welcome}");
        (client, welcome)
    }
}

/// A room name no other test uses.
pub fn unique_room(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// What a client saw next.
#[derive(Debug, PartialEq)]
pub enum Event {
    Text(String),
    Close(Option<(u16, String)>),
}

pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Client {
    pub async fn send_text(&mut self, text: impl Into<String>) {
        let sending = tokio::time::timeout(RECV_TIMEOUT, self.ws.send(Message::Text(text.into())));
        sending
            .await
            .expect("a send blocked: is the server alive?")
            .expect("send");
    }

    pub async fn send_json(&mut self, v: Value) {
        self.send_text(v.to_string()).await;
    }

    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        self.ws.send(Message::Binary(bytes)).await.expect("send");
    }

    /// The next text frame or close, skipping control frames; panics after [`RECV_TIMEOUT`].
    pub async fn next_event(&mut self) -> Event {
        self.next_event_within(RECV_TIMEOUT)
            .await
            .expect("timed out waiting for a frame")
    }

    pub async fn next_event_within(&mut self, wait: Duration) -> Option<Event> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let msg = match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return None,
                Ok(None) => return Some(Event::Close(None)),
                // Gone without a close frame (a reset): a close with no code.
                Ok(Some(Err(
                    tungstenite::Error::ConnectionClosed
                    | tungstenite::Error::Io(_)
                    | tungstenite::Error::Protocol(
                        tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
                    ),
                ))) => return Some(Event::Close(None)),
                Ok(Some(Err(e))) => panic!("socket error: {e}"),
                Ok(Some(Ok(msg))) => msg,
            };
            match msg {
                Message::Text(t) => return Some(Event::Text(t)),
                Message::Close(frame) => {
                    return Some(Event::Close(
                        frame.map(|f| (u16::from(f.code), f.reason.into_owned())),
                    ))
                }
                Message::Binary(b) => panic!("the server sent a binary frame ({} bytes)", b.len()),
                _ => continue, // ping/pong control frames
            }
        }
    }

    /// The next text frame, exactly as received.
    pub async fn recv_text(&mut self) -> String {
        match self.next_event().await {
            Event::Text(t) => t,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    /// The next text frame, parsed.
    pub async fn recv(&mut self) -> Value {
        let text = self.recv_text().await;
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("server sent non-JSON {text:?}: {e}"))
    }

    /// The close code the server sent next (after any text frames, which fail the test).
    pub async fn recv_close(&mut self) -> u16 {
        match self.next_event().await {
            Event::Close(Some((code, _))) => code,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }

    /// Asserts nothing arrives for `ms` milliseconds.
    pub async fn expect_silence(&mut self, ms: u64) {
        if let Some(event) = self.next_event_within(Duration::from_millis(ms)).await {
            panic!("expected silence, got {event:?}");
        }
    }

    /// Closes from the client side without a `leave`.
    pub async fn close(mut self) {
        let _ = self
            .ws
            .close(Some(tungstenite::protocol::CloseFrame {
                code: CloseCode::Normal,
                reason: "".into(),
            }))
            .await;
    }
}
