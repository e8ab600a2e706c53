//! End to end: the `[env.production]` of wrangler.toml, served locally (`wrangler dev --env
//! production`): its bindings and vars are complete, and with the Analytics Engine binding
//! present (a no-op dataset locally) joins, relays, rejects and departures work as without it.

mod common;

use common::{server_with_args, unique_room};
use serde_json::json;

#[tokio::test]
async fn the_production_environment_serves_a_call() {
    let s = server_with_args(&["--env", "production"]);
    let room = unique_room("prod");
    let (mut alice, w) = s.join(&room, "peer=alice").await;
    assert_eq!(
        w["ice_servers"],
        json!([{"urls": "stun:stun.cloudflare.com:3478"}])
    );
    let (mut bob, _) = s.join(&room, "peer=bob").await;
    assert_eq!(alice.recv().await["type"], "peer_joined");
    alice
        .send_json(json!({"type": "offer", "to": "bob", "sdp": "v=0"}))
        .await;
    assert_eq!(
        bob.recv().await,
        json!({"type": "offer", "to": "bob", "sdp": "v=0", "from": "alice"})
    );
    // A reject in the room (full) and one in the Worker (bad peer id).
    let mut carol = s.connect(&room, "peer=carol").await.unwrap();
    assert_eq!(carol.recv().await["code"], "room_full");
    assert_eq!(s.refusal(&format!("/rooms/{room}?peer=no%20spaces")).0, 400);
    bob.send_json(json!({"type": "leave"})).await;
    assert_eq!(alice.recv().await["reason"], "leave");
    s.wait_for_count(&room, 1).await;

    // Both rejects were logged (and so went through the Analytics Engine write without error).
    s.wait_for_log(&format!(r#""reason":"room_full","room":"{room}""#))
        .await;
    s.wait_for_log(&format!(r#""reason":"bad_request","room":"{room}""#))
        .await;
    assert_eq!(s.log_count("analytics: could not write"), 0);
}
