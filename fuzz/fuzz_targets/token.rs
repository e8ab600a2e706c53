//! Fuzz target: any bytes as a join token through `auth::verify`, starting from a valid token
//! (the seed in `fuzz/seeds/token/`). Nothing may panic, and a token that passes must be for
//! this room, unexpired, and carry exactly the signature the secret makes of its first two
//! parts as sent: no other spelling of a signature (padding, stray bits) is accepted.
#![no_main]

use edge_signal::auth;
use edge_signal::protocol::{PeerId, RoomId};
use libfuzzer_sys::fuzz_target;

const SECRET: &[u8] = b"fuzz-secret";

fuzz_target!(|data: &[u8]| {
    let token = String::from_utf8_lossy(data);
    let room = RoomId::parse("r").unwrap();
    let peer = PeerId::parse("p").unwrap();
    for asked in [None, Some(&peer)] {
        if let Ok(claims) = auth::verify(Some(&token), SECRET, &room, asked, 1_000) {
            // Accepted: it must be exactly what a signer with the secret would have made of
            // these claims (a token's signature covers its header and payload as sent).
            assert_eq!(claims.room, "r");
            assert!(claims.exp > 1_000);
            let signed = &token[..token.rfind('.').unwrap()];
            let resigned = auth::sign(SECRET, signed);
            assert_eq!(&token[token.rfind('.').unwrap() + 1..], resigned);
        }
    }
});
