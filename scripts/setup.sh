#!/usr/bin/env bash
# Installs what building, serving and testing edge-signal needs, and nothing that is already
# there: run twice, the second run installs nothing and prints nothing.
#
#   scripts/setup.sh            what `make dev` needs: Rust's wasm32 target, worker-build,
#                               wasm-bindgen-cli, npm packages (wrangler)
#   scripts/setup.sh --browser  also what only the tests need: Chromium, Firefox and coturn for
#                               the browser tests and cargo-fuzz for the fuzz run (`make test`
#                               passes this)
#
# Everything comes from the package registries (rustup's wasm32 target, crates.io, npm, Debian):
# worker-build's own downloads of wasm-bindgen and wasm-opt from GitHub fail on closed networks,
# so the build (scripts/build.sh) points it at the binaries installed here instead.
set -euo pipefail
cd "$(dirname "$0")/.."

# Versions are pinned together: wasm-bindgen's CLI must match the `wasm-bindgen` crate exactly
# (Cargo.toml pins "=0.2.130"), and worker-build matches the `worker` crate.
WORKER_BUILD_VERSION=0.8.7
WASM_BINDGEN_VERSION=0.2.130

BROWSER=0
[ "${1:-}" = "--browser" ] && BROWSER=1

say() { printf 'setup: %s\n' "$*" >&2; }

need_cmd() {
  command -v "$1" >/dev/null 2>&1 || { say "missing '$1': $2"; exit 1; }
}
need_cmd cargo "install Rust with rustup (https://rustup.rs)"
need_cmd node "install Node.js 20 or later"
need_cmd npm "install npm (it ships with Node.js)"

# 0. System packages the cargo installs below compile against: a C and a C++ compiler (ring,
#    libfuzzer-sys), pkg-config and OpenSSL's headers (worker-build's HTTP client links OpenSSL).
#    Debian/Ubuntu: build-essential pkg-config libssl-dev; Fedora: gcc gcc-c++ make pkgconf
#    openssl-devel; macOS: the Xcode command line tools (OpenSSL is not needed there). Installed
#    here with apt-get where that exists; elsewhere a missing one stops the set-up, named.
missing_system_packages() {
  command -v cc >/dev/null 2>&1 || echo "a C compiler (cc)"
  command -v c++ >/dev/null 2>&1 || echo "a C++ compiler (c++)"
  if [ "$(uname -s)" = Linux ]; then
    command -v pkg-config >/dev/null 2>&1 || echo "pkg-config"
    pkg-config --exists openssl 2>/dev/null || echo "OpenSSL's headers (libssl-dev / openssl-devel)"
  fi
}
if [ -n "$(missing_system_packages)" ]; then
  if command -v apt-get >/dev/null 2>&1; then
    say "installing Debian's build-essential, pkg-config and libssl-dev (a minute, once)"
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq build-essential pkg-config libssl-dev >&2
  else
    say "missing: $(missing_system_packages | paste -sd ',' - | sed 's/,/, /g')"
    say "install them with your package manager (see README.md, Set-up), then run this again"
    exit 1
  fi
fi

# 1. The wasm32 standard library.
if ! [ -d "$(rustc --print target-libdir --target wasm32-unknown-unknown 2>/dev/null)" ]; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown >&2
fi

# 2. worker-build and wasm-bindgen-cli, at the pinned versions.
# `worker-build --version` prints "0.8.7", `wasm-bindgen --version` "wasm-bindgen 0.2.130".
installed_version() { "$1" --version 2>/dev/null | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -n 1; }
if [ "$(installed_version worker-build)" != "$WORKER_BUILD_VERSION" ]; then
  say "compiling and installing worker-build $WORKER_BUILD_VERSION with cargo (a few minutes, once)"
  cargo install worker-build --version "$WORKER_BUILD_VERSION" --locked --quiet
fi
if [ "$(installed_version wasm-bindgen)" != "$WASM_BINDGEN_VERSION" ]; then
  say "compiling and installing wasm-bindgen-cli $WASM_BINDGEN_VERSION with cargo (a few minutes, once)"
  # Not --locked: that lock file names a yanked crate.
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --quiet
fi

# 3. npm packages (wrangler and its workerd), when the lock file changed since the last install.
if ! [ -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing the npm packages of package-lock.json (wrangler, workerd, test tools; a minute)"
  if [ -f package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error >&2
  else
    npm install --no-audit --no-fund --loglevel=error >&2
  fi
fi

# 4. cargo-fuzz, for the bounded fuzz run in `make test` (it builds on stable Rust with
#    RUSTC_BOOTSTRAP=1, see the Makefile's fuzz target).
CARGO_FUZZ_VERSION=0.13.2
if [ "$BROWSER" = 1 ] && [ "$(installed_version cargo-fuzz)" != "$CARGO_FUZZ_VERSION" ]; then
  say "compiling and installing cargo-fuzz $CARGO_FUZZ_VERSION with cargo (a minute or two, once)"
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked --quiet
fi

# 5. From Debian, for the browser tests: Chromium and Firefox ESR (a test tool's own browser
#    download is not used: it fails on closed networks, and Debian's builds are what CI has), and
#    coturn, the TURN server the relay test starts on loopback (its system service stays off).
if [ "$BROWSER" = 1 ] && { ! [ -x /usr/bin/chromium ] || ! [ -x /usr/bin/firefox-esr ] || ! [ -x /usr/bin/turnserver ]; }; then
  say "installing Debian's chromium, firefox-esr and coturn (a minute or two, once)"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium firefox-esr coturn >&2
fi
