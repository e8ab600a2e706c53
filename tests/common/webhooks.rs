//! The webhook receiver of the tests (`webhook-receiver.mjs`, which verifies every signature
//! with the `standardwebhooks` npm package), one per test binary, and its controls.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;

use serde_json::Value;

/// Standard Webhooks' example secret (any `whsec_` key would do).
pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// The receiver: its port, and its stdin, whose end (when the test binary exits) stops it.
pub struct Receiver {
    pub port: u16,
    _child: Child,
    _stdin: ChildStdin,
}

static RECEIVER: OnceLock<Receiver> = OnceLock::new();

pub fn receiver() -> &'static Receiver {
    RECEIVER.get_or_init(|| {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let root = env!("CARGO_MANIFEST_DIR");
        let mut child = Command::new("node")
            .arg(format!("{root}/tests/common/webhook-receiver.mjs"))
            .args([port.to_string(), SECRET.to_owned()])
            .current_dir(root)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("node runs the receiver");
        let mut ready = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut ready)
            .unwrap();
        assert_eq!(ready.trim(), "ready");
        let stdin = child.stdin.take().unwrap();
        Receiver {
            port,
            _child: child,
            _stdin: stdin,
        }
    })
}

/// The server settings that send every event to the receiver (started on first call).
pub fn settings() -> [(&'static str, &'static str); 2] {
    let url = format!("http://127.0.0.1:{}/hook", receiver().port);
    // Leaked: the settings live as long as the server, which lives as long as the binary.
    [
        ("WEBHOOK_URL", Box::leak(url.into_boxed_str())),
        ("WEBHOOK_SECRET", SECRET),
    ]
}

/// Every verified delivery so far, in arrival order, and the count of refused signatures.
pub fn received() -> (Vec<Value>, u64) {
    let url = format!("http://127.0.0.1:{}/events", receiver().port);
    let body = ureq::get(&url).call().unwrap().into_string().unwrap();
    let all: Value = serde_json::from_str(&body).unwrap();
    (
        all["events"].as_array().cloned().unwrap_or_default(),
        all["invalid"].as_u64().unwrap_or(u64::MAX),
    )
}

/// How the receiver answers from now on: a status, or never (`None`).
pub fn answer_with(status: Option<u16>) {
    let query = match status {
        Some(status) => format!("status={status}"),
        None => "hang=1".into(),
    };
    let url = format!("http://127.0.0.1:{}/mode?{query}", receiver().port);
    ureq::post(&url).call().unwrap();
}
