#!/usr/bin/env bash
# Install with the test extras (exactly uv.lock; the system packages the tests need first, see
# system_packages.sh) and run the test suite. Extra arguments go to pytest,
# e.g. `bash scripts/test.sh -m "not models"` for the fast unit tier.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh test
exec .venv/bin/python -m pytest "$@"
