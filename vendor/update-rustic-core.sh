#!/usr/bin/env bash
# Rebuild vendor/rustic_core from a crates.io release plus vendor/patches/*.patch (in order).
#
#   vendor/update-rustic-core.sh 0.13.0          # re-create the tree we carry (or check it: --verify)
#   vendor/update-rustic-core.sh 0.14.0          # move to a new release; then fix rejects, re-export
#   vendor/update-rustic-core.sh --verify 0.13.0 # exit 1 if vendor/rustic_core != release + patches
#
# The pristine source comes through cargo (a throw-away crate depending on rustic_core =VERSION,
# `cargo fetch`), never by hand. After moving to a new release, also set the version in the
# workspace Cargo.toml (`rustic_core = "=VERSION"`) and run the engine tests.
set -euo pipefail
verify=0
if [ "${1:-}" = "--verify" ]; then verify=1; shift; fi
version=${1:?usage: update-rustic-core.sh [--verify] VERSION}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/fetch/src"
cat > "$work/fetch/Cargo.toml" <<TOML
[package]
name = "fetch-rustic-core"
version = "0.0.0"
edition = "2024"
[dependencies]
rustic_core = "=$version"
TOML
touch "$work/fetch/src/lib.rs"
export CARGO_HOME=${CARGO_HOME:-$HOME/.cargo}
(cd "$work/fetch" && cargo fetch -q)
src=$(ls -d "$CARGO_HOME"/registry/src/*/rustic_core-"$version" | head -1)
[ -d "$src" ] || { echo "rustic_core $version not found after cargo fetch" >&2; exit 1; }

cp -a "$src" "$work/rustic_core"
rm -f "$work/rustic_core/.cargo-ok" "$work/rustic_core/Cargo.lock"
cp "$here"/rustic_core/LICENSE-* "$work/rustic_core/" 2>/dev/null || true
failed=0
for p in "$here"/patches/*.patch; do
  if (cd "$work/rustic_core" && patch -p1 --forward --no-backup-if-mismatch -s < "$p"); then
    echo "applied  $(basename "$p")"
  else
    echo "FAILED   $(basename "$p") (see *.rej in the result)" >&2
    failed=1
  fi
done

if [ $verify = 1 ]; then
  if diff -r -x '*.orig' -x '*.rej' "$work/rustic_core" "$here/rustic_core" >/dev/null && [ $failed = 0 ]; then
    echo "vendor/rustic_core is rustic_core $version plus vendor/patches"
  else
    diff -r -x '*.orig' -x '*.rej' "$work/rustic_core" "$here/rustic_core" | head -40 >&2 || true
    echo "vendor/rustic_core differs from rustic_core $version plus vendor/patches" >&2
    exit 1
  fi
  exit 0
fi
rm -rf "$here/rustic_core"
cp -a "$work/rustic_core" "$here/rustic_core"
[ $failed = 0 ] || { echo "some patches did not apply; fix vendor/rustic_core, then re-export them" >&2; exit 1; }
echo "vendor/rustic_core is now rustic_core $version plus $(ls "$here"/patches/*.patch | wc -l) patches"
