#!/usr/bin/env bash
# Headless Chromium for the demo's browser test (test/e2e/demo.test.ts): Debian's `chromium`
# package. Idempotent: does nothing when chromium is already on PATH.
set -euo pipefail
command -v chromium >/dev/null && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y chromium
