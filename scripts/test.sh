#!/usr/bin/env bash
# Install with the test extras (exactly uv.lock) and run the test suite. Extra arguments go to pytest,
# e.g. `bash scripts/test.sh -m "not models"` for the fast unit tier.
set -euo pipefail
cd "$(dirname "$0")/.."
# `datasets` decodes audio with torchcodec, which loads FFmpeg's shared libraries from the system
# (the pipeline itself uses PyAV's bundled FFmpeg and needs nothing from the system).
if ! ldconfig -p | grep -q 'libavutil\.so'; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ffmpeg >/dev/null
  else
    echo "warning: FFmpeg shared libraries not found; install ffmpeg for the dataset-loading tests" >&2
  fi
fi
bash scripts/install.sh test
exec .venv/bin/python -m pytest "$@"
