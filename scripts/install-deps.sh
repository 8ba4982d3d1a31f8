#!/usr/bin/env bash
# Installs what safeside and its tests need on a fresh Debian 12 / Ubuntu machine
# that has Node.js 20+, then builds the project. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  nbdkit libnbd-bin nbdfuse fuse3   # NBD reference server, real clients, FUSE block device
  qemu-utils fio                    # qemu-io and fio's nbd engine for tests and benchmarks
  drbd-utils                        # drbdadm, to compare config parsing
  e2fsprogs util-linux mount        # mkfs.ext4, losetup, blockdev, mount
)
if [ "$(id -u)" -eq 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${packages[@]}"
else
  echo "install-deps: not root; skipping apt-get (needs: ${packages[*]})" >&2
fi
npm ci --no-audit --no-fund
npm run build
