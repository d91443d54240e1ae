#!/usr/bin/env bash
# Installs what Slipway needs on Debian 12 and is missing: the real peers it
# drives (PostgreSQL, containerd + runc, OVN/Open vSwitch, HAProxy), the peers
# its tests run (slapd, glewlwyd), and the Go modules. It checks first, so a
# second run only looks. Installing never starts the packages' own system
# services: Slipway runs private instances of each peer itself.
set -euo pipefail

packages=(
  # store
  postgresql-15
  # nodes
  containerd runc containernetworking-plugins busybox-static iptables iproute2
  # network
  ovn-central ovn-host openvswitch-switch openvswitch-common ethtool iputils-ping
  # router
  haproxy
  # identity tests: LDAP directory and an independent OIDC provider
  slapd ldap-utils glewlwyd dbconfig-no-thanks sqlite3
  # the console's browser tests (Playwright drives Debian's Chromium)
  chromium
  # tools the tests and the quick start use
  git curl ca-certificates
  # the registry tests push and pull with a standard OCI client
  skopeo
  # the S2I builder images: s2i-python copies Debian's interpreter (s2i-go
  # copies the Go installation that builds Slipway)
  python3-minimal libpython3.11-stdlib
  # the builder's tests serve a Git repository over SSH (a private sshd)
  openssh-server openssh-client
)

missing=()
for p in "${packages[@]}"; do
  if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    sudo=sudo
  else
    sudo=
  fi
  echo "deps: installing ${missing[*]}"
  # glewlwyd's post-install script fails unless told not to configure a database.
  echo "glewlwyd glewlwyd/config_type select No configuration" | $sudo debconf-set-selections
  # Keep the packages' system services from starting (haproxy would take port
  # 80, slapd 389, Open vSwitch the host's bridges): Slipway runs its own.
  policy=/usr/sbin/policy-rc.d
  placed_policy=
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod 755 "$policy"
    placed_policy=1
  fi
  trap '[ -n "$placed_policy" ] && $sudo rm -f "$policy"' EXIT
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "deps: Debian packages present"
fi

if ! command -v go >/dev/null 2>&1; then
  echo "deps: Go is not installed (need Go 1.26 in PATH)" >&2
  exit 1
fi
go mod download
echo "deps: Go modules present"

# The console's npm packages, installed again only when the lock file changed.
web=$(dirname "$0")/../web
if [ -f "$web/package-lock.json" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "deps: npm is not installed (need Node.js 20 and npm)" >&2
    exit 1
  fi
  if [ ! -f "$web/node_modules/.package-lock.json" ] || [ "$web/package-lock.json" -nt "$web/node_modules/.package-lock.json" ]; then
    (cd "$web" && npm ci --no-audit --no-fund --loglevel=error)
  fi
  echo "deps: npm packages present"
fi
