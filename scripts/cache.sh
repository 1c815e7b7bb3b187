# Build caches outside the clone, shared by every clone on the machine (sourced by
# scripts/build-worker and scripts/build-spin). Each cache is a directory under
# $TRIAGE_CACHE holding files named by the sha256 of everything their content was made
# from; the newest eight of each are kept. A cache only makes a repeat faster: with it
# empty, or with TRIAGE_BUILD_CACHE=off, every step runs.
#
#   cache_get NAME KEY DEST   copies the entry to DEST; fails when there is none
#   cache_put NAME KEY FILE   stores FILE as the entry (atomically: a copy, then a rename)
#   inputs_key ARGS PATH...   the key of a cargo build run with ARGS whose sources all lie
#                             under PATHs
#   wasm_inputs_key ARGS DIR  the same for a wasm adapter in DIR: the workspace's sources
#                             (core, embedded models and schemas) plus DIR

cache_enabled() { [[ "${TRIAGE_BUILD_CACHE:-on}" != off ]]; }

cache_get() {
  local file="$TRIAGE_CACHE/$1/$2.wasm"
  cache_enabled && [[ -f "$file" ]] || return 1
  mkdir -p "$(dirname "$3")"
  cp "$file" "$3.cache-tmp" && mv "$3.cache-tmp" "$3"
}

cache_put() {
  local dir="$TRIAGE_CACHE/$1"
  cache_enabled || return 0
  mkdir -p "$dir"
  cp "$3" "$dir/$2.tmp.$$" && mv "$dir/$2.tmp.$$" "$dir/$2.wasm"
  # The newest eight entries (10-40 MB each).
  ls -1t "$dir"/*.wasm | tail -n +9 | xargs -r rm -f
}

# The sha256 of what a cargo build's output depends on: the toolchain (`rustc -vV`), the
# environment variables cargo and rustc read for flags and profiles, the arguments given
# (the build's command line), and the content of every file under PATHs that git tracks
# or would track (untracked files not ignored count too, so a work in progress never hits
# a stale entry). Outside a git checkout it prints nothing and fails: no cache.
# Usage: inputs_key "cargo build args..." PATH...
inputs_key() {
  local args=$1
  shift
  git rev-parse --is-inside-work-tree >/dev/null 2>&1 || return 1
  {
    rustc -vV
    cargo -V
    printf 'args: %s\n' "$args"
    # Not tool paths (WASM_BINDGEN_BIN: set only once wasm-bindgen is installed) nor the
    # compiler cache (RUSTC_WRAPPER) nor the job count: they do not change the output.
    env | grep -E '^(RUSTFLAGS|CARGO_ENCODED_RUSTFLAGS|RUSTC|RUSTC_BOOTSTRAP|CARGO_PROFILE_[A-Z0-9_]+|CARGO_BUILD_[A-Z0-9_]+|CARGO_TARGET_[A-Z0-9_]+_(RUSTFLAGS|LINKER)|CARGO_UNSTABLE_[A-Z0-9_]+|WASM_BINDGEN_[A-Z0-9_]+)=' |
      grep -vE '^(CARGO_BUILD_JOBS|WASM_BINDGEN_BIN)=' | LC_ALL=C sort
    git ls-files -z --cached --others --exclude-standard --deduplicate -- "$@" |
      while IFS= read -r -d '' file; do
        [[ -f "$file" ]] && printf '%s\0' "$file"
      done | LC_ALL=C sort -z | xargs -0 -r sha256sum
  } | sha256sum | cut -d' ' -f1
}

# The key of a wasm adapter's cargo build: every source it is built from, the adapter's
# directory DIR added to the workspace's own. One list, so every adapter keys the same files.
# Usage: wasm_inputs_key "cargo build args..." DIR
wasm_inputs_key() {
  # cargo's --locked, --frozen and --offline only refuse to change Cargo.lock or reach the
  # network; they do not change the output, so a build with them serves one without.
  local args
  args="$(tr ' ' '\n' <<<"$1" | grep -vxE -- '(--(locked|frozen|offline))?' | paste -sd' ')"
  inputs_key "$args" Cargo.toml Cargo.lock .cargo shared schemas models "$2"
}
