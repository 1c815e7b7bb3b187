#!/usr/bin/env bash
# Rebuilds models/prompt-guard-ternary: prompt-guard's build (same data, teacher, vocabulary
# recipe, training and evaluation: models/prompt-guard/scripts) with the matmul weights and
# token embeddings trained ternary (`--ternary 1`), written to this bundle's folder and
# converted to NNEF with the ternary weights packed five to a byte. Shares prompt-guard's
# work directory (models/prompt-guard/build, or $TRIAGE_MODEL_WORK), so a prompt-guard
# build's downloads and teacher cache are reused. Extra arguments go to build.py.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
TRIAGE_MODEL_OUT="$(dirname "$here")" exec "$root/models/prompt-guard/scripts/build.sh" --ternary 1 "$@"
