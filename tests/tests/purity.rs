//! The core crate is pure: no I/O, async, database or network dependency, and no clock reads.
#![allow(clippy::unwrap_used, reason = "tests")]

use trailalerts_tests::repo_root;

const ALLOWED: &[&str] = &[
    "serde",
    "serde_json",
    "globset",
    "ipnet",
    "thiserror",
    "regex",
    "serde_path_to_error",
    "aho-corasick",
    "memchr",
    "foldhash",
];

#[test]
fn core_manifest_has_only_pure_dependencies() {
    let manifest = std::fs::read_to_string(repo_root().join("core/Cargo.toml")).unwrap();
    let mut section = String::new();
    let mut deps = Vec::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line.to_owned();
            continue;
        }
        if section == "[dependencies]"
            && let Some((name, _)) = line.split_once(['=', '.'])
            && !line.is_empty()
        {
            deps.push(name.trim().to_owned());
        }
    }
    assert!(
        deps.contains(&"serde".to_owned()),
        "parsed the manifest: {deps:?}"
    );
    let impure: Vec<&String> = deps
        .iter()
        .filter(|d| !ALLOWED.contains(&d.as_str()))
        .collect();
    assert!(
        impure.is_empty(),
        "core/Cargo.toml has dependencies outside the pure allow-list: {impure:?}"
    );
}

#[test]
fn core_source_does_no_io_and_reads_no_clock() {
    let forbidden = [
        "std::fs",
        "std::net::Tcp",
        "std::net::Udp",
        "SystemTime",
        "Instant::now",
        "std::process",
        "std::env",
        "std::io::stdin",
        "println!",
        "eprintln!",
        "tokio",
        "thread::spawn",
        "thread::sleep",
    ];
    let mut hits = Vec::new();
    let mut dirs = vec![repo_root().join("core/src")];
    let mut files = Vec::new();
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    assert!(
        files.iter().any(|f| f.ends_with("event/fast.rs")),
        "submodules are checked"
    );
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        for f in forbidden {
            if text.contains(f) {
                hits.push(format!("{}: {f}", path.display()));
            }
        }
    }
    assert!(hits.is_empty(), "impure code in core: {hits:?}");
}
