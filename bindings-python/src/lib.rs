//! Python bindings: a thin layer over `trailalerts` and `trailalerts-adapters`. All logic lives
//! in the Rust crates; this file converts arguments, maps errors to exception classes with a
//! stable `.code`, and releases the GIL around Rust work.
#![allow(missing_docs, reason = "documented in the .pyi stubs")]
#![allow(
    clippy::needless_pass_by_value,
    reason = "pyo3 extracts arguments by value"
)]

// Results and parsed events are many small, short-lived allocations; mimalloc makes batch
// evaluation ~20% faster than the system allocator (see benches/README.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::pybacked::{PyBackedBytes, PyBackedStr};
use pyo3::types::{PyBytes, PyDict, PyList, PyString};
use trailalerts::{
    AlertDef, AlertResult, Batch, Engine as CoreEngine, Event, IgnoreDef, IgnoreKey, ResultQuery,
    Risk, SortField, Storage as CoreStorage, ignore_from_result,
};
use trailalerts_adapters::files::{ScanProblem, ScanSummary, scan_paths};
use trailalerts_adapters::sqlite::SqliteStorage as CoreSqlite;

create_exception!(
    _native,
    TrailAlertsError,
    PyException,
    "Base class of every trailalerts error; `.code` is a stable string."
);
create_exception!(
    _native,
    InvalidAlertError,
    TrailAlertsError,
    "An alert or ignore definition was rejected (code `invalid_alert`)."
);
create_exception!(
    _native,
    InvalidEventError,
    TrailAlertsError,
    "An event could not be read (code `invalid_event`)."
);
create_exception!(
    _native,
    StorageError,
    TrailAlertsError,
    "A storage operation failed (codes `storage`, `invalid_request`)."
);
create_exception!(
    _native,
    NotFoundError,
    StorageError,
    "A result, ignore or alert does not exist (code `not_found`)."
);
create_exception!(
    _native,
    ScanError,
    TrailAlertsError,
    "Files could not be read (code `io`)."
);
create_exception!(
    _native,
    NotificationError,
    TrailAlertsError,
    "A notification could not be delivered (code `notification`)."
);

fn raise<E: pyo3::PyTypeInfo>(py: Python<'_>, code: &str, msg: String) -> PyErr {
    let err = PyErr::new::<E, _>(msg);
    // Setting an attribute on a fresh exception cannot fail in practice.
    let _ = err.value(py).setattr("code", code);
    err
}

fn alert_err(py: Python<'_>, e: &trailalerts::AlertError) -> PyErr {
    raise::<InvalidAlertError>(py, e.code(), e.to_string())
}

fn storage_err(py: Python<'_>, e: &trailalerts::StorageError) -> PyErr {
    match e.code() {
        "not_found" => raise::<NotFoundError>(py, "not_found", e.to_string()),
        code => raise::<StorageError>(py, code, e.to_string()),
    }
}

fn core_err(py: Python<'_>, e: &trailalerts::Error) -> PyErr {
    match e {
        trailalerts::Error::Alert(a) => alert_err(py, a),
        trailalerts::Error::Storage(s) => storage_err(py, s),
        trailalerts::Error::Event(ev) => raise::<InvalidEventError>(py, ev.code(), ev.to_string()),
        trailalerts::Error::Notify(n) => raise::<NotificationError>(py, n.code(), n.to_string()),
    }
}

/// JSON text of a dict/list (via the standard `json` module), a str, or UTF-8 bytes.
fn json_text(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<String> {
    let py = obj.py();
    if let Ok(s) = obj.cast::<PyString>() {
        return s.extract::<String>();
    }
    if let Ok(b) = obj.cast::<PyBytes>() {
        return String::from_utf8(b.as_bytes().to_vec()).map_err(|e| {
            raise::<InvalidEventError>(
                py,
                "invalid_event",
                format!("{what}: bytes are not UTF-8: {e}"),
            )
        });
    }
    let json = py.import("json")?;
    let text = json.call_method1("dumps", (obj,)).map_err(|e| {
        raise::<InvalidEventError>(
            py,
            "invalid_event",
            format!("{what}: cannot be converted to JSON: {e}"),
        )
    })?;
    text.extract::<String>()
}

fn from_json<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
    py.import("json")?.call_method1("loads", (text,))
}

fn to_py<'py>(py: Python<'py>, v: &impl serde::Serialize) -> PyResult<Bound<'py, PyAny>> {
    let text = serde_json::to_string(v)
        .map_err(|e| raise::<TrailAlertsError>(py, "internal", e.to_string()))?;
    from_json(py, &text)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave the engine half-updated in a way that matters
    // more than refusing all further work, so keep going with the inner value.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One alert result. `raw` is the CloudTrail event as a dict.
#[pyclass(frozen, module = "trailalerts._native", name = "Result")]
struct PyAlertResult {
    inner: AlertResult,
}

#[pymethods]
impl PyAlertResult {
    #[getter]
    fn id(&self) -> &str {
        &self.inner.id
    }
    #[getter]
    fn alert_id(&self) -> &str {
        &self.inner.alert_id
    }
    #[getter]
    fn alert_name(&self) -> &str {
        &self.inner.alert_name
    }
    #[getter]
    fn risk(&self) -> &'static str {
        self.inner.risk.as_str()
    }
    #[getter]
    fn event_id(&self) -> &str {
        &self.inner.event_id
    }
    #[getter]
    fn event_time(&self) -> Option<&str> {
        self.inner.event_time.as_deref()
    }
    #[getter]
    fn event_name(&self) -> Option<&str> {
        self.inner.event_name.as_deref()
    }
    #[getter]
    fn event_source(&self) -> Option<&str> {
        self.inner.event_source.as_deref()
    }
    #[getter]
    fn region(&self) -> Option<&str> {
        self.inner.region.as_deref()
    }
    #[getter]
    fn user(&self) -> &str {
        &self.inner.user
    }
    #[getter]
    fn source_ip(&self) -> Option<&str> {
        self.inner.source_ip.as_deref()
    }
    #[getter]
    fn error_code(&self) -> Option<&str> {
        self.inner.error_code.as_deref()
    }
    #[getter]
    fn account_id(&self) -> Option<&str> {
        self.inner.account_id.as_deref()
    }
    #[getter]
    fn count(&self) -> Option<u32> {
        self.inner.count
    }
    #[getter]
    fn window_start(&self) -> Option<&str> {
        self.inner.window_start.as_deref()
    }
    #[getter]
    fn raw<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        from_json(py, self.inner.raw.get())
    }
    /// Every field as a dict (with `raw` as a dict).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.inner)
    }
    fn __repr__(&self) -> String {
        format!(
            "Result(alert_id={:?}, risk={:?}, event_name={:?}, user={:?}, event_time={:?}{})",
            self.inner.alert_id,
            self.inner.risk.as_str(),
            self.inner.event_name.as_deref().unwrap_or(""),
            self.inner.user,
            self.inner.event_time.as_deref().unwrap_or(""),
            self.inner
                .count
                .map(|c| format!(", count={c}"))
                .unwrap_or_default()
        )
    }
    fn __eq__(&self, other: &Self) -> bool {
        self.inner.id == other.inner.id && self.inner.count == other.inner.count
    }
    fn __hash__(&self) -> u64 {
        self.inner
            .id
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            })
    }
}

fn wrap(py: Python<'_>, results: Vec<AlertResult>) -> PyResult<Vec<Py<PyAlertResult>>> {
    results
        .into_iter()
        .map(|inner| Py::new(py, PyAlertResult { inner }))
        .collect()
}

/// Alert definitions from None, a path, a JSON string, or a list of dicts / JSON strings.
fn alert_defs(py: Python<'_>, alerts: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<AlertDef>> {
    let Some(alerts) = alerts else {
        return Ok(Vec::new());
    };
    let mut known = trailalerts::builtin_alerts();
    let mut out = Vec::new();
    let mut add = |text: &str, out: &mut Vec<AlertDef>| -> PyResult<()> {
        let defs = AlertDef::parse_many(text, &known).map_err(|e| alert_err(py, &e))?;
        known.extend(defs.iter().cloned());
        out.extend(defs);
        Ok(())
    };
    let is_text = alerts.cast::<PyString>().is_ok();
    let is_path = !is_text && alerts.is_instance(&py.import("os")?.getattr("PathLike")?)?;
    if is_text || is_path {
        let s: String = if is_path {
            alerts.call_method0("__fspath__")?.extract()?
        } else {
            alerts.extract()?
        };
        let t = s.trim_start();
        if t.starts_with('{') || t.starts_with('[') {
            add(&s, &mut out)?;
        } else {
            for f in alert_files(py, &PathBuf::from(&s))? {
                let text = std::fs::read_to_string(&f).map_err(|e| {
                    raise::<InvalidAlertError>(py, "invalid_alert", format!("{}: {e}", f.display()))
                })?;
                add(&text, &mut out).map_err(|e| {
                    raise::<InvalidAlertError>(
                        py,
                        "invalid_alert",
                        format!("{}: {}", f.display(), e.value(py)),
                    )
                })?;
            }
        }
        return Ok(out);
    }
    for item in alerts.try_iter()? {
        let item = item?;
        add(&json_text(&item, "alert definition")?, &mut out)?;
    }
    Ok(out)
}

fn alert_files(py: Python<'_>, p: &PathBuf) -> PyResult<Vec<PathBuf>> {
    let meta = std::fs::metadata(p).map_err(|e| {
        raise::<InvalidAlertError>(py, "invalid_alert", format!("{}: {e}", p.display()))
    })?;
    if !meta.is_dir() {
        return Ok(vec![p.clone()]);
    }
    let mut out: Vec<PathBuf> = std::fs::read_dir(p)
        .map_err(|e| {
            raise::<InvalidAlertError>(py, "invalid_alert", format!("{}: {e}", p.display()))
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    out.sort();
    Ok(out)
}

fn ignore_defs(py: Python<'_>, ignores: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<IgnoreDef>> {
    let Some(ignores) = ignores else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for item in ignores.try_iter()? {
        out.push(ignore_def(py, &item?)?);
    }
    Ok(out)
}

fn ignore_def(py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<IgnoreDef> {
    let text = json_text(obj, "ignore")?;
    serde_json::from_str(&text).map_err(|e| {
        raise::<InvalidAlertError>(py, "invalid_alert", format!("invalid ignore: {e}"))
    })
}

/// The engine: alerts, ignores and threshold state. Safe to share between threads.
#[pyclass(module = "trailalerts._native", name = "Engine")]
struct PyEngine {
    inner: Arc<Mutex<CoreEngine>>,
}

/// One event's JSON text, borrowed from the Python object when it is `bytes` or `str` (no copy:
/// the object is kept alive and immutable while Rust reads it without the GIL).
enum EventText {
    Bytes(PyBackedBytes),
    Str(PyBackedStr),
    /// A dict (or other object) serialized with `json.dumps`.
    Owned(String),
}

impl EventText {
    fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Bytes(b) => b,
            Self::Str(s) => s.as_bytes(),
            Self::Owned(s) => s.as_bytes(),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            // Checked to be UTF-8 when extracted.
            Self::Bytes(b) => std::str::from_utf8(b).unwrap_or_default(),
            Self::Str(s) => s,
            Self::Owned(s) => s,
        }
    }
}

fn event_text(obj: &Bound<'_, PyAny>, what: impl FnOnce() -> String) -> PyResult<EventText> {
    let py = obj.py();
    if obj.cast::<PyBytes>().is_ok() {
        let b: PyBackedBytes = obj.extract()?;
        if let Err(e) = std::str::from_utf8(&b) {
            return Err(raise::<InvalidEventError>(
                py,
                "invalid_event",
                format!("{}: bytes are not UTF-8: {e}", what()),
            ));
        }
        return Ok(EventText::Bytes(b));
    }
    if obj.cast::<PyString>().is_ok() {
        return Ok(EventText::Str(obj.extract()?));
    }
    Ok(EventText::Owned(json_text(obj, &what())?))
}

fn parse_events(events: &Bound<'_, PyAny>) -> PyResult<Vec<EventText>> {
    let mut texts = Vec::new();
    for (i, ev) in events.try_iter()?.enumerate() {
        texts.push(event_text(&ev?, || format!("event #{i}"))?);
    }
    Ok(texts)
}

fn evaluate_texts(
    engine: &Mutex<CoreEngine>,
    texts: &[String],
) -> Result<Vec<AlertResult>, String> {
    let mut engine = lock(engine);
    let mut out = Vec::new();
    for (i, t) in texts.iter().enumerate() {
        engine
            .evaluate_text(t, &mut out)
            .map_err(|e| format!("invalid event #{i}: {e}"))?;
    }
    Ok(out)
}

#[pymethods]
impl PyEngine {
    #[new]
    #[pyo3(signature = (alerts=None, builtin=true, ignores=None, storage=None, enable=None, disable=None, max_threshold_groups=None))]
    #[allow(
        clippy::too_many_arguments,
        reason = "keyword arguments of a Python constructor"
    )]
    fn new(
        py: Python<'_>,
        alerts: Option<&Bound<'_, PyAny>>,
        builtin: bool,
        ignores: Option<&Bound<'_, PyAny>>,
        storage: Option<PyRef<'_, PyStorage>>,
        enable: Option<Vec<String>>,
        disable: Option<Vec<String>>,
        max_threshold_groups: Option<usize>,
    ) -> PyResult<Self> {
        let mut b = CoreEngine::builder()
            .builtin(builtin)
            .alerts(alert_defs(py, alerts)?);
        for ig in ignore_defs(py, ignores)? {
            b = b.global_ignore(ig);
        }
        if let Some(n) = max_threshold_groups {
            b = b.max_threshold_groups(n);
        }
        let mut engine = match &storage {
            Some(s) => {
                let store = lock(&s.inner);
                b.build_with_storage(store.as_ref())
                    .map_err(|e| core_err(py, &e))?
            }
            None => b.build().map_err(|e| alert_err(py, &e))?,
        };
        for (ids, on) in [
            (disable.unwrap_or_default(), false),
            (enable.unwrap_or_default(), true),
        ] {
            for id in ids {
                if !engine.set_enabled(&id, on) {
                    return Err(raise::<InvalidAlertError>(
                        py,
                        "invalid_alert",
                        format!("no alert with id `{id}`"),
                    ));
                }
            }
        }
        Ok(Self {
            inner: Arc::new(Mutex::new(engine)),
        })
    }

    /// Evaluates one event (dict, JSON str or bytes).
    fn evaluate(
        &self,
        py: Python<'_>,
        event: &Bound<'_, PyAny>,
    ) -> PyResult<Vec<Py<PyAlertResult>>> {
        let text = json_text(event, "event")?;
        let inner = Arc::clone(&self.inner);
        let out = py.detach(move || evaluate_texts(&inner, std::slice::from_ref(&text)));
        wrap(
            py,
            out.map_err(|e| raise::<InvalidEventError>(py, "invalid_event", e))?,
        )
    }

    /// Evaluates many events: any iterable of dicts / JSON strings / bytes, or one `bytes`/`str`
    /// holding JSON Lines (the fastest form). The GIL is released while Rust works, which uses
    /// every core; results come in input order. If any event is invalid, nothing is evaluated.
    fn evaluate_many(
        &self,
        py: Python<'_>,
        events: &Bound<'_, PyAny>,
    ) -> PyResult<Vec<Py<PyAlertResult>>> {
        let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let inner = Arc::clone(&self.inner);
        // JSON Lines: UTF-8 is checked per line, for the lines that get parsed.
        let blob = if events.cast::<PyBytes>().is_ok() {
            Some(EventText::Bytes(events.extract()?))
        } else if events.cast::<PyString>().is_ok() {
            Some(EventText::Str(events.extract()?))
        } else {
            None
        };
        let out = match blob {
            Some(buf) => py.detach(move || {
                let lines = trailalerts::jsonl_lines(buf.as_bytes());
                let texts: Vec<&[u8]> = lines.iter().map(|l| l.1).collect();
                let mut out = Vec::new();
                lock(&inner)
                    .evaluate_batch(&texts, threads, &mut out)
                    .map(|()| out)
                    .map_err(|errs| {
                        let (i, e) = errs.into_iter().next().unwrap_or_default();
                        format!(
                            "invalid event at line {}: {e}",
                            lines.get(i).map_or(0, |l| l.0)
                        )
                    })
            }),
            None => {
                let texts = parse_events(events)?;
                py.detach(move || {
                    let refs: Vec<&[u8]> = texts.iter().map(EventText::as_bytes).collect();
                    let mut out = Vec::new();
                    lock(&inner)
                        .evaluate_batch(&refs, threads, &mut out)
                        .map(|()| out)
                        .map_err(|errs| {
                            let (i, e) = errs.into_iter().next().unwrap_or_default();
                            format!("invalid event #{i}: {e}")
                        })
                })
            }
        };
        wrap(
            py,
            out.map_err(|e| raise::<InvalidEventError>(py, "invalid_event", e))?,
        )
    }

    /// Evaluates events and stores the results in `storage` in one transaction (with the
    /// processed event ids and threshold state); already-processed events are skipped.
    fn process(
        &self,
        py: Python<'_>,
        events: &Bound<'_, PyAny>,
        storage: PyRef<'_, PyStorage>,
        recorded_at: String,
    ) -> PyResult<Vec<Py<PyAlertResult>>> {
        let texts = parse_events(events)?;
        let inner = Arc::clone(&self.inner);
        let store = Arc::clone(&storage.inner);
        let out = py.detach(
            move || -> Result<Vec<AlertResult>, (bool, String, &'static str)> {
                let mut engine = lock(&inner);
                let mut store = lock(&store);
                engine.record_silenced(true);
                let mut results = Vec::new();
                let mut processed = Vec::new();
                for (i, t) in texts.iter().enumerate() {
                    let ev = Event::parse(t.as_str())
                        .map_err(|e| (true, format!("invalid event #{i}: {e}"), "invalid_event"))?;
                    let id = ev.event_id().unwrap_or_default().to_owned();
                    if !id.is_empty()
                        && store
                            .is_processed(&id)
                            .map_err(|e| (false, e.to_string(), e.code()))?
                    {
                        continue;
                    }
                    engine.evaluate_into(&ev, &mut results);
                    if !id.is_empty() {
                        processed.push((id, ev.time_ms().unwrap_or(0)));
                    }
                }
                let silenced = engine.take_silenced();
                let state = engine.threshold_state();
                store
                    .commit(&Batch {
                        results: &results,
                        silenced: &silenced,
                        processed: &processed,
                        thresholds: Some(&state),
                        recorded_at: &recorded_at,
                        deliveries: &[],
                    })
                    .map_err(|e| (false, e.to_string(), e.code()))?;
                Ok(results)
            },
        );
        match out {
            Ok(r) => wrap(py, r),
            Err((true, msg, code)) => Err(raise::<InvalidEventError>(py, code, msg)),
            Err((false, msg, "not_found")) => Err(raise::<NotFoundError>(py, "not_found", msg)),
            Err((false, msg, code)) => Err(raise::<StorageError>(py, code, msg)),
        }
    }

    /// Streams results from log files and directories (a background thread reads; the GIL is
    /// free while it works, and Ctrl-C stops it promptly).
    fn scan(&self, paths: Vec<PathBuf>) -> PyScan {
        let (tx, rx) = sync_channel::<Item>(1024);
        let cancel = Arc::new(AtomicBool::new(false));
        let inner = Arc::clone(&self.inner);
        let stop = Arc::clone(&cancel);
        std::thread::spawn(move || run_scan(&inner, &paths, &tx, &stop));
        PyScan {
            rx: Mutex::new(Some(rx)),
            cancel,
            problems: Mutex::new(Vec::new()),
            summary: Mutex::new(None),
            done: AtomicBool::new(false),
        }
    }

    /// Alert definitions (dicts), built-ins first.
    fn alerts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let defs: Vec<AlertDef> = lock(&self.inner).alerts().cloned().collect();
        to_py(py, &defs)
    }

    /// Turns an alert on or off.
    fn set_enabled(&self, py: Python<'_>, alert_id: &str, enabled: bool) -> PyResult<()> {
        if lock(&self.inner).set_enabled(alert_id, enabled) {
            Ok(())
        } else {
            Err(raise::<InvalidAlertError>(
                py,
                "invalid_alert",
                format!("no alert with id `{alert_id}`"),
            ))
        }
    }

    /// Adds (or replaces) an ignore: on `alert_id`, or global.
    #[pyo3(signature = (ignore, alert_id=None))]
    fn add_ignore(
        &self,
        py: Python<'_>,
        ignore: &Bound<'_, PyAny>,
        alert_id: Option<&str>,
    ) -> PyResult<()> {
        let ig = ignore_def(py, ignore)?;
        let owner = alert_id.map(str::to_owned).or_else(|| ig.alert_id.clone());
        lock(&self.inner)
            .add_ignore(owner.as_deref(), &ig)
            .map_err(|e| alert_err(py, &e))
    }

    /// Removes an ignore; returns whether it existed.
    #[pyo3(signature = (ignore_id, alert_id=None))]
    fn remove_ignore(&self, ignore_id: &str, alert_id: Option<&str>) -> bool {
        lock(&self.inner).remove_ignore(alert_id, ignore_id)
    }

    /// Counters: events, matched, ignored, results, untimed.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let s = lock(&self.inner).stats();
        to_py(py, &s)
    }

    /// Threshold state (list of dicts) to persist.
    fn threshold_state<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let s = lock(&self.inner).threshold_state();
        to_py(py, &s)
    }

    /// Restores threshold state from `threshold_state()`.
    fn restore_threshold_state(&self, py: Python<'_>, state: &Bound<'_, PyAny>) -> PyResult<()> {
        let text = json_text(state, "threshold state")?;
        let entries = serde_json::from_str(&text).map_err(|e| {
            raise::<TrailAlertsError>(
                py,
                "invalid_request",
                format!("invalid threshold state: {e}"),
            )
        })?;
        lock(&self.inner).restore_threshold_state(entries);
        Ok(())
    }
}

enum Item {
    Result(Box<AlertResult>),
    Problem(String),
    Done(Result<ScanSummary, String>),
}

fn run_scan(
    engine: &Mutex<CoreEngine>,
    paths: &[PathBuf],
    tx: &SyncSender<Item>,
    cancel: &AtomicBool,
) {
    let mut engine = lock(engine);
    let r = scan_paths(
        &mut engine,
        paths,
        &mut |r| {
            if tx.send(Item::Result(Box::new(r))).is_err() {
                cancel.store(true, Ordering::Relaxed);
            }
        },
        &mut |p: ScanProblem| {
            let _ = tx.send(Item::Problem(p.to_string()));
        },
        &mut |_, _, _| {},
        Some(cancel),
    );
    let _ = tx.send(Item::Done(r.map_err(|e| e.to_string())));
}

/// Iterator over a running scan's results. `.problems` lists bad records and unreadable files,
/// `.summary` the counts once the scan is done.
#[pyclass(module = "trailalerts._native", name = "Scan")]
struct PyScan {
    // `None` once closed: dropping the receiver makes the scan thread's next send fail, which
    // stops it even when it is blocked on a full channel.
    rx: Mutex<Option<Receiver<Item>>>,
    cancel: Arc<AtomicBool>,
    problems: Mutex<Vec<String>>,
    summary: Mutex<Option<ScanSummary>>,
    done: AtomicBool,
}

#[pymethods]
impl PyScan {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAlertResult>>> {
        if self.done.load(Ordering::Relaxed) {
            return Ok(None);
        }
        loop {
            let item = py.detach(|| match lock(&self.rx).as_ref() {
                Some(rx) => rx.recv_timeout(Duration::from_millis(50)),
                None => Err(RecvTimeoutError::Disconnected),
            });
            match item {
                Ok(Item::Result(r)) => return Py::new(py, PyAlertResult { inner: *r }).map(Some),
                Ok(Item::Problem(p)) => lock(&self.problems).push(p),
                Ok(Item::Done(Ok(s))) => {
                    *lock(&self.summary) = Some(s);
                    self.done.store(true, Ordering::Relaxed);
                    return Ok(None);
                }
                Ok(Item::Done(Err(e))) => {
                    self.done.store(true, Ordering::Relaxed);
                    return Err(raise::<ScanError>(py, "io", e));
                }
                Err(RecvTimeoutError::Timeout) => {
                    if let Err(e) = py.check_signals() {
                        self.close();
                        return Err(e);
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.done.store(true, Ordering::Relaxed);
                    return Ok(None);
                }
            }
        }
    }

    /// Stops the scan (also done on Ctrl-C and when the iterator is dropped).
    fn close(&self) {
        self.cancel.store(true, Ordering::Relaxed);
        self.done.store(true, Ordering::Relaxed);
        // Not drained: a scan producing as fast as a drain consumes could keep it going.
        lock(&self.rx).take();
    }

    #[getter]
    fn problems(&self) -> Vec<String> {
        lock(&self.problems).clone()
    }

    #[getter]
    fn summary<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        lock(&self.summary)
            .as_ref()
            .map(|s| to_py(py, s))
            .transpose()
    }
}

impl Drop for PyScan {
    fn drop(&mut self) {
        self.close();
    }
}

type DynStorage = Box<dyn CoreStorage + Send>;

/// Base class of the storages: results, ignores, alert state.
#[pyclass(subclass, module = "trailalerts._native", name = "Storage")]
struct PyStorage {
    inner: Arc<Mutex<DynStorage>>,
}

fn parse_sort(py: Python<'_>, s: &str) -> PyResult<SortField> {
    SortField::parse(s).ok_or_else(|| {
        raise::<StorageError>(py, "invalid_request", format!("unknown sort column `{s}`"))
    })
}

#[pymethods]
impl PyStorage {
    /// Stores results (a list of `Result`); returns how many were new.
    #[pyo3(signature = (results, recorded_at=None))]
    fn save(
        &self,
        py: Python<'_>,
        results: Vec<PyRef<'_, PyAlertResult>>,
        recorded_at: Option<String>,
    ) -> PyResult<usize> {
        let rs: Vec<AlertResult> = results.iter().map(|r| r.inner.clone()).collect();
        let at = recorded_at.unwrap_or_else(|| now(py));
        let inner = Arc::clone(&self.inner);
        py.detach(move || lock(&inner).save_results(&rs, &at))
            .map_err(|e| storage_err(py, &e))
    }

    /// One stored result as a dict (with `raw`).
    fn get<'py>(&self, py: Python<'py>, result_id: &str) -> PyResult<Bound<'py, PyAny>> {
        let r = lock(&self.inner)
            .get_result(result_id)
            .map_err(|e| storage_err(py, &e))?;
        to_py(py, &r)
    }

    /// How many results are stored.
    fn count(&self, py: Python<'_>) -> PyResult<u64> {
        lock(&self.inner)
            .count_results()
            .map_err(|e| storage_err(py, &e))
    }

    /// Searches results; returns {"results": [...], "next_cursor": str | None}.
    #[pyo3(signature = (*, alert_ids=None, risks=None, since=None, until=None, region=None, service=None, event=None, user=None,
        source_ip=None, error_code=None, text=None, sort="event_time", desc=false, limit=0, cursor=None))]
    #[allow(
        clippy::too_many_arguments,
        reason = "keyword arguments of a Python method"
    )]
    fn query<'py>(
        &self,
        py: Python<'py>,
        alert_ids: Option<Vec<String>>,
        risks: Option<Vec<String>>,
        since: Option<String>,
        until: Option<String>,
        region: Option<String>,
        service: Option<String>,
        event: Option<String>,
        user: Option<String>,
        source_ip: Option<String>,
        error_code: Option<String>,
        text: Option<String>,
        sort: &str,
        desc: bool,
        limit: usize,
        cursor: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let risks = risks
            .unwrap_or_default()
            .iter()
            .map(|r| {
                r.parse::<Risk>()
                    .map_err(|e| raise::<StorageError>(py, "invalid_request", e))
            })
            .collect::<PyResult<Vec<_>>>()?;
        let q = ResultQuery {
            alert_ids: alert_ids.unwrap_or_default(),
            risks,
            since,
            until,
            region,
            service,
            event,
            user,
            source_ip,
            error_code,
            text,
            sort: parse_sort(py, sort)?,
            desc,
            limit,
            cursor,
        };
        let inner = Arc::clone(&self.inner);
        let page = py
            .detach(move || lock(&inner).query_results(&q))
            .map_err(|e| storage_err(py, &e))?;
        to_py(py, &page)
    }

    /// Adds or replaces an ignore (a dict; `alert_id` in it scopes it to an alert).
    fn put_ignore(&self, py: Python<'_>, ignore: &Bound<'_, PyAny>) -> PyResult<()> {
        let ig = ignore_def(py, ignore)?;
        // Compile it once to reject bad globs before storing.
        CoreEngine::builder()
            .builtin(false)
            .global_ignore(IgnoreDef {
                alert_id: None,
                ..ig.clone()
            })
            .build()
            .map_err(|e| alert_err(py, &e))?;
        lock(&self.inner)
            .put_ignore(&ig)
            .map_err(|e| storage_err(py, &e))
    }

    /// Ignores with how many results each silenced.
    #[pyo3(signature = (alert_id=None, global_only=false))]
    fn ignores<'py>(
        &self,
        py: Python<'py>,
        alert_id: Option<&str>,
        global_only: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let filter = if global_only {
            Some(None)
        } else {
            alert_id.map(Some)
        };
        let list = lock(&self.inner)
            .list_ignores(filter)
            .map_err(|e| storage_err(py, &e))?;
        to_py(py, &list)
    }

    /// Removes an ignore.
    #[pyo3(signature = (ignore_id, alert_id=None))]
    fn remove_ignore(
        &self,
        py: Python<'_>,
        ignore_id: &str,
        alert_id: Option<&str>,
    ) -> PyResult<()> {
        lock(&self.inner)
            .remove_ignore(alert_id, ignore_id)
            .map_err(|e| storage_err(py, &e))
    }

    /// Creates and stores an ignore for a result's alert, pre-filled from its event for the
    /// fields in `by` (region, service, event, user, request_parameter:PATH,
    /// response_element:PATH); keyword overrides (e.g. user="ci-*") widen fields.
    #[pyo3(signature = (result_id, by, ignore_id=None, note=None, **overrides))]
    fn ignore_from_result<'py>(
        &self,
        py: Python<'py>,
        result_id: &str,
        by: Vec<String>,
        ignore_id: Option<String>,
        note: Option<String>,
        overrides: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mut store = lock(&self.inner);
        let stored = store
            .get_result(result_id)
            .map_err(|e| storage_err(py, &e))?;
        let keys = by
            .iter()
            .map(|k| IgnoreKey::parse(k))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| storage_err(py, &e))?;
        let id = ignore_id
            .unwrap_or_else(|| format!("from-{}", result_id.get(..12).unwrap_or(result_id)));
        let mut ig = ignore_from_result(&stored, &keys, &id).map_err(|e| storage_err(py, &e))?;
        if let Some(o) = overrides {
            for (k, v) in o.iter() {
                let k: String = k.extract()?;
                let v: String = v.extract()?;
                match k.as_str() {
                    "region" => ig.region = Some(v),
                    "service" => ig.service = Some(v),
                    "event" => ig.event = Some(v),
                    "user" => ig.user = Some(v),
                    "identity_type" => ig.identity_type = Some(v),
                    "created_by" => ig.created_by = Some(v),
                    other => {
                        return Err(raise::<InvalidAlertError>(
                            py,
                            "invalid_alert",
                            format!("unknown ignore field `{other}`"),
                        ));
                    }
                }
            }
        }
        ig.note = note;
        ig.created_at = Some(now(py));
        CoreEngine::builder()
            .builtin(false)
            .global_ignore(IgnoreDef {
                alert_id: None,
                ..ig.clone()
            })
            .build()
            .map_err(|e| alert_err(py, &e))?;
        store.put_ignore(&ig).map_err(|e| storage_err(py, &e))?;
        to_py(py, &ig)
    }

    /// Turns an alert on or off in the stored configuration.
    fn set_alert_enabled(&self, py: Python<'_>, alert_id: &str, enabled: bool) -> PyResult<()> {
        lock(&self.inner)
            .set_alert_enabled(alert_id, enabled)
            .map_err(|e| storage_err(py, &e))
    }

    /// Stores a custom alert definition (dict or JSON).
    fn put_alert(&self, py: Python<'_>, alert: &Bound<'_, PyAny>) -> PyResult<()> {
        let defs = alert_defs(py, Some(&PyList::new(py, [alert])?.into_any()))?;
        let mut store = lock(&self.inner);
        for d in defs {
            store.put_alert(&d).map_err(|e| storage_err(py, &e))?;
        }
        Ok(())
    }

    /// Stored custom alert definitions.
    fn alerts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let list = lock(&self.inner)
            .list_alerts()
            .map_err(|e| storage_err(py, &e))?;
        to_py(py, &list)
    }
}

/// Keeps everything in memory.
#[pyclass(extends = PyStorage, module = "trailalerts._native", name = "MemoryStorage")]
struct PyMemoryStorage;

#[pymethods]
impl PyMemoryStorage {
    #[new]
    fn new() -> PyClassInitializer<Self> {
        PyClassInitializer::from(PyStorage {
            inner: Arc::new(Mutex::new(Box::new(trailalerts::MemoryStorage::new()))),
        })
        .add_subclass(Self)
    }
}

/// Results, ignores and alert state in a SQLite file (WAL, versioned schema).
#[pyclass(extends = PyStorage, module = "trailalerts._native", name = "SqliteStorage")]
struct PySqliteStorage;

#[pymethods]
impl PySqliteStorage {
    #[new]
    fn new(py: Python<'_>, path: PathBuf) -> PyResult<PyClassInitializer<Self>> {
        let store = py
            .detach(|| CoreSqlite::open(&path))
            .map_err(|e| storage_err(py, &e))?;
        Ok(PyClassInitializer::from(PyStorage {
            inner: Arc::new(Mutex::new(Box::new(store))),
        })
        .add_subclass(Self))
    }
}

fn now(py: Python<'_>) -> String {
    let ms = py
        .import("time")
        .and_then(|t| t.call_method0("time"))
        .and_then(|v| v.extract::<f64>())
        .map_or(0, |s| (s * 1000.0) as i64);
    trailalerts::format_epoch_ms(ms - ms % 1000)
}

/// Every built-in alert definition, as dicts.
/// Sends results to one built-in channel (Slack, PagerDuty, syslog or email), configured like
/// an entry of an alert's ``notifications`` list. Secrets may be ``env:NAME``.
#[pyclass(frozen, module = "trailalerts._native", name = "ChannelNotifier")]
struct PyChannelNotifier {
    config: serde_json::Value,
    notifier: Box<dyn trailalerts::Notifier>,
}

#[pymethods]
impl PyChannelNotifier {
    #[new]
    fn new(py: Python<'_>, config: &Bound<'_, PyAny>) -> PyResult<Self> {
        let text = json_text(config, "config")?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| raise::<InvalidAlertError>(py, "invalid_alert", format!("config: {e}")))?;
        let kind = match trailalerts::ChannelConfig::parse(&value) {
            Ok(Some(c)) => c.kind(),
            Ok(None) => {
                return Err(raise::<InvalidAlertError>(
                    py,
                    "invalid_alert",
                    "config: `type` must be slack, pagerduty, syslog or email (sns and lambda: use boto3 or the CLI)".to_owned(),
                ));
            }
            Err(e) => {
                return Err(raise::<InvalidAlertError>(
                    py,
                    "invalid_alert",
                    format!("config: {e}"),
                ));
            }
        };
        let notifier: Box<dyn trailalerts::Notifier> = match kind {
            "slack" => Box::new(trailalerts_adapters::notify::http::SlackNotifier::new()),
            "pagerduty" => Box::new(trailalerts_adapters::notify::http::PagerDutyNotifier::new()),
            "syslog" => Box::new(trailalerts_adapters::notify::syslog::SyslogNotifier::new()),
            "email" => Box::new(trailalerts_adapters::notify::email::EmailNotifier::new()),
            other => {
                return Err(raise::<InvalidAlertError>(
                    py,
                    "invalid_alert",
                    format!(
                        "config: `{other}` is not available from Python (use boto3 or the CLI)"
                    ),
                ));
            }
        };
        Ok(Self {
            config: value,
            notifier,
        })
    }

    /// The channel type.
    #[getter]
    fn channel(&self) -> &str {
        self.notifier.channel()
    }

    /// Sends one result (the GIL is released while sending). Raises ``NotificationError``
    /// with ``retryable`` set when a later attempt may succeed.
    fn send(&self, py: Python<'_>, result: &PyAlertResult) -> PyResult<()> {
        let r = result.inner.clone();
        let out = py.detach(|| self.notifier.send(&r, &self.config));
        out.map_err(|e| {
            let err = raise::<NotificationError>(py, e.code(), e.to_string());
            let _ = err.value(py).setattr("retryable", e.retryable);
            err
        })
    }

    fn __repr__(&self) -> String {
        format!(
            "ChannelNotifier({})",
            trailalerts::redact_config(&self.config)
        )
    }
}

#[pyfunction]
fn builtin_alerts(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    to_py(py, &trailalerts::builtin_alerts())
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<PyEngine>()?;
    m.add_class::<PyAlertResult>()?;
    m.add_class::<PyScan>()?;
    m.add_class::<PyStorage>()?;
    m.add_class::<PyMemoryStorage>()?;
    m.add_class::<PySqliteStorage>()?;
    m.add_class::<PyChannelNotifier>()?;
    m.add_function(wrap_pyfunction!(builtin_alerts, m)?)?;
    for (name, ty, code) in [
        (
            "TrailAlertsError",
            py.get_type::<TrailAlertsError>(),
            "error",
        ),
        (
            "InvalidAlertError",
            py.get_type::<InvalidAlertError>(),
            "invalid_alert",
        ),
        (
            "InvalidEventError",
            py.get_type::<InvalidEventError>(),
            "invalid_event",
        ),
        ("StorageError", py.get_type::<StorageError>(), "storage"),
        ("NotFoundError", py.get_type::<NotFoundError>(), "not_found"),
        ("ScanError", py.get_type::<ScanError>(), "io"),
        (
            "NotificationError",
            py.get_type::<NotificationError>(),
            "notification",
        ),
    ] {
        ty.setattr("code", code)?;
        m.add(name, ty)?;
    }
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
