//! HTTP requests, as far as the Worker decides on them: which route a path is, the checked
//! join (query and `Sec-WebSocket-Protocol`), and the handoff of a checked join or look-up to the
//! room's object, built by one function and read by one. Plain Rust, so every rule of
//! `docs/protocol.md` "Endpoints" is tested natively; the runtime only turns these answers into
//! responses.

use serde::Serialize;

use std::fmt;

use crate::config::Config;
use crate::lobby::Outcome;
use crate::meta::{BadMeta, Meta};
use crate::protocol::{InvalidId, PeerId, RoomId, Wire};
use crate::role::Role;

/// The WebSocket subprotocol of protocol v1. A client that sends its secrets in the
/// `Sec-WebSocket-Protocol` header offers this too, and the server selects it (a browser fails
/// an upgrade whose answer selects none of the protocols it offered).
pub const SUBPROTOCOL: &str = "edge-signal.v1";
/// `Sec-WebSocket-Protocol` entry carrying a join token: `edge-signal.token.<jwt>`.
pub const TOKEN_PROTOCOL_PREFIX: &str = "edge-signal.token.";
/// `Sec-WebSocket-Protocol` entry carrying a resume secret: `edge-signal.resume.<secret>`.
pub const RESUME_PROTOCOL_PREFIX: &str = "edge-signal.resume.";

/// Where a request goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// `GET /healthz`: the Worker runs (liveness).
    Health,
    /// `GET /readyz`: the Worker runs and its settings parse (readiness: what a load balancer
    /// should probe, since a bad setting makes every join a 500 while `/healthz` says `ok`).
    Ready,
    /// `GET /rooms/{room}`: a join when it asks for a WebSocket upgrade, else the room page.
    Room(RoomId),
    /// `GET /api/rooms/{room}`: the room's capacity and peer count.
    RoomInfo(RoomId),
    /// `GET /api/rooms/{room}/check?peer=..&capacity=..`: the Worker's checks of a join (rate,
    /// origin, name, query) without the upgrade, so that a browser, which sees every refused
    /// upgrade as close code 1006, can learn why. Touches no room.
    JoinCheck(RoomId),
    /// `GET /api/rooms/{room}/ice-servers`: freshly minted ICE servers (TURN credentials
    /// included) for clients whose protocol has no place for them (matchbox, PeerJS); behind
    /// the room's token on a signed deployment.
    IceServers(RoomId),
    /// `GET /matchbox/{room}`: a matchbox client's join (`docs/matchbox.md`); an upgrade only.
    Matchbox(RoomId),
    /// `GET /api/matchbox/{room}`: a matchbox room's capacity and peer count.
    MatchboxInfo(RoomId),
    /// `GET /api/matchbox/{room}/ice-servers`: ICE servers for a matchbox game (behind the
    /// room's matchbox token on a signed deployment).
    MatchboxIceServers(RoomId),
    /// `GET /peerjs/peerjs?key=..&id=..&token=..`: a PeerJS client's socket (`docs/peerjs.md`).
    PeerJs,
    /// `GET /peerjs/{key}/id`: a fresh PeerJS id, as text.
    PeerJsId(RoomId),
    /// `GET /peerjs/{key}/peers`: the key's connected ids, when discovery is on (else 401).
    PeerJsPeers(RoomId),
    /// `GET /peerjs/{key}/ice-servers?id=..&token=..`: ICE servers for PeerJS apps.
    PeerJsIceServers(RoomId),
    /// `GET /yjs/{namespace}`: a y-webrtc client's signaling socket (`docs/yjs.md`); an upgrade
    /// only.
    Yjs(RoomId),
    /// `GET /api/yjs/{namespace}`: the namespace's socket count (and its limit, as `capacity`).
    YjsInfo(RoomId),
    /// `GET /api/yjs/{namespace}/ice-servers`: ICE servers for y-webrtc's `peerOpts`.
    YjsIceServers(RoomId),
    /// `OPTIONS` on an endpoint other origins may read (the ICE-server endpoints, the join
    /// check, PeerJS's id and peers): a CORS preflight, answered without touching any object.
    Preflight,
    /// Any method on `/api/admin/...`: the admin API (`crate::admin`), which checks its secret
    /// before it reads the route.
    Admin,
    /// A room path with a name outside the alphabet: HTTP 400.
    BadRoom(String),
    /// Anything else: HTTP 404. (Pages, scripts and the client library never get here: they
    /// are static assets, served before the Worker runs.)
    NotFound,
}

impl Route {
    /// The route of `method` and `path`. `HEAD` is routed as `GET` (the runtime sends no body
    /// for it: load balancers probe `/healthz` that way); `OPTIONS` is a preflight where other
    /// origins may read the answer, and no route elsewhere.
    pub fn parse(method: &str, path: &str) -> Route {
        if path.starts_with(crate::admin::PREFIX) {
            return Route::Admin;
        }
        match method {
            "GET" | "HEAD" => Route::parse_get(path),
            "OPTIONS" => match Route::parse_get(path) {
                Route::JoinCheck(_)
                | Route::IceServers(_)
                | Route::MatchboxIceServers(_)
                | Route::PeerJsId(_)
                | Route::PeerJsPeers(_)
                | Route::PeerJsIceServers(_)
                | Route::YjsIceServers(_) => Route::Preflight,
                _ => Route::NotFound,
            },
            _ => Route::NotFound,
        }
    }

    fn parse_get(path: &str) -> Route {
        let room = |name: &str, make: fn(RoomId) -> Route| match RoomId::parse(name) {
            Ok(id) => make(id),
            Err(message) => Route::BadRoom(message.into()),
        };
        match path {
            "/healthz" => Route::Health,
            "/readyz" => Route::Ready,
            _ => {
                if let Some(name) = path.strip_prefix("/rooms/") {
                    room(name, Route::Room)
                } else if let Some(rest) = path.strip_prefix("/peerjs/") {
                    // PeerJS clients given `path: "/peerjs"` ask for `/peerjs/peerjs` (the
                    // socket) and `/peerjs/{key}/{method}`; keys share the room alphabet.
                    match rest.split_once('/') {
                        None if rest == "peerjs" => Route::PeerJs,
                        Some((key, "id")) => room(key, Route::PeerJsId),
                        Some((key, "peers")) => room(key, Route::PeerJsPeers),
                        Some((key, "ice-servers")) => room(key, Route::PeerJsIceServers),
                        _ => Route::NotFound,
                    }
                } else if let Some(name) = path.strip_prefix("/yjs/") {
                    room(name, Route::Yjs)
                } else if let Some(name) = path.strip_prefix("/api/yjs/") {
                    match name.strip_suffix("/ice-servers") {
                        Some(name) => room(name, Route::YjsIceServers),
                        None => room(name, Route::YjsInfo),
                    }
                } else if let Some(name) = path.strip_prefix("/matchbox/") {
                    room(name, Route::Matchbox)
                } else if let Some(name) = path.strip_prefix("/api/matchbox/") {
                    match name.strip_suffix("/ice-servers") {
                        Some(name) => room(name, Route::MatchboxIceServers),
                        None => room(name, Route::MatchboxInfo),
                    }
                } else if let Some(name) = path.strip_prefix("/api/rooms/") {
                    if let Some(name) = name.strip_suffix("/check") {
                        room(name, Route::JoinCheck)
                    } else if let Some(name) = name.strip_suffix("/ice-servers") {
                        room(name, Route::IceServers)
                    } else {
                        room(name, Route::RoomInfo)
                    }
                } else {
                    Route::NotFound
                }
            }
        }
    }
}

/// The Durable Object name of `room` in `wire` ([`Role::object_name`]): a v1 room and a
/// matchbox room of the same name never meet (their clients could not understand each other).
pub fn object_name(wire: Wire, room: &RoomId) -> String {
    Role::Room {
        room: room.clone(),
        wire,
    }
    .object_name()
}

/// The wire of the object named `name` (see [`object_name`]).
pub fn wire_of_object(name: &str) -> Wire {
    Role::of(name).map_or(Wire::V1, |role| role.wire())
}

/// Why a join's query (or its `Sec-WebSocket-Protocol` header) was refused; its text is the
/// message of the HTTP 400.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum QueryError {
    /// The header offers protocols, but not [`SUBPROTOCOL`].
    NoSubprotocol,
    /// A parameter the server reads, given twice (in the query, the header, or both).
    Repeated(&'static str),
    BadId(InvalidId),
    /// `capacity` (or matchbox's `next`) outside `2..=max`.
    OutOfRange {
        name: &'static str,
        max: u32,
    },
    ResumeWithoutPeer,
    /// A matchbox join naming an id or a resume (matchbox ids are assigned).
    MatchboxId,
    /// matchbox's `next` with `capacity`.
    NextWithCapacity,
    /// `meta` that is not a JSON object of at most 1,024 bytes.
    BadMeta(BadMeta),
    /// `meta` on a matchbox join: matchbox's events have no place for it.
    MatchboxMeta,
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueryError::NoSubprotocol => write!(
                f,
                "Sec-WebSocket-Protocol must offer {SUBPROTOCOL} (the only protocol served here)"
            ),
            QueryError::Repeated(name) => write!(f, "`{name}` is given more than once"),
            QueryError::BadId(e) => e.fmt(f),
            QueryError::OutOfRange { name, max } => {
                write!(f, "{name} must be a whole number from 2 to {max}")
            }
            QueryError::ResumeWithoutPeer => f.write_str("`resume` needs the `peer` it resumes"),
            QueryError::BadMeta(e) => e.fmt(f),
            QueryError::MatchboxMeta => {
                f.write_str("matchbox's events have no place for peer metadata: no `meta`")
            }
            QueryError::MatchboxId => {
                f.write_str("matchbox ids are assigned by the server: no peer or resume")
            }
            QueryError::NextWithCapacity => {
                f.write_str("`next` sets the group's size: no `capacity` with it")
            }
        }
    }
}

impl std::error::Error for QueryError {}

impl From<QueryError> for String {
    fn from(e: QueryError) -> String {
        e.to_string()
    }
}

/// Why an internal request (the Worker's handoff to an object, or a PeerJS object's request to
/// another) was not read: the object answers 400 and does nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BadInternal {
    /// No request has this path.
    Path(String),
    /// A join without its handoff header.
    NoHeader,
    /// A field that is missing or does not parse.
    Field(&'static str),
    UnknownField(String),
    Id(InvalidId),
}

impl fmt::Display for BadInternal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadInternal::Path(path) => write!(f, "not an internal request path: {path:?}"),
            BadInternal::NoHeader => f.write_str("a join handoff without its header"),
            BadInternal::Field(name) => write!(f, "a missing or bad {name}"),
            BadInternal::UnknownField(name) => write!(f, "unknown handoff field {name:?}"),
            BadInternal::Id(e) => e.fmt(f),
        }
    }
}

impl From<InvalidId> for BadInternal {
    fn from(e: InvalidId) -> Self {
        BadInternal::Id(e)
    }
}

impl From<BadInternal> for String {
    fn from(e: BadInternal) -> String {
        e.to_string()
    }
}

/// What a matchbox join's query may hold beyond v1's checks: `capacity` and `token` as in v1;
/// no `peer` (matchbox ids are UUIDs the server assigns) and no `resume` (matchbox has none); and
/// `next=N`, matchbox's groups of N (2 to `MAX_ROOM_CAPACITY`, not with `capacity`), returned.
pub fn check_matchbox_query<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    params: &JoinParams,
    config: &Config,
) -> Result<Option<u32>, QueryError> {
    if params.peer.is_some() || params.resume.is_some() {
        return Err(QueryError::MatchboxId);
    }
    if params.meta_given {
        return Err(QueryError::MatchboxMeta);
    }
    let mut next = None;
    for (key, value) in pairs {
        if key == "next" {
            if next.is_some() {
                return Err(QueryError::Repeated("next"));
            }
            next = Some(parse_capacity("next", value, config.max_room_capacity)?);
        }
    }
    if next.is_some() && params.capacity.is_some() {
        return Err(QueryError::NextWithCapacity);
    }
    Ok(next)
}

/// The Durable Object of group `group` of `room`'s groups of `n` (matchbox's `next=N`): a
/// matchbox room that closes for good once it has been full.
pub fn group_object_name(room: &RoomId, n: u32, group: u64) -> String {
    Role::Group {
        room: room.clone(),
        n,
        group,
    }
    .object_name()
}

/// The Durable Object that knows which group of `room`'s groups of `n` is forming (its name is
/// outside the matchbox prefix and the room alphabet, so it is no room anyone can join).
pub fn lobby_object_name(room: &RoomId, n: u32) -> String {
    Role::Lobby {
        room: room.clone(),
        n,
    }
    .object_name()
}

/// The checked query of a join (`?peer=..&capacity=..`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JoinParams {
    pub peer: Option<PeerId>,
    pub capacity: Option<u32>,
    pub token: Option<String>,
    /// The resume secret of a seat this socket wants to take over (with `peer`).
    pub resume: Option<String>,
    /// Whether the client offered [`SUBPROTOCOL`], which the answer must then select.
    pub subprotocol: bool,
    /// `?meta=`, a JSON object (control v1): the peer's metadata on an unsigned deployment;
    /// on a signed one it comes from the token, and `meta_given` makes the join a 400.
    pub meta: Option<Meta>,
    pub meta_given: bool,
}

impl JoinParams {
    /// Reads the decoded query pairs and the `Sec-WebSocket-Protocol` header, if any. Unknown
    /// parameters are ignored (a client may add its own, e.g. a cache buster); a known one given
    /// twice (in the query, the header, or both) is an error, as is a bad id, a capacity outside
    /// `2..=MAX_ROOM_CAPACITY`, or a header that does not offer [`SUBPROTOCOL`]. The error's
    /// text is the message of the HTTP 400.
    pub fn parse<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
        protocols: Option<&'a str>,
        config: &Config,
    ) -> Result<JoinParams, QueryError> {
        let mut params = JoinParams::default();
        let mut seen = [false; 5];
        let mut from_header = Vec::new();
        if let Some(header) = protocols {
            for offered in header.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                if offered == SUBPROTOCOL {
                    params.subprotocol = true;
                } else if let Some(token) = offered.strip_prefix(TOKEN_PROTOCOL_PREFIX) {
                    from_header.push(("token", token));
                } else if let Some(resume) = offered.strip_prefix(RESUME_PROTOCOL_PREFIX) {
                    from_header.push(("resume", resume));
                }
            }
            if !params.subprotocol {
                return Err(QueryError::NoSubprotocol);
            }
        }
        const NAMES: [&str; 5] = ["peer", "capacity", "token", "resume", "meta"];
        for (key, value) in pairs.into_iter().chain(from_header) {
            let Some(slot) = NAMES.iter().position(|name| *name == key) else {
                continue;
            };
            if std::mem::replace(&mut seen[slot], true) {
                return Err(QueryError::Repeated(NAMES[slot]));
            }
            match slot {
                0 => params.peer = Some(PeerId::parse(value).map_err(QueryError::BadId)?),
                1 => {
                    let max = config.max_room_capacity;
                    params.capacity = Some(parse_capacity("capacity", value, max)?);
                }
                2 => params.token = Some(value.to_owned()),
                3 => params.resume = Some(value.to_owned()),
                _ => {
                    params.meta = Meta::parse(value).map_err(QueryError::BadMeta)?;
                    params.meta_given = true;
                }
            }
        }
        if params.resume.is_some() && params.peer.is_none() {
            return Err(QueryError::ResumeWithoutPeer);
        }
        Ok(params)
    }
}

fn parse_capacity(name: &'static str, value: &str, max: u32) -> Result<u32, QueryError> {
    let out_of_range = QueryError::OutOfRange { name, max };
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(out_of_range);
    }
    match value.parse::<u32>() {
        Ok(n) if (2..=max).contains(&n) => Ok(n),
        _ => Err(out_of_range),
    }
}

/// Splits a URL as the runtime serializes it (`scheme://host[:port]/path?query#fragment`) into
/// its origin and its query, without a full URL parser.
pub fn origin_and_query(url: &str) -> (&str, &str) {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let origin_end = url[after_scheme..]
        .find('/')
        .map_or(url.len(), |i| after_scheme + i);
    let rest = &url[origin_end..];
    let rest = rest.split('#').next().unwrap_or("");
    let query = rest.split_once('?').map_or("", |(_, q)| q);
    (&url[..origin_end], query)
}

/// The decoded `(key, value)` pairs of a query string.
pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

/// Whether an upgrade with this `Origin` header may open a socket.
///
/// With `ALLOWED_ORIGINS` empty, any origin may. Otherwise the origin must be listed, or be the
/// worker's own (`own_origin`, from the request URL), so the project's pages keep working. A
/// request without `Origin` is not from a browser page (browsers always send it on WebSocket
/// upgrades), and origin checks only defend against other sites' pages: it is let through, and
/// `AUTH_SECRET` is the defence against everything else.
pub fn origin_allowed(origin: Option<&str>, own_origin: &str, allowed: &[String]) -> bool {
    match origin {
        _ if allowed.is_empty() => true,
        None => true,
        Some(origin) => {
            let origin = origin.trim().to_ascii_lowercase();
            origin == own_origin.to_ascii_lowercase() || allowed.contains(&origin)
        }
    }
}

/// The `Access-Control-Allow-Origin` of an answer other origins may read, when it mints or
/// reveals something (ICE servers, PeerJS ids): `*` without `ALLOWED_ORIGINS`; with it, the
/// request's own `Origin` when that may open sockets here, and none otherwise (so a page on
/// another origin cannot read the answer).
pub fn cors_origin(origin: Option<&str>, own_origin: &str, allowed: &[String]) -> Option<String> {
    if allowed.is_empty() {
        return Some("*".to_owned());
    }
    let origin = origin?;
    origin_allowed(Some(origin), own_origin, allowed).then(|| origin.trim().to_owned())
}

/// The body of `GET /api/rooms/{room}`: a count, never the ids.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct RoomInfo {
    pub room: RoomId,
    pub capacity: u32,
    pub peers: usize,
    /// How many frames reached the room's message handler since the object started: only with
    /// the `BENCH_COUNTERS` var set, for `make bench` (exact pings must never count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frames_handled: Option<u64>,
    /// The size of the isolate's wasm linear memory, which only grows: with `BENCH_COUNTERS`,
    /// for the test that oversized frames never enter it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wasm_memory_bytes: Option<u64>,
}

/// What the Worker hands a room's object: a checked join, or a look-up of its count. The
/// object never reads the client's URL or secrets headers: a join reaches it only through here,
/// with the id the token fixed and without the token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Handoff {
    Join {
        room: RoomId,
        peer: Option<PeerId>,
        capacity: Option<u32>,
        resume: Option<String>,
        subprotocol: bool,
        /// A group of matchbox's `next=N` (capacity N): once it has been full it takes nobody
        /// (the object answers 409, and the Worker asks the lobby for the next group).
        group: bool,
        /// The peer's metadata (control v1), from its token or `?meta=`.
        meta: Option<Meta>,
    },
    Info {
        room: RoomId,
    },
    /// To a matchbox lobby (`crate::lobby`): with `answered`, what a group said to a join the
    /// lobby sent it; the answer is the group the (next) join goes to, unless the report was of
    /// a seat taken or a join failed (then the lobby only counts it).
    Lobby {
        answered: Option<(u64, Outcome)>,
    },
    /// To a y-webrtc namespace's object: a checked socket (the namespace is the object's).
    Topics,
    /// An admin operation on the room, its secret checked by the Worker (a `Tell`'s checked
    /// `data` is the request's body).
    Admin {
        room: RoomId,
        op: crate::admin::Op,
    },
}

/// The header that carries a join's handoff to the object. A header, not the URL: request URLs
/// are what log lines and dashboards show first, and the handoff holds the resume secret.
pub const HANDOFF_HEADER: &str = "X-Edge-Signal-Join";

impl Handoff {
    /// The join the Worker checked.
    pub fn join(room: &RoomId, params: &JoinParams) -> Handoff {
        Handoff::Join {
            room: room.clone(),
            peer: params.peer.clone(),
            capacity: params.capacity,
            resume: params.resume.clone(),
            subprotocol: params.subprotocol,
            group: false,
            meta: params.meta.clone(),
        }
    }

    /// The internal URL and the [`HANDOFF_HEADER`] value (for a join) of the object request.
    pub fn to_request(&self) -> (String, Option<String>) {
        match self {
            Handoff::Info { room } => (format!("https://room.internal/info/{room}"), None),
            Handoff::Lobby { answered } => {
                let path = match answered {
                    None => "lobby".to_owned(),
                    Some((g, Outcome::Seated { count })) => format!("lobby/{g}/seated/{count}"),
                    Some((g, Outcome::Closed)) => format!("lobby/{g}/closed"),
                    Some((g, Outcome::Failed)) => format!("lobby/{g}/failed"),
                };
                (format!("https://room.internal/{path}"), None)
            }
            Handoff::Topics => ("https://room.internal/topics".into(), None),
            Handoff::Admin { room, op } => {
                use crate::admin::Op;
                let path = match op {
                    Op::Get => format!("get/{room}"),
                    Op::Kick(peer) => format!("kick/{room}/{peer}"),
                    Op::Tell => format!("tell/{room}"),
                    Op::Close => format!("close/{room}"),
                };
                (format!("https://room.internal/admin/{path}"), None)
            }
            Handoff::Join {
                room,
                peer,
                capacity,
                resume,
                subprotocol,
                group,
                meta,
            } => {
                let mut query = form_urlencoded::Serializer::new(String::new());
                if let Some(peer) = peer {
                    query.append_pair("peer", peer.as_str());
                }
                if let Some(capacity) = capacity {
                    query.append_pair("capacity", &capacity.to_string());
                }
                if let Some(resume) = resume {
                    query.append_pair("resume", resume);
                }
                if *subprotocol {
                    query.append_pair("subprotocol", "1");
                }
                if *group {
                    query.append_pair("group", "1");
                }
                if let Some(meta) = meta {
                    query.append_pair("meta", meta.as_str());
                }
                (
                    format!("https://room.internal/join/{room}"),
                    Some(query.finish()),
                )
            }
        }
    }

    /// Reads what [`Handoff::to_request`] built: the request's path and its handoff header. The
    /// values were checked by the Worker; they are checked again, as the object must never act on
    /// a request it cannot read.
    pub fn parse(path: &str, header: Option<&str>) -> Result<Handoff, BadInternal> {
        let room = |name: &str| RoomId::parse(name);
        if let Some(name) = path.strip_prefix("/info/") {
            return Ok(Handoff::Info { room: room(name)? });
        }
        if path == "/lobby" {
            return Ok(Handoff::Lobby { answered: None });
        }
        if path == "/topics" {
            return Ok(Handoff::Topics);
        }
        if let Some(rest) = path.strip_prefix("/admin/") {
            use crate::admin::Op;
            let mut parts = rest.split('/');
            let (op, name, peer) = (parts.next(), parts.next(), parts.next());
            let op = match (op, peer, parts.next()) {
                (Some("get"), None, None) => Op::Get,
                (Some("tell"), None, None) => Op::Tell,
                (Some("close"), None, None) => Op::Close,
                (Some("kick"), Some(peer), None) => Op::Kick(PeerId::parse(peer)?),
                _ => return Err(BadInternal::Path(path.to_owned())),
            };
            return Ok(Handoff::Admin {
                room: room(name.unwrap_or_default())?,
                op,
            });
        }
        if let Some(rest) = path.strip_prefix("/lobby/") {
            let mut parts = rest.split('/');
            let group = parts.next().and_then(|g| g.parse().ok());
            let group = group.ok_or(BadInternal::Field("group"))?;
            let outcome = match (parts.next(), parts.next(), parts.next()) {
                (Some("seated"), Some(count), None) => Outcome::Seated {
                    count: count.parse().map_err(|_| BadInternal::Field("count"))?,
                },
                (Some("closed"), None, None) => Outcome::Closed,
                (Some("failed"), None, None) => Outcome::Failed,
                _ => return Err(BadInternal::Path(path.to_owned())),
            };
            return Ok(Handoff::Lobby {
                answered: Some((group, outcome)),
            });
        }
        let name = path
            .strip_prefix("/join/")
            .ok_or_else(|| BadInternal::Path(path.to_owned()))?;
        let header = header.ok_or(BadInternal::NoHeader)?;
        let (mut peer, mut capacity, mut resume) = (None, None, None);
        let (mut subprotocol, mut group, mut meta) = (false, false, None);
        for (key, value) in form_urlencoded::parse(header.as_bytes()) {
            match &*key {
                "peer" => peer = Some(PeerId::parse(&value)?),
                "capacity" => {
                    capacity = Some(value.parse().map_err(|_| BadInternal::Field("capacity"))?)
                }
                "resume" => resume = Some(value.into_owned()),
                "subprotocol" => subprotocol = value == "1",
                "group" => group = value == "1",
                "meta" => meta = Some(Meta::restore(&value).ok_or(BadInternal::Field("meta"))?),
                other => return Err(BadInternal::UnknownField(other.to_owned())),
            }
        }
        Ok(Handoff::Join {
            room: room(name)?,
            peer,
            capacity,
            resume,
            subprotocol,
            group,
            meta,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(query: &[(&'static str, &'static str)]) -> Result<JoinParams, QueryError> {
        JoinParams::parse(query.iter().copied(), None, &Config::default())
    }

    fn with_protocols(
        query: &[(&'static str, &'static str)],
        header: &'static str,
    ) -> Result<JoinParams, QueryError> {
        JoinParams::parse(query.iter().copied(), Some(header), &Config::default())
    }

    #[test]
    fn meta_is_a_checked_object_given_once() {
        let p = params(&[("peer", "a"), ("meta", r#"{ "name": "Ada" }"#)]).unwrap();
        assert_eq!(p.meta.unwrap().as_str(), r#"{"name":"Ada"}"#);
        assert!(p.meta_given);
        // `{}` is no metadata, but it was given (a signed deployment refuses it too).
        let p = params(&[("meta", "{}")]).unwrap();
        assert!(p.meta.is_none() && p.meta_given);
        assert!(!params(&[]).unwrap().meta_given);
        assert_eq!(
            params(&[("meta", "[1]")]),
            Err(QueryError::BadMeta(BadMeta::NotAnObject))
        );
        assert_eq!(
            params(&[("meta", "{}"), ("meta", "{}")]),
            Err(QueryError::Repeated("meta"))
        );
        let big = format!(r#"{{"n":"{}"}}"#, "x".repeat(1020));
        let parsed = JoinParams::parse([("meta", big.as_str())], None, &Config::default());
        assert!(matches!(
            parsed,
            Err(QueryError::BadMeta(BadMeta::TooBig(_)))
        ));
    }

    #[test]
    fn secrets_can_travel_in_the_subprotocol_header() {
        let p = with_protocols(
            &[("peer", "a")],
            "edge-signal.v1, edge-signal.token.aaa.bbb.ccc, edge-signal.resume.s3cret",
        )
        .unwrap();
        assert!(p.subprotocol);
        assert_eq!(p.token.as_deref(), Some("aaa.bbb.ccc"));
        assert_eq!(p.resume.as_deref(), Some("s3cret"));
        assert!(!params(&[]).unwrap().subprotocol);
        // Offering protocols without ours: the answer could select none, so refuse clearly.
        let err = with_protocols(&[], "chat, edge-signal.token.x").unwrap_err();
        assert_eq!(err, QueryError::NoSubprotocol);
        assert!(err.to_string().contains("edge-signal.v1"), "{err}");
        // The same secret in the query and the header is ambiguous.
        let err =
            with_protocols(&[("token", "t")], "edge-signal.v1,edge-signal.token.t").unwrap_err();
        assert_eq!(err, QueryError::Repeated("token"));
        // The header's resume needs the peer it resumes, like the query's.
        assert_eq!(
            with_protocols(&[], "edge-signal.v1,edge-signal.resume.s"),
            Err(QueryError::ResumeWithoutPeer)
        );
    }

    #[test]
    fn handoffs_round_trip_and_carry_no_secret_in_the_url() {
        let room = RoomId::parse("r1").unwrap();
        let join = Handoff::Join {
            room: room.clone(),
            peer: Some(PeerId::parse("alice").unwrap()),
            capacity: Some(5),
            resume: Some("s&e=c r+t".into()),
            subprotocol: true,
            group: true,
            meta: Meta::parse(r#"{"name":"A & B","n":1}"#).unwrap(),
        };
        let (url, header) = join.to_request();
        assert!(!url.contains("s&e"), "{url}");
        let path = |url: &str| url["https://room.internal".len()..].to_owned();
        assert_eq!(Handoff::parse(&path(&url), header.as_deref()), Ok(join));
        let bare = Handoff::join(&room, &JoinParams::default());
        let (url, header) = bare.to_request();
        assert_eq!(Handoff::parse(&path(&url), header.as_deref()), Ok(bare));
        for lobby in [
            Handoff::Lobby { answered: None },
            Handoff::Lobby {
                answered: Some((7, Outcome::Closed)),
            },
            Handoff::Lobby {
                answered: Some((0, Outcome::Seated { count: 3 })),
            },
            Handoff::Lobby {
                answered: Some((u64::MAX, Outcome::Failed)),
            },
            Handoff::Topics,
            Handoff::Admin {
                room: room.clone(),
                op: crate::admin::Op::Get,
            },
            Handoff::Admin {
                room: room.clone(),
                op: crate::admin::Op::Kick(PeerId::parse("bob").unwrap()),
            },
            Handoff::Admin {
                room: room.clone(),
                op: crate::admin::Op::Tell,
            },
            Handoff::Admin {
                room: room.clone(),
                op: crate::admin::Op::Close,
            },
        ] {
            let (url, header) = lobby.to_request();
            assert_eq!(Handoff::parse(&path(&url), header.as_deref()), Ok(lobby));
        }
        let info = Handoff::Info { room };
        let (url, header) = info.to_request();
        assert_eq!(header, None);
        assert_eq!(Handoff::parse(&path(&url), None), Ok(info));
        for (path, header) in [
            ("/rooms/r1", None),
            ("/join/r1", None),
            ("/join/a.b", Some("")),
            ("/join/r1", Some("peer=a%20b")),
            ("/join/r1", Some("capacity=x")),
            ("/join/r1", Some("token=t")),
            ("/admin/get", None),
            ("/admin/get/r1/x", None),
            ("/admin/kick/r1", None),
            ("/admin/kick/r1/a.b", None),
            ("/admin/nope/r1", None),
        ] {
            assert!(Handoff::parse(path, header).is_err(), "{path} {header:?}");
        }
    }

    #[test]
    fn routes_follow_the_endpoint_table() {
        let r1 = RoomId::parse("r1").unwrap();
        // Pages and scripts are static assets, served before the Worker runs.
        assert_eq!(Route::parse("GET", "/"), Route::NotFound);
        assert_eq!(Route::parse("HEAD", "/healthz"), Route::Health);
        assert_eq!(Route::parse("GET", "/readyz"), Route::Ready);
        assert_eq!(Route::parse("POST", "/readyz"), Route::NotFound);
        assert_eq!(Route::parse("HEAD", "/rooms/r1"), Route::Room(r1.clone()));
        assert_eq!(Route::parse("POST", "/healthz"), Route::NotFound);
        for cors in [
            "/api/rooms/r1/ice-servers",
            "/api/rooms/r1/check",
            "/peerjs/k/id",
            "/peerjs/k/peers",
            "/peerjs/k/ice-servers",
            "/api/yjs/n/ice-servers",
        ] {
            assert_eq!(Route::parse("OPTIONS", cors), Route::Preflight, "{cors}");
        }
        for other in ["/healthz", "/rooms/r1", "/api/rooms/r1", "/yjs/n", "/nope"] {
            assert_eq!(Route::parse("OPTIONS", other), Route::NotFound, "{other}");
        }
        assert_eq!(Route::parse("GET", "/healthz"), Route::Health);
        assert_eq!(Route::parse("GET", "/rooms/r1"), Route::Room(r1.clone()));
        assert_eq!(
            Route::parse("GET", "/api/rooms/r1/check"),
            Route::JoinCheck(r1.clone())
        );
        assert!(matches!(
            Route::parse("GET", "/api/rooms/a.b/check"),
            Route::BadRoom(_)
        ));
        assert_eq!(
            Route::parse("GET", "/api/rooms/r1"),
            Route::RoomInfo(r1.clone())
        );
        assert_eq!(Route::parse("GET", "/peerjs/peerjs"), Route::PeerJs);
        assert_eq!(
            Route::parse("GET", "/peerjs/r1/id"),
            Route::PeerJsId(r1.clone())
        );
        // The default key is "peerjs": its look-ups are not the socket path.
        assert_eq!(
            Route::parse("GET", "/peerjs/peerjs/peers"),
            Route::PeerJsPeers(RoomId::parse("peerjs").unwrap())
        );
        assert_eq!(
            Route::parse("GET", "/peerjs/r1/ice-servers"),
            Route::PeerJsIceServers(r1.clone())
        );
        assert!(matches!(
            Route::parse("GET", "/peerjs/a.b/id"),
            Route::BadRoom(_)
        ));
        for other in ["/peerjs/", "/peerjs/r1", "/peerjs/r1/x", "/peerjs/r1/id/x"] {
            assert_eq!(Route::parse("GET", other), Route::NotFound, "{other}");
        }
        assert!(matches!(
            Route::parse("GET", "/rooms/a.b"),
            Route::BadRoom(_)
        ));
        assert!(matches!(Route::parse("GET", "/rooms/"), Route::BadRoom(_)));
        assert!(matches!(
            Route::parse("GET", "/rooms/a/b"),
            Route::BadRoom(_)
        ));
        assert!(matches!(
            Route::parse("GET", &format!("/rooms/{}", "x".repeat(65))),
            Route::BadRoom(_)
        ));
        assert!(matches!(
            Route::parse("GET", &format!("/rooms/{}", "x".repeat(64))),
            Route::Room(_)
        ));
        assert!(matches!(
            Route::parse("GET", "/api/rooms/%20"),
            Route::BadRoom(_)
        ));
        assert_eq!(Route::parse("GET", "/edge-signal.js"), Route::NotFound);
        assert_eq!(
            Route::parse("GET", "/api/rooms/r1/ice-servers"),
            Route::IceServers(RoomId::parse("r1").unwrap())
        );
        assert_eq!(
            Route::parse("GET", "/yjs/app"),
            Route::Yjs(RoomId::parse("app").unwrap())
        );
        assert_eq!(
            Route::parse("GET", "/api/yjs/app"),
            Route::YjsInfo(RoomId::parse("app").unwrap())
        );
        assert_eq!(
            Route::parse("GET", "/api/yjs/app/ice-servers"),
            Route::YjsIceServers(RoomId::parse("app").unwrap())
        );
        assert!(matches!(Route::parse("GET", "/yjs/a.b"), Route::BadRoom(_)));
        assert_eq!(
            Route::parse("GET", "/api/matchbox/g/ice-servers"),
            Route::MatchboxIceServers(RoomId::parse("g").unwrap())
        );
        assert_eq!(
            Route::parse("GET", "/matchbox/r1"),
            Route::Matchbox(RoomId::parse("r1").unwrap())
        );
        assert_eq!(
            Route::parse("GET", "/api/matchbox/r1"),
            Route::MatchboxInfo(RoomId::parse("r1").unwrap())
        );
        assert!(matches!(
            Route::parse("GET", "/matchbox/a?b"),
            Route::BadRoom(_)
        ));
        assert_eq!(Route::parse("GET", "/nope"), Route::NotFound);
        assert_eq!(Route::parse("GET", "/roomsx"), Route::NotFound);
        assert_eq!(Route::parse("POST", "/rooms/r1"), Route::NotFound);
    }

    #[test]
    fn matchbox_rooms_are_objects_of_their_own_and_take_no_ids() {
        let r1 = RoomId::parse("r1").unwrap();
        assert_eq!(object_name(Wire::V1, &r1), "r1");
        assert_eq!(object_name(Wire::Matchbox, &r1), "matchbox/r1");
        assert_eq!(wire_of_object("matchbox/r1"), Wire::Matchbox);
        assert_eq!(wire_of_object("r1"), Wire::V1);
        // A v1 room's name cannot hold the prefix: its alphabet has no `/`.
        assert!(RoomId::parse("matchbox/r1").is_err());
        let c = Config::default();
        let ok = params(&[("capacity", "4"), ("token", "t")]).unwrap();
        assert_eq!(
            check_matchbox_query([("capacity", "4"), ("token", "t")], &ok, &c),
            Ok(None)
        );
        let with_peer = params(&[("peer", "alice")]).unwrap();
        assert_eq!(
            check_matchbox_query([("peer", "alice")], &with_peer, &c),
            Err(QueryError::MatchboxId)
        );
    }

    #[test]
    fn next_n_forms_groups_in_objects_of_their_own() {
        let c = Config::default();
        let none = JoinParams::default();
        assert_eq!(
            check_matchbox_query([("next", "3")], &none, &c),
            Ok(Some(3))
        );
        for bad in ["1", "17", "x", "", "-2"] {
            let err = check_matchbox_query([("next", bad)], &none, &c).unwrap_err();
            assert_eq!(
                err,
                QueryError::OutOfRange {
                    name: "next",
                    max: 16
                },
                "{bad}"
            );
            assert!(err.to_string().starts_with("next must be"), "{err}");
        }
        assert_eq!(
            check_matchbox_query([("next", "2"), ("next", "3")], &none, &c),
            Err(QueryError::Repeated("next"))
        );
        let with_capacity = params(&[("capacity", "4")]).unwrap();
        assert_eq!(
            check_matchbox_query([("next", "2")], &with_capacity, &c),
            Err(QueryError::NextWithCapacity)
        );
        let r1 = RoomId::parse("r1").unwrap();
        // Groups are matchbox rooms, apart for each N; the lobby is no room.
        assert_eq!(group_object_name(&r1, 3, 0), "matchbox/r1/next3/0");
        assert_eq!(
            wire_of_object(&group_object_name(&r1, 3, 0)),
            Wire::Matchbox
        );
        assert_ne!(group_object_name(&r1, 3, 0), group_object_name(&r1, 4, 0));
        assert_ne!(
            group_object_name(&r1, 3, 0),
            object_name(Wire::Matchbox, &r1)
        );
        assert_eq!(lobby_object_name(&r1, 3), "lobby/r1/next3");
        assert_eq!(wire_of_object(&lobby_object_name(&r1, 3)), Wire::V1);
    }

    #[test]
    fn join_params_are_optional() {
        assert_eq!(params(&[]).unwrap(), JoinParams::default());
        let p = params(&[("peer", "alice"), ("capacity", "5"), ("other", "x")]).unwrap();
        assert_eq!(p.peer, Some(PeerId::parse("alice").unwrap()));
        assert_eq!(p.capacity, Some(5));
    }

    #[test]
    fn bad_peer_ids_are_refused() {
        for bad in ["", "a b", "ü", "a/b", &"p".repeat(65)] {
            let bad: &'static str = Box::leak(bad.to_string().into_boxed_str());
            assert_eq!(
                params(&[("peer", bad)]),
                Err(QueryError::BadId(InvalidId("peer"))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn capacity_must_be_in_range() {
        for bad in ["1", "0", "17", "abc", "", "2.5", "-2", "+3", "99999999999"] {
            let err = params(&[("capacity", bad)]).unwrap_err();
            assert_eq!(
                err,
                QueryError::OutOfRange {
                    name: "capacity",
                    max: 16
                },
                "{bad:?}"
            );
            assert!(err.to_string().contains("from 2 to 16"), "{err}");
        }
        assert_eq!(params(&[("capacity", "2")]).unwrap().capacity, Some(2));
        assert_eq!(params(&[("capacity", "16")]).unwrap().capacity, Some(16));
    }

    #[test]
    fn urls_split_into_origin_and_decoded_query() {
        let (origin, query) =
            origin_and_query("https://signal.example.com:8443/rooms/r1?peer=a%20b&capacity=3#frag");
        assert_eq!(origin, "https://signal.example.com:8443");
        assert_eq!(query, "peer=a%20b&capacity=3");
        assert_eq!(
            query_pairs(query),
            vec![
                ("peer".to_owned(), "a b".to_owned()),
                ("capacity".to_owned(), "3".to_owned())
            ]
        );
        assert_eq!(
            origin_and_query("http://127.0.0.1:8787/rooms/x"),
            ("http://127.0.0.1:8787", "")
        );
        assert_eq!(origin_and_query("http://h"), ("http://h", ""));
    }

    #[test]
    fn resume_needs_a_peer() {
        assert_eq!(
            params(&[("resume", "s")]),
            Err(QueryError::ResumeWithoutPeer)
        );
        let p = params(&[("peer", "a"), ("resume", "s")]).unwrap();
        assert_eq!(p.resume.as_deref(), Some("s"));
    }

    #[test]
    fn origins_are_checked_only_when_a_list_is_set() {
        let own = "https://signal.example.com";
        let list = vec!["https://app.example.com".to_owned()];
        assert!(origin_allowed(Some("https://evil.example"), own, &[]));
        assert!(origin_allowed(Some("https://app.example.com"), own, &list));
        assert!(origin_allowed(Some("HTTPS://APP.example.com"), own, &list));
        assert!(
            origin_allowed(Some(own), own, &list),
            "the worker's own pages"
        );
        assert!(origin_allowed(None, own, &list), "not a browser page");
        assert!(!origin_allowed(Some("https://evil.example"), own, &list));
        assert!(!origin_allowed(
            Some("https://app.example.com.evil.example"),
            own,
            &list
        ));
        assert!(!origin_allowed(Some("null"), own, &list));
    }

    #[test]
    fn cors_answers_name_the_origin_once_a_list_is_set() {
        let own = "https://signal.example.com";
        let list = vec!["https://app.example.com".to_owned()];
        assert_eq!(
            cors_origin(Some("https://evil.example"), own, &[]).as_deref(),
            Some("*")
        );
        assert_eq!(cors_origin(None, own, &[]).as_deref(), Some("*"));
        assert_eq!(
            cors_origin(Some("https://app.example.com"), own, &list).as_deref(),
            Some("https://app.example.com")
        );
        assert_eq!(cors_origin(Some("https://evil.example"), own, &list), None);
        assert_eq!(cors_origin(None, own, &list), None);
        assert_eq!(cors_origin(Some(own), own, &list).as_deref(), Some(own));
    }

    #[test]
    fn repeated_parameters_are_refused() {
        assert_eq!(
            params(&[("peer", "a"), ("peer", "b")]),
            Err(QueryError::Repeated("peer"))
        );
        assert_eq!(
            params(&[("capacity", "2"), ("capacity", "2")]),
            Err(QueryError::Repeated("capacity"))
        );
    }
}
