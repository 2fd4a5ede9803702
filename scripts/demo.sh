#!/usr/bin/env bash
# Install, generate the demo episodes, materialize every asset on them, then start the Dagster UI
# on http://127.0.0.1:3000. Extra arguments go to `animespeech demo` (e.g. --no-ui, --port 3001).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/animespeech demo "$@"
