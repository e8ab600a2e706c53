//! End to end: Cloudflare Realtime TURN, against a local stand-in for its credentials API (tests
//! cannot reach Cloudflare). The worker asks once, hands the answer out from its per-isolate
//! cache, and when the API fails or is slow, `welcome` goes out within the time box with the
//! configured STUN servers only, and the failure is logged.

mod common;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::{server_with, unique_room, Server};
use serde_json::{json, Value};

const KEY_ID: &str = "e2e-key-1";
const TOKEN: &str = "e2e-api-token";
const TIMEOUT_MS: u64 = 800;
const STUN: &str = r#"[{"urls":"stun:stun.example.com:3478"}]"#;

/// What the stand-in does with its next request.
#[derive(Clone, Copy, Debug)]
enum Behaviour {
    Fail,
    Slow,
    Answer,
}

/// One request the stand-in received.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    url: String,
    authorization: Option<String>,
    body: String,
}

struct StandIn {
    port: u16,
    script: Arc<Mutex<VecDeque<Behaviour>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

const ANSWER: &str = r#"{"iceServers":[
  {"urls":["stun:stun.cloudflare.com:3478","stun:stun.cloudflare.com:53"]},
  {"urls":["turn:turn.cloudflare.com:3478?transport=udp","turns:turn.cloudflare.com:443?transport=tcp"],
   "username":"standin-user","credential":"standin-credential"}]}"#;

fn stand_in() -> &'static StandIn {
    static STAND_IN: OnceLock<StandIn> = OnceLock::new();
    STAND_IN.get_or_init(|| {
        let http = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let port = http.server_addr().to_ip().unwrap().port();
        let script = Arc::new(Mutex::new(VecDeque::new()));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (script2, seen2) = (script.clone(), seen.clone());
        std::thread::spawn(move || {
            for mut req in http.incoming_requests() {
                let mut body = String::new();
                let _ = req.as_reader().read_to_string(&mut body);
                seen2.lock().unwrap().push(Seen {
                    method: req.method().to_string(),
                    url: req.url().to_owned(),
                    authorization: req
                        .headers()
                        .iter()
                        .find(|h| h.field.equiv("Authorization"))
                        .map(|h| h.value.to_string()),
                    body,
                });
                let behaviour = script2
                    .lock()
                    .unwrap()
                    .pop_front()
                    .unwrap_or(Behaviour::Answer);
                std::thread::spawn(move || {
                    let json =
                        tiny_http::Header::from_bytes("Content-Type", "application/json").unwrap();
                    let resp = match behaviour {
                        Behaviour::Fail => tiny_http::Response::from_string(
                            r#"{"success":false,"errors":[{"message":"stand-in failure"}]}"#,
                        )
                        .with_status_code(500),
                        Behaviour::Slow => {
                            std::thread::sleep(Duration::from_secs(4));
                            tiny_http::Response::from_string(ANSWER).with_status_code(201)
                        }
                        Behaviour::Answer => {
                            tiny_http::Response::from_string(ANSWER).with_status_code(201)
                        }
                    };
                    let _ = req.respond(resp.with_header(json));
                });
            }
        });
        StandIn { port, script, seen }
    })
}

fn server() -> &'static Server {
    let api = format!("http://127.0.0.1:{}/v1", stand_in().port);
    let api: &'static str = Box::leak(api.into_boxed_str());
    let timeout: &'static str = Box::leak(TIMEOUT_MS.to_string().into_boxed_str());
    server_with(&[
        ("ICE_SERVERS", STUN),
        ("TURN_KEY_ID", KEY_ID),
        ("TURN_KEY_API_TOKEN", TOKEN),
        ("TURN_TTL_S", "7200"),
        ("TURN_API_URL", api),
        ("TURN_API_TIMEOUT_MS", timeout),
    ])
}

fn requests() -> usize {
    stand_in().seen.lock().unwrap().len()
}

/// Joins a fresh room; returns its `welcome` and how long it took.
async fn timed_join(s: &Server, prefix: &str) -> (Value, Duration) {
    let started = Instant::now();
    let (client, welcome) = s.join(&unique_room(prefix), "").await;
    let took = started.elapsed();
    client.close().await;
    (welcome, took)
}

fn stun_only() -> Value {
    serde_json::from_str(STUN).unwrap()
}

/// One scripted sequence (the cache is per isolate, so the steps share it): a failure, the
/// back-off after it, a timeout, then an answer and its cached reuse.
#[tokio::test]
async fn failures_and_timeouts_fall_back_to_stun_then_credentials_are_cached() {
    let s = server();
    stand_in()
        .script
        .lock()
        .unwrap()
        .extend([Behaviour::Fail, Behaviour::Slow, Behaviour::Answer]);

    // 1. The API fails: welcome at once, STUN only, and the failure in the log.
    let (welcome, _) = timed_join(s, "cf-fail").await;
    assert_eq!(welcome["ice_servers"], stun_only(), "{welcome}");
    assert_eq!(requests(), 1);
    s.wait_for_log("HTTP 500").await;

    // 2. Right after a failure the worker does not ask again (RETRY_AFTER_FAILURE_MS).
    let (welcome, _) = timed_join(s, "cf-backoff").await;
    assert_eq!(welcome["ice_servers"], stun_only());
    assert_eq!(requests(), 1, "asked again during the back-off");

    // 3. After the back-off, a slow API: welcome within the time box (plus the join itself),
    //    STUN only, and the timeout logged.
    tokio::time::sleep(Duration::from_millis(
        edge_signal::turn::RETRY_AFTER_FAILURE_MS + 200,
    ))
    .await;
    let (welcome, took) = timed_join(s, "cf-slow").await;
    assert_eq!(welcome["ice_servers"], stun_only());
    assert_eq!(requests(), 2);
    assert!(
        took >= Duration::from_millis(TIMEOUT_MS - 100) && took < Duration::from_millis(3_000),
        "a join waited {took:?} on a {TIMEOUT_MS} ms time box (the stand-in takes 4 s)"
    );
    s.wait_for_log(&format!("no answer within {TIMEOUT_MS} ms"))
        .await;

    // 4. After the next back-off, the API answers: its TURN entry follows the STUN servers.
    tokio::time::sleep(Duration::from_millis(
        edge_signal::turn::RETRY_AFTER_FAILURE_MS + 200,
    ))
    .await;
    let (welcome, _) = timed_join(s, "cf-ok").await;
    let expected = json!([
        {"urls": "stun:stun.example.com:3478"},
        {"urls": ["turn:turn.cloudflare.com:3478?transport=udp", "turns:turn.cloudflare.com:443?transport=tcp"],
         "username": "standin-user", "credential": "standin-credential"}
    ]);
    assert_eq!(welcome["ice_servers"], expected);
    assert_eq!(requests(), 3);

    // The request was the documented one.
    let seen = stand_in().seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(seen.method, "POST");
    assert_eq!(
        seen.url,
        format!("/v1/turn/keys/{KEY_ID}/credentials/generate-ice-servers")
    );
    assert_eq!(seen.authorization.as_deref(), Some("Bearer e2e-api-token"));
    assert_eq!(
        serde_json::from_str::<Value>(&seen.body).unwrap(),
        json!({"ttl": 7200})
    );

    // 5. Cached: more joins, in other rooms, ask nothing.
    for _ in 0..3 {
        let (welcome, _) = timed_join(s, "cf-cached").await;
        assert_eq!(welcome["ice_servers"], expected);
    }
    assert_eq!(requests(), 3, "the answer was not cached");

    // The token never reaches the log.
    assert_eq!(s.log_count(TOKEN), 0);
}
