#!/usr/bin/env bash
# Installs what the build and the tests need, from Debian packages and (for
# the SDK conformance test) the npm registry. Idempotent: a second run
# installs nothing and takes a second.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  cmake ninja-build g++ ccache pkg-config
  libboost1.81-dev libssl-dev openssl nlohmann-json3-dev libspdlog-dev
  libsqlitecpp-dev libsqlite3-dev libgtest-dev libsimdjson-dev libsystemd-dev
  libbenchmark-dev libcli11-dev
  curl time nodejs npm python3 systemd dpkg-dev strace
  systemd-container debootstrap python3-numpy universal-ctags
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node and npm may come from outside Debian on a developer machine: only ask
# apt for them when there is no node at all.
if command -v node >/dev/null && command -v npm >/dev/null; then
  filtered=()
  for p in "${missing[@]}"; do [[ $p == nodejs || $p == npm ]] || filtered+=("$p"); done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi

if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The conformance test's npm packages, pinned by the committed lock file.
lock=tests/conformance/package-lock.json
stamp=tests/conformance/node_modules/.batchd-lock.sha256
if [[ -f $lock ]]; then
  want=$(sha256sum "$lock" | cut -d' ' -f1)
  if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
    echo "deps: npm ci in tests/conformance"
    (cd tests/conformance && npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" > "$stamp"
  fi
fi
