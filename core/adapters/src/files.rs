//! Reading CloudTrail log files and scanning them.
//!
//! Inputs may be files or directories (walked recursively, in sorted order, so results come in
//! a deterministic order). Gzip is detected by its magic bytes, not the file name; concatenated
//! gzip members are read as one stream. In directories, files ending in `.json`, `.jsonl`,
//! `.ndjson`, `.log` (optionally `.gz`) or `.gz` are read; other files are skipped and counted;
//! a file named explicitly is always read.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use trailalerts::{AlertResult, Engine, EventError, Records};

/// A file that could not be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct FileError {
    /// The file or directory.
    pub path: String,
    /// What went wrong.
    pub problem: String,
}

impl FileError {
    fn new(path: &Path, problem: impl Into<String>) -> Self {
        Self {
            path: path.display().to_string(),
            problem: problem.into(),
        }
    }
    /// Stable code: `io`.
    pub fn code(&self) -> &'static str {
        "io"
    }
}

const EXTENSIONS: &[&str] = &[".json", ".jsonl", ".ndjson", ".log", ".gz"];

fn wanted(p: &Path) -> bool {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    EXTENSIONS.iter().any(|e| name.ends_with(e))
}

/// Expands inputs into the list of files to read: files as given, directories walked
/// recursively in sorted order. Returns the files and how many directory entries were skipped.
pub fn collect_files(inputs: &[PathBuf]) -> Result<(Vec<PathBuf>, usize), FileError> {
    let mut out = Vec::new();
    let mut skipped = 0;
    for input in inputs {
        let meta = fs::metadata(input).map_err(|e| FileError::new(input, e.to_string()))?;
        if meta.is_dir() {
            walk(input, &mut out, &mut skipped)?;
        } else {
            out.push(input.clone());
        }
    }
    Ok((out, skipped))
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>, skipped: &mut usize) -> Result<(), FileError> {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| FileError::new(dir, e.to_string()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        // Do not follow symlinked directories: a loop would never end.
        let Ok(meta) = fs::symlink_metadata(&p) else {
            continue;
        };
        if meta.is_dir() {
            walk(&p, out, skipped)?;
        } else if wanted(&p) && (meta.is_file() || fs::metadata(&p).is_ok_and(|m| m.is_file())) {
            out.push(p);
        } else {
            *skipped += 1;
        }
    }
    Ok(())
}

/// The bytes of a log file, inflated when gzip. A damaged gzip stream keeps what was
/// inflated before the damage and reports the problem alongside.
pub fn read_log(path: &Path) -> Result<(Vec<u8>, Option<String>), FileError> {
    let (mut raw, mut out) = (Vec::new(), Vec::new());
    let damage = read_log_into(path, &mut raw, &mut out)?;
    Ok((out, damage))
}

/// [`read_log`] into buffers the caller keeps between files: `raw` receives the file's bytes,
/// `out` the log text (inflated when gzip). Reusing them saves allocating (and the kernel
/// zeroing) a few megabytes per file. Returns the damage report of a damaged gzip stream.
pub fn read_log_into(
    path: &Path,
    raw: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> Result<Option<String>, FileError> {
    // Buffers that once held a huge file are not kept at that size.
    const KEEP: usize = 64 << 20;
    for b in [&mut *raw, &mut *out] {
        b.clear();
        if b.capacity() > KEEP {
            *b = Vec::new();
        }
    }
    let mut f = fs::File::open(path).map_err(|e| FileError::new(path, e.to_string()))?;
    if let Ok(m) = f.metadata() {
        raw.reserve(usize::try_from(m.len()).unwrap_or(0));
    }
    f.read_to_end(raw)
        .map_err(|e| FileError::new(path, e.to_string()))?;
    if !raw.starts_with(&[0x1f, 0x8b]) {
        std::mem::swap(raw, out);
        return Ok(None);
    }
    Ok(inflate_into(raw, out))
}

/// Inflates `data` when it starts with the gzip magic bytes; otherwise returns it unchanged.
pub fn decode(data: Vec<u8>) -> (Vec<u8>, Option<String>) {
    if !data.starts_with(&[0x1f, 0x8b]) {
        return (data, None);
    }
    let mut out = Vec::new();
    let damage = inflate_into(&data, &mut out);
    (out, damage)
}

/// Inflates the gzip members of `data` into `out` (empty); the damage report, if any.
///
/// Inflates straight into `out`'s spare capacity, sized from the gzip trailer: a `Read`-based
/// decoder makes `read_to_end` zero the buffer first and inflate in pieces through a window
/// (a memset of the whole output, then copies). zlib checks each member's CRC-32 and length.
fn inflate_into(data: &[u8], out: &mut Vec<u8>) -> Option<String> {
    use flate2::{Decompress, FlushDecompress, Status};
    // ISIZE (the last 4 bytes) is the size mod 2^32 of the last member: a good first guess.
    let hint = data
        .len()
        .checked_sub(4)
        .and_then(|i| data.get(i..))
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_le_bytes);
    let guess = hint
        .map_or(data.len() * 8, |h| h as usize)
        .clamp(data.len(), 1 << 30);
    out.reserve(guess);
    let damaged = |out: &[u8], why: &dyn std::fmt::Display| {
        format!(
            "damaged gzip stream after {} inflated bytes ({why}); records before the damage were kept",
            out.len()
        )
    };
    let mut rest = data;
    // Window bits 15 plus gzip framing (header, CRC-32 and length checked by zlib).
    let mut dec = Decompress::new_gzip(15);
    loop {
        if out.len() == out.capacity() {
            out.reserve((out.capacity() / 2).max(64 << 10));
        }
        let (in0, out0) = (dec.total_in(), dec.total_out());
        let status = dec.decompress_vec(rest, out, FlushDecompress::Finish);
        let used = usize::try_from(dec.total_in() - in0).unwrap_or(rest.len());
        rest = rest.get(used..).unwrap_or_default();
        match status {
            Err(e) => return Some(damaged(out, &e)),
            // Concatenated members are one stream (as `zcat` reads them).
            Ok(Status::StreamEnd) if rest.is_empty() => return None,
            Ok(Status::StreamEnd) => dec = Decompress::new_gzip(15),
            // With spare output room, no progress means the input ended mid-member.
            Ok(Status::Ok | Status::BufError) => {
                if used == 0 && dec.total_out() == out0 {
                    return Some(damaged(out, &"unexpected end of file"));
                }
            }
        }
    }
}

/// What a scan saw.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ScanSummary {
    /// Files read.
    pub files: u64,
    /// Files that could not be read at all.
    pub unreadable_files: u64,
    /// Directory entries skipped (not a log file name).
    pub skipped_entries: u64,
    /// Bytes read (after inflating).
    pub bytes: u64,
    /// Events evaluated.
    pub events: u64,
    /// Records that could not be read.
    pub bad_records: u64,
    /// Results produced.
    pub results: u64,
    /// Results per alert id.
    pub results_by_alert: BTreeMap<String, u64>,
}

/// A problem met during a scan: a bad record or an unreadable file. The scan goes on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanProblem {
    /// A record that is not a valid CloudTrail event.
    #[error(transparent)]
    Record(#[from] EventError),
    /// A file that could not be read (or was only partly readable).
    #[error(transparent)]
    File(#[from] FileError),
}

impl ScanProblem {
    /// Stable code: `invalid_event` or `io`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Record(e) => e.code(),
            Self::File(e) => e.code(),
        }
    }
}

/// Counts `results` in the summary and hands them to `on_result`, emptying the vector.
fn emit(
    results: &mut Vec<AlertResult>,
    summary: &mut ScanSummary,
    on_result: &mut dyn FnMut(AlertResult),
) {
    for r in results.drain(..) {
        count_result(summary, &r);
        on_result(r);
    }
}

fn count_result(summary: &mut ScanSummary, r: &AlertResult) {
    summary.results += 1;
    // The id is copied only the first time an alert fires.
    match summary.results_by_alert.get_mut(&r.alert_id) {
        Some(n) => *n += 1,
        None => {
            summary.results_by_alert.insert(r.alert_id.clone(), 1);
        }
    }
}

/// Evaluates every record of one in-memory buffer (already inflated), in record order. Stops
/// early when `cancel` is set (checked every 1,024 records).
pub fn scan_buffer(
    engine: &mut Engine,
    source: &str,
    buf: &[u8],
    summary: &mut ScanSummary,
    on_result: &mut dyn FnMut(AlertResult),
    on_problem: &mut dyn FnMut(ScanProblem),
    cancel: Option<&AtomicBool>,
) {
    let mut results = Vec::new();
    for (n, rec) in Records::new(buf).enumerate() {
        if n % 1024 == 1023 && cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            return;
        }
        let rec = match rec {
            Ok(r) => r,
            Err(mut e) => {
                e.position_mut().source = Some(source.to_owned());
                summary.bad_records += 1;
                on_problem(ScanProblem::Record(e));
                continue;
            }
        };
        match engine.evaluate_raw(rec.value, &mut results) {
            Ok(_) => summary.events += 1,
            Err(problem) => {
                let mut pos = rec.position.clone();
                pos.source = Some(source.to_owned());
                summary.bad_records += 1;
                on_problem(ScanProblem::Record(EventError::new(pos, problem)));
                continue;
            }
        }
        emit(&mut results, summary, on_result);
    }
}

/// Scans files and directories with `engine`, in deterministic order, on every core (see
/// [`scan_paths_on`]). Bad records and unreadable files are passed to `on_problem` and counted;
/// the scan goes on. `on_file` is called after each file with the running summary, the number
/// of files and the engine (for progress display, and to store each file's results in one
/// transaction). Setting `cancel` stops the scan soon after (within 1,024 records).
pub fn scan_paths(
    engine: &mut Engine,
    inputs: &[PathBuf],
    on_result: &mut dyn FnMut(AlertResult),
    on_problem: &mut dyn FnMut(ScanProblem),
    on_file: &mut dyn FnMut(&ScanSummary, usize, &mut Engine),
    cancel: Option<&AtomicBool>,
) -> Result<ScanSummary, FileError> {
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    scan_paths_on(
        threads, engine, inputs, on_result, on_problem, on_file, cancel,
    )
}

/// What a worker made of one file.
enum FileOutcome {
    Read {
        bytes: u64,
        damage: Option<String>,
        prepared: trailalerts::Prepared,
    },
    Unreadable(FileError),
}

/// Reads, inflates and prepares one file (the stateless part of a scan).
fn read_file(
    rules: &Engine,
    path: &Path,
    raw: &mut Vec<u8>,
    buf: &mut Vec<u8>,
    cancel: Option<&AtomicBool>,
) -> FileOutcome {
    match read_log_into(path, raw, buf) {
        Ok(damage) => FileOutcome::Read {
            bytes: buf.len() as u64,
            damage,
            prepared: rules.prepare_records(&path.display().to_string(), buf, cancel),
        },
        Err(e) => FileOutcome::Unreadable(e),
    }
}

/// Applies prepared files in order — thresholds and counters, then results and problems to
/// the callbacks — with result and problem buffers reused from file to file.
struct Applier<'c> {
    results: Vec<AlertResult>,
    problems: Vec<EventError>,
    on_result: &'c mut dyn FnMut(AlertResult),
    on_problem: &'c mut dyn FnMut(ScanProblem),
}

impl Applier<'_> {
    fn apply(
        &mut self,
        outcome: FileOutcome,
        path: &Path,
        engine: &mut Engine,
        summary: &mut ScanSummary,
    ) {
        match outcome {
            FileOutcome::Read {
                bytes,
                damage,
                prepared,
            } => {
                count_file(summary, path, bytes, damage, self.on_problem);
                summary.events += prepared.events();
                summary.bad_records += prepared.bad_records();
                engine.settle(prepared, &mut self.results, &mut self.problems);
                for p in self.problems.drain(..) {
                    (self.on_problem)(ScanProblem::Record(p));
                }
                emit(&mut self.results, summary, self.on_result);
            }
            FileOutcome::Unreadable(e) => count_unreadable(summary, e, self.on_problem),
        }
    }
}

/// Counts a file that was read; damage (a truncated gzip stream) is a problem and a bad record.
fn count_file(
    summary: &mut ScanSummary,
    path: &Path,
    bytes: u64,
    damage: Option<String>,
    on_problem: &mut dyn FnMut(ScanProblem),
) {
    summary.files += 1;
    summary.bytes += bytes;
    if let Some(problem) = damage {
        on_problem(ScanProblem::File(FileError::new(path, problem)));
        summary.bad_records += 1;
    }
}

fn count_unreadable(
    summary: &mut ScanSummary,
    e: FileError,
    on_problem: &mut dyn FnMut(ScanProblem),
) {
    summary.unreadable_files += 1;
    on_problem(ScanProblem::File(e));
}

/// [`scan_paths`] on `threads` worker threads. Each worker reads, inflates and evaluates whole
/// files (filters, ignores and results need no shared state); this thread then applies them
/// in file order (thresholds, statistics, callbacks), so the output is the same for any
/// number of threads. Workers stay at most a few files ahead, which bounds memory. With one
/// thread, files are read and applied on the calling thread alone.
#[allow(
    clippy::too_many_lines,
    reason = "one pipeline: workers, ordering window and settling"
)]
pub fn scan_paths_on(
    threads: usize,
    engine: &mut Engine,
    inputs: &[PathBuf],
    on_result: &mut dyn FnMut(AlertResult),
    on_problem: &mut dyn FnMut(ScanProblem),
    on_file: &mut dyn FnMut(&ScanSummary, usize, &mut Engine),
    cancel: Option<&AtomicBool>,
) -> Result<ScanSummary, FileError> {
    let (files, skipped) = collect_files(inputs)?;
    let mut summary = ScanSummary {
        skipped_entries: skipped as u64,
        ..ScanSummary::default()
    };
    let total = files.len();
    let threads = threads.clamp(1, 64).min(total.max(1));
    if threads == 1 {
        // One thread: no worker, everything here, one event at a time (each result is built
        // and handed on while its event is in cache; nothing is held for a whole file).
        let (mut raw, mut buf) = (Vec::new(), Vec::new());
        for path in &files {
            if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
                break;
            }
            match read_log_into(path, &mut raw, &mut buf) {
                Ok(damage) => {
                    count_file(&mut summary, path, buf.len() as u64, damage, on_problem);
                    let read = engine.evaluate_records(
                        &path.display().to_string(),
                        &buf,
                        cancel,
                        &mut |r| {
                            count_result(&mut summary, &r);
                            on_result(r);
                        },
                        &mut |p| on_problem(ScanProblem::Record(p)),
                    );
                    summary.events += read.events;
                    summary.bad_records += read.bad_records;
                }
                Err(e) => count_unreadable(&mut summary, e, on_problem),
            }
            on_file(&summary, total, engine);
        }
        return Ok(summary);
    }
    // Workers evaluate with a copy of the rules; this thread owns the state.
    let rules = engine.clone();
    let rules = &rules;
    let files = &files;
    let window = threads * 2;
    let next = std::sync::atomic::AtomicUsize::new(0);
    let next = &next;
    // How many files this thread has applied: workers wait while they are `window` ahead.
    let settled = (std::sync::Mutex::new(0usize), std::sync::Condvar::new());
    let settled = &settled;
    let stop_flag = AtomicBool::new(false);
    let stop = &stop_flag;
    let stopped =
        move || stop.load(Ordering::Relaxed) || cancel.is_some_and(|c| c.load(Ordering::Relaxed));
    let (tx, rx) = std::sync::mpsc::channel::<(usize, FileOutcome)>();
    std::thread::scope(|s| {
        for _ in 0..threads {
            let tx = tx.clone();
            s.spawn(move || {
                let (mut raw, mut buf) = (Vec::new(), Vec::new());
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(path) = files.get(i) else { break };
                    {
                        let (lock, cv) = settled;
                        let mut done = lock
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner);
                        while i >= *done + window && !stopped() {
                            done = cv
                                .wait_timeout(done, std::time::Duration::from_millis(50))
                                .unwrap_or_else(std::sync::PoisonError::into_inner)
                                .0;
                        }
                    }
                    if stopped() {
                        break;
                    }
                    let outcome = read_file(rules, path, &mut raw, &mut buf, cancel);
                    if tx.send((i, outcome)).is_err() {
                        break;
                    }
                }
            });
        }
        // Only the workers hold senders now: the channel closes when they are all done.
        drop(tx);
        let mut ready = BTreeMap::new();
        let mut applier = Applier {
            results: Vec::new(),
            problems: Vec::new(),
            on_result,
            on_problem,
        };
        let mut want = 0usize;
        'files: while want < total {
            // A file already applied stays applied (with `on_file`); none starts after a cancel.
            if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
                break;
            }
            let outcome = loop {
                if let Some(o) = ready.remove(&want) {
                    break o;
                }
                match rx.recv() {
                    Ok((i, o)) => {
                        ready.insert(i, o);
                    }
                    Err(_) => break 'files,
                }
            };
            let path = files
                .get(want)
                .map(|p| p.as_path())
                .unwrap_or(Path::new(""));
            applier.apply(outcome, path, engine, &mut summary);
            want += 1;
            {
                let (lock, cv) = settled;
                *lock
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = want;
                cv.notify_all();
            }
            on_file(&summary, total, engine);
        }
        stop.store(true, Ordering::Relaxed);
        settled.1.notify_all();
        drop(rx);
    });
    Ok(summary)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]
    use super::*;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn gzip_detection_members_and_truncation() {
        let a = br#"{"Records":[{"eventName":"A"}]}"#;
        assert_eq!(decode(a.to_vec()).0, a.to_vec());
        let mut two = gz(a);
        two.extend(gz(a));
        let (out, err) = decode(two);
        assert_eq!(out.len(), a.len() * 2);
        assert!(err.is_none());
        let big: Vec<u8> = (0..20_000)
            .flat_map(|i| format!("{{\"eventName\":\"E{i}\"}}\n").into_bytes())
            .collect();
        let z = gz(&big);
        let (out, err) = decode(z.get(..z.len() / 2).unwrap().to_vec());
        assert!(err.unwrap().contains("damaged gzip"));
        assert!(!out.is_empty() && out.len() < big.len());
        assert!(big.starts_with(&out), "what inflated is the file's start");
        let (out, err) = decode(z.clone());
        assert_eq!((out, err), (big.clone(), None));
        // A size hint that is wrong (a last member smaller than the whole) still inflates all.
        let mut members = gz(&big);
        members.extend(gz(b"{}"));
        let (out, err) = decode(members);
        assert_eq!(out.len(), big.len() + 2);
        assert!(err.is_none());
        // Only the magic bytes, a header cut short, or nothing after the header.
        for cut in [2, 5, 10] {
            let (out, err) = decode(z.get(..cut).unwrap().to_vec());
            assert!(out.is_empty());
            assert!(err.unwrap().contains("damaged gzip"), "cut at {cut}");
        }
        // A flipped byte in the trailer's CRC-32, and in the compressed data.
        let mut bad_crc = z.clone();
        let n = bad_crc.len();
        bad_crc[n - 8] ^= 0xff;
        assert!(decode(bad_crc).1.unwrap().contains("damaged gzip"));
        let mut bad_data = z.clone();
        bad_data[n / 2] ^= 0x55;
        let (out, err) = decode(bad_data);
        assert!(err.unwrap().contains("damaged gzip"));
        assert!(out.len() < big.len() || out != big);
        // Garbage after a complete member is damage too; the member's text is kept.
        let mut tail = gz(a);
        tail.extend(b"not gzip");
        let (out, err) = decode(tail);
        assert_eq!(out, a.to_vec());
        assert!(err.unwrap().contains("damaged gzip"));
    }

    #[test]
    fn reused_buffers_read_each_file_alone() {
        // One pair of buffers over a big gzip file, a damaged one, a plain one and a small
        // gzip one: each read gives exactly what `read_log` gives for that file.
        let dir = std::env::temp_dir().join(format!("ta-reuse-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let big: Vec<u8> = (0..20_000)
            .flat_map(|i| format!("{{\"eventName\":\"E{i}\"}}\n").into_bytes())
            .collect();
        let z = gz(&big);
        let files = [
            ("a.json.gz", z.clone()),
            ("b.json.gz", z.get(..z.len() / 3).unwrap().to_vec()),
            ("c.json", br#"{"Records":[]}"#.to_vec()),
            ("d.json.gz", gz(b"{\"eventName\":\"X\"}")),
        ];
        let (mut raw, mut out) = (Vec::new(), Vec::new());
        for (name, bytes) in &files {
            let p = dir.join(name);
            fs::write(&p, bytes).unwrap();
            let damage = read_log_into(&p, &mut raw, &mut out).unwrap();
            let (want, want_damage) = read_log(&p).unwrap();
            assert_eq!(out, want, "{name}");
            assert_eq!(damage, want_damage, "{name}");
        }
        assert!(read_log_into(&dir.join("missing.json"), &mut raw, &mut out).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }
}
