#!/usr/bin/env bash
# Installs every Debian 12 package imgsink needs to build, run and test.
# Usage: sudo deploy/install-deps.sh        (idempotent; safe to rerun)
set -euo pipefail

packages=(
  # build
  build-essential cmake ninja-build pkg-config
  clang  # CI's thread-safety build: clang checks the lock annotations (.ci/run)
  # libraries the daemon and the C++ client link
  libboost-dev libzmq3-dev cppzmq-dev libmsgpack-cxx-dev libpng-dev libturbojpeg0-dev
  libwebp-dev  # daemon/encode: WebP output
  libcli11-dev libsystemd-dev libtomlplusplus-dev nlohmann-json3-dev
  prometheus-cpp-dev  # daemon/metrics: Prometheus exposition + HTTP (civetweb)
  libisal-dev  # daemon/journal: hardware CRC-32C (Intel ISA-L crc32_iscsi)
  libcurl4-openssl-dev libssl-dev  # daemon/output/s3: HTTP + SigV4 (libcurl), payload digests
  # tests: Catch2 v2, independent decoders, Python reference (torchvision) and Python client
  catch2 pngcheck libjpeg-turbo-progs
  python3 python3-zmq python3-msgpack python3-numpy python3-pytest python3-pil
  python3-torch python3-torchvision python3-setuptools python3-pip python3-venv
  python3-protobuf  # tests/python/tb_events.py: decodes the TensorBoard event files
  # S3 sink tests: botocore's SigV4 signer (reference); node/npm for s3rver below (tests/s3)
  python3-botocore
  # operations checks (systemd-analyze, promtool)
  systemd prometheus
  # packaging: cpack -G DEB computes Depends with dpkg-shlibdeps, finding ELF files with file(1)
  dpkg-dev file
)

if [ "$(id -u)" -ne 0 ]; then
  exec sudo "$0" "$@"
fi
export DEBIAN_FRONTEND=noninteractive
# Node and npm for the S3 test server: Debian's, unless a node is installed already (e.g.
# NodeSource's nodejs, which bundles npm and conflicts with Debian's npm package).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  packages+=(nodejs npm)
fi
apt-get update -q
apt-get install -y -q --no-install-recommends "${packages[@]}"

# The S3-compatible test server (npm s3rver 3.7.x) into tests/s3/node_modules, project-local.
# Needs the npm registry (or a cache); without it the S3 tests skip.
"$(dirname "$0")/../tests/s3/setup-s3rver.sh" ||
  echo "install-deps: s3rver not installed (no npm registry?); the tests/s3 server tests will skip" >&2
