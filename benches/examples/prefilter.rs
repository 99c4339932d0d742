//! How many generated events the prefilter lets through for the CIS set, and the time per event.
fn main() {
    let raw = trailalerts_benches::events(100_000, 42);
    let cis: Vec<_> = trailalerts::builtin_alerts()
        .into_iter()
        .filter(|a| a.id.starts_with("cis-"))
        .collect();
    let engine = trailalerts::Engine::builder()
        .builtin(false)
        .alerts(cis)
        .build()
        .unwrap_or_else(|e| panic_any(e));
    let t = std::time::Instant::now();
    let pass = raw
        .iter()
        .filter(|r| engine.may_match(r.as_bytes()))
        .count();
    let dt = t.elapsed();
    println!(
        "pass {pass} of {} ({:.0} ns/event)",
        raw.len(),
        dt.as_nanos() as f64 / raw.len() as f64
    );
    let t = std::time::Instant::now();
    let parsed = raw
        .iter()
        .filter(|r| trailalerts::Event::parse(r).is_ok())
        .count();
    println!(
        "parse {parsed}: {:.0} ns/event",
        t.elapsed().as_nanos() as f64 / raw.len() as f64
    );
    parts(&raw);
    let cis2: Vec<_> = trailalerts::builtin_alerts()
        .into_iter()
        .filter(|a| a.id.starts_with("cis-"))
        .collect();
    batch(&raw, cis2);
    split(&raw);
}
#[expect(clippy::panic, reason = "example")]
fn panic_any(e: impl std::fmt::Display) -> ! {
    panic!("{e}")
}

#[allow(dead_code, reason = "micro timings")]
pub fn parts(raw: &[String]) {
    let t = std::time::Instant::now();
    let mut n = 0usize;
    for r in raw {
        n += memchr::memmem::find_iter(r.as_bytes(), b"\"eventName\"").count();
    }
    println!(
        "memmem eventName: {:.0} ns/event ({n})",
        t.elapsed().as_nanos() as f64 / raw.len() as f64
    );
    let ac = aho_corasick::AhoCorasick::new(["UnauthorizedOperation", "AccessDenied", "Root"])
        .unwrap_or_else(|_| std::process::exit(1));
    let t = std::time::Instant::now();
    let n = raw.iter().filter(|r| ac.is_match(r.as_bytes())).count();
    println!(
        "ac 3 needles: {:.0} ns/event ({n})",
        t.elapsed().as_nanos() as f64 / raw.len() as f64
    );
    let ac = aho_corasick::AhoCorasick::builder()
        .match_kind(aho_corasick::MatchKind::LeftmostFirst)
        .build([
            "\"eventName\"",
            "\"eventSource\"",
            "\\u",
            "\\/",
            "UnauthorizedOperation",
            "AccessDenied",
            "Root",
        ])
        .unwrap_or_else(|_| std::process::exit(1));
    let t = std::time::Instant::now();
    let n: usize = raw.iter().map(|r| ac.find_iter(r.as_bytes()).count()).sum();
    println!(
        "ac 7 find_iter: {:.0} ns/event ({n})",
        t.elapsed().as_nanos() as f64 / raw.len() as f64
    );
}

#[allow(dead_code, reason = "micro timings")]
pub fn batch(raw: &[String], cis: Vec<trailalerts::AlertDef>) {
    for threads in [1usize, 2] {
        let mut engine = trailalerts::Engine::builder()
            .builtin(false)
            .alerts(cis.clone())
            .build()
            .unwrap_or_else(|e| panic_any(e));
        let texts: Vec<&[u8]> = raw.iter().map(|r| r.as_bytes()).collect();
        let t = std::time::Instant::now();
        let mut out = Vec::new();
        let _ = engine.evaluate_batch(&texts, threads, &mut out);
        println!(
            "batch threads={threads}: {:.0} ns/event, {} results",
            t.elapsed().as_nanos() as f64 / raw.len() as f64,
            out.len()
        );
    }
}

#[allow(dead_code, reason = "micro timings")]
pub fn split(raw: &[String]) {
    let doc = format!("{{\"Records\":[{}]}}", raw.join(","));
    let t = std::time::Instant::now();
    let n = trailalerts::Records::new(doc.as_bytes()).count();
    println!(
        "Records split (log file): {:.0} ns/event ({n})",
        t.elapsed().as_nanos() as f64 / raw.len() as f64
    );
    let jl = raw.join("\n");
    let t = std::time::Instant::now();
    let n = trailalerts::jsonl_lines(jl.as_bytes()).len();
    println!(
        "jsonl_lines split: {:.0} ns/event ({n})",
        t.elapsed().as_nanos() as f64 / raw.len() as f64
    );
}
