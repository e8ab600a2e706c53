//! Every `unsafe` block and inline-JS binding of the worker, in one place: the calls the
//! relay path makes per frame, and the runtime methods `worker` 0.8.7 does not wrap. The only
//! module allowed `unsafe` (`lib.rs` denies it everywhere else).

#![allow(unsafe_code)]

use std::cell::Cell;

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use worker::{js_sys, web_sys};

use crate::room::Frame;

#[wasm_bindgen]
extern "C" {
    /// `DurableObjectState`, for the one method `worker` 0.8.7 does not wrap.
    pub type StateWithAutoResponseTimestamps;

    /// When the runtime last auto-answered a ping on `ws`, or null if it never has.
    #[wasm_bindgen(method, js_name = getWebSocketAutoResponseTimestamp)]
    pub fn get_web_socket_auto_response_timestamp(
        this: &StateWithAutoResponseTimestamps,
        ws: &web_sys::WebSocket,
    ) -> Option<js_sys::Date>;

    /// `crypto.getRandomValues(buf)`: the runtime's CSPRNG, filling `buf` (wasm-bindgen copies
    /// the bytes back). Called directly rather than through the `getrandom` crate, whose
    /// environment detection and error texts were about 1 KB of the gzipped wasm.
    #[wasm_bindgen(catch, js_namespace = crypto, js_name = getRandomValues)]
    pub fn get_random_values(buf: &mut [u8]) -> Result<JsValue, JsValue>;
}

#[wasm_bindgen(inline_js = r#"
export function sendSpliced(ws, text, suffix) {
  ws.send(splice(text, suffix));
}
export function splice(text, suffix) {
  return text.slice(0, text.lastIndexOf("}")) + suffix;
}
const encoder = new TextEncoder();
let memory = null, at = 0, size = 0, view = null;
export function setScratch(wasmMemory, ptr, len) {
  memory = wasmMemory; at = ptr; size = len; view = null;
}
export function copyFrame(message) {
  if (typeof message !== "string") return -1;
  // UTF-8 never takes fewer bytes than UTF-16 code units: a string longer than the area is over
  // the limit, decided from its length alone, and none of it is copied.
  if (message.length > size) return -2;
  // A view made before wasm memory grew is detached: make it anew.
  if (view === null || view.buffer !== memory.buffer) view = new Uint8Array(memory.buffer, at, size);
  const { read, written } = encoder.encodeInto(message, view);
  return read === message.length ? written : -2;
}
// The alarm's writes (crate::runtime::alarm): in a task of their own, after the event that
// asked has answered; a failure is logged.
export function armAlarm(storage, at) {
  setTimeout(() => {
    const options = { allowUnconfirmed: true };
    const [what, write] = at === undefined
      ? ["delete", () => storage.deleteAlarm(options)]
      : ["set", () => storage.setAlarm(at, options)];
    try {
      write().catch((e) => console.error(`could not ${what} the sweep alarm: ${e}`));
    } catch (e) {
      console.error(`could not ${what} the sweep alarm: ${e}`);
    }
  }, 0);
}
export function postText(stub, url, body) {
  return stub.fetch(url, { method: "POST", body }).then((r) => r.text());
}
// Links (docs/peerjs.md): a WebSocket from a peer's object to another's, opened on the stub the
// sender keeps for it, carrying that sender's messages to that recipient in order; the
// recipient answers them in order (crate::peer::LinkAnswers: "<n sent><another answer>"), the
// sent ones counted together, and all it owes when asked ("?", answered "?<n sent>") after
// LINK_ASK_MS without an answer; what the ask covered and is still unanswered then failed.
// While opening, messages queue. Closed once nothing is awaited and nothing was sent for
// LINK_IDLE_MS (an open link keeps the sender's object from hibernating); a link that closes or
// fails answers what it still awaits with "" (a failed call), and the next message opens another.
const LINK_IDLE_MS = 5000, LINK_ASK_MS = 500;
const links = new WeakMap();
let linkCount = 0;
// Sends `body`, and returns the link's number: `onAnswer(number, answer)` is called with each
// of its answers, in the order sent.
export function linkPost(stub, url, body, onAnswer) {
  let link = links.get(stub);
  if (!link || link.closed) links.set(stub, (link = openLink(stub, url, onAnswer)));
  link.last = Date.now();
  link.waiting++;
  if (link.ws) link.ws.send(body);
  else link.queue.push(body);
  return link.id;
}
function openLink(stub, url, onAnswer) {
  // waiting: answers still owed; asked: how many the ask ("?") in flight covers (0: none);
  // answered: how many came since it.
  const link = { id: (linkCount = (linkCount + 1) >>> 0), ws: null, queue: [], waiting: 0, closed: false, last: 0, heard: 0, asked: 0, answered: 0, timer: 0 };
  const end = () => {
    if (link.closed) return;
    link.closed = true;
    clearInterval(link.timer);
    for (; link.waiting > 0; link.waiting--) onAnswer(link.id, "");
  };
  stub.fetch(url, { headers: { Upgrade: "websocket" } }).then((res) => {
    const ws = res.webSocket;
    if (!ws || link.closed) return end();
    ws.accept();
    const answer = (word) => {
      if (link.waiting === 0) return;
      link.waiting--;
      link.answered++;
      onAnswer(link.id, word);
    };
    ws.addEventListener("message", (e) => {
      const text = String(e.data);
      const flushed = text.startsWith("?");
      let i = flushed ? 1 : 0;
      const digits = i;
      while (i < text.length && text.charCodeAt(i) >= 48 && text.charCodeAt(i) <= 57) i++;
      for (let n = Number(text.slice(digits, i)); n > 0; n--) answer("sent");
      if (i < text.length) answer(text.slice(i));
      if (flushed) {
        for (let left = link.asked - link.answered; left > 0; left--) answer("");
        link.asked = 0;
      }
      link.heard = Date.now();
    });
    ws.addEventListener("close", () => { end(); try { ws.close(1000); } catch {} });
    ws.addEventListener("error", end);
    link.ws = ws;
    for (const body of link.queue.splice(0)) ws.send(body);
    link.timer = setInterval(() => {
      const now = Date.now();
      if (link.waiting) {
        if (!link.asked && now - Math.max(link.last, link.heard) >= LINK_ASK_MS) {
          link.asked = link.waiting;
          link.answered = 0;
          ws.send("?");
        }
        return;
      }
      if (now - link.last < LINK_IDLE_MS) return;
      end();
      ws.close(1000, "idle");
    }, LINK_ASK_MS);
  }, end);
  return link;
}
export function sendLinkFrame(ws, text) {
  if (text[0] !== "0" && text[0] !== "1") throw new Error("not a link frame");
  ws.send(text.slice(1));
  return text.length - 1;
}
export function sendText(ws, text) {
  ws.send(text);
}
export function getText(stub, url) {
  return stub.fetch(url).then((r) => r.text());
}
export function directory(storage, id, present) {
  if (id === undefined) return storage.list().then((m) => JSON.stringify([...m.keys()]));
  return (present ? storage.put(id, true) : storage.delete(id)).then(() => "ok");
}
export function lobbyLoad(storage) {
  return storage.get(["forming", "top"]).then((m) => {
    const forming = m.get("forming"), top = m.get("top");
    if (typeof forming !== "number") return undefined;
    return [forming, typeof top === "number" ? top : forming];
  });
}
export function lobbySave(storage, forming, top) {
  return forming === undefined ? storage.deleteAll() : storage.put({ forming, top });
}
export function groupFull(storage) {
  return storage.get("full").then((full) => full === true);
}
export function kvLoad(storage, prefix, stateKey) {
  const kv = storage.kv, entries = [];
  for (const [key, value] of kv.list({ prefix })) entries.push(key, value);
  const state = stateKey ? kv.get(stateKey) : undefined;
  return [typeof state === "string" ? state : undefined, entries];
}
export function kvDeletePrefix(storage, prefix) {
  const kv = storage.kv;
  for (const [key] of kv.list({ prefix })) kv.delete(key);
}
export function kvPut(storage, key, value) {
  storage.kv.put(key, value);
}
export function kvDelete(storage, key) {
  storage.kv.delete(key);
}
export function postWebhook(url, id, timestamp, signature, body) {
  const headers = {
    "content-type": "application/json",
    "webhook-id": id,
    "webhook-timestamp": timestamp,
    "webhook-signature": signature,
  };
  return fetch(url, { method: "POST", headers, body, redirect: "manual", signal: AbortSignal.timeout(5000) })
    .then((res) => { res.body?.cancel().catch(() => {}); return res.status; }, () => 0);
}
export function limit(binding, key) {
  return binding.limit({ key }).then((outcome) => outcome.success === true);
}
"#)]
extern "C" {
    /// Where [`copyFrame`] writes: `len` bytes at `ptr` in `memory` (this module's memory).
    #[wasm_bindgen(js_name = setScratch)]
    fn set_scratch(memory: &JsValue, ptr: *mut u8, len: usize);
    /// A text frame's UTF-8 length once copied into the scratch area; -1 for a binary frame,
    /// -2 for text that does not fit (over the limit).
    #[wasm_bindgen(js_name = copyFrame)]
    fn copy_frame(message: &JsValue) -> i32;

    /// Sends `text` with `from` spliced in (`Outbound::Forward`, `protocol::splice`), built
    /// from the JavaScript strings at hand: no copy of the frame out of wasm memory and no
    /// UTF-8 decode of it per recipient (`perf` on workerd showed the decode's buffer handling).
    #[wasm_bindgen(catch, js_name = sendSpliced)]
    pub fn send_spliced(
        ws: &web_sys::WebSocket,
        text: &js_sys::JsString,
        suffix: &js_sys::JsString,
    ) -> Result<(), JsValue>;

    /// The text [`send_spliced`] sends, to be sent to several sockets ([`send_text`]).
    #[wasm_bindgen(js_name = splice)]
    pub fn splice(text: &js_sys::JsString, suffix: &js_sys::JsString) -> js_sys::JsString;

    /// Sends `body` on the link to the object of `stub` (opened with a request to `url` if
    /// there is none); returns the link's number. `on_answer(number, answer)` gets each answer
    /// of that link in order: "sent", "held", "dropped", "gone", or "" when the link failed.
    #[wasm_bindgen(js_name = linkPost)]
    pub fn link_post(stub: &JsValue, url: &str, body: &str, on_answer: &JsValue) -> u32;

    /// Sends a link's message ([`crate::peer::link_frame`]) to `ws` without its first
    /// character, straight from the JavaScript string; its length (UTF-16 units, which
    /// [`crate::peer::LinkAnswers`] counts as bytes: near enough for when to answer).
    #[wasm_bindgen(catch, js_name = sendLinkFrame)]
    pub fn send_link_frame(ws: &web_sys::WebSocket, text: &JsValue) -> Result<u32, JsValue>;

    /// `ws.send(text)` of a string that lives in JavaScript (a held PeerJS message).
    #[wasm_bindgen(catch, js_name = sendText)]
    pub fn send_text(ws: &web_sys::WebSocket, text: &js_sys::JsString) -> Result<(), JsValue>;

    /// Sets the object's alarm (`storage`) for `at` (ms since the epoch), or deletes it
    /// (`None`), in a task of its own (see `crate::runtime::alarm`).
    #[wasm_bindgen(js_name = armAlarm)]
    pub fn arm_alarm(storage: &JsValue, at: Option<f64>);

    /// `stub.fetch(url, {method: "POST", body})` resolved to the answer's text: the call is
    /// made now (so calls on one stub leave in the order made), unlike `worker`'s async
    /// `Stub::fetch_with_request`, which makes it when first polled.
    #[wasm_bindgen(catch, js_name = postText)]
    pub fn post_text(stub: &JsValue, url: &str, body: &str) -> Result<JsValue, JsValue>;

    /// `stub.fetch(url)` resolved to the answer's text (`worker`'s `Response::text` linked
    /// about 3 KB of body-stream handling for two small answers).
    #[wasm_bindgen(catch, js_name = getText)]
    pub fn get_text(stub: &JsValue, url: &str) -> Result<js_sys::Promise, JsValue>;

    /// A key's directory of PeerJS ids in its object's storage: with `id`, records that it is
    /// connected (`present`) or not; without, the ids as a JSON array. Resolves to the text
    /// to answer with. (`worker`'s typed storage calls would link serde_wasm_bindgen.)
    #[wasm_bindgen(catch, js_name = directory)]
    pub fn directory(
        storage: &JsValue,
        id: Option<&str>,
        present: bool,
    ) -> Result<js_sys::Promise, JsValue>;

    /// A matchbox lobby's stored `[forming, top]` (`crate::lobby::Stored`), or undefined.
    #[wasm_bindgen(catch, js_name = lobbyLoad)]
    pub fn lobby_load(storage: &JsValue) -> Result<js_sys::Promise, JsValue>;

    /// Stores a lobby's `forming` and `top`, or with `forming` undefined deletes its storage.
    #[wasm_bindgen(catch, js_name = lobbySave)]
    pub fn lobby_save(
        storage: &JsValue,
        forming: Option<f64>,
        top: f64,
    ) -> Result<js_sys::Promise, JsValue>;

    /// Whether a matchbox group's storage says it has been full: the mark groups kept there
    /// before it moved to their sockets' attachments (read only for sockets seated then).
    #[wasm_bindgen(catch, js_name = groupFull)]
    pub fn group_full(storage: &JsValue) -> Result<js_sys::Promise, JsValue>;

    /// The keys under `prefix` and one more, read synchronously (`storage.kv`, SQLite-backed
    /// objects): `[state or undefined, [key, value, key, value, ...]]`, `state` the value of
    /// `state_key` (none when it is empty). The webhook outbox's storage, and held PeerJS
    /// messages'.
    #[wasm_bindgen(catch, js_name = kvLoad)]
    pub fn kv_load(
        storage: &JsValue,
        prefix: &str,
        state_key: &str,
    ) -> Result<js_sys::Array, JsValue>;

    /// Deletes every key under `prefix` (`storage.kv`, synchronous; held by the output gate).
    #[wasm_bindgen(catch, js_name = kvDeletePrefix)]
    pub fn kv_delete_prefix(storage: &JsValue, prefix: &str) -> Result<(), JsValue>;

    /// `storage.kv.put(key, value)`: synchronous, and held by the output gate (what is sent
    /// after it waits until it is written).
    #[wasm_bindgen(catch, js_name = kvPut)]
    pub fn kv_put(storage: &JsValue, key: &str, value: &str) -> Result<(), JsValue>;

    /// `storage.kv.delete(key)`.
    #[wasm_bindgen(catch, js_name = kvDelete)]
    pub fn kv_delete(storage: &JsValue, key: &str) -> Result<(), JsValue>;

    /// POSTs one webhook attempt, signed (Standard Webhooks headers), without following a
    /// redirect, aborted after 5 s without a status line and headers; resolves to the status,
    /// or 0 when there was none (refused, reset, timed out). The answer's body is not read.
    #[wasm_bindgen(js_name = postWebhook)]
    pub fn post_webhook(
        url: &str,
        id: &str,
        timestamp: &str,
        signature: &str,
        body: &str,
    ) -> js_sys::Promise;

    /// `binding.limit({key})` of a Rate Limiting binding, resolved to whether the request may go
    /// on. (`worker`'s `RateLimiter` would link serde_wasm_bindgen for this one object.)
    #[wasm_bindgen(catch, js_name = limit)]
    fn rate_limit(binding: &JsValue, key: &str) -> Result<js_sys::Promise, JsValue>;
}

thread_local! {
    /// The scratch area text frames are copied into, allocated once and never freed: its
    /// address and size, `None` until the first frame.
    static SCRATCH: Cell<Option<(*mut u8, usize)>> = const { Cell::new(None) };
}

/// Calls `f` with the frame `message`. A text frame of up to `max_bytes` (the largest a room
/// accepts) is copied into the scratch area by one call into JavaScript, which checks its type
/// and runs one native `TextEncoder.encodeInto` into a view it keeps (wasm-bindgen's own
/// conversion walks the string in JavaScript a character at a time while it is ASCII, then
/// allocates). A larger one is [`Frame::TooBig`], decided from its length: nothing over the
/// limit ever enters wasm memory, which every room of the isolate shares and which never shrinks.
pub fn with_frame<R>(message: &JsValue, max_bytes: usize, f: impl FnOnce(Frame<'_>) -> R) -> R {
    let (ptr, len) = SCRATCH.with(|scratch| {
        scratch.get().unwrap_or_else(|| {
            let area = Box::leak(vec![0u8; max_bytes.max(1)].into_boxed_slice());
            let at = (area.as_mut_ptr(), area.len());
            set_scratch(&wasm_bindgen::memory(), at.0, at.1);
            scratch.set(Some(at));
            at
        })
    });
    match copy_frame(message) {
        // A view of the frame's buffer, not a copy, to read its length.
        -1 => f(Frame::Binary(
            js_sys::Uint8Array::new(message).length() as usize
        )),
        -2 => f(Frame::TooBig),
        written => {
            // SAFETY: the area is `len` bytes that live forever, encodeInto wrote `written <=
            // len` bytes of UTF-8 into it (lone surrogates become U+FFFD, as with wasm-bindgen's
            // own conversion), and nothing writes to it again until the next frame, after `f`.
            let text = unsafe {
                std::str::from_utf8_unchecked(std::slice::from_raw_parts(
                    ptr,
                    (written as usize).min(len),
                ))
            };
            f(Frame::Text(text))
        }
    }
}

/// Whether `key` is within the limit of the Rate Limiting binding `binding` (a JS object from
/// `env`). A failed call lets the request through: the limiter protects the service, and an
/// outage of it must not refuse every join.
pub async fn within_rate_limit(binding: &JsValue, key: &str) -> bool {
    let Ok(promise) = rate_limit(binding, key) else {
        return true;
    };
    match worker::wasm_bindgen_futures::JsFuture::from(promise).await {
        Ok(allowed) => allowed.as_bool().unwrap_or(true),
        Err(e) => {
            worker::console_error!("rate limiter failed: {e:?}");
            true
        }
    }
}

/// The auto-response timestamp of `ws` in ms, through the raw `DurableObjectState`.
pub fn last_auto_response_ms(state: &worker::State, ws: &worker::WebSocket) -> Option<u64> {
    let raw: &StateWithAutoResponseTimestamps = state.as_raw().unchecked_ref();
    raw.get_web_socket_auto_response_timestamp(ws.as_ref())
        .map(|d| d.get_time() as u64)
}

/// Completes the closing handshake of a socket the client closed with `code`, by echoing the
/// code (RFC 6455, 5.5.1) where it may be sent; the socket may already be closed, which is fine.
pub fn echo_close(ws: &worker::WebSocket, code: usize) {
    let echo = match code {
        1000..=1003 | 1007..=1011 | 3000..=4999 => code as u16,
        _ => crate::error::close::NORMAL,
    };
    let _ = ws.close(Some(echo), Some(""));
}
