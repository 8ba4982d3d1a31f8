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
  corosync corosync-vqsim           # corosync -t and corosync-vqsim, to compare config parsing and quorum
  iptables iproute2                 # cutting links between test nodes in their own network namespaces
  openssl                           # certificates for the TLS peer-link tests
  pacemaker-cli-utils               # crm_simulate, the scheduler's live oracle
)
if [ "$(id -u)" -eq 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  # The corosync package would start a corosync daemon on 127.0.0.1:5405, the port our
  # test nodes use; keep package scripts from starting services during the install.
  added_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
    added_policy=yes
  fi
  apt-get install -y -q --no-install-recommends "${packages[@]}"
  if [ -n "$added_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
else
  echo "install-deps: not root; skipping apt-get (needs: ${packages[*]})" >&2
fi
npm ci --no-audit --no-fund
npm run build
