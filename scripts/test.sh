#!/usr/bin/env bash
# Installs the test dependencies and runs every test in the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-deps.sh
cargo test --workspace --locked "$@"
