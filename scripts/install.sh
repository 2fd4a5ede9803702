#!/usr/bin/env bash
# Create .venv with exactly the versions in uv.lock (the versions the tests passed with), then check
# that the compiled extensions load. Used by scripts/demo.sh, scripts/test.sh and .ci/run.
#   bash scripts/install.sh          the pipeline (no source builds)
#   bash scripts/install.sh test     plus the test extras (builds llama-cpp-python from source)
set -euo pipefail
cd "$(dirname "$0")/.."
extra="${1:-}"
python="${PYTHON:-python3}"
uv_version="0.13.8"

# uv itself lives in its own small venv under .cache/, pinned, so the install never depends on
# what happens to be on the machine
uv=".cache/uv-$uv_version/bin/uv"
if [ ! -x "$uv" ]; then
  rm -rf ".cache/uv-$uv_version"
  "$python" -m venv ".cache/uv-$uv_version"
  ".cache/uv-$uv_version/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$uv_version"
fi

export UV_PYTHON_DOWNLOADS=never             # use the machine's Python 3.11/3.12, never a downloaded one
export UV_CACHE_DIR="${UV_CACHE_DIR:-.cache/uv}"
# llama-cpp-python (test and llasa extras) builds from source: a portable AVX2 build unless told
# otherwise (the native build crashes on CPUs with AMX); CMAKE_ARGS="-DGGML_CUDA=on" for CUDA
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON}"
# byte-compile at install: where PYTHONDONTWRITEBYTECODE is set (as on CI machines) Python never writes
# .pyc files itself, and every process would compile Dagster, torch and the rest again (6 s a command)
export UV_COMPILE_BYTECODE=1

# the test extras' install check loads torchcodec against FFmpeg's shared libraries: the system
# packages the tests need come first
if [ "$extra" = test ]; then bash scripts/system_packages.sh; fi

start=$(date +%s)
if [ -n "$extra" ]; then
  # exactly the lock: anything else in .venv is removed
  "$uv" sync --frozen --python "$python" --extra "$extra" --quiet
else
  # the pipeline's packages from the lock; extras a test run installed are left in place
  "$uv" sync --frozen --python "$python" --inexact --quiet
fi
.venv/bin/python -m compileall -q -j 0 animespeech_assets >/dev/null
echo "install: .venv in sync with uv.lock${extra:+ (extra: $extra)} in $(( $(date +%s) - start )) s" >&2
.venv/bin/python -m animespeech_assets.core.install_check ${extra:+--extra "$extra"}
