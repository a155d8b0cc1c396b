#!/bin/sh
# packaging/install.sh — install kura and what comes with it (run as root from the source tree
# after `cargo build --release --locked -p kura-cli`):
#   the binary, the systemd units, the cron file (only without systemd), bash/zsh/fish
#   completions and the manual pages. PREFIX defaults to /usr/local; DESTDIR stages a package.
set -eu
PREFIX=${PREFIX:-/usr/local}
DESTDIR=${DESTDIR:-}
BIN=${BIN:-target/release/kura}
here=$(dirname "$0")

install -D -m 755 "$BIN" "$DESTDIR$PREFIX/bin/kura"
kura="$DESTDIR$PREFIX/bin/kura"

# Shell completions, generated from the same definitions as the flags.
install -d -m 755 "$DESTDIR$PREFIX/share/bash-completion/completions" \
  "$DESTDIR$PREFIX/share/zsh/site-functions" "$DESTDIR$PREFIX/share/fish/vendor_completions.d"
"$kura" completions bash > "$DESTDIR$PREFIX/share/bash-completion/completions/kura"
"$kura" completions zsh > "$DESTDIR$PREFIX/share/zsh/site-functions/_kura"
"$kura" completions fish > "$DESTDIR$PREFIX/share/fish/vendor_completions.d/kura.fish"
chmod 644 "$DESTDIR$PREFIX/share/bash-completion/completions/kura" \
  "$DESTDIR$PREFIX/share/zsh/site-functions/_kura" \
  "$DESTDIR$PREFIX/share/fish/vendor_completions.d/kura.fish"

# Manual pages: kura(1) and one per command, e.g. kura-restore(1).
"$kura" man "$DESTDIR$PREFIX/share/man/man1"

# Configuration folder (private: it holds the password file) and the schedule.
install -d -m 700 "$DESTDIR/etc/kura"
if [ -d "$DESTDIR/etc/systemd/system" ] || command -v systemctl >/dev/null 2>&1; then
  install -D -m 644 "$here/kura-backup.service" "$DESTDIR/etc/systemd/system/kura-backup.service"
  install -D -m 644 "$here/kura-backup.timer" "$DESTDIR/etc/systemd/system/kura-backup.timer"
  install -D -m 644 "$here/kura-guard.service" "$DESTDIR/etc/systemd/system/kura-guard.service"
  echo "installed; next: create /etc/kura/password and /etc/kura/kura.toml (README: First backup), then"
  echo "  systemctl daemon-reload && systemctl enable --now kura-backup.timer"
  echo "  (live guard, after reading docs/live-guard.md: systemctl enable --now kura-guard)"
else
  install -D -m 644 "$here/kura.cron" "$DESTDIR/etc/cron.d/kura"
  install -d -m 700 "$DESTDIR/var/lib/kura"
  echo "installed; next: create /etc/kura/password and /etc/kura/kura.toml (README: First backup)"
fi
