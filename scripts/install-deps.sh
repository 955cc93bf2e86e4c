#!/usr/bin/env bash
# Install everything zvh-federation needs on Debian 12, toolchain included.
# Works on a minimal (debootstrap minbase) system, as root or through sudo.
set -euo pipefail

PACKAGES=(
    build-essential cmake pkg-config ca-certificates clang libclang-rt-14-dev
    libczmq-dev libzmq3-dev libsodium-dev
    libprotobuf-c-dev protobuf-c-compiler
    liblmdb-dev lmdb-utils
    libjansson-dev libcmocka-dev libmicrohttpd-dev libcurl4-openssl-dev
    python3 procps
    python3-zmq python3-protobuf protobuf-compiler python3-nacl
    python3-jsonschema
    nats-server libnats-dev openssl
    chromium fonts-dejavu-core
    libxml2-utils
)

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
else
    echo "install-deps: run as root or install sudo" >&2
    exit 1
fi

missing=()
for package in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$package")
done

export DEBIAN_FRONTEND=noninteractive
# CI always refreshes the package lists; a machine with everything skips the install
"${SUDO[@]}" apt-get update -qq
if [ "${#missing[@]}" -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}"
    "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
fi
