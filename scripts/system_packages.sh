#!/usr/bin/env bash
# System packages the tests need, installed with apt-get when missing (as root; CI is a fresh machine).
# Run by `scripts/install.sh test` before its install check, which loads torchcodec against them:
# FFmpeg's shared libraries for `datasets` (it decodes audio with torchcodec; the pipeline itself uses
# PyAV's bundled FFmpeg), and Debian's Chromium for the review page's browser test (Playwright drives it;
# the Noto CJK fonts let it render Japanese text), and Debian's PostgreSQL, PgBouncer and Redis for the
# cluster test (`animespeech cluster up` starts its own on 127.0.0.1; nothing runs as a system service).
set -euo pipefail
missing=()
ldconfig -p | grep -q 'libavutil\.so' || missing+=(ffmpeg)
command -v chromium >/dev/null || missing+=(chromium)
[ -e /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ] || missing+=(fonts-noto-cjk)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v redis-server >/dev/null || missing+=(redis-server)
[ -x /usr/sbin/pgbouncer ] || command -v pgbouncer >/dev/null || missing+=(pgbouncer)
if [ ${#missing[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "installing system packages: ${missing[*]}" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "warning: missing system packages ${missing[*]}: install them for the dataset-loading, browser and cluster tests" >&2
  fi
fi
