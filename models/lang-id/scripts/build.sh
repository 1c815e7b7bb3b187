#!/usr/bin/env bash
# Rebuilds models/lang-id (model.onnx, tokenizer.json, config.json, reference.jsonl,
# metrics.json) from registry packages only: chatterbot-corpus from PyPI (as data) and the
# pinned Python stack shared with spam-mini. About 3 minutes on 2 cores after the downloads.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
model_dir="$(dirname "$here")"
root="$(cd "$model_dir/../.." && pwd)"
work="${TRIAGE_MODEL_WORK:-$model_dir/build}"
"$root/models/scripts/setup-env.sh" "$work"
"$root/models/scripts/unpack-pypi.sh" "$work/venv/bin/python" "$work/packages" chatterbot-corpus==1.3.3
"$work/venv/bin/python" "$here/make.py" \
  --corpus "$work/packages/chatterbot-corpus/chatterbot_corpus/data" --out "$model_dir"
