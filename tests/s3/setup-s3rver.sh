#!/usr/bin/env bash
# Installs the S3-compatible test server (npm s3rver 3.7.x, package.json beside this script)
# into tests/s3/node_modules -- project-local, never globally.  Idempotent: does nothing when it
# is there already.  Run by deploy/install-deps.sh; the S3 tests skip when it is missing.
# Needs node and npm (Debian: nodejs npm) and the npm registry (or a mirror/cache).
set -euo pipefail
cd "$(dirname "$0")"
if [ -f node_modules/s3rver/package.json ]; then
  exit 0
fi
# npm ci: exactly the versions of package-lock.json.
npm ci --no-audit --no-fund --omit=dev
