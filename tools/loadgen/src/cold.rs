//! Cold starts (issue 23), this worker against the floor (`bench/floor.js`), each under
//! Miniflare (`bench/serve.mjs`) and under `wrangler dev`:
//!
//! - **A fresh process**: from spawning the target's command until the first join's `welcome`
//!   (the process starting, workerd, the module loaded, the room's object created); the
//!   driver retries the join every 5 ms until the port answers. A fifth target, the floor with
//!   this worker's wasm module loaded and never used ([`MODULE_ONLY`]), shows what the module
//!   costs by its size alone: the figure the wasm budget is set against.
//! - **The first join after an eviction**: rooms each with one peer that stays connected (a
//!   hibernatable socket), left idle past workerd's eviction (about 10 s after an object's last
//!   event), then a second peer's join: the object is rebuilt from its socket's attachment
//!   before it answers. Next to it, the same join to a room whose object is in memory.
//!   An eviction is confirmed room by room by the target's `room_restored` log line (this
//!   worker's observation; the floor prints one too): a room whose object stayed in memory is
//!   counted as not evicted and its join left out, never reported as a cold one.
//!
//! `loadgen cold` runs this alone, on servers of its own; `loadgen bench` on its own targets.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::report::{
    free_port, gzipped, ratio, spawn, start, wrangler_state, Group, Launch, Target, WRANGLER_FLOOR,
};
use crate::{join, run_id, Error, Proto};

/// Fresh processes per target: what the module's size costs is a few percent of a start, and a
/// process start under node moves by about as much from one to the next. Even, so that the
/// floor and [`MODULE_ONLY`] go first equally often.
pub const FRESH_RUNS: usize = 12;
/// Rooms per target in the eviction measurement (their joins one after another).
pub const EVICTED_ROOMS: usize = 10;
/// Idle before the joins that wake evicted objects: workerd evicts about 10 s after an
/// object's last event (`tests/e2e_hibernation.rs` waits as long). It must stay well under the
/// worker's `IDLE_TIMEOUT_MS` (60 s), or the second join would also sweep the silent first peer.
pub const EVICTION_WAIT: Duration = Duration::from_secs(13);
/// How long a fresh process may take to give its first `welcome`.
const FRESH_WITHIN: Duration = Duration::from_secs(120);

/// The targets, in the report's order: each runtime's floor right after its edge.
pub const NAMES: [&str; 4] = [
    "edge (miniflare)",
    "floor (miniflare)",
    "edge (wrangler dev)",
    "floor (wrangler dev)",
];

/// The floor under Miniflare with this worker's wasm module loaded beside it and never used
/// (`bench/serve.mjs floor-wasm`): started afresh only.
pub const MODULE_ONLY: &str = "floor + this worker's module (miniflare)";

/// The index in [`NAMES`] of target `i`'s floor (on its own runtime).
fn floor_of(i: usize) -> usize {
    i | 1
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// This worker's wrangler.toml without its `[build]` table, written to `target/bench` with its
/// paths made absolute. `wrangler dev` from it serves the same module, but starts without
/// running scripts/build.sh (`make bench` has just built; otherwise every fresh start would
/// include cargo checking that nothing changed, which the floor does not pay) and does not
/// watch src/. (A `.dev.vars` beside wrangler.toml is not read from there: the bench's vars
/// are passed on the command line.)
pub fn unbuilt_config() -> Result<String, Error> {
    let root = std::env::current_dir()?;
    let mut out = String::new();
    let mut in_build = false;
    for line in std::fs::read_to_string("wrangler.toml")?.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            in_build = trimmed.starts_with("[build]");
        }
        if in_build {
            continue;
        }
        // `main` and `[assets]`'s `directory` are relative to the file.
        match trimmed.split_once(" = \"") {
            Some((key @ ("main" | "directory"), rest)) => {
                out += &format!("{key} = \"{}/{rest}\n", root.display())
            }
            _ => out += &format!("{line}\n"),
        }
    }
    std::fs::create_dir_all("target/bench")?;
    let path = "target/bench/edge-unbuilt.wrangler.toml";
    std::fs::write(path, out)?;
    Ok(path.to_owned())
}

/// How each target of [`NAMES`] is started afresh; `unbuilt` is [`unbuilt_config`]'s path.
fn launches(unbuilt: &str) -> [Launch<'_>; 4] {
    [
        Launch::Miniflare("edge"),
        Launch::Miniflare("floor"),
        Launch::Wrangler {
            config: unbuilt,
            lift_budgets: true,
        },
        WRANGLER_FLOOR,
    ]
}

/// Spawn → first `welcome` of a fresh process started by `launch`, ms.
pub async fn fresh_process(launch: Launch<'_>) -> Result<f64, Error> {
    let port = free_port();
    let mut cmd = launch.command(port);
    // Nothing of its output is needed: the join is what is timed.
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let url = format!("ws://127.0.0.1:{port}");
    let room = format!("fresh-{}", run_id());
    let started = Instant::now();
    let group = Group(spawn(&mut cmd)?);
    let result = loop {
        // Refused until the port is bound; wrangler's proxy may instead hold the upgrade until
        // workerd is up. Either way the first `welcome` ends the wait.
        match join(&url, Proto::Edge, &room, "a").await {
            Ok(_) => break Ok(ms(started.elapsed())),
            Err(_) if started.elapsed() < FRESH_WITHIN => {
                tokio::time::sleep(Duration::from_millis(5)).await
            }
            Err(e) => {
                break Err(format!(
                    "no welcome from {url} within {FRESH_WITHIN:?}: {e}"
                ))
            }
        }
    };
    drop(group);
    if let Launch::Wrangler { .. } = launch {
        let _ = std::fs::remove_dir_all(wrangler_state(port));
    }
    Ok(result?)
}

/// One target's second joins (upgrade → `welcome`, ms).
#[derive(Clone, Debug, Default)]
pub struct Joins {
    /// To rooms whose object is in memory.
    pub warm: Vec<f64>,
    /// To the idle rooms whose object was evicted (confirmed by the target's log).
    pub woken: Vec<f64>,
    /// Rooms left idle; `woken.len()` of them were evicted.
    pub idle_rooms: usize,
}

/// Whether `target` logged a rebuild of `room` (this worker names the room; the floor names the
/// peers of the sockets it was rebuilt from, here the room's first peer `peer`).
fn restored(target: &Target, room: &str, peer: &str) -> bool {
    let (room, peer) = (format!("\"{room}\""), format!("\"{peer}\""));
    target
        .restores
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.contains(&room) || l.contains(&peer))
}

/// `rooms` rooms on each of `targets` with one peer that stays, `idle` with no event, then a
/// second peer's join to each; before each of those, a second join to a warm room. The joins
/// go one after another, target by target.
pub async fn evictions(
    targets: &[&Target],
    rooms: usize,
    idle: Duration,
) -> Result<Vec<Joins>, Error> {
    let id = run_id();
    // The first peers, on every target before the one wait.
    let mut kept = Vec::new();
    for (t, target) in targets.iter().enumerate() {
        let mut sockets = Vec::new();
        for k in 0..rooms {
            let (room, peer) = (format!("evicted-{id}-{t}-{k}"), format!("a{t}n{k}x{id}"));
            let (ws, _) = join(&target.url, Proto::Edge, &room, &peer).await?;
            sockets.push((room, peer, ws));
        }
        kept.push(sockets);
    }
    tokio::time::sleep(idle).await;

    let mut all = Vec::new();
    let mut second_peers = Vec::new();
    for (t, (target, sockets)) in targets.iter().zip(&kept).enumerate() {
        // A room rebuilt before its second join was woken by something else: not counted.
        let early: Vec<bool> = sockets
            .iter()
            .map(|(room, peer, _)| restored(target, room, peer))
            .collect();
        let mut warm = Vec::new();
        let mut timed = Vec::new();
        for (k, (room, _, _)) in sockets.iter().enumerate() {
            // In turns with the idle rooms' joins, so both see the process in the same state.
            let room_warm = format!("warm-{id}-{t}-{k}");
            let (mut c, _) = join(
                &target.url,
                Proto::Edge,
                &room_warm,
                &format!("c{t}n{k}x{id}"),
            )
            .await?;
            let (mut d, took) = join(
                &target.url,
                Proto::Edge,
                &room_warm,
                &format!("d{t}n{k}x{id}"),
            )
            .await?;
            warm.push(ms(took));
            let _ = c.close(None).await;
            let _ = d.close(None).await;
            let (b, took) = join(&target.url, Proto::Edge, room, &format!("b{t}n{k}x{id}")).await?;
            timed.push(ms(took));
            second_peers.push(b);
        }
        all.push((early, warm, timed));
    }

    // The log lines come a moment after the joins that caused them.
    let evicted = |t: usize, early: &[bool]| -> Vec<bool> {
        kept[t]
            .iter()
            .zip(early)
            .map(|((room, peer, _), early)| !early && restored(targets[t], room, peer))
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline
        && !all
            .iter()
            .enumerate()
            .all(|(t, (early, ..))| evicted(t, early).iter().all(|e| *e))
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(all
        .iter()
        .enumerate()
        .map(|(t, (early, warm, timed))| Joins {
            warm: warm.clone(),
            woken: timed
                .iter()
                .zip(evicted(t, early))
                .filter_map(|(took, evicted)| evicted.then_some(*took))
                .collect(),
            idle_rooms: rooms,
        })
        .collect())
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

/// The cold-start figures of the targets of [`NAMES`] (and [`MODULE_ONLY`]'s fresh processes),
/// gathered by [`fresh_processes`] and [`add_evictions`].
#[derive(Clone, Debug, Default)]
pub struct Cold {
    /// Spawn → first welcome, ms, one per fresh process.
    pub fresh: [Vec<f64>; 4],
    /// The same, of [`MODULE_ONLY`].
    pub module_only: Vec<f64>,
    pub joins: [Joins; 4],
    pub idle_secs: u64,
}

impl Cold {
    /// The Miniflare medians for the history: (edge, floor) of a fresh process, and of the
    /// first join after an eviction (None unless both were evicted).
    pub fn miniflare_p50(&self) -> ((f64, f64), Option<(f64, f64)>) {
        let fresh = (quantile(&self.fresh[0], 0.5), quantile(&self.fresh[1], 0.5));
        let [e, f] = [&self.joins[0].woken, &self.joins[1].woken];
        let woken = (!e.is_empty() && !f.is_empty()).then(|| (quantile(e, 0.5), quantile(f, 0.5)));
        (fresh, woken)
    }
}

/// Fresh processes of every target and of [`MODULE_ONLY`] (`runs` each, in turns). Run on a
/// quiet machine, before any other target is started: under `make bench`'s other servers a
/// start took about twice as long and moved by more than the module's size costs.
pub async fn fresh_processes(runs: usize) -> Result<Cold, Error> {
    let unbuilt = unbuilt_config()?;
    let launches = launches(&unbuilt);
    let module_only = Launch::Miniflare("floor-wasm");
    let mut cold = Cold::default();
    for run in 0..runs {
        // Index 4 is MODULE_ONLY, always next to the floor it is compared with (the machine's
        // speed drifts over a run; the two starts of a round see it alike), the two in
        // alternating order; the four targets in turns.
        let pair = if run % 2 == 0 { [1, 4] } else { [4, 1] };
        let mut units = [&[0][..], &pair[..], &[2][..], &[3][..]];
        units.rotate_left(run % 4);
        for &i in units.concat().iter() {
            let launch = launches.get(i).copied().unwrap_or(module_only);
            let took = fresh_process(launch).await?;
            eprintln!(
                "cold: {}: fresh process {took:.0} ms",
                NAMES.get(i).unwrap_or(&MODULE_ONLY)
            );
            match cold.fresh.get_mut(i) {
                Some(fresh) => fresh.push(took),
                None => cold.module_only.push(took),
            }
            // Let the stopped process's ports and files go before the next one starts.
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    Ok(cold)
}

/// The eviction measurement on the running `targets` (in [`NAMES`]' order), into `cold`.
pub async fn add_evictions(
    cold: &mut Cold,
    targets: [&Target; 4],
    rooms: usize,
    idle: Duration,
) -> Result<(), Error> {
    cold.idle_secs = idle.as_secs();
    eprintln!(
        "cold: {rooms} rooms on each target idle for {} s",
        idle.as_secs()
    );
    let joins = evictions(&targets, rooms, idle).await?;
    for (i, j) in joins.into_iter().enumerate() {
        eprintln!(
            "cold: {}: {} of {} idle rooms evicted",
            NAMES[i],
            j.woken.len(),
            j.idle_rooms
        );
        cold.joins[i] = j;
    }
    Ok(())
}

/// `loadgen cold`: fresh processes first, then the four targets started here (this worker's
/// `wrangler dev` from [`unbuilt_config`]) for the evictions, and the report's section.
pub async fn alone(runs: usize, rooms: usize, idle: Duration) -> Result<String, Error> {
    let wasm = std::fs::read("build/index_bg.wasm")?;
    let mut cold = fresh_processes(runs).await?;
    let unbuilt = unbuilt_config()?;
    let launches = launches(&unbuilt);
    let mut targets = Vec::new();
    for (name, launch) in NAMES.into_iter().zip(launches) {
        targets.push(start(name, launch, Proto::Edge, "")?);
    }
    add_evictions(
        &mut cold,
        [&targets[0], &targets[1], &targets[2], &targets[3]],
        rooms,
        idle,
    )
    .await?;
    Ok(section(&cold, wasm.len(), gzipped(&wasm)?))
}

/// The report's section.
pub fn section(cold: &Cold, wasm: usize, wasm_gz: usize) -> String {
    let runs = cold.fresh.iter().map(Vec::len).max().unwrap_or(0);
    let rooms = cold.joins.iter().map(|j| j.idle_rooms).max().unwrap_or(0);
    let mut s = format!(
        "\n## Cold starts\n\n\
         What a user waits for when nothing is warm, this worker against the floor on each runtime (each \"vs floor\" \
         compares with the floor on its own runtime). The module this worker loads is **{:.1} KB gzipped** (`gzip -9` \
         of `build/index_bg.wasm`; {:.1} KB raw); the floor is a few KB of JavaScript and has no wasm. Milliseconds.\n\n\
         ### A fresh process\n\n\
         From spawning the server (`node bench/serve.mjs <edge|floor>`: node, Miniflare, workerd; or `wrangler dev`: \
         wrangler, its bundling, its proxy, workerd) to the `welcome` of the first join, which the driver retries \
         every 5 ms until the port answers: the process started, the module compiled and instantiated, the room's \
         object created. {runs} processes per target, the five in turns, measured before any other server of the run \
         starts. This worker's `wrangler dev` runs from its \
         wrangler.toml without the `[build]` command (built beforehand; otherwise each start would include cargo \
         checking that nothing changed). The last row is the floor with this worker's module loaded beside it and \
         never used (`bench/serve.mjs floor-wasm`): workerd decodes and validates all of a wasm module when it loads \
         the worker, before the first request, and compiles each function at its first call, so that row less the \
         floor's is what the module costs by its size alone.\n\n\
         | target | processes | p50 | max | p50 vs floor |\n|---|---:|---:|---:|---:|\n",
        wasm_gz as f64 / 1000.0,
        wasm as f64 / 1000.0,
    );
    let fresh = |i: usize| quantile(&cold.fresh[i], 0.5);
    for (i, name) in NAMES.iter().enumerate() {
        s += &format!(
            "| {name} | {} | {:.0} | {:.0} | {} |\n",
            cold.fresh[i].len(),
            fresh(i),
            quantile(&cold.fresh[i], 1.0),
            ratio(fresh(i), fresh(floor_of(i))),
        );
    }
    let module_only = quantile(&cold.module_only, 0.5);
    s += &format!(
        "| {MODULE_ONLY} | {} | {module_only:.0} | {:.0} | {} |\n",
        cold.module_only.len(),
        quantile(&cold.module_only, 1.0),
        ratio(module_only, fresh(1)),
    );
    // Round by round (the two started one right after the other), the median difference.
    let paired: Vec<f64> = cold
        .module_only
        .iter()
        .zip(&cold.fresh[1])
        .map(|(with, without)| with - without)
        .collect();
    let size_cost = quantile(&paired, 0.5);
    if paired.is_empty() {
        s += "\n**What the module's size costs**: not measured in this run.\n";
    } else if !(size_cost > 0.0) {
        s += &format!(
            "\n**What the module's size costs** (Miniflare): nothing this run could see: the floor with the module \
             started no later than without it (the median of {} rounds' differences is {size_cost:.0} ms; p50s \
             {module_only:.0} and {:.0} ms). The wasm budget is set against this figure (the Bundle section).\n",
            paired.len(),
            fresh(1),
        );
    } else {
        s += &format!(
        "\n**What the module's size costs** (Miniflare; the median of {} rounds' differences, the floor with the \
         module less the floor started right next to it): loading it adds {size_cost:.0} ms to the floor's {:.0} ms \
         ({:.1}%), about {:.1} ms per 100 KB gzipped (an upper bound: a process's first wasm module pays part of it \
         whatever its size), of this worker's {:.0} ms over the floor (p50s; the rest: instantiating the module, \
         compiling the functions it runs at their first call, the worker's JavaScript, its first join). The wasm budget is set against this figure (the Bundle section).\n",
            paired.len(),
            fresh(1),
            100.0 * size_cost / fresh(1),
            size_cost / (wasm_gz as f64 / 100_000.0),
            fresh(0) - fresh(1),
        );
    }
    s += &format!(
        "\n### The first join after an eviction\n\n\
         {rooms} rooms per target, each with one peer joined and still connected (a hibernatable socket), then {} s \
         without any event (workerd evicts an idle Durable Object about 10 s after its last event; the rooms of all \
         four targets idle together), then a second peer's join (upgrade → `welcome`), which rebuilds the room from \
         its socket's attachment before it answers. **warm** is the same second join to a room whose object is in \
         memory (its first peer joined just before), each made right before one of the evicted rooms' joins. An \
         eviction counts only where the target logged the rebuild (`room_restored`, printed by this worker and by \
         the floor); the join to a room whose object stayed in memory is left out, and a target that evicted none \
         says **not evicted**.\n\n\
         | target | room | joins | p50 | p90 | max | p50 vs floor | p50 vs warm |\n\
         |---|---|---:|---:|---:|---:|---:|---:|\n",
        cold.idle_secs,
    );
    let p50 = |xs: &[f64]| quantile(xs, 0.5);
    for (i, name) in NAMES.iter().enumerate() {
        let (j, floor) = (&cold.joins[i], &cold.joins[floor_of(i)]);
        let warm = p50(&j.warm);
        s += &format!(
            "| {name} | warm | {} | {warm:.2} | {:.2} | {:.2} | {} | 1.00× |\n",
            j.warm.len(),
            quantile(&j.warm, 0.9),
            quantile(&j.warm, 1.0),
            ratio(warm, p50(&floor.warm)),
        );
        let evicted = format!("{} of {} evicted", j.woken.len(), j.idle_rooms);
        if j.woken.is_empty() {
            s +=
                &format!("| {name} | after eviction | {evicted} | not evicted | – | – | – | – |\n");
            continue;
        }
        let woken = p50(&j.woken);
        s += &format!(
            "| {name} | after eviction | {evicted} | {woken:.2} | {:.2} | {:.2} | {} | {} |\n",
            quantile(&j.woken, 0.9),
            quantile(&j.woken, 1.0),
            ratio(woken, p50(&floor.woken)),
            ratio(woken, warm),
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

    #[test]
    fn a_target_that_evicted_nothing_says_so_instead_of_a_figure() {
        let mut cold = Cold {
            idle_secs: 13,
            ..Cold::default()
        };
        cold.module_only = vec![210.0, 110.0];
        for i in 0..4 {
            cold.fresh[i] = vec![100.0 * (i as f64 + 1.0), 50.0 * (i as f64 + 1.0)];
            cold.joins[i] = Joins {
                warm: vec![2.0, 3.0],
                woken: if i == 2 { vec![] } else { vec![8.0, 6.0] },
                idle_rooms: 2,
            };
        }
        let s = section(&cold, 400_000, 190_000);
        assert!(s.contains("**190.0 KB gzipped**"), "{s}");
        assert!(
            s.contains("| edge (miniflare) | 2 | 50 | 100 | 0.50× |"),
            "{s}"
        );
        // The module alone: 10 ms more than the floor in each round, for 190 KB gzipped.
        assert!(
            s.contains("| floor + this worker's module (miniflare) | 2 | 110 | 210 | 1.10× |"),
            "{s}"
        );
        assert!(
            s.contains("the median of 2 rounds' differences, the floor with the module less the floor started right next to it): loading it adds 10 ms to the floor's 100 ms (10.0%), about 5.3 ms per 100 KB gzipped"),
            "{s}"
        );
        assert!(
            s.contains("| edge (miniflare) | after eviction | 2 of 2 evicted | 6.00 | 8.00 | 8.00 | 1.00× | 3.00× |"),
            "{s}"
        );
        assert!(
            s.contains("| edge (wrangler dev) | after eviction | 0 of 2 evicted | not evicted |"),
            "{s}"
        );
        assert_eq!(cold.miniflare_p50(), ((50.0, 100.0), Some((6.0, 6.0))));
        // A run whose noise hides the cost says so, rather than giving a negative one.
        cold.module_only = vec![190.0, 95.0];
        let s = section(&cold, 400_000, 190_000);
        assert!(
            s.contains("nothing this run could see: the floor with the module started no later than without it (the median of 2 rounds' differences is -10 ms; p50s 95 and 100 ms)"),
            "{s}"
        );
        assert!(!s.contains("loading it adds"), "{s}");
        cold.module_only.clear();
        assert!(
            section(&cold, 400_000, 190_000).contains("size costs**: not measured in this run.")
        );
    }
}
