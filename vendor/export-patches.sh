#!/usr/bin/env bash
# Write vendor/patches/*.patch from the edited tree vendor/rustic_core, diffed against the pristine
# release (fetched through cargo, as update-rustic-core.sh does). Each patch owns whole files;
# a new patch needs a line below.
set -euo pipefail
version=${1:?usage: export-patches.sh VERSION}
here=$(cd "$(dirname "$0")" && pwd)
export CARGO_HOME=${CARGO_HOME:-$HOME/.cargo}
src=$(ls -d "$CARGO_HOME"/registry/src/*/rustic_core-"$version" 2>/dev/null | head -1 || true)
if [ -z "$src" ]; then
  work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/src" && touch "$work/src/lib.rs"
  printf '[package]\nname="f"\nversion="0.0.0"\nedition="2024"\n[dependencies]\nrustic_core="=%s"\n' "$version" > "$work/Cargo.toml"
  (cd "$work" && cargo fetch -q)
  src=$(ls -d "$CARGO_HOME"/registry/src/*/rustic_core-"$version" | head -1)
fi
patch_of() { # name files...
  local name=$1; shift
  : > "$here/patches/$name.patch"
  for f in "$@"; do
    (cd "$here" && diff -uN --label "a/$f" --label "b/$f" "$src/$f" "rustic_core/$f" >> "patches/$name.patch") || true
  done
  echo "patches/$name.patch: $(grep -c '^@@' "$here/patches/$name.patch") hunks"
}
mkdir -p "$here/patches"
patch_of 0001-index-mixed-packs src/index/binarysorted.rs src/commands/check.rs
patch_of 0002-legacy-index-format src/repofile/indexfile.rs
patch_of 0003-restore-bounded-memory src/commands/restore.rs
patch_of 0004-chunker-prebuilt-rabin-tables src/chunker.rs
patch_of 0005-packer-small-blobs-inline src/blob/packer.rs
patch_of 0006-zstd-context-reuse src/backend/decrypt.rs
patch_of 0007-archiver-batches src/archiver.rs
patch_of 0008-bytes-list-full-reads src/backend.rs
patch_of 0009-indexer-spilled-blob-ids src/index/indexer.rs src/index/spilled_ids.rs src/index.rs src/id.rs
