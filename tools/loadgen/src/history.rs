//! Before and after: every `make bench` run appends its headline figures to
//! `bench/history.jsonl` (committed), and the report tabulates them, so what a change did is
//! measured by the same command as everything else, never typed in.
//!
//! Runs from before the history existed are recovered from the report they wrote
//! ([`from_report`]): the tables of a generated `docs/benchmarks.md` hold the same figures.

use serde_json::{json, Value};

pub const HISTORY: &str = "bench/history.jsonl";

/// The headline figures of one run: edge (Miniflare) and the floor, medians.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub commit: String,
    pub date: String,
    /// Relay round-trip p50 in ms at R = 1, 10, 100: (edge, floor).
    pub relay_p50: [(f64, f64); 3],
    /// Relay throughput at R = 100, messages/s: (edge, floor).
    pub rate_100: (f64, f64),
    /// Sequential join p50 in ms: (edge, floor).
    pub join_p50: (f64, f64),
    /// Gzipped wasm, bytes (or KB × 1000 when recovered from a report).
    pub wasm_gz: f64,
    /// Cold starts (`cold.rs`), p50 in ms, (edge, floor): a fresh process's spawn to first
    /// `welcome`, and the first join after an eviction (None when either was not evicted).
    /// Both None in runs from before they were measured.
    pub fresh_p50: Option<(f64, f64)>,
    pub woken_p50: Option<(f64, f64)>,
}

impl Summary {
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "commit": self.commit,
            "date": self.date,
            "relay_p50": self.relay_p50.iter().map(|(e, f)| [e, f]).collect::<Vec<_>>(),
            "rate_100": [self.rate_100.0, self.rate_100.1],
            "join_p50": [self.join_p50.0, self.join_p50.1],
            "wasm_gz": self.wasm_gz,
        });
        // Only when measured, so older lines and newer ones read alike.
        for (key, pair) in [("fresh_p50", self.fresh_p50), ("woken_p50", self.woken_p50)] {
            if let Some((e, f)) = pair {
                v[key] = json!([e, f]);
            }
        }
        v
    }

    pub fn from_json(v: &Value) -> Option<Summary> {
        let pair = |v: &Value| Some((v.get(0)?.as_f64()?, v.get(1)?.as_f64()?));
        let relay = v.get("relay_p50")?.as_array()?;
        Some(Summary {
            commit: v.get("commit")?.as_str()?.to_owned(),
            date: v.get("date")?.as_str()?.to_owned(),
            relay_p50: [pair(&relay[0])?, pair(&relay[1])?, pair(&relay[2])?],
            rate_100: pair(v.get("rate_100")?)?,
            join_p50: pair(v.get("join_p50")?)?,
            wasm_gz: v.get("wasm_gz")?.as_f64()?,
            fresh_p50: v.get("fresh_p50").and_then(pair),
            woken_p50: v.get("woken_p50").and_then(pair),
        })
    }
}

/// Every recorded run, oldest first.
pub fn load(text: &str) -> Vec<Summary> {
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| Summary::from_json(&v))
        .collect()
}

/// The headline figures of a report this generator wrote (its date, commit and tables).
pub fn from_report(md: &str) -> Option<Summary> {
    let field = |prefix: &str| {
        md.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .map(|v| v.trim().trim_matches('`').to_owned())
    };
    // The cells of the first table row starting with `| <name> |` whose second cell is `rooms`.
    let row = |section: &str, name: &str, second: Option<&str>| -> Option<Vec<f64>> {
        let start = md.find(section)?;
        md[start..].lines().find_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            if cells.len() < 3 || cells[1] != name || second.is_some_and(|s| cells[2] != s) {
                return None;
            }
            Some(
                cells[2..]
                    .iter()
                    .map(|c| c.trim_end_matches(" KB").parse().unwrap_or(f64::NAN))
                    .collect(),
            )
        })
    };
    let relay = |rooms: &str| -> Option<(f64, f64)> {
        let e = row("## Relay round trip", "edge (miniflare)", Some(rooms))?;
        let f = row("## Relay round trip", "floor (miniflare)", Some(rooms))?;
        Some((e[1], f[1]))
    };
    let rate_e = row("## Relay throughput", "edge (miniflare)", None)?;
    let rate_f = row("## Relay throughput", "floor (miniflare)", None)?;
    let join_e = row("## Join latency", "edge (miniflare)", None)?;
    let join_f = row("## Join latency", "floor (miniflare)", None)?;
    let bundle = row("## Bundle", "`build/index_bg.wasm`", None)?;
    Some(Summary {
        commit: field("- commit: ")?,
        date: field("- date: ")?,
        relay_p50: [relay("1")?, relay("10")?, relay("100")?],
        rate_100: (rate_e[2], rate_f[2]),
        join_p50: (join_e[0], join_f[0]),
        wasm_gz: bundle[1] * 1000.0,
        // Not read back from reports: every report with them has its line in the history.
        fresh_p50: None,
        woken_p50: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "# Benchmarks\n\n- date: 2026-11-22 05:35 UTC\n- commit: `e410b05`\n\n\
## Relay round trip (offer → answer), ms\n\n| target | rooms | p50 | p90 |\n|---|---:|---:|---:|\n\
| edge (miniflare) | 1 | 0.24 | 0.28 |\n| floor (miniflare) | 1 | 0.22 | 0.28 |\n\
| edge (miniflare) | 10 | 0.75 | 0.93 |\n| floor (miniflare) | 10 | 0.55 | 0.74 |\n\
| edge (miniflare) | 100 | 8.18 | 9.02 |\n| floor (miniflare) | 100 | 6.25 | 7.29 |\n\n\
## Relay throughput, messages per second across all rooms\n\n| target | R = 1 | R = 10 | R = 100 |\n\
| edge (miniflare) | 7902 | 25162 | 22774 | 0.76× |\n| floor (miniflare) | 8684 | 33456 | 30059 | 1.00× |\n\n\
## Join latency (upgrade request → welcome), ms\n\n| target | seq p50 | p99 |\n\
| edge (miniflare) | 4.55 | 6.81 |\n| floor (miniflare) | 2.78 | 4.72 |\n\n\
## Bundle\n\n| file | raw | gzipped |\n| `build/index_bg.wasm` | 359.0 KB | 145.2 KB |\n";

    #[test]
    fn a_report_gives_back_its_figures() {
        let s = from_report(REPORT).unwrap();
        assert_eq!(s.commit, "e410b05");
        assert_eq!(s.date, "2026-11-22 05:35 UTC");
        assert_eq!(s.relay_p50, [(0.24, 0.22), (0.75, 0.55), (8.18, 6.25)]);
        assert_eq!(s.rate_100, (22774.0, 30059.0));
        assert_eq!(s.join_p50, (4.55, 2.78));
        assert_eq!(s.wasm_gz, 145200.0);
        // And through the history file's JSON.
        assert_eq!(Summary::from_json(&s.to_json()), Some(s.clone()));
        assert_eq!(load(&format!("{}\n\nnot json\n", s.to_json())), vec![s]);
    }

    #[test]
    fn cold_start_figures_go_through_the_history_and_may_be_absent() {
        let mut s = from_report(REPORT).unwrap();
        assert_eq!(s.fresh_p50, None);
        assert!(s.to_json().get("fresh_p50").is_none());
        s.fresh_p50 = Some((1200.0, 800.0));
        s.woken_p50 = Some((9.5, 4.0));
        assert_eq!(s.to_json()["woken_p50"], json!([9.5, 4.0]));
        assert_eq!(Summary::from_json(&s.to_json()), Some(s));
    }

    #[test]
    fn a_report_without_the_tables_gives_nothing() {
        assert_eq!(from_report("# Benchmarks\n\n- commit: `abc`\n"), None);
    }
}
