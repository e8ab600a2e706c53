//! loadgen: the load generator behind `make bench`.
//!
//! It speaks three protocols: edge-signal's (also spoken by the JavaScript runtime floor in
//! `bench/floor.js`), the PeerJS server's and y-webrtc's signaling, and measures:
//! - relay round trips: R rooms × 2 peers, each pair bouncing ~1,500-byte offer/answer
//!   messages in a closed loop (latency percentiles and messages per second);
//! - joins: upgrade request to `welcome` (or PeerJS's `OPEN`), sequential and concurrent;
//! - idle peers: connections held open while the caller reads the server's memory;
//! - pings: how many exact and spaced pings reach the room's handler (edge only);
//! - y-webrtc fan-out: T topics × N subscribers of y-webrtc's signaling protocol (this worker's
//!   `/yjs/{namespace}` and y-webrtc's own server), one publisher per topic in a closed loop
//!   (delivery latency and deliveries per second; `yjs.rs`);
//! - cold starts: a fresh process's spawn to its first `welcome`, and the first join to a room
//!   whose object was evicted while a peer stayed connected (`cold.rs`).
//!
//! `loadgen bench` starts every target, runs every measurement against each in turn (targets
//! alternate, several runs, medians reported) and writes `docs/benchmarks.md` (see `report.rs`).
//! The single measurements are subcommands too, printing one JSON line each (`cold` prints the
//! report's section).

mod cold;
mod history;
mod report;
mod yjs;

use std::time::{Duration, Instant};

use clap::{Parser, Subcommand, ValueEnum};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use edge_signal::protocol::{PING_FRAME, PONG_FRAME};
use edge_signal::request::RoomInfo;

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
type Error = Box<dyn std::error::Error + Send + Sync>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Proto {
    /// edge-signal protocol v1 (and the JavaScript floor, which speaks its subset).
    Edge,
    /// The PeerJS server's protocol (`OPEN`, `OFFER`/`ANSWER` with `dst`).
    Peerjs,
}

#[derive(Parser)]
#[command(about = "Load generator and benchmark driver for edge-signal")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Relay round trips: `rooms` pairs bouncing offers and answers for `secs` seconds.
    Relay {
        #[arg(long)]
        url: String,
        #[arg(long, value_enum, default_value = "edge")]
        proto: Proto,
        #[arg(long, default_value_t = 1)]
        rooms: usize,
        #[arg(long, default_value_t = 5)]
        secs: u64,
        #[arg(long, default_value_t = 1500)]
        size: usize,
    },
    /// Join latency: `count` joins, `concurrency` at a time.
    Join {
        #[arg(long)]
        url: String,
        #[arg(long, value_enum, default_value = "edge")]
        proto: Proto,
        #[arg(long, default_value_t = 1000)]
        count: usize,
        #[arg(long, default_value_t = 1)]
        concurrency: usize,
        /// The server's process: adds its CPU time per join, ms (`cpu_ms_per_join`).
        #[arg(long)]
        pid: Option<u32>,
    },
    /// Exact and spaced pings, and how many reached the room's handler (edge with BENCH_COUNTERS).
    Pings {
        #[arg(long)]
        url: String,
    },
    /// y-webrtc fan-out: `topics` topics of `subscribers` sockets each, one publisher per topic
    /// in a closed loop for `secs` seconds. `url` is the prefix each topic's namespace is
    /// appended to (`ws://host:port/yjs` for this worker; any path for y-webrtc's server).
    Yjs {
        #[arg(long)]
        url: String,
        #[arg(long, default_value_t = 10)]
        subscribers: usize,
        #[arg(long, default_value_t = 20)]
        topics: usize,
        #[arg(long, default_value_t = 5)]
        secs: u64,
        /// Bytes of padding in each publish's `data` (an SDP-sized y-webrtc signal by default).
        #[arg(long, default_value_t = 1500)]
        size: usize,
        /// Every socket in one namespace (`{url}/{run}`) instead of one namespace per topic.
        #[arg(long)]
        shared_namespace: bool,
    },
    /// A PeerJS flood at absent ids (hardening, second round, item 3): `sockets` peers each
    /// send `messages` OFFERs of `size` bytes to ids nobody holds, and the resident size of
    /// process `pid` (the server) is read before, after, and `idle_secs` after the sockets close.
    Flood {
        #[arg(long)]
        url: String,
        #[arg(long)]
        pid: u32,
        #[arg(long, default_value_t = 40)]
        sockets: usize,
        #[arg(long, default_value_t = 16)]
        messages: usize,
        #[arg(long, default_value_t = 64_000)]
        size: usize,
        #[arg(long, default_value_t = 30)]
        idle_secs: u64,
    },
    /// Only the cold starts (`cold.rs`): this worker and the floor under Miniflare and under
    /// `wrangler dev` (and the floor with this worker's wasm loaded, started afresh only), on
    /// servers of its own; prints the report's section (progress on stderr).
    Cold {
        /// Fresh processes per target.
        #[arg(long, default_value_t = cold::FRESH_RUNS)]
        runs: usize,
        /// Idle rooms per target, whose objects are left to be evicted.
        #[arg(long, default_value_t = cold::EVICTED_ROOMS)]
        rooms: usize,
        /// Seconds the rooms idle before the joins that wake them.
        #[arg(long, default_value_t = cold::EVICTION_WAIT.as_secs())]
        idle_secs: u64,
    },
    /// Everything against every target; writes the report.
    Bench {
        #[arg(long, default_value = "docs/benchmarks.md")]
        out: String,
        #[arg(long, default_value_t = 3)]
        runs: usize,
        #[arg(long, default_value_t = 5)]
        relay_secs: u64,
        /// Seconds of each y-webrtc fan-out run (`runs` × 3 targets × 3 subscriber counts of them).
        #[arg(long, default_value_t = 3)]
        yjs_secs: u64,
    },
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    match Cli::parse().command {
        Command::Relay {
            url,
            proto,
            rooms,
            secs,
            size,
        } => {
            let r = relay(&url, proto, rooms, Duration::from_secs(secs), size).await?;
            println!("{}", serde_json::to_string(&r.to_json())?);
        }
        Command::Join {
            url,
            proto,
            count,
            concurrency,
            pid,
        } => {
            let before = pid.map(cpu_ms);
            let r = joins(&url, proto, count, concurrency).await?;
            let mut out = r.to_json();
            if let (Some(pid), Some(before)) = (pid, before) {
                out["cpu_ms_per_join"] = json!((cpu_ms(pid) - before) / count as f64);
            }
            println!("{}", serde_json::to_string(&out)?);
        }
        Command::Pings { url } => {
            let r = pings(&url).await?;
            println!("{}", serde_json::to_string(&r)?);
        }
        Command::Yjs {
            url,
            subscribers,
            topics,
            secs,
            size,
            shared_namespace,
        } => {
            let r = yjs::fan_out(
                &url,
                subscribers,
                topics,
                Duration::from_secs(secs),
                size,
                shared_namespace,
            )
            .await?;
            println!("{}", serde_json::to_string(&r.to_json())?);
        }
        Command::Flood {
            url,
            pid,
            sockets,
            messages,
            size,
            idle_secs,
        } => {
            let f = flood(
                &url,
                pid,
                sockets,
                messages,
                size,
                Duration::from_secs(idle_secs),
            )
            .await?;
            println!("{}", serde_json::to_string(&f.to_json())?);
        }
        Command::Cold {
            runs,
            rooms,
            idle_secs,
        } => {
            let section = cold::alone(runs, rooms, Duration::from_secs(idle_secs)).await?;
            print!("{section}");
        }
        Command::Bench {
            out,
            runs,
            relay_secs,
            yjs_secs,
        } => {
            report::bench(
                &out,
                runs,
                Duration::from_secs(relay_secs),
                Duration::from_secs(yjs_secs),
            )
            .await?
        }
    }
    Ok(())
}

/// A unique prefix for room and peer names, so runs never share rooms.
pub fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{}-{}", std::process::id(), nanos % 1_000_000_000)
}

/// Opens a socket and waits for the server's first frame (`welcome` or `OPEN`).
pub async fn join(base: &str, proto: Proto, room: &str, id: &str) -> Result<(Ws, Duration), Error> {
    let url = match proto {
        Proto::Edge => format!("{base}/rooms/{room}?peer={id}&capacity=2"),
        Proto::Peerjs => format!("{base}/peerjs?key=peerjs&id={id}&token=t{id}"),
    };
    let started = Instant::now();
    let (mut ws, _) = tokio::time::timeout(
        Duration::from_secs(30),
        tokio_tungstenite::connect_async(url),
    )
    .await??;
    let first = next_json(&mut ws).await?;
    let expected = match proto {
        Proto::Edge => "welcome",
        Proto::Peerjs => "OPEN",
    };
    if first["type"] != expected {
        return Err(format!("{id}: expected {expected}, got {first}").into());
    }
    Ok((ws, started.elapsed()))
}

async fn next_text(ws: &mut Ws) -> Result<String, Error> {
    loop {
        match tokio::time::timeout(Duration::from_secs(30), ws.next()).await? {
            Some(Ok(Message::Text(t))) => return Ok(t),
            Some(Ok(Message::Close(c))) => return Err(format!("closed: {c:?}").into()),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.into()),
            None => return Err("socket ended".into()),
        }
    }
}

async fn next_json(ws: &mut Ws) -> Result<Value, Error> {
    Ok(serde_json::from_str(&next_text(ws).await?)?)
}

/// A signaling message of `kind` ("offer"/"answer") to `to`, SDP-sized.
fn signal(proto: Proto, kind: &str, to: &str, sdp: &str) -> String {
    match proto {
        Proto::Edge => json!({"type": kind, "to": to, "sdp": sdp}).to_string(),
        Proto::Peerjs => {
            json!({"type": kind.to_uppercase(), "dst": to, "payload": {"type": kind, "sdp": sdp}})
                .to_string()
        }
    }
}

/// Waits for the next message of `kind`, skipping anything else (pongs, heartbeats).
async fn expect(ws: &mut Ws, proto: Proto, kind: &str) -> Result<(), Error> {
    let want = match proto {
        Proto::Edge => kind.to_owned(),
        Proto::Peerjs => kind.to_uppercase(),
    };
    loop {
        let v = next_json(ws).await?;
        if v["type"] == want.as_str() {
            return Ok(());
        }
    }
}

/// Latencies (µs) and a count over a duration.
pub struct Measured {
    pub hist: Histogram<u64>,
    pub messages: u64,
    pub elapsed: Duration,
}

impl Measured {
    pub fn pct(&self, q: f64) -> f64 {
        self.hist.value_at_quantile(q) as f64 / 1000.0
    }
    pub fn max(&self) -> f64 {
        self.hist.max() as f64 / 1000.0
    }
    pub fn per_sec(&self) -> f64 {
        self.messages as f64 / self.elapsed.as_secs_f64()
    }
    fn to_json(&self) -> Value {
        json!({"p50_ms": self.pct(0.5), "p90_ms": self.pct(0.9), "p99_ms": self.pct(0.99), "max_ms": self.max(),
               "count": self.hist.len(), "messages_per_sec": self.per_sec()})
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds")
}

/// R rooms × 2 peers; each pair bounces offer → answer in a closed loop for `dur`.
pub async fn relay(
    base: &str,
    proto: Proto,
    rooms: usize,
    dur: Duration,
    size: usize,
) -> Result<Measured, Error> {
    let id = run_id();
    let sdp = "v".repeat(size);
    let mut pairs = Vec::with_capacity(rooms);
    for r in 0..rooms {
        let room = format!("relay-{id}-{r}");
        let (a_id, b_id) = (format!("a{r}x{id}"), format!("b{r}x{id}"));
        // (On edge, a also hears `peer_joined`; `expect` skips it.)
        let (a, _) = join(base, proto, &room, &a_id).await?;
        let (b, _) = join(base, proto, &room, &b_id).await?;
        pairs.push((a, b, a_id, b_id));
    }
    // Let every target finish registering the last joins before the clock starts.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let deadline = started + dur;
    let mut tasks = Vec::new();
    for (mut a, mut b, a_id, b_id) in pairs {
        let sdp = sdp.clone();
        tasks.push(tokio::spawn(async move {
            let mut hist = histogram();
            let mut trips = 0u64;
            let offer = signal(proto, "offer", &b_id, &sdp);
            let answer = signal(proto, "answer", &a_id, &sdp);
            let mut lost = 0u64;
            while Instant::now() < deadline {
                let t0 = Instant::now();
                let trip = async {
                    a.send(Message::Text(offer.clone())).await?;
                    expect(&mut b, proto, "offer").await?;
                    b.send(Message::Text(answer.clone())).await?;
                    expect(&mut a, proto, "answer").await
                };
                // A round trip that takes 5 s is counted lost (and the pair carries on), so one
                // dropped message cannot stall a measurement.
                match tokio::time::timeout(Duration::from_secs(5), trip).await {
                    Ok(result) => result?,
                    Err(_) => {
                        lost += 1;
                        if lost > 3 {
                            return Err(format!("{a_id}: {lost} round trips lost").into());
                        }
                        continue;
                    }
                }
                hist.record(t0.elapsed().as_micros().max(1) as u64)?;
                trips += 1;
            }
            let _ = a.close(None).await;
            let _ = b.close(None).await;
            Ok::<_, Error>((hist, trips))
        }));
    }
    let mut hist = histogram();
    let mut trips = 0;
    for t in tasks {
        let (h, n) = t.await??;
        hist.add(h)?;
        trips += n;
    }
    Ok(Measured {
        hist,
        messages: trips * 2,
        elapsed: started.elapsed(),
    })
}

/// `count` joins, `concurrency` at a time, each opening its own room.
pub async fn joins(
    base: &str,
    proto: Proto,
    count: usize,
    concurrency: usize,
) -> Result<Measured, Error> {
    let id = run_id();
    let started = Instant::now();
    let mut hist = histogram();
    let mut k = 0;
    while k < count {
        let batch = concurrency.min(count - k);
        let mut tasks = Vec::with_capacity(batch);
        for j in k..k + batch {
            let (base, room, peer) = (
                base.to_owned(),
                format!("join-{id}-{j}"),
                format!("j{j}x{id}"),
            );
            tasks.push(tokio::spawn(async move {
                let (mut ws, took) = join(&base, proto, &room, &peer).await?;
                let _ = ws.close(None).await;
                Ok::<_, Error>(took)
            }));
        }
        for t in tasks {
            hist.record(t.await??.as_micros().max(1) as u64)?;
        }
        k += batch;
    }
    Ok(Measured {
        hist,
        messages: count as u64,
        elapsed: started.elapsed(),
    })
}

/// Opens `n` idle peers (n/2 rooms of 2) and returns them, to be held while memory is read.
pub async fn idle(base: &str, proto: Proto, n: usize) -> Result<Vec<Ws>, Error> {
    let id = run_id();
    let mut held = Vec::with_capacity(n);
    for k in 0..n {
        let (ws, _) = join(
            base,
            proto,
            &format!("idle-{id}-{}", k / 2),
            &format!("i{k}x{id}"),
        )
        .await?;
        held.push(ws);
    }
    Ok(held)
}

/// What a PeerJS flood at absent ids did to the server's resident size (KiB).
pub struct Flooded {
    pub before_kib: u64,
    pub after_kib: u64,
    pub idle_kib: u64,
    /// Frames the senders got back while the flood was held: `EXPIRE`s and `ERROR`s.
    pub expired: usize,
    pub refused: usize,
    /// Sockets whose join was refused (over the join rate).
    pub joins_refused: usize,
}

impl Flooded {
    pub fn to_json(&self) -> Value {
        json!({
            "before_kib": self.before_kib,
            "after_kib": self.after_kib,
            "idle_kib": self.idle_kib,
            "expired": self.expired,
            "refused": self.refused,
            "joins_refused": self.joins_refused,
        })
    }
}

/// The resident size of process `pid`, in KiB (0 if it cannot be read).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("VmRSS:")
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// The CPU time `pid` has used so far (user and system), in ms: fields 14 and 15 of
/// `/proc/<pid>/stat`, which Linux counts in USER_HZ (100 per second on every architecture).
/// 0 if the process is gone.
pub fn cpu_ms(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |n: usize| {
        fields
            .get(n - 3)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (ticks(14) + ticks(15)) as f64 * 10.0
}

/// See [`Command::Flood`]. The resident size "after" is read 2 s after the last message was
/// sent, while the sockets are open; the senders' answers are counted until then.
pub async fn flood(
    base: &str,
    pid: u32,
    sockets: usize,
    messages: usize,
    size: usize,
    idle: Duration,
) -> Result<Flooded, Error> {
    let id = run_id();
    let before_kib = rss_kib(pid);
    let payload = "x".repeat(size);
    let mut senders = Vec::with_capacity(sockets);
    let mut joins_refused = 0;
    for k in 0..sockets {
        // A join over the node's join rate is refused: the flood goes on with the others.
        let Ok((mut ws, _)) = join(base, Proto::Peerjs, "", &format!("flood{k}x{id}")).await else {
            joins_refused += 1;
            continue;
        };
        for m in 0..messages {
            let offer =
                json!({"type": "OFFER", "dst": format!("ghost{k}m{m}x{id}"), "payload": payload});
            ws.send(Message::Text(offer.to_string())).await?;
        }
        senders.push(ws);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after_kib = rss_kib(pid);
    // What came back meanwhile is buffered: read it without waiting for more.
    let (mut expired, mut refused) = (0, 0);
    for ws in &mut senders {
        let quick = Duration::from_millis(20);
        while let Ok(Some(Ok(Message::Text(t)))) = tokio::time::timeout(quick, ws.next()).await {
            let v: Value = serde_json::from_str(&t)?;
            match v["type"].as_str() {
                Some("EXPIRE") => expired += 1,
                Some("ERROR") => refused += 1,
                _ => {}
            }
        }
    }
    for mut ws in senders {
        let _ = ws.close(None).await;
    }
    tokio::time::sleep(idle).await;
    Ok(Flooded {
        before_kib,
        after_kib,
        idle_kib: rss_kib(pid),
        expired,
        refused,
        joins_refused,
    })
}

/// Sends 1,000 exact pings and 100 spaced ones, and reads how many frames the room's handler
/// saw for each (the `BENCH_COUNTERS` var must be set on the target).
pub async fn pings(base: &str) -> Result<Value, Error> {
    let id = run_id();
    let room = format!("pings-{id}");
    let (mut a, _) = join(base, Proto::Edge, &room, "a").await?;
    let http = base.replacen("ws://", "http://", 1);
    let handled = || -> Result<u64, Error> {
        let info: RoomInfo = serde_json::from_str(
            &ureq::get(&format!("{http}/api/rooms/{room}"))
                .call()?
                .into_string()?,
        )?;
        info.frames_handled
            .ok_or_else(|| "the target does not count frames (BENCH_COUNTERS)".into())
    };
    let before = handled()?;
    for _ in 0..1000 {
        a.send(Message::Text(PING_FRAME.into())).await?;
        if next_text(&mut a).await? != PONG_FRAME {
            return Err("expected a pong".into());
        }
    }
    let after_exact = handled()?;
    for _ in 0..100 {
        a.send(Message::Text(r#"{ "type": "ping" }"#.into()))
            .await?;
        if next_text(&mut a).await? != PONG_FRAME {
            return Err("expected a pong".into());
        }
    }
    let after_spaced = handled()?;
    Ok(
        json!({"exact_pings_sent": 1000, "exact_pings_handled": after_exact - before,
              "spaced_pings_sent": 100, "spaced_pings_handled": after_spaced - after_exact}),
    )
}
