# The two commands a newcomer needs: `make dev` (serve locally) and `make test` (every test).
# Both run scripts/setup.sh first, which installs whatever is missing and is silent otherwise.

PORT ?= 8787
export WRANGLER_SEND_METRICS := false

.PHONY: setup build dev serve install-runtime examples picture test test-matchbox test-unit test-e2e test-browser fuzz bench bench-ab profile token deploy

setup:
	@bash scripts/setup.sh

build: setup
	@bash scripts/build.sh

# Serves the worker on http://127.0.0.1:$(PORT) with wrangler dev (workerd, local Durable Objects).
dev: setup
	npx wrangler dev --ip 127.0.0.1 --port $(PORT)

# Self-hosting: the same build under standalone `workerd serve` (the newest workerd, npm
# workerd-latest; serve/workerd.capnp), no wrangler and no Cloudflare account, on HOST:PORT
# (default 127.0.0.1:8787); Durable Object state in STATE_DIR (default target/serve/state).
# ENV=production serves wrangler.toml's [env.production.vars]. One node (docs/self-hosting.md).
HOST ?= 127.0.0.1
serve: build
	HOST=$(HOST) PORT=$(PORT) node scripts/serve.mjs $(if $(ENV),--env $(ENV))

# What `make serve` needs and nothing more, copied into DEST (about 160 MB, most of it the
# workerd binary, instead of the whole node_modules): then `cd $(DEST) && node scripts/serve.mjs`.
install-runtime: build
	node scripts/install-runtime.mjs "$(DEST)"

# The browser examples (examples/: call, file transfer, game, React) on http://127.0.0.1:8788
# (EXAMPLES_PORT), against `make dev` on $(PORT) (run that first, in another terminal, with the
# same PORT).
examples: setup
	PORT=$(PORT) node examples/serve.mjs

# docs/call.png, the README's picture: two Chromium processes, each with a drawn fake camera, in a
# call under wrangler dev (scripts/picture.mjs).
picture: build
	node scripts/picture.mjs

# Native unit tests of the core, end-to-end tests against a real `wrangler dev` (the chaos and
# proxy tests against `make serve`'s standalone newest workerd; the core, hibernation, matchbox,
# PeerJS and y-webrtc ones against both), the native matchbox clients in a network namespace,
# Node tests, browser tests in real Chromium and Firefox, then the fuzz run.
test: build
	@bash scripts/setup.sh --browser
	@echo "test: unit tests, then the end-to-end tests (a fresh checkout compiles them first: a few minutes)"
	cargo test --lib
	cargo test -p loadgen --bins
	cargo test --test '*'
	cargo test -p matchbox-test --no-run && bash scripts/netns-run.sh cargo test -p matchbox-test --offline
	EDGE_SIGNAL_RUNTIME=workerd cargo test --test e2e --test e2e_hibernation --test e2e_matchbox --test e2e_peerjs --test e2e_peerjs_held --test e2e_yjs --test e2e_yjs_signed --test e2e_meta --test e2e_admin --test e2e_webhooks
	node --test tests/node/
	@echo "test: browser tests in Chromium and Firefox (about three minutes)"
	node --test tests/browser/
	@$(MAKE) --no-print-directory fuzz

# Real matchbox_socket clients (native WebRTC, webrtc-rs: about 2 minutes to compile once)
# against wrangler dev's /matchbox (tools/matchbox-test); also part of `make test`. webrtc-rs
# gathers candidates on every interface and joins mDNS multicast, so the test process (wrangler
# dev and the clients) runs in a network namespace of its own with only loopback and a veth pair
# (scripts/netns-run.sh: as root, or through an unprivileged user namespace; docs/matchbox.md).
# It is compiled outside the namespace first.
test-matchbox: build
	cargo test -p matchbox-test --no-run
	bash scripts/netns-run.sh cargo test -p matchbox-test --offline

test-unit:
	cargo test --lib

test-e2e: build
	cargo test --test '*'

test-browser: build
	@bash scripts/setup.sh --browser
	node --test tests/browser/

# Bounded runs of the fuzz targets in fuzz/fuzz_targets/ (frame: any bytes through the frame
# parser and the room; matchbox: the same through the matchbox codec; peerjs: the same through
# the PeerJS codec and a peer's state; yjs: frames of a namespace's sockets through the y-webrtc
# codec and the topics; request: the path, query
# and subprotocol header of a join through the
# routing, the join checks and the handoff; token: join tokens through auth::verify; restore:
# attachments through Room::restore), FUZZ_SECONDS each, seeded from fuzz/seeds/<target>.
# cargo-fuzz wants nightly flags; RUSTC_BOOTSTRAP=1 lets stable accept them.
FUZZ_SECONDS ?= 10
FUZZ_TARGETS := frame matchbox peerjs yjs request token restore
fuzz:
	@bash scripts/setup.sh --browser
	@mkdir -p target
	@for t in $(FUZZ_TARGETS); do \
	  echo "fuzz: $(FUZZ_SECONDS) s of fuzz/fuzz_targets/$$t.rs (log: target/fuzz-$$t.log)"; \
	  mkdir -p fuzz/corpus/$$t; seeds=""; [ -d fuzz/seeds/$$t ] && seeds=fuzz/seeds/$$t; \
	  RUSTC_BOOTSTRAP=1 cargo fuzz run $$t fuzz/corpus/$$t $$seeds -- -max_total_time=$(FUZZ_SECONDS) \
	    > target/fuzz-$$t.log 2>&1 \
	    || { tail -n 60 target/fuzz-$$t.log; echo "fuzz: $$t FAILED (the crashing input is under fuzz/artifacts/$$t/)"; exit 1; }; \
	  grep -E "^Done" target/fuzz-$$t.log; \
	done
	@echo "fuzz: $(words $(FUZZ_TARGETS)) passed, 0 failed"

# Benchmarks: this worker (Miniflare and wrangler dev), the JavaScript runtime floor and the
# PeerJS server, measured by tools/loadgen; writes docs/benchmarks.md and its chart (about 13 minutes here).
bench: build
	cargo run --release --quiet -p loadgen -- bench --out docs/benchmarks.md

# This worker against another commit's build, measured in turns (bench/ab.sh; ~4 minutes):
#   make bench-ab BASE=<commit>      (ROUNDS=6 ROOMS=100 SECS=5 by default; PROTO=peerjs: the PeerJS endpoint;
#                                     MODE=join: sequential joins and workerd's CPU time per join)
bench-ab: setup
	@bash bench/ab.sh

# Where the room's CPU goes under load: a build with function names kept, in target/profile-build,
# sampled with V8's profiler through workerd's inspector (bench/profile.mjs).
#   make profile MODE=relay ROOMS=10,  make profile MODE=join,  make profile MODE=peerjs ROOMS=10
#   or  make profile MODE=yjs ROOMS=10 (subscribers per topic)
MODE ?= relay
ROOMS ?= 10
profile: setup
	@cargo build --release --quiet -p loadgen
	@BUILD_OUT=target/profile-build KEEP_NAMES=1 bash scripts/build.sh > target/profile-build.log 2>&1 \
	  || { tail -n 30 target/profile-build.log; exit 1; }
	node --experimental-websocket bench/profile.mjs target/profile-build $(MODE) $(ROOMS)

# A signed join token for local development (AUTH_SECRET from the environment or .dev.vars):
#   make token ROOM=demo PEER=alice TTL=600
# A join token for local development (AUTH_SECRET from the environment or .dev.vars); without
# Rust: node scripts/token.mjs <room> [peer] [ttl-seconds].
token:
	@cargo run --quiet --example token -- "$(ROOM)" "$(PEER)" "$(TTL)" '$(META)'

# Production: first the account and production's openness (scripts/predeploy.mjs: stops at
# once without a wrangler login, warns about an empty ALLOWED_ORIGINS or no AUTH_SECRET), then
# every test, then `[env.production]` of wrangler.toml (docs/operations.md). Needs
# `npx wrangler login` (or CLOUDFLARE_API_TOKEN) once.
deploy: setup
	node scripts/predeploy.mjs
	$(MAKE) --no-print-directory test
	npx wrangler deploy --env production
