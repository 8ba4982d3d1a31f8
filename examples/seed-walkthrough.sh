#!/usr/bin/env bash
# The seed article ("On the Safe Side": DRBD between two servers) with safeside, on one
# machine: two daemons, "alpha" on 127.0.0.1 and "bravo" on 127.0.0.2, each with its own
# state dir and a sparse backing file in a temporary directory. Every command is printed
# the way the article shows it (`$ safeside ...`), followed by its output.
#
#   sudo bash examples/seed-walkthrough.sh [--size 256M]
#
# Needs root (loop devices, mount) and what scripts/install-deps.sh installs; the project
# must be built (install-deps.sh does that). Everything is removed on exit, also on error
# or Ctrl-C.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
safeside_bin="$here/../bin/safeside"
size=256M
port=7789
while [ $# -gt 0 ]; do
  case "$1" in
    --size) size="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    *) echo "usage: $0 [--size 256M] [--port 7789]" >&2; exit 2 ;;
  esac
done

if [ "$(id -u)" -ne 0 ]; then echo "$0: run as root (loop devices and mount need it)" >&2; exit 1; fi
for tool in node nbdfuse losetup mkfs.ext4 mount; do
  command -v "$tool" >/dev/null || { echo "$0: $tool is missing; run scripts/install-deps.sh" >&2; exit 1; }
done
[ -f "$here/../dist/src/cli/main.js" ] || { echo "$0: not built; run scripts/install-deps.sh (or npm run build)" >&2; exit 1; }

work="$(mktemp -d /tmp/safeside-seed-XXXXXX)"
pids=()
cleanup() {
  set +e
  mountpoint -q "$work/srv" 2>/dev/null && umount "$work/srv"
  for n in alpha bravo; do
    [ -S "$work/$n/control.sock" ] && "$safeside_bin" --state-dir "$work/$n" down r0 >/dev/null 2>&1
  done
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# on NODE: run a safeside verb on that node, printed like the article's prompt.
on() {
  local node="$1"; shift
  echo "[$node]\$ safeside $*"
  "$safeside_bin" --state-dir "$work/$node" "$@" 2>&1 | sed 's/^/    /'
  return "${PIPESTATUS[0]}"
}
say() { printf '\n## %s\n' "$*"; }
show() { echo "[$1]\$ ${*:2}"; }

truncate -s "$size" "$work/alpha.img" "$work/bravo.img"
mkdir -p "$work/srv"
cat >"$work/drbd.conf" <<EOF
resource r0 {
        protocol C;
        startup {
                wfc-timeout  15;
                degr-wfc-timeout 60;
        }
        net {
                cram-hmac-alg sha1;
                shared-secret "secret";
                connect-int 1;
        }
        on alpha {
                device /dev/drbd0;
                disk $work/alpha.img;
                meta-disk internal;
                address 127.0.0.1:$port;
        }
        on bravo {
                device /dev/drbd0;
                disk $work/bravo.img;
                meta-disk internal;
                address 127.0.0.2:$port;
        }
}
EOF
say "Listing 2, on both nodes (/dev/sdb replaced by $size sparse files)"
sed 's/^/    /' "$work/drbd.conf"

say "Start a daemon per node (systemctl start drbd.service)"
for n in alpha bravo; do
  echo "[$n]\$ safeside daemon --config drbd.conf --node $n --state-dir $work/$n &"
  node "$here/../dist/src/cli/main.js" daemon --config "$work/drbd.conf" --node "$n" --state-dir "$work/$n" 2>"$work/$n.log" &
  pids+=("$!")
done
for n in alpha bravo; do
  for _ in $(seq 1 150); do grep -q 'safeside daemon ready' "$work/$n.log" 2>/dev/null && break; sleep 0.1; done
  grep -q 'safeside daemon ready' "$work/$n.log" || { echo "daemon $n did not start:"; cat "$work/$n.log"; exit 1; }
done

say "Create the metadata and bring the resource up, on both nodes"
for n in alpha bravo; do on "$n" create-md r0; done
for n in alpha bravo; do on "$n" up r0; done
for _ in $(seq 1 100); do
  "$safeside_bin" --state-dir "$work/alpha" status r0 | grep -q 'bravo role:' && break
  sleep 0.1
done
on alpha status r0

say "Make alpha the Primary (drbdadm -- --overwrite-data-of-peer primary all)"
on alpha primary --force r0
say "The same on bravo is refused, as the article shows"
on bravo primary --force r0 || echo "    (exit code $?)"

say "Watch the initial sync on bravo (watch -n1 cat /proc/drbd)"
shown=0
for _ in $(seq 1 600); do
  out="$("$safeside_bin" --state-dir "$work/bravo" status --proc)"
  if grep -q "sync'ed:" <<<"$out" && [ "$shown" -lt 3 ]; then
    show bravo "safeside status --proc"; sed 's/^/    /' <<<"$out"; shown=$((shown + 1))
  fi
  grep -q 'ds:UpToDate/UpToDate' <<<"$out" && break
  sleep 1
done
on bravo status --proc

say "Format and mount the device on the Primary, write the test file"
dev_alpha="$("$safeside_bin" --state-dir "$work/alpha" device r0)"
on alpha device r0
show alpha "mkfs.ext4 -q -F $dev_alpha"; mkfs.ext4 -q -F "$dev_alpha"
show alpha "mount $dev_alpha /srv"; mount "$dev_alpha" "$work/srv"
show alpha 'echo "hello world" | tee -a /srv/hello.txt'; echo "hello world" | tee -a "$work/srv/hello.txt" | sed 's/^/    /'
show alpha "ls -l /srv/hello.txt"; ls -l "$work/srv/hello.txt" | sed "s#$work/srv#/srv#; s/^/    /"

say "Switch roles: umount and demote alpha"
show alpha "umount /srv"; umount "$work/srv"
on alpha secondary r0
say "A Secondary's device cannot be mounted"
show alpha "mount $dev_alpha /srv"
mount "$dev_alpha" "$work/srv" 2>&1 | sed 's/^/    /' || true

say "Promote bravo (no --force needed: its data is UpToDate) and mount there"
on bravo primary r0
on bravo status --proc
dev_bravo="$("$safeside_bin" --state-dir "$work/bravo" device r0)"
show bravo "mount $dev_bravo /srv"; mount "$dev_bravo" "$work/srv"
show bravo "cat /srv/hello.txt"; sed 's/^/    /' "$work/srv/hello.txt"
show bravo "umount /srv"; umount "$work/srv"

say "Take the resource down on both nodes"
for n in bravo alpha; do on "$n" down r0; done
echo
echo "Done; the daemons are stopped and $work is removed on exit."
