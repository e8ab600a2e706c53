//! Signed joins: HS256 JSON Web Tokens (RFC 7519) that any back end can mint with a standard JWT
//! library and the shared `AUTH_SECRET`.
//!
//! Claims: `room` (required), `peer` (optional: when present, the join must use that id, and a
//! join without `?peer=` gets it), `exp` (required, seconds since the epoch), `nbf` (optional).
//! Only `alg: HS256` is accepted (never `none`, never another algorithm named by the token), and
//! the signature is checked in constant time (`Mac::verify_slice`) before any claim is read.
//!
//! Built on the RustCrypto `hmac` and `sha2` crates, which are pure Rust and build for wasm32;
//! a full JWT crate would bring RSA and elliptic-curve code the worker never uses.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::protocol::{PeerId, RoomId};

type HmacSha256 = Hmac<Sha256>;

/// The claims edge-signal reads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub room: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// The peer's metadata (control v1): on a signed deployment, the only source of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<crate::json::Json>,
}

/// Why a token was refused. The `Display` text goes into the `unauthorized` error and the log;
/// it never contains the token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthError {
    Missing,
    Malformed,
    BadSignature,
    Expired,
    NotYetValid,
    WrongRoom,
    WrongPeer,
}

impl AuthError {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthError::Missing => "a token is required",
            AuthError::Malformed => "the token is not an HS256 JWT",
            AuthError::BadSignature => "the token's signature is wrong",
            AuthError::Expired => "the token has expired",
            AuthError::NotYetValid => "the token is not valid yet",
            AuthError::WrongRoom => "the token is for another room",
            AuthError::WrongPeer => "the token is for another peer",
        }
    }
}

#[derive(Deserialize)]
struct Header {
    alg: String,
}

/// Checks `token` for a join of `room` (as `peer`, if the client asked for an id) at `now_s`.
/// Returns the claims; `claims.peer`, when set, is the id the join must use.
pub fn verify(
    token: Option<&str>,
    secret: &[u8],
    room: &RoomId,
    peer: Option<&PeerId>,
    now_s: u64,
) -> Result<Claims, AuthError> {
    let claims = verify_signed(token, secret, now_s)?;
    if claims.room != room.as_str() {
        return Err(AuthError::WrongRoom);
    }
    if let (Some(claimed), Some(asked)) = (&claims.peer, peer) {
        if claimed != asked.as_str() {
            return Err(AuthError::WrongPeer);
        }
    }
    if claims
        .peer
        .as_deref()
        .is_some_and(|p| PeerId::parse(p).is_err())
    {
        return Err(AuthError::Malformed);
    }
    Ok(claims)
}

/// The `room` claim of a PeerJS token for `key`: `peerjs:<key>`. The colon is outside the room
/// alphabet, so no PeerJS token is a room's token and no room's token a PeerJS one.
pub fn peerjs_room_claim(key: &str) -> String {
    format!("peerjs:{key}")
}

/// Checks a PeerJS join's `token` (`docs/peerjs.md`): claims `room` = `peerjs:<key>` and `peer`
/// = the id, which a PeerJS token must name (PeerJS ids are chosen by the client).
pub fn verify_peerjs(
    token: Option<&str>,
    secret: &[u8],
    key: &str,
    id: &str,
    now_s: u64,
) -> Result<Claims, AuthError> {
    let claims = verify_signed(token, secret, now_s)?;
    if claims.room != peerjs_room_claim(key) {
        return Err(AuthError::WrongRoom);
    }
    if claims.peer.as_deref() != Some(id) {
        return Err(AuthError::WrongPeer);
    }
    Ok(claims)
}

/// The `room` claim of a matchbox token for `room`: `matchbox:<room>`, so a v1 room's token never
/// opens the matchbox room of the same name (or its `next=N` groups), nor the other way round.
pub fn matchbox_room_claim(room: &str) -> String {
    format!("matchbox:{room}")
}

/// Checks a matchbox join's `token` (`docs/matchbox.md`): claim `room` = `matchbox:<room>`, and
/// no `peer` (matchbox ids are assigned by the server).
pub fn verify_matchbox(
    token: Option<&str>,
    secret: &[u8],
    room: &str,
    now_s: u64,
) -> Result<Claims, AuthError> {
    let claims = verify_signed(token, secret, now_s)?;
    if claims.room != matchbox_room_claim(room) {
        return Err(AuthError::WrongRoom);
    }
    if claims.peer.is_some() {
        return Err(AuthError::WrongPeer);
    }
    Ok(claims)
}

/// The `room` claim of a y-webrtc token for `namespace`: `yjs:<namespace>`. As with PeerJS's,
/// the colon is outside the room alphabet, so it never names a room, and the prefix differs.
pub fn yjs_room_claim(namespace: &str) -> String {
    format!("yjs:{namespace}")
}

/// Checks a y-webrtc socket's `token` (`docs/yjs.md`): claims `room` = `yjs:<namespace>`; a
/// `peer` claim is allowed and ignored (y-webrtc sockets have no id).
pub fn verify_yjs(
    token: Option<&str>,
    secret: &[u8],
    namespace: &str,
    now_s: u64,
) -> Result<Claims, AuthError> {
    let claims = verify_signed(token, secret, now_s)?;
    if claims.room != yjs_room_claim(namespace) {
        return Err(AuthError::WrongRoom);
    }
    Ok(claims)
}

/// The signature and the time claims; the caller checks what the token is for.
fn verify_signed(token: Option<&str>, secret: &[u8], now_s: u64) -> Result<Claims, AuthError> {
    let token = token.filter(|t| !t.is_empty()).ok_or(AuthError::Missing)?;
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::Malformed);
    };
    let decode = |part: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| AuthError::Malformed)
    };
    // Read as text, like every other JSON the worker reads: one copy of serde_json's parser
    // (`from_slice` would link a second one, for byte input).
    let json = |bytes: Vec<u8>| String::from_utf8(bytes).map_err(|_| AuthError::Malformed);
    let header: Header =
        serde_json::from_str(&json(decode(header)?)?).map_err(|_| AuthError::Malformed)?;
    if header.alg != "HS256" {
        return Err(AuthError::Malformed);
    }
    let signature = decode(signature)?;
    let signed = &token[..token.rfind('.').expect("three parts")]; // header.payload
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(signed.as_bytes());
    mac.verify_slice(&signature)
        .map_err(|_| AuthError::BadSignature)?;

    let claims: Claims =
        serde_json::from_str(&json(decode(payload)?)?).map_err(|_| AuthError::Malformed)?;
    if now_s >= claims.exp {
        return Err(AuthError::Expired);
    }
    if claims.nbf.is_some_and(|nbf| now_s < nbf) {
        return Err(AuthError::NotYetValid);
    }
    Ok(claims)
}

/// Mints a token, as a back end would (and as `make token` and the tests do).
pub fn mint(secret: &[u8], claims: &Claims) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims serialize"));
    let signing_input = format!("{header}.{payload}");
    let signature = sign(secret, &signing_input);
    format!("{signing_input}.{signature}")
}

/// The signature part of a token whose first two parts are `signing_input`: base64url (no
/// padding) of HMAC-SHA256 over them.
pub fn sign(secret: &[u8], signing_input: &str) -> String {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(signing_input.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"test-secret";
    const NOW: u64 = 1_800_000_000;

    fn room() -> RoomId {
        RoomId::parse("r1").unwrap()
    }

    fn claims(peer: Option<&str>) -> Claims {
        Claims {
            room: "r1".into(),
            peer: peer.map(str::to_owned),
            exp: NOW + 60,
            nbf: None,
            meta: None,
        }
    }

    fn check(token: &str, peer: Option<&str>) -> Result<Claims, AuthError> {
        let peer = peer.map(|p| PeerId::parse(p).unwrap());
        verify(Some(token), SECRET, &room(), peer.as_ref(), NOW)
    }

    #[test]
    fn a_minted_token_verifies() {
        let token = mint(SECRET, &claims(Some("alice")));
        assert_eq!(
            check(&token, Some("alice")).unwrap().peer.as_deref(),
            Some("alice")
        );
        assert_eq!(
            check(&token, None).unwrap().peer.as_deref(),
            Some("alice"),
            "the token names the id"
        );
        let any_peer = mint(SECRET, &claims(None));
        assert!(check(&any_peer, Some("bob")).is_ok());
    }

    #[test]
    fn a_token_made_by_another_implementation_verifies() {
        // Made with Python's standard library (the snippet in docs/security.md):
        // header {"alg":"HS256","typ":"JWT"}, claims {"room":"r1","peer":"alice","exp":1800000060},
        // HMAC-SHA256 with key "test-secret", base64url without padding.
        let token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJyb29tIjoicjEiLCJwZWVyIjoiYWxpY2UiLCJleHAiOjE4MDAwMDAwNjB9.WcwzNtJzk9MID_mOQSJT3x7x-T5jWO7FbE0KvsIBrXY";
        assert_eq!(check(token, Some("alice")).unwrap(), claims(Some("alice")));
        assert_eq!(
            mint(SECRET, &claims(Some("alice"))),
            token,
            "and we mint the same bytes"
        );
    }

    #[test]
    fn missing_and_malformed_tokens_are_refused() {
        assert_eq!(
            verify(None, SECRET, &room(), None, NOW),
            Err(AuthError::Missing)
        );
        assert_eq!(
            verify(Some(""), SECRET, &room(), None, NOW),
            Err(AuthError::Missing)
        );
        for bad in [
            "x",
            "a.b",
            "a.b.c.d",
            "!!.!!.!!",
            "e30.e30.",
            "e30.e30.AAAA",
        ] {
            assert!(
                matches!(
                    check(bad, None),
                    Err(AuthError::Malformed | AuthError::BadSignature)
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_forged_signature_is_refused() {
        let token = mint(b"another-secret", &claims(None));
        assert_eq!(check(&token, None), Err(AuthError::BadSignature));
        // A valid signature over other claims does not carry over.
        let good = mint(SECRET, &claims(None));
        let other = mint(
            SECRET,
            &Claims {
                room: "r2".into(),
                ..claims(None)
            },
        );
        let spliced = format!(
            "{}.{}",
            other.rsplit_once('.').unwrap().0,
            good.rsplit_once('.').unwrap().1
        );
        assert_eq!(check(&spliced, None), Err(AuthError::BadSignature));
    }

    #[test]
    fn alg_none_and_other_algorithms_are_refused() {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(None)).unwrap());
        for header in [
            r#"{"alg":"none"}"#,
            r#"{"alg":"HS512"}"#,
            r#"{"alg":"RS256"}"#,
            r#"{}"#,
        ] {
            let token = format!("{}.{payload}.", URL_SAFE_NO_PAD.encode(header));
            assert_eq!(check(&token, None), Err(AuthError::Malformed), "{header}");
        }
    }

    #[test]
    fn expiry_and_not_before_are_enforced() {
        let expired = mint(
            SECRET,
            &Claims {
                exp: NOW,
                ..claims(None)
            },
        );
        assert_eq!(check(&expired, None), Err(AuthError::Expired));
        let early = mint(
            SECRET,
            &Claims {
                nbf: Some(NOW + 10),
                ..claims(None)
            },
        );
        assert_eq!(check(&early, None), Err(AuthError::NotYetValid));
        let started = mint(
            SECRET,
            &Claims {
                nbf: Some(NOW),
                ..claims(None)
            },
        );
        assert!(check(&started, None).is_ok());
    }

    #[test]
    fn room_and_peer_must_match() {
        let other_room = mint(
            SECRET,
            &Claims {
                room: "r2".into(),
                ..claims(None)
            },
        );
        assert_eq!(check(&other_room, None), Err(AuthError::WrongRoom));
        let alices = mint(SECRET, &claims(Some("alice")));
        assert_eq!(check(&alices, Some("bob")), Err(AuthError::WrongPeer));
    }

    #[test]
    fn peerjs_tokens_name_the_key_and_the_id_and_never_pass_for_rooms() {
        let peerjs = |key: &str, id: Option<&str>| {
            mint(
                SECRET,
                &Claims {
                    room: peerjs_room_claim(key),
                    peer: id.map(str::to_owned),
                    exp: NOW + 60,
                    nbf: None,
                    meta: None,
                },
            )
        };
        let token = peerjs("app", Some("a b"));
        assert!(verify_peerjs(Some(&token), SECRET, "app", "a b", NOW).is_ok());
        assert_eq!(
            verify_peerjs(Some(&token), SECRET, "other", "a b", NOW),
            Err(AuthError::WrongRoom)
        );
        assert_eq!(
            verify_peerjs(Some(&token), SECRET, "app", "c", NOW),
            Err(AuthError::WrongPeer)
        );
        // A PeerJS token must name its id.
        assert_eq!(
            verify_peerjs(Some(&peerjs("app", None)), SECRET, "app", "c", NOW),
            Err(AuthError::WrongPeer)
        );
        // A room's token for a room called "app" is not a PeerJS token for key "app", nor the
        // other way round.
        let room_token = mint(
            SECRET,
            &Claims {
                room: "app".into(),
                peer: Some("c".into()),
                exp: NOW + 60,
                nbf: None,
                meta: None,
            },
        );
        assert_eq!(
            verify_peerjs(Some(&room_token), SECRET, "app", "c", NOW),
            Err(AuthError::WrongRoom)
        );
        let room = RoomId::parse("app").unwrap();
        let peerjs_c = peerjs("app", Some("c"));
        assert_eq!(
            verify(Some(&peerjs_c), SECRET, &room, None, NOW),
            Err(AuthError::WrongRoom)
        );
        assert_eq!(
            verify_peerjs(Some(&token), b"other", "app", "a b", NOW),
            Err(AuthError::BadSignature)
        );
        assert_eq!(
            verify_peerjs(None, SECRET, "app", "a b", NOW),
            Err(AuthError::Missing)
        );
    }

    #[test]
    fn matchbox_tokens_have_their_own_claims() {
        let claims = |room: String, peer: Option<&str>| Claims {
            room,
            peer: peer.map(str::to_owned),
            exp: NOW + 60,
            nbf: None,
            meta: None,
        };
        let matchbox = mint(SECRET, &claims(matchbox_room_claim("game"), None));
        assert!(verify_matchbox(Some(&matchbox), SECRET, "game", NOW).is_ok());
        assert_eq!(
            verify_matchbox(Some(&matchbox), SECRET, "other", NOW),
            Err(AuthError::WrongRoom)
        );
        // A v1 room token for the room of the same name opens no matchbox room, nor the other
        // way round; a matchbox token may not name an id.
        let room_token = mint(SECRET, &claims("game".into(), None));
        assert_eq!(
            verify_matchbox(Some(&room_token), SECRET, "game", NOW),
            Err(AuthError::WrongRoom)
        );
        let game = RoomId::parse("game").unwrap();
        assert!(verify(Some(&matchbox), SECRET, &game, None, NOW).is_err());
        let named = mint(SECRET, &claims(matchbox_room_claim("game"), Some("alice")));
        assert_eq!(
            verify_matchbox(Some(&named), SECRET, "game", NOW),
            Err(AuthError::WrongPeer)
        );
        for foreign in [yjs_room_claim("game"), peerjs_room_claim("game")] {
            let token = mint(SECRET, &claims(foreign, None));
            assert!(verify_matchbox(Some(&token), SECRET, "game", NOW).is_err());
        }
    }

    #[test]
    fn yjs_tokens_name_the_namespace_and_never_pass_for_rooms_or_peerjs() {
        let claims = |room: String| Claims {
            room,
            peer: None,
            exp: NOW + 60,
            nbf: None,
            meta: None,
        };
        let yjs = mint(SECRET, &claims(yjs_room_claim("app")));
        assert!(verify_yjs(Some(&yjs), SECRET, "app", NOW).is_ok());
        assert_eq!(
            verify_yjs(Some(&yjs), SECRET, "other", NOW),
            Err(AuthError::WrongRoom)
        );
        assert_eq!(
            verify_yjs(None, SECRET, "app", NOW),
            Err(AuthError::Missing)
        );
        let room = RoomId::parse("app").unwrap();
        assert!(verify(Some(&yjs), SECRET, &room, None, NOW).is_err());
        assert!(verify_peerjs(Some(&yjs), SECRET, "app", "a", NOW).is_err());
        for other in [claims("app".into()), claims(peerjs_room_claim("app"))] {
            let token = mint(SECRET, &other);
            assert_eq!(
                verify_yjs(Some(&token), SECRET, "app", NOW),
                Err(AuthError::WrongRoom)
            );
        }
    }

    #[test]
    fn a_peerjs_token_made_by_another_implementation_verifies() {
        // scripts/token.mjs --peerjs app "a b" (tests/node/token.test.mjs holds the same vector).
        let token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJyb29tIjoicGVlcmpzOmFwcCIsInBlZXIiOiJhIGIiLCJleHAiOjE4MDAwMDAwNjB9.6JN1UHDI4d7BYtnR31QQwxnWsuuFP2DqCy8IQM3qnL4";
        let claims =
            verify_peerjs(Some(token), b"test-secret", "app", "a b", 1_800_000_000).unwrap();
        assert_eq!(claims.room, "peerjs:app");
        assert_eq!(
            mint(b"test-secret", &claims),
            token,
            "the same bytes as the Node script"
        );
    }

    #[test]
    fn a_yjs_token_made_by_another_implementation_verifies() {
        // scripts/token.mjs --yjs app (tests/node/token.test.mjs holds the same vector).
        let token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJyb29tIjoieWpzOmFwcCIsImV4cCI6MTgwMDAwMDA2MH0.BZ0rynEY7I1g8DrPtHve3jWFmxgNGzjluiz5tDANk_Q";
        let claims = verify_yjs(Some(token), b"test-secret", "app", 1_800_000_000).unwrap();
        assert_eq!(claims.room, "yjs:app");
        assert_eq!(
            mint(b"test-secret", &claims),
            token,
            "the same bytes as the Node script"
        );
    }

    #[test]
    fn a_matchbox_token_made_by_another_implementation_verifies() {
        // scripts/token.mjs --matchbox game (tests/node/token.test.mjs holds the same vector).
        let token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJyb29tIjoibWF0Y2hib3g6Z2FtZSIsImV4cCI6MTgwMDAwMDA2MH0.4ARFABrcX6mPUrd8Dz9CaFTGdsqZV1Zpb39i9UBQl3U";
        let claims = verify_matchbox(Some(token), b"test-secret", "game", 1_800_000_000).unwrap();
        assert_eq!(claims.room, "matchbox:game");
        assert_eq!(
            mint(b"test-secret", &claims),
            token,
            "the same bytes as the Node script"
        );
    }
}
