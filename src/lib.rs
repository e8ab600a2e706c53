//! edge-signal: WebRTC signaling on Cloudflare Workers, one Durable Object per room.
//!
//! Browser peers open `wss://<host>/rooms/<room>`; the Worker checks the request and hands the
//! socket to that room's Durable Object, which seats the peer and relays offers, answers, ICE
//! candidates and app messages between the peers of the room. The wire contract is
//! `docs/protocol.md`.
//!
//! # Layout
//! - [`protocol`]: the wire types (ids, client frames parsed only for routing, server messages).
//! - [`room`]: the room state machine: joins, relays, departures. No I/O, no clock, no `worker`.
//! - [`request`]: routes and the checked query of a join (contract section 1).
//! - [`config`]: `[vars]` and secrets, parsed and checked.
//! - [`auth`]: signed joins (HS256 JWTs).
//! - [`turn`]: TURN credentials for `welcome` (coturn REST scheme, Cloudflare Realtime TURN).
//! - [`analytics`]: Workers Analytics Engine data points (optional `ANALYTICS` binding).
//! - [`assets`]: the pages, their scripts and the client library, embedded at compile time.
//! - [`error`]: client faults and their wire codes.
//! - `worker_entry` and `durable` (wasm32 only): the Worker's fetch handler and the `RoomObject`
//!   Durable Object, thin adapters that translate between the runtime and the modules above.
//!
//! Everything but the two adapters builds and is unit-tested natively (`cargo test --lib`).
//!
//! # Required bindings (wrangler.toml)
//! - `ROOMS`: Durable Object namespace of class `RoomObject` (SQLite-backed, which the free plan
//!   requires; the room stores nothing, so it costs no storage).
//! - `[vars]`: see [`config`].

pub mod analytics;
pub mod assets;
pub mod auth;
pub mod config;
pub mod error;
pub mod protocol;
pub mod request;
pub mod room;
pub mod turn;

#[cfg(target_arch = "wasm32")]
mod durable;
#[cfg(target_arch = "wasm32")]
mod worker_entry;
