//! `make serve` behind the documented TLS proxy (docs/self-hosting.md): the proxy speaks http to
//! workerd and says the browser's `https` in `X-Forwarded-Proto`, which serve/workerd.capnp
//! trusts (`forwardedProtoHeader`), so the project's own pages (`Origin: https://<host>`) pass
//! the origin check with `ALLOWED_ORIGINS` set; and the node's own join rate limit
//! (`JOIN_RATE_PER_MIN`) per address from the proxy's `X-Forwarded-For`. Standalone workerd
//! only: it is its config.

mod common;

use common::{unique_room, workerd_server_with, Server};

/// Joins and look-ups per address and minute on this node.
const PER_MIN: usize = 20;

fn server() -> &'static Server {
    workerd_server_with(&[
        ("ALLOWED_ORIGINS", "https://app.example.com"),
        ("JOIN_RATE_PER_MIN", "20"),
        ("CLIENT_ADDRESS_HEADER", "X-Forwarded-For"),
    ])
}

/// The status of a join check from `forwarded_for`.
fn check(s: &Server, room: &str, forwarded_for: &str) -> u16 {
    let req = ureq::get(&s.http_url(&format!("/api/rooms/{room}/check")))
        .set("X-Forwarded-For", forwarded_for);
    match req.call() {
        Ok(resp) => resp.status(),
        Err(ureq::Error::Status(code, _)) => code,
        Err(e) => panic!("{e}"),
    }
}

/// Without Cloudflare's binding, the node counts joins and look-ups per client address, taken
/// from the trusted proxy's entry in `X-Forwarded-For` (the last one: a client can prepend
/// anything): past the rate, 429 before any object; another address is unaffected.
#[tokio::test]
async fn the_node_limits_joins_per_address_from_the_proxys_header() {
    let s = server();
    let room = unique_room("rate");
    let statuses: Vec<u16> = (0..PER_MIN + 5)
        .map(|i| check(s, &room, &format!("198.51.100.{i}, 203.0.113.7")))
        .collect();
    assert!(
        statuses[..PER_MIN - 2].iter().all(|&c| c == 200),
        "{statuses:?}"
    );
    assert_eq!(statuses[PER_MIN + 4], 429, "{statuses:?}");
    assert_eq!(check(s, &room, "203.0.113.8"), 200, "another address");
    // The socket endpoints count too: a join from the limited address is refused.
    let (status, body) = s.refusal_with(
        &format!("/rooms/{room}"),
        &[("X-Forwarded-For", "203.0.113.7")],
    );
    assert_eq!(status, 429, "{body}");
}

/// The own `https` origin is accepted when the proxy says so, and refused when nothing does.
#[tokio::test]
async fn the_own_pages_behind_a_tls_proxy_open_sockets() {
    let s = server();
    let room = unique_room("proxy");
    let host = format!("127.0.0.1:{}", s.port);
    let own_https = format!("https://{host}");
    let path = format!("/rooms/{room}?peer=a");
    let (mut c, _) = s
        .connect_path(
            &path,
            &[("Origin", &own_https), ("X-Forwarded-Proto", "https")],
        )
        .await
        .expect("the own https origin behind the proxy");
    assert_eq!(c.recv().await["type"], "welcome");
    // Without the proxy's header the request is http, and an https page is another origin.
    let refused = s
        .connect_path(&format!("/rooms/{room}?peer=b"), &[("Origin", &own_https)])
        .await
        .err()
        .expect("refused");
    assert_eq!(refused.0, 403, "{}", refused.1);
}
