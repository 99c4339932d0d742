//! One pass of the inflate+parse reference or of a one-thread scan over a directory of gzipped
//! log files, for counting instructions with `valgrind --tool=cachegrind` (counts do not depend
//! on the machine's load, unlike the criterion times):
//!
//! `cargo run --release -p trailalerts-benches --example instructions -- reference DIR`
//! `… -- scan DIR [cis|catalog|catalog+200|catalog+200-wide]`
//!
//! The scan includes building the engine; nothing is printed per result.
use std::path::PathBuf;

use trailalerts::{AlertDef, Engine};
use trailalerts_adapters::files::{read_log, scan_paths_on};

// As the CLI and the bindings run.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn fail(what: &str, e: impl std::fmt::Display) -> ! {
    eprintln!("{what}: {e}");
    std::process::exit(1)
}

fn alerts(set: &str) -> Vec<AlertDef> {
    let builtin = trailalerts::builtin_alerts();
    let plus = |custom: String| {
        let mut all = builtin.clone();
        all.extend(AlertDef::parse_many(&custom, &builtin).unwrap_or_else(|e| fail("alerts", e)));
        all
    };
    match set {
        "cis" => builtin
            .iter()
            .filter(|a| a.id.starts_with("cis-"))
            .cloned()
            .collect(),
        "catalog" => builtin.clone(),
        "catalog+200" => plus(trailalerts_benches::custom_alerts(200, 7)),
        "catalog+200-wide" => plus(trailalerts_benches::custom_alerts_wide(200, 7)),
        other => fail("alert set", other),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(mode), Some(dir)) = (args.get(1), args.get(2)) else {
        fail("usage", "instructions reference|scan DIR [SET]")
    };
    let dir = PathBuf::from(dir);
    match mode.as_str() {
        "reference" => {
            let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
                .unwrap_or_else(|e| fail("dir", e))
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            paths.sort();
            let mut events = 0usize;
            for p in &paths {
                let (buf, _) = read_log(p).unwrap_or_else(|e| fail("read", e));
                let log: trailalerts_benches::reference::Log<'_> =
                    serde_json::from_slice(&buf).unwrap_or_else(|e| fail("parse", e));
                events += log
                    .records
                    .iter()
                    .filter(|r| r.event_name.is_some())
                    .count();
            }
            println!("reference: {events} events");
        }
        "scan" => {
            let set = args.get(3).map_or("cis", String::as_str);
            let mut engine = Engine::builder()
                .builtin(false)
                .alerts(alerts(set))
                .build()
                .unwrap_or_else(|e| fail("engine", e));
            let mut results = 0usize;
            let summary = scan_paths_on(
                1,
                &mut engine,
                std::slice::from_ref(&dir),
                &mut |_| results += 1,
                &mut |_| {},
                &mut |_, _, _| {},
                None,
            )
            .unwrap_or_else(|e| fail("scan", e));
            println!("scan {set}: {} events, {results} results", summary.events);
        }
        other => fail("mode", other),
    }
}
