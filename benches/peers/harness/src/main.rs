//! `peers-harness MODE RULES EVENTS.jsonl` times one engine over the events, one event at a
//! time, from memory (the file is read before the clock starts). Prints
//! `{"events":N,"matches":M,"seconds":S}`.
//!
//! - `sigma-rust RULES_DIR`: each line parsed into a sigma-rust `Event`, every rule checked.
//! - `trailalerts ALERTS.json`: `Engine::evaluate_text` per line (the SQS path: prefilter, parse
//!   of what may match, filters, results).
//! - `parse -`: `trailalerts::Event::parse` per line only (the parse-only reference).
use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, mode, rules, events] = args.as_slice() else {
        eprintln!("usage: peers-harness sigma-rust|trailalerts|parse RULES EVENTS.jsonl");
        std::process::exit(2);
    };
    let text = std::fs::read_to_string(events).expect("read events");
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let (matches, secs) = match mode.as_str() {
        "sigma-rust" => {
            let mut paths: Vec<_> = std::fs::read_dir(rules)
                .expect("rules dir")
                .map(|e| e.expect("entry").path())
                .filter(|p| p.extension().is_some_and(|x| x == "yml"))
                .collect();
            paths.sort();
            let rules: Vec<sigma_rust::Rule> = paths
                .iter()
                .map(|p| {
                    sigma_rust::rule_from_yaml(&std::fs::read_to_string(p).expect("read rule"))
                        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
                })
                .collect();
            let t = Instant::now();
            let mut n = 0usize;
            for l in &lines {
                let ev = sigma_rust::event_from_json(l).expect("event");
                n += rules.iter().filter(|r| r.is_match(&ev)).count();
            }
            (n, t.elapsed().as_secs_f64())
        }
        "trailalerts" => {
            let mut engine = trailalerts::Engine::builder()
                .builtin(false)
                .alerts_json(&std::fs::read_to_string(rules).expect("read alerts"))
                .expect("alerts")
                .build()
                .expect("engine");
            let t = Instant::now();
            let mut out = Vec::new();
            let mut n = 0usize;
            for l in &lines {
                engine.evaluate_text(l, &mut out).expect("event");
                n += out.len();
                out.clear();
            }
            (n, t.elapsed().as_secs_f64())
        }
        "parse" => {
            let t = Instant::now();
            let n = lines
                .iter()
                .filter(|l| trailalerts::Event::parse(l).is_ok())
                .count();
            (n.saturating_sub(lines.len()), t.elapsed().as_secs_f64())
        }
        m => panic!("unknown mode {m}"),
    };
    println!(
        "{{\"events\":{},\"matches\":{matches},\"seconds\":{secs}}}",
        lines.len()
    );
}
