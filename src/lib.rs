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
//! - [`protocol`]: one codec per wire protocol ([`protocol::v1`], [`protocol::matchbox`],
//!   [`protocol::peerjs`], [`protocol::yjs`]), each turning frames into protocol-neutral events
//!   and rendering neutral outputs; ids, typed parse errors, and [`protocol::Wire`], the
//!   dispatch for rooms. No codec imports another.
//! - [`seat`]: one socket's seat in any topology: limits, the frame-size rule, the message and
//!   byte budgets, liveness.
//! - [`action`]: the one action vocabulary ([`action::Outbound`]) every topology returns.
//! - The topologies, side by side, sans I/O: [`room`] (ids, capacity, targeted relay,
//!   broadcast, resume, sweeps), [`peer`] (a PeerJS peer: one id, messages to other ids, held
//!   messages) and [`topics`] (a y-webrtc namespace: topics, publish to their subscribers).
//! - [`role`]: what a Durable Object is for, parsed once from its name.
//! - [`rate`]: the join rate limit of a node without Cloudflare's binding (`make serve`).
//! - [`request`]: routes, the checked join (query and `Sec-WebSocket-Protocol`), and the
//!   handoff from the Worker to an object, built and read in one place.
//! - [`config`]: `[vars]` and secrets, parsed and checked.
//! - [`error`]: client faults, the gate's refusals, their error and close codes, HTTP errors.
//! - [`auth`]: signed joins (HS256 JWTs) for rooms, PeerJS ids and y-webrtc namespaces.
//! - [`turn`]: TURN credentials for `welcome` (coturn REST scheme, Cloudflare Realtime TURN).
//! - [`json`]: JSON text checked once and handed out as it is (the ICE servers).
//! - [`observe`]: one event type for log lines and Analytics Engine data points.
//!
//! The runtime adapter, `runtime/` (wasm32 only, gated once here), translates between the
//! Workers runtime and the core: `entry` (the Worker: one gate for every endpoint, one refusal
//! type), `executor` (the one executor of actions and the socket handlers every class shares),
//! `room_object` (`RoomObject`: rooms, matchbox groups and lobbies, y-webrtc namespaces),
//! `peer_object` (`PeerObject`: a PeerJS peer, and a key's directory), `glue` (every `unsafe`
//! and inline-JS binding; `unsafe` is denied everywhere else), `attachment`, `alarm`,
//! `turn_client`, and `mod.rs` (bindings, config, responses, clock).
//!
//! A fifth protocol is a codec file in `protocol/`, a topology beside the three if none fits
//! (or a [`protocol::Wire`] variant for a protocol of rooms), a [`role::Role`], a route through
//! the gate, and its object: a branch of `RoomObject` or a class implementing the executor's
//! `Host`. The y-webrtc endpoint was added that way.
//!
//! # Required bindings (wrangler.toml)
//! - `ROOMS`: Durable Object namespace of class `RoomObject` (SQLite-backed, which the free plan
//!   requires; a room or a y-webrtc namespace stores nothing but its sweep alarm).
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
pub mod admin;
pub mod auth;
pub mod config;
pub mod error;
pub mod json;
pub mod lobby;
pub mod meta;
pub mod observe;
pub mod peer;
pub mod protocol;
pub mod rate;
pub mod request;
pub mod role;
pub mod room;
pub mod seat;
pub mod topics;
pub mod turn;
pub mod webhook;

#[cfg(target_arch = "wasm32")]
mod runtime;
