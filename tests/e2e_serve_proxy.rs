//! `make serve` behind the documented TLS proxy (docs/self-hosting.md): the proxy speaks http to
//! workerd and says the browser's `https` in `X-Forwarded-Proto`, which serve/workerd.capnp
//! trusts (`forwardedProtoHeader`), so the project's own pages (`Origin: https://<host>`) pass
//! the origin check with `ALLOWED_ORIGINS` set. Standalone workerd only: it is its config.

mod common;

use common::{unique_room, workerd_server_with};

/// The own `https` origin is accepted when the proxy says so, and refused when nothing does.
#[tokio::test]
async fn the_own_pages_behind_a_tls_proxy_open_sockets() {
    let s = workerd_server_with(&[("ALLOWED_ORIGINS", "https://app.example.com")]);
    let room = unique_room("proxy");
    let host = format!("127.0.0.1:{}", s.port);
    let own_https = format!("https://{host}");
    let path = format!("/rooms/{room}?peer=a");
    let (mut c, _) = s
        .connect_path(&path, &[("Origin", &own_https), ("X-Forwarded-Proto", "https")])
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
