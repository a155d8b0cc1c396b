#!/usr/bin/env bash
# Write vendor/patches/*.patch from the edited tree vendor/rustic_core, diffed against the pristine
# release (fetched through cargo, as update-rustic-core.sh does). A new patch needs a line in
# `patches` below.
set -euo pipefail
version=${1:?usage: export-patches.sh VERSION}
here=$(cd "$(dirname "$0")" && pwd)
export CARGO_HOME=${CARGO_HOME:-$HOME/.cargo}
src=$(ls -d "$CARGO_HOME"/registry/src/*/rustic_core-"$version" 2>/dev/null | head -1 || true)
if [ -z "$src" ]; then
  work=$(mktemp -d)
  mkdir -p "$work/src" && touch "$work/src/lib.rs"
  printf '[package]\nname="f"\nversion="0.0.0"\nedition="2024"\n[dependencies]\nrustic_core="=%s"\n' "$version" > "$work/Cargo.toml"
  (cd "$work" && cargo fetch -q)
  src=$(ls -d "$CARGO_HOME"/registry/src/*/rustic_core-"$version" | head -1)
fi
# One line per patch, in order: its name, then the files it changes. A file may be listed by
# several patches, a later one building on an earlier one: the last patch listing it takes the
# diff from the tree with every earlier patch applied, and an earlier patch keeps its existing
# hunks of that file (edit those by hand, or move the change to the last patch).
patches=(
  "0001-index-mixed-packs src/index/binarysorted.rs src/commands/check.rs"
  "0002-legacy-index-format src/repofile/indexfile.rs"
  "0003-restore-bounded-memory src/commands/restore.rs"
  "0004-chunker-prebuilt-rabin-tables src/chunker.rs"
  "0005-packer-small-blobs-inline src/blob/packer.rs"
  "0006-zstd-context-reuse src/backend/decrypt.rs"
  "0007-archiver-batches src/archiver.rs"
  "0008-bytes-list-full-reads src/backend.rs"
  "0009-indexer-spilled-blob-ids src/index/indexer.rs src/index/spilled_ids.rs src/index.rs src/id.rs"
  "0010-index-update-new-files src/index/binarysorted.rs src/index.rs src/repository.rs src/lib.rs"
)
declare -A last
for line in "${patches[@]}"; do
  read -r name files <<< "$line"
  for f in $files; do last[$f]=$name; done
done
base=$(mktemp -d); trap 'rm -rf "$base" ${work:+"$work"}' EXIT
cp -a "$src/." "$base/"
mkdir -p "$here/patches"
for line in "${patches[@]}"; do
  read -r name files <<< "$line"
  out="$here/patches/$name.patch"
  : > "$out.new"
  for f in $files; do
    if [ "${last[$f]}" = "$name" ]; then
      (diff -uN --label "a/$f" --label "b/$f" "$base/$f" "$here/rustic_core/$f" >> "$out.new") || true
    else
      # This patch's own hunks of a file a later patch also changes, as they were.
      awk -v h="--- a/$f" '/^--- a\// { on = ($0 == h) } on' "$out" >> "$out.new"
    fi
  done
  (cd "$base" && patch -p1 --forward --no-backup-if-mismatch -s < "$out.new")
  mv "$out.new" "$out"
  echo "patches/$name.patch: $(grep -c '^@@' "$out") hunks"
done
