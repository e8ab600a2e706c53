//! Origins and CORS on every endpoint that mints or reveals something (hardening, second
//! round): with `ALLOWED_ORIGINS` set, the ICE-server endpoints (rooms, PeerJS, y-webrtc) and
//! PeerJS's id refuse other origins (403) and answer allowed ones with that origin, not `*`;
//! their CORS preflights are answered; `HEAD` is routed as `GET`; with `PUBLIC_ORIGIN` set, the
//! server's own origin comes from it, never from the client's `Host` header.

mod common;

use common::{server_with, unique_room, Server};

const APP: &str = "https://app.example.com";
const EVIL: &str = "https://evil.example";
const PUBLIC: &str = "https://signal.example.com";

fn server() -> &'static Server {
    server_with(&[
        ("ALLOWED_ORIGINS", APP),
        // TURN is configured, so the ICE servers hold minted credentials worth protecting.
        ("TURN_SECRET", "origins-test-turn-secret"),
        ("TURN_URLS", "turn:turn.example.com:3478"),
        ("PUBLIC_ORIGIN", PUBLIC),
    ])
}

/// The status, the body and two headers of `method path` sent with `Origin: origin`.
fn call(
    s: &Server,
    method: &str,
    path: &str,
    origin: Option<&str>,
) -> (u16, String, Option<String>, Option<String>) {
    let mut req = ureq::request(method, &s.http_url(path));
    if let Some(origin) = origin {
        req = req.set("Origin", origin);
    }
    if method == "OPTIONS" {
        req = req
            .set("Access-Control-Request-Method", "GET")
            .set("Access-Control-Request-Headers", "authorization");
    }
    let resp = match req.call() {
        Ok(resp) | Err(ureq::Error::Status(_, resp)) => resp,
        Err(e) => panic!("{method} {path}: {e}"),
    };
    let status = resp.status();
    let allow = resp
        .header("access-control-allow-origin")
        .map(str::to_owned);
    let vary = resp.header("vary").map(str::to_owned);
    (status, resp.into_string().unwrap_or_default(), allow, vary)
}

fn minting_paths() -> Vec<String> {
    let room = unique_room("origins");
    vec![
        format!("/api/rooms/{room}/ice-servers"),
        format!("/peerjs/{room}/ice-servers?id=a"),
        format!("/api/yjs/{room}/ice-servers"),
        format!("/peerjs/{room}/id"),
    ]
}

/// A page on another origin gets 403 and nothing it could read: no credentials, no CORS header.
#[tokio::test]
async fn other_origins_get_no_ice_servers_and_no_ids() {
    let s = server();
    for path in minting_paths() {
        let (status, body, allow, _) = call(s, "GET", &path, Some(EVIL));
        assert_eq!(status, 403, "{path}: {body}");
        assert_eq!(allow, None, "{path}");
        assert!(!body.contains("credential"), "{path}: {body}");
        assert!(body.contains("forbidden"), "{path}: {body}");
    }
}

/// The allowed origin reads the answer, which names it (and varies on it); a caller without
/// `Origin` (a back end) is served as before.
#[tokio::test]
async fn the_allowed_origin_reads_them_by_name() {
    let s = server();
    for path in minting_paths() {
        let (status, body, allow, vary) = call(s, "GET", &path, Some(APP));
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(allow.as_deref(), Some(APP), "{path}");
        assert_eq!(vary.as_deref(), Some("Origin"), "{path}");
        if path.contains("ice-servers") {
            assert!(body.contains("credential"), "{path}: {body}");
        }
        let (status, _, allow, _) = call(s, "GET", &path, None);
        assert_eq!(status, 200, "{path}");
        assert_eq!(allow, None, "{path}: no Origin, no CORS answer needed");
    }
}

/// A browser's preflight of `fetch(.., {headers: {Authorization: "Bearer .."}})` is answered
/// for the allowed origin, refused for others, and only where other origins may read.
#[tokio::test]
async fn preflights_are_answered_for_cors_endpoints() {
    let s = server();
    let room = unique_room("preflight");
    let mut paths = minting_paths();
    paths.push(format!("/api/rooms/{room}/check"));
    paths.push(format!("/peerjs/{room}/peers"));
    for path in &paths {
        let (status, _, allow, _) = call(s, "OPTIONS", path, Some(APP));
        assert_eq!(status, 204, "{path}");
        assert_eq!(allow.as_deref(), Some(APP), "{path}");
        let resp = ureq::request("OPTIONS", &s.http_url(path))
            .set("Origin", APP)
            .call()
            .unwrap();
        let allowed = resp
            .header("access-control-allow-headers")
            .unwrap_or_default();
        assert!(
            allowed.to_ascii_lowercase().contains("authorization"),
            "{path}: {allowed}"
        );
        let (status, _, allow, _) = call(s, "OPTIONS", path, Some(EVIL));
        assert_eq!(status, 403, "{path}");
        assert_eq!(allow, None, "{path}");
    }
    for path in [
        format!("/rooms/{room}"),
        "/healthz".to_owned(),
        format!("/yjs/{room}"),
    ] {
        assert_eq!(call(s, "OPTIONS", &path, Some(APP)).0, 404, "{path}");
    }
}

/// Load balancers probe with `HEAD`: it answers as `GET` does, without a body.
#[tokio::test]
async fn head_is_answered_as_get() {
    let s = server();
    let (status, body, _, _) = call(s, "HEAD", "/healthz", None);
    assert_eq!((status, body.as_str()), (200, ""));
    let room = unique_room("head");
    let (status, body, _, _) = call(s, "HEAD", &format!("/rooms/{room}"), None);
    assert_eq!((status, body.as_str()), (200, ""));
    assert_eq!(call(s, "HEAD", "/nope", None).0, 404);
}

/// A DNS-rebinding page reaches the node under its own name: `Host: evil.example`, `Origin:
/// http://evil.example`. The own-origin rule must not take the client's `Host` for the server's
/// name: with `PUBLIC_ORIGIN` set, only that origin (and the listed ones) may open sockets.
#[tokio::test]
async fn the_own_origin_comes_from_public_origin_not_the_host_header() {
    let s = server();
    let room = unique_room("rebind");
    let path = format!("/rooms/{room}");
    let rebound = [("Host", "evil.example"), ("Origin", "http://evil.example")];
    let refused = s
        .connect_path(&path, &rebound)
        .await
        .err()
        .expect("refused");
    assert_eq!(refused.0, 403, "{}", refused.1);
    // The URL's own origin is no longer the server's either.
    let local = s.http_url("");
    let refused = s
        .connect_path(&path, &[("Origin", &local)])
        .await
        .err()
        .expect("refused");
    assert_eq!(refused.0, 403, "{}", refused.1);
    // The public origin (the project's own pages) and the listed one open sockets.
    for origin in [PUBLIC, APP] {
        let (mut c, _) = s
            .connect_path(
                &format!("{path}?peer=p{}", origin.len()),
                &[("Origin", origin)],
            )
            .await
            .unwrap_or_else(|e| panic!("{origin}: {e:?}"));
        assert_eq!(c.recv().await["type"], "welcome", "{origin}");
    }
}
