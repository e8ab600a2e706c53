//! Empty: this crate is its tests (`tests/sockets.rs`).
