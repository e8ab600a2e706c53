//! Cold starts (issue 23), this worker against the floor (`bench/floor.js`), both under
//! Miniflare (`bench/serve.mjs`):
//!
//! - **A fresh process**: from spawning `node bench/serve.mjs <kind> <port>` (node, Miniflare,
//!   workerd, the module compiled) until the first join's `welcome`; the driver retries the join
//!   every 5 ms until the port answers.
//! - **The first join after an eviction**: rooms each with one peer that stays connected (a
//!   hibernatable socket), left idle past workerd's eviction (about 10 s after an object's last
//!   event; `tests/e2e_hibernation.rs` proves it for this runtime), then a second peer's join:
//!   the object is rebuilt from its socket's attachment before it answers. Next to the same join
//!   to a room whose object is in memory.

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{join, run_id, Error, Proto, Ws};

/// Fresh processes per target.
pub const FRESH_RUNS: usize = 5;
/// Rooms per target in the eviction measurement (their joins one after another).
pub const EVICTED_ROOMS: usize = 10;
/// Idle before the joins that wake evicted objects.
pub const EVICTION_WAIT: Duration = Duration::from_secs(13);

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Spawn → first `welcome` of a fresh `bench/serve.mjs <kind>`, ms.
pub async fn fresh_process(kind: &str) -> Result<f64, Error> {
    let port = free_port();
    let started = Instant::now();
    let mut child = Command::new("node")
        .args(["bench/serve.mjs", kind, &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()?;
    let url = format!("ws://127.0.0.1:{port}");
    let room = format!("fresh-{}", run_id());
    let result = loop {
        match join(&url, Proto::Edge, &room, "a").await {
            Ok(_) => break Ok(ms(started.elapsed())),
            Err(_) if started.elapsed() < Duration::from_secs(60) => {
                tokio::time::sleep(Duration::from_millis(5)).await
            }
            Err(e) => break Err(e),
        }
    };
    // SAFETY: kill(2) on our own child's process group.
    unsafe {
        libc::kill(-(child.id() as i32), libc::SIGTERM);
    }
    let _ = child.wait();
    result
}

/// Rooms with one peer each on every target of `urls`, ready to be left idle.
pub struct Idle {
    rooms: Vec<Vec<(String, Ws)>>,
}

/// Joins to rooms whose object is in memory (a second peer right after the first), ms per
/// target of `urls`; and opens the rooms the eviction measurement leaves idle.
pub async fn warm_then_idle(urls: &[&str]) -> Result<(Vec<Vec<f64>>, Idle), Error> {
    let id = run_id();
    let mut warm = Vec::new();
    let mut rooms = Vec::new();
    for (t, url) in urls.iter().enumerate() {
        let mut joins = Vec::new();
        let mut kept = Vec::new();
        for i in 0..EVICTED_ROOMS {
            let room = format!("warm-{id}-{t}-{i}");
            let (a, _) = join(url, Proto::Edge, &room, "a").await?;
            let (b, took) = join(url, Proto::Edge, &room, "b").await?;
            joins.push(ms(took));
            drop((a, b));
            let room = format!("evicted-{id}-{t}-{i}");
            let (a, _) = join(url, Proto::Edge, &room, "a").await?;
            kept.push((room, a));
        }
        warm.push(joins);
        rooms.push(kept);
    }
    Ok((warm, Idle { rooms }))
}

/// After [`EVICTION_WAIT`] idle, a second peer's join to each room of `idle`, ms per target.
pub async fn after_eviction(urls: &[&str], idle: Idle) -> Result<Vec<Vec<f64>>, Error> {
    tokio::time::sleep(EVICTION_WAIT).await;
    let mut woken = Vec::new();
    for (url, rooms) in urls.iter().zip(&idle.rooms) {
        let mut joins = Vec::new();
        for (room, _) in rooms {
            let (_b, took) = join(url, Proto::Edge, room, "b").await?;
            joins.push(ms(took));
        }
        woken.push(joins);
    }
    drop(idle);
    Ok(woken)
}

/// The p-quantile of `xs` (nearest rank).
pub fn quantile(xs: &[f64], q: f64) -> f64 {
    let mut xs = xs.to_vec();
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    if xs.is_empty() {
        return f64::NAN;
    }
    xs[((xs.len() as f64 * q).ceil() as usize).clamp(1, xs.len()) - 1]
}

/// The cold-start figures of this worker and the floor, gathered by [`measure`].
#[derive(Default)]
pub struct Cold {
    /// `[edge, floor]`: spawn → first welcome, ms, one per fresh process.
    pub fresh: [Vec<f64>; 2],
    /// `[edge, floor]`: joins to rooms whose object is in memory, ms.
    pub warm: [Vec<f64>; 2],
    /// `[edge, floor]`: first joins after an eviction, ms.
    pub woken: [Vec<f64>; 2],
}

/// Both measurements: fresh processes of `edge` and `floor` (alternating), and the eviction
/// measurement on the running servers at `urls` (`[edge, floor]`).
pub async fn measure(urls: [&str; 2]) -> Result<Cold, Error> {
    let mut cold = Cold::default();
    let (warm, idle) = warm_then_idle(&urls).await?;
    // The fresh processes while the rooms sit idle: other servers, so the rooms stay idle
    // (for these and then the whole wait).
    for _ in 0..FRESH_RUNS {
        for (i, kind) in ["edge", "floor"].into_iter().enumerate() {
            cold.fresh[i].push(fresh_process(kind).await?);
        }
    }
    let woken = after_eviction(&urls, idle).await?;
    cold.warm.clone_from_slice(&warm);
    cold.woken.clone_from_slice(&woken);
    Ok(cold)
}

/// The report's section.
pub fn section(cold: &Cold, wasm_gz: usize) -> String {
    let ratio = |a: f64, b: f64| format!("{:.2}×", a / b);
    let mut s = format!(
        "\n## Cold starts\n\n\
         Both under Miniflare. **Fresh process**: from spawning `node bench/serve.mjs` to the first join's `welcome` \
         (node, Miniflare, workerd, the module compiled and instantiated, the room's object started), {} processes \
         each, alternating. **After eviction**: {} rooms each with one peer still connected (a hibernatable socket), \
         idle {} s (workerd evicts an object about 10 s after its last event), then a second peer's join, which \
         rebuilds the room from the socket's attachment first; **warm** is the same join to a room whose object is \
         in memory. The module this worker loads is {:.1} KB gzipped (`gzip -9`); the floor's is a few KB of \
         JavaScript.\n\n\
         | target | fresh process p50 | max | vs floor | warm join p50 | after eviction p50 | p90 | max | vs floor | vs warm |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        FRESH_RUNS,
        EVICTED_ROOMS,
        EVICTION_WAIT.as_secs(),
        wasm_gz as f64 / 1000.0,
    );
    let fresh = |i: usize| quantile(&cold.fresh[i], 0.5);
    let woken = |i: usize| quantile(&cold.woken[i], 0.5);
    for (i, name) in ["edge (miniflare)", "floor (miniflare)"]
        .into_iter()
        .enumerate()
    {
        let warm = quantile(&cold.warm[i], 0.5);
        s += &format!(
            "| {name} | {:.0} ms | {:.0} ms | {} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms | {} | {} |\n",
            fresh(i),
            quantile(&cold.fresh[i], 1.0),
            ratio(fresh(i), fresh(1)),
            warm,
            woken(i),
            quantile(&cold.woken[i], 0.9),
            quantile(&cold.woken[i], 1.0),
            ratio(woken(i), woken(1)),
            ratio(woken(i), warm),
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank() {
        let xs = [5.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(quantile(&xs, 0.5), 3.0);
        assert_eq!(quantile(&xs, 1.0), 5.0);
        assert_eq!(quantile(&xs, 0.0), 1.0);
        assert!(quantile(&[], 0.5).is_nan());
    }
}
