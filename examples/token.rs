//! Mints a signed join token for local development: `make token ROOM=r PEER=p TTL=600
//! META='{"name":"Ada"}'`, or `cargo run --example token -- <room> [peer] [ttl-seconds] [meta]`
//! with AUTH_SECRET in the environment (or in .dev.vars, which `wrangler dev` reads too).
//!
//! Prints the token; join with `wss://<host>/rooms/<room>?peer=<peer>&token=<token>`.

use std::time::{SystemTime, UNIX_EPOCH};

use edge_signal::auth::{mint, Claims};
use edge_signal::json::Json;
use edge_signal::meta::Meta;
use edge_signal::protocol::{PeerId, RoomId};

fn secret() -> Option<String> {
    if let Ok(s) = std::env::var("AUTH_SECRET") {
        return Some(s);
    }
    let vars = std::fs::read_to_string(".dev.vars").ok()?;
    vars.lines().find_map(|line| {
        let value = line.strip_prefix("AUTH_SECRET=")?.trim();
        Some(value.trim_matches('"').to_owned())
    })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: token <room> [peer] [ttl-seconds] [meta-json-object]   (AUTH_SECRET from the environment or .dev.vars)";
    let Some(room) = args.first().filter(|r| !r.is_empty()) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    if let Err(e) = RoomId::parse(room) {
        eprintln!("{e}");
        std::process::exit(2);
    }
    let peer = args.get(1).filter(|p| !p.is_empty()).cloned();
    if let Some(Err(e)) = peer.as_deref().map(PeerId::parse) {
        eprintln!("{e}");
        std::process::exit(2);
    }
    let ttl: u64 = match args.get(2).filter(|t| !t.is_empty()).map(|t| t.parse()) {
        None => 600,
        Some(Ok(t)) if t > 0 => t,
        _ => {
            eprintln!("ttl must be a positive number of seconds\n{usage}");
            std::process::exit(2);
        }
    };
    // Checked as the server checks it, so a token never carries metadata the server refuses.
    let meta = match args
        .get(3)
        .filter(|m| !m.is_empty())
        .map(|m| Meta::parse(m))
    {
        None | Some(Ok(None)) => None,
        Some(Ok(Some(meta))) => Some(Json::parse(meta.as_str()).expect("checked JSON")),
        Some(Err(e)) => {
            eprintln!("{e}\n{usage}");
            std::process::exit(2);
        }
    };
    let Some(secret) = secret() else {
        eprintln!("AUTH_SECRET is not set (in the environment or .dev.vars)");
        std::process::exit(2);
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    let claims = Claims {
        room: room.clone(),
        peer,
        exp: now + ttl,
        nbf: None,
        meta,
    };
    println!("{}", mint(secret.as_bytes(), &claims));
}
