//! The HTML pages. Placeholders until the browser client lands: the landing page explains the
//! service, and the room page says how to join the room over WebSocket.

use worker::{Response, Result};

use crate::protocol::RoomId;

const LANDING: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>edge-signal</title></head>
<body><h1>edge-signal</h1>
<p>WebRTC signaling on Cloudflare Workers. Peers join a room over WebSocket at
<code>/rooms/&lt;room&gt;</code>; see <code>docs/protocol.md</code> for the protocol.</p>
</body></html>
"#;

pub fn landing() -> Result<Response> {
    html(LANDING.to_owned())
}

pub fn room(room: &RoomId) -> Result<Response> {
    // Room ids are from [A-Za-z0-9_-]: nothing in them needs HTML escaping.
    html(format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{room} · edge-signal</title></head>
<body><h1>Room {room}</h1>
<p>Join this room by opening a WebSocket to this URL (<code>wss://</code> instead of
<code>https://</code>), following signaling protocol v1.</p>
</body></html>
"#
    ))
}

fn html(body: String) -> Result<Response> {
    let mut resp = Response::from_html(body)?;
    let headers = resp.headers_mut();
    headers.set(
        "Content-Security-Policy",
        "default-src 'none'; style-src 'self'; base-uri 'none'; frame-ancestors 'none'",
    )?;
    headers.set("X-Content-Type-Options", "nosniff")?;
    Ok(resp)
}
