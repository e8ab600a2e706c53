//! edge-signal: WebRTC signaling on Cloudflare Workers, one Durable Object per room.
//!
//! Browser peers open `wss://<host>/rooms/<room>`; the Worker checks the request and hands the
//! socket to that room's Durable Object, which seats the peer and relays offers, answers, ICE
//! candidates and app messages between the peers of the room. The wire contract is
//! `docs/protocol.md`.
//!
//! # Layout
//! The core, plain Rust with no `worker` types, built and unit-tested natively
//! (`cargo test --lib`):
//! - [`protocol`]: the v1 codec: ids, client frames parsed only for routing, server messages;
//!   and [`protocol::Wire`], which codec a room speaks.
//! - [`matchbox`]: the second codec, matchbox's JSON events, for `matchbox_socket` clients.
//! - [`peerjs`]: the PeerJS server protocol, for the `peerjs` client: its codec and the state of
//!   one peer (one Durable Object per key and id; `docs/peerjs.md`).
//! - [`room`]: the room state machine: joins, relays, departures, budgets, when to sweep. No
//!   I/O, no clock, no `worker`.
//! - [`request`]: routes, the checked join (query and `Sec-WebSocket-Protocol`), and the
//!   handoff from the Worker to a room's object, built and read in one place.
//! - [`config`]: `[vars]` and secrets, parsed and checked.
//! - [`error`]: client faults, their error and close codes, every close reason, HTTP errors.
//! - [`auth`]: signed joins (HS256 JWTs).
//! - [`turn`]: TURN credentials for `welcome` (coturn REST scheme, Cloudflare Realtime TURN).
//! - [`observe`]: one event type for log lines and Analytics Engine data points.
//!
//! The runtime adapter, `runtime/` (wasm32 only, gated once here), translates between the
//! Workers runtime and the core, one file per concern: `entry` (the Worker's fetch handler),
//! `room_object` (the `RoomObject` Durable Object: socket handlers and the join), `peer_object`
//! (the `PeerObject` Durable Object of a PeerJS peer, and of a key's directory), `glue` (every
//! `unsafe` and inline-JS binding), `attachment` (what a socket carries across hibernation, and
//! the restore), `alarm` (the sweep alarm's storage calls), `turn_client` (Cloudflare's TURN
//! API), and `mod.rs` (what both adapters share: bindings, config, responses, clock). A second
//! wire protocol is a second codec beside [`protocol`] driving the same [`room::Room`] through
//! `room_object`; a second Durable Object class is a new file in `runtime/` that uses `glue`,
//! `attachment` and `alarm` as `room_object` does.
//!
//! # Required bindings (wrangler.toml)
//! - `ROOMS`: Durable Object namespace of class `RoomObject` (SQLite-backed, which the free plan
//!   requires; the room stores nothing but its sweep alarm).
//! - `PEERS`: Durable Object namespace of class `PeerObject` (SQLite-backed): the PeerJS
//!   endpoint's peers and, with discovery on, each key's directory of ids.
//! - `ASSETS`: Workers Static Assets of `public/` (pages, scripts, the client library, and
//!   `_headers`); the Worker reads the room page from it.
//! - `JOIN_LIMITER` (optional): a Rate Limiting binding for joins and look-ups per client
//!   address.
//! - `ANALYTICS` (optional): a Workers Analytics Engine dataset.
//! - `[vars]`: see [`config`].

// `unsafe` lives in `runtime/glue.rs` alone, which allows it; everywhere else it is an error.
#![deny(unsafe_code)]

pub mod action;
pub mod auth;
pub mod config;
pub mod error;
pub mod observe;
pub mod peer;
pub mod protocol;
pub mod request;
pub mod role;
pub mod room;
pub mod seat;
pub mod topics;
pub mod turn;

#[cfg(target_arch = "wasm32")]
mod runtime;
