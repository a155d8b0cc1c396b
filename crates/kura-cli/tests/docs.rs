//! End-to-end: `kura completions`, `kura man` and packaging/install.sh (issue 17).
mod testenv;

use std::os::unix::fs::PermissionsExt;

use testenv::Env;

#[test]
fn issue_17_completions_for_bash_zsh_and_fish() {
    let env = Env::new();
    for (shell, marker) in [
        ("bash", "_kura()"),
        ("zsh", "#compdef kura"),
        ("fish", "complete -c kura"),
    ] {
        let out = env.kura().args(["completions", shell]).output().unwrap();
        assert_eq!(out.status.code(), Some(0));
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            text.contains(marker),
            "{shell}: {}",
            &text[..200.min(text.len())]
        );
        assert!(
            text.contains("restore") && text.contains("overwrite"),
            "{shell}"
        );
    }
    // No state, audit record or repository is involved.
    assert!(!env.path(".local/state/kura").exists());
    env.run(&["completions", "tcsh"]).code(1);
}

#[test]
fn issue_17_man_pages_for_kura_and_each_command() {
    let env = Env::new();
    let dir = env.path("man1");
    env.run(&["man", dir.to_str().unwrap()]).success();
    for page in [
        "kura.1",
        "kura-restore.1",
        "kura-init.1",
        "kura-completions.1",
    ] {
        let p = dir.join(page);
        let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.contains(".TH"), "{page}");
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644, "{page} is readable by everyone");
    }
    let restore = std::fs::read_to_string(dir.join("kura-restore.1")).unwrap();
    assert!(restore.contains("overwrite") && restore.contains("EXIT STATUS"));
}

#[test]
fn issue_17_packaging_installs_completions_and_man_pages() {
    let env = Env::new();
    let root = env.path("pkg");
    std::fs::create_dir_all(root.join("etc/systemd/system")).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../packaging/install.sh");
    let out = std::process::Command::new("sh")
        .arg(script)
        .env("DESTDIR", &root)
        .env("PREFIX", "/usr")
        .env("BIN", env!("CARGO_BIN_EXE_kura"))
        .env("HOME", env.dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in [
        "usr/bin/kura",
        "usr/share/bash-completion/completions/kura",
        "usr/share/zsh/site-functions/_kura",
        "usr/share/fish/vendor_completions.d/kura.fish",
        "usr/share/man/man1/kura.1",
        "usr/share/man/man1/kura-backup.1",
        "etc/systemd/system/kura-backup.service",
        "etc/systemd/system/kura-backup.timer",
    ] {
        assert!(root.join(f).is_file(), "{f} not installed");
    }
    let mode = std::fs::metadata(root.join("etc/kura"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o700);
}
