#!/usr/bin/env bash
# Runs a command in a network namespace of its own that has only loopback and a veth pair
# (es0 198.18.0.1/24 <-> es1 198.18.0.2/24, the default route on es0), so nothing it sends can
# leave the machine: `make test-matchbox` runs the native WebRTC clients (webrtc-rs, which
# gathers candidates on every interface and joins mDNS multicast) and their wrangler dev here.
#
#   scripts/netns-run.sh <command> [args...]
#
# As root: `unshare --net`; otherwise `unshare --user --map-root-user --net` (unprivileged user
# namespaces; docs/matchbox.md says what to do where a distribution disables them). The default
# route matters: without one, webrtc-rs's mDNS cannot join its multicast group and panics with
# "No such device (os error 19)".
set -euo pipefail

say() { printf 'netns-run: %s\n' "$*" >&2; }

if [ "${1:-}" != "--inside" ]; then
  [ $# -gt 0 ] || { say "usage: $0 <command> [args...]"; exit 2; }
  command -v unshare >/dev/null 2>&1 || { say "missing 'unshare' (util-linux)"; exit 1; }
  modes=()
  [ "$(id -u)" = 0 ] && modes+=("--net")
  modes+=("--user --map-root-user --net")
  tried=""
  for mode in "${modes[@]}"; do
    tried="${tried:+$tried, }'unshare $mode'"
    # shellcheck disable=SC2086 # $mode is a list of flags
    if unshare $mode true 2>/dev/null; then
      # shellcheck disable=SC2086
      exec unshare $mode -- bash "$0" --inside "$@"
    fi
  done
  say "cannot create a network namespace: $tried failed."
  say "'unshare --net' needs root; without root, unprivileged user namespaces must be enabled:"
  say "  sudo sysctl kernel.unprivileged_userns_clone=1             (older Debian/Ubuntu kernels)"
  say "  sudo sysctl kernel.apparmor_restrict_unprivileged_userns=0 (Ubuntu 23.10 and later)"
  say "  sudo sysctl user.max_user_namespaces=15000                 (where it is 0)"
  say "or run as root."
  exit 1
fi
shift

PATH="$PATH:/usr/sbin:/sbin"
command -v ip >/dev/null 2>&1 || { say "missing 'ip' (iproute2)"; exit 1; }
# The interfaces that are up (a fresh namespace may also hold tunnel fallback devices such as
# sit0 or tunl0, always down).
up_links() { ip -o link show up | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }' | sort | tr '\n' ' '; }
# In a fresh namespace nothing is up, not even loopback; never touch any other namespace.
[ -z "$(up_links)" ] || { say "not in a fresh network namespace (up: $(up_links))"; exit 1; }
ip link set lo up
ip link add es0 type veth peer name es1
ip addr add 198.18.0.1/24 dev es0
ip addr add 198.18.0.2/24 dev es1
ip link set es0 up
ip link set es1 up
ip route add default dev es0

# Only lo, es0 and es1 are up, or nothing runs.
links="$(up_links)"
[ "$links" = "es0 es1 lo " ] || { say "interfaces up in the namespace other than lo, es0, es1: $links"; exit 1; }
say "in a network namespace of its own (interfaces up: $links)"
exec "$@"
