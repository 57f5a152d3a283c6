#!/usr/bin/env bash
# pretest: the job-queue tests need Debian's redis-server (no npm package ships one).
# Present: nothing to do. Missing and root: install it. Otherwise: stop and say how.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = "0" ]; then
  echo "pretest: redis-server is missing; installing it (apt-get install -y redis-server)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || true
  apt-get install -y -qq redis-server >/dev/null
  command -v redis-server >/dev/null 2>&1 && exit 0
fi
echo "pretest: redis-server is required by the job-queue tests. Install it with:" >&2
echo "  apt-get install -y redis-server" >&2
exit 1
