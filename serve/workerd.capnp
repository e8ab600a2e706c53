# edge-signal on the open-source Workers runtime, `workerd serve`, with no Cloudflare account:
# `make serve` (scripts/serve.mjs) builds, writes target/serve/assets.json from public/_headers,
# and runs the newest workerd (npm `workerd-latest`) on this file with --experimental (for the
# assets service). One process on one machine: Cloudflare is the path past one machine.
#
# Settings are read from the environment (`fromEnvironment`): scripts/serve.mjs exports
# wrangler.toml's [vars] (the same source as `wrangler dev` and `wrangler deploy`), then the
# caller's environment on top, which is also where secrets come from (AUTH_SECRET, TURN_*).
# An unset variable leaves the binding out, and the worker uses its default.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    # The front door: a file of public/ when one matches (with public/_headers' headers, ETags
    # and 304s, as Workers Static Assets serve them), else the worker.
    (name = "main", assets = (
      path = "public",
      config = embed "../target/serve/assets.json",
      userWorker = "edge-signal",
    )),
    (name = "edge-signal", worker = .edgeSignal),
    # The worker's outgoing requests (webhooks, Cloudflare's TURN API): anywhere, the local
    # network and this machine included, since a self-hosted receiver is often there. workerd's
    # default allows public addresses only. The worker only fetches the URLs its settings name.
    (name = "internet", network = (
      allow = ["public", "private", "local"],
      tlsOptions = (trustBrowserCas = true),
    )),
    # Durable Object storage (the rooms' sweep alarms): overridden with --directory-path.
    (name = "do-storage", disk = (path = "target/serve/state", writable = true)),
  ],
  sockets = [
    # Overridden with --socket-addr http=HOST:PORT (scripts/serve.mjs: 127.0.0.1:8787).
    # Behind the documented TLS proxy (docs/self-hosting.md), the proxy's X-Forwarded-Proto says
    # the browser used https, and the request URL the worker sees (its own origin, which the
    # origin check accepts) says so too; a request without the header keeps the socket's http.
    (name = "http", address = "127.0.0.1:8787", service = "main",
     http = (forwardedProtoHeader = "X-Forwarded-Proto")),
  ],
);

const edgeSignal :Workerd.Worker = (
  # worker-build's output (scripts/build.sh).
  modules = [
    (name = "index.js", esModule = embed "../build/index.js"),
    (name = "index_bg.wasm", wasm = embed "../build/index_bg.wasm"),
  ],
  # The newest runtime is the target here (wrangler.toml keeps the date wrangler dev 4.86's
  # workerd supports).
  compatibilityDate = "2026-11-01",
  globalOutbound = "internet",
  bindings = [
    (name = "ROOMS", durableObjectNamespace = "RoomObject"),
    (name = "PEERS", durableObjectNamespace = "PeerObject"),
    (name = "ASSETS", service = (name = "main", entrypoint = "AssetWorker")),
    # wrangler.toml [vars] (scripts/serve.mjs checks that every one is listed here).
    (name = "ROOM_CAPACITY", fromEnvironment = "ROOM_CAPACITY"),
    (name = "MAX_ROOM_CAPACITY", fromEnvironment = "MAX_ROOM_CAPACITY"),
    (name = "MAX_MESSAGE_BYTES", fromEnvironment = "MAX_MESSAGE_BYTES"),
    (name = "ICE_SERVERS", fromEnvironment = "ICE_SERVERS"),
    (name = "ALLOWED_ORIGINS", fromEnvironment = "ALLOWED_ORIGINS"),
    (name = "PUBLIC_ORIGIN", fromEnvironment = "PUBLIC_ORIGIN"),
    (name = "JOIN_RATE_PER_MIN", fromEnvironment = "JOIN_RATE_PER_MIN"),
    (name = "CLIENT_ADDRESS_HEADER", fromEnvironment = "CLIENT_ADDRESS_HEADER"),
    (name = "RATE_LIMIT_BURST", fromEnvironment = "RATE_LIMIT_BURST"),
    (name = "RATE_LIMIT_PER_SEC", fromEnvironment = "RATE_LIMIT_PER_SEC"),
    (name = "RATE_LIMIT_BYTES_BURST", fromEnvironment = "RATE_LIMIT_BYTES_BURST"),
    (name = "RATE_LIMIT_BYTES_PER_SEC", fromEnvironment = "RATE_LIMIT_BYTES_PER_SEC"),
    (name = "IDLE_TIMEOUT_MS", fromEnvironment = "IDLE_TIMEOUT_MS"),
    (name = "PEERJS_EXPIRE_MS", fromEnvironment = "PEERJS_EXPIRE_MS"),
    (name = "PEERJS_DISCOVERY", fromEnvironment = "PEERJS_DISCOVERY"),
    (name = "YJS_MAX_CONNECTIONS", fromEnvironment = "YJS_MAX_CONNECTIONS"),
    (name = "YJS_MAX_TOPICS", fromEnvironment = "YJS_MAX_TOPICS"),
    (name = "YJS_MAX_TOPIC_BYTES", fromEnvironment = "YJS_MAX_TOPIC_BYTES"),
    # Secrets and optional settings (README.md, "Configuration").
    (name = "AUTH_SECRET", fromEnvironment = "AUTH_SECRET"),
    (name = "ADMIN_SECRET", fromEnvironment = "ADMIN_SECRET"),
    (name = "WEBHOOK_URL", fromEnvironment = "WEBHOOK_URL"),
    (name = "WEBHOOK_SECRET", fromEnvironment = "WEBHOOK_SECRET"),
    (name = "TURN_SECRET", fromEnvironment = "TURN_SECRET"),
    (name = "TURN_URLS", fromEnvironment = "TURN_URLS"),
    (name = "TURN_KEY_ID", fromEnvironment = "TURN_KEY_ID"),
    (name = "TURN_KEY_API_TOKEN", fromEnvironment = "TURN_KEY_API_TOKEN"),
    (name = "TURN_TTL_S", fromEnvironment = "TURN_TTL_S"),
    (name = "TURN_API_TIMEOUT_MS", fromEnvironment = "TURN_API_TIMEOUT_MS"),
    (name = "TURN_API_URL", fromEnvironment = "TURN_API_URL"),
  ],
  durableObjectNamespaces = [
    # SQLite-backed, as wrangler.toml's migration declares.
    (className = "RoomObject", uniqueKey = "edge-signal-RoomObject", enableSql = true),
    (className = "PeerObject", uniqueKey = "edge-signal-PeerObject", enableSql = true),
  ],
  durableObjectStorage = (localDisk = "do-storage"),
);
