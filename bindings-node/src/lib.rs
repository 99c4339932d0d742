//! Node.js bindings: a thin layer over `trailalerts` and `trailalerts-adapters`. All logic lives
//! in the Rust crates. Anything that reads files or does heavy work runs on the libuv thread
//! pool (`AsyncTask`) and returns a Promise; errors carry a stable `code`.
#![allow(missing_docs, reason = "documented in the generated index.d.ts")]
#![allow(
    clippy::needless_pass_by_value,
    reason = "napi passes arguments by value"
)]

// Results and parsed events are many small, short-lived allocations; mimalloc makes batch
// evaluation ~20% faster than the system allocator (see benches/README.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use napi::bindgen_prelude::*;
use napi_derive::napi;
use serde_json::Value;
use trailalerts::{
    AlertDef, Engine as CoreEngine, IgnoreDef, IgnoreKey, ResultQuery, Risk, SortField,
    Storage as CoreStorage,
};
use trailalerts_adapters::files::{ScanProblem, scan_paths};

/// An error status that is one of trailalerts' stable codes (`invalid_alert`, `invalid_event`,
/// `not_found`, `invalid_request`, `storage`, `io`), becoming `err.code` in JavaScript.
pub struct Code(String);

impl AsRef<str> for Code {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<Status> for Code {
    fn from(s: Status) -> Self {
        Code(s.as_ref().to_owned())
    }
}

type JsResult<T> = Result<T, Code>;

fn fail(code: &str, msg: impl Into<String>) -> Error<Code> {
    Error::new(Code(code.to_owned()), msg.into())
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Options of `new Engine(...)`.
#[napi(object)]
pub struct EngineOptions {
    /// Alert definitions: objects or JSON strings (one alert or an array each).
    #[napi(ts_type = "Array<AlertDefinition | string>")]
    pub alerts: Option<Vec<Value>>,
    /// Load the built-in catalog (default true).
    pub builtin: Option<bool>,
    /// Global ignores.
    #[napi(ts_type = "Array<IgnoreDefinition>")]
    pub ignores: Option<Vec<Value>>,
    /// Turn alerts on by id.
    pub enable: Option<Vec<String>>,
    /// Turn alerts off by id.
    pub disable: Option<Vec<String>>,
    /// Load stored alerts, switches and ignores from this storage.
    pub storage: Option<ClassInstance<'static, Storage>>,
}

/// One alert result. `raw` (the CloudTrail event) is parsed when first read.
#[napi]
pub struct AlertResult {
    inner: trailalerts::AlertResult,
}

#[napi]
impl AlertResult {
    #[napi(getter)]
    pub fn id(&self) -> String {
        self.inner.id.clone()
    }
    #[napi(getter)]
    pub fn alert_id(&self) -> String {
        self.inner.alert_id.clone()
    }
    #[napi(getter)]
    pub fn alert_name(&self) -> String {
        self.inner.alert_name.clone()
    }
    #[napi(getter, ts_return_type = "'low' | 'medium' | 'high' | 'critical'")]
    pub fn risk(&self) -> String {
        self.inner.risk.as_str().to_owned()
    }
    #[napi(getter)]
    pub fn event_id(&self) -> String {
        self.inner.event_id.clone()
    }
    #[napi(getter)]
    pub fn event_time(&self) -> Option<String> {
        self.inner.event_time.clone()
    }
    #[napi(getter)]
    pub fn event_name(&self) -> Option<String> {
        self.inner.event_name.clone()
    }
    #[napi(getter)]
    pub fn event_source(&self) -> Option<String> {
        self.inner.event_source.clone()
    }
    #[napi(getter)]
    pub fn region(&self) -> Option<String> {
        self.inner.region.clone()
    }
    #[napi(getter)]
    pub fn user(&self) -> String {
        self.inner.user.clone()
    }
    #[napi(getter)]
    pub fn source_ip(&self) -> Option<String> {
        self.inner.source_ip.clone()
    }
    #[napi(getter)]
    pub fn error_code(&self) -> Option<String> {
        self.inner.error_code.clone()
    }
    #[napi(getter)]
    pub fn account_id(&self) -> Option<String> {
        self.inner.account_id.clone()
    }
    /// For threshold alerts: how many events were counted.
    #[napi(getter)]
    pub fn count(&self) -> Option<u32> {
        self.inner.count
    }
    #[napi(getter)]
    pub fn window_start(&self) -> Option<String> {
        self.inner.window_start.clone()
    }
    /// The CloudTrail event.
    #[napi(getter, ts_return_type = "Record<string, unknown>")]
    pub fn raw(&self) -> Value {
        serde_json::from_str(self.inner.raw.get()).unwrap_or(Value::Null)
    }
    /// Every field as a plain object (what `JSON.stringify` uses).
    #[napi(js_name = "toJSON", ts_return_type = "Record<string, unknown>")]
    pub fn to_json(&self) -> Value {
        let mut v = serde_json::to_value(&self.inner).unwrap_or(Value::Null);
        if let Value::Object(m) = &mut v {
            // camelCase keys, like the getters.
            let keys: Vec<String> = m.keys().cloned().collect();
            for k in keys {
                let camel = camel(&k);
                if camel != k
                    && let Some(val) = m.remove(&k)
                {
                    m.insert(camel, val);
                }
            }
        }
        v
    }
}

fn camel(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut up = false;
    for c in s.chars() {
        if c == '_' {
            up = true;
        } else if up {
            out.extend(c.to_uppercase());
            up = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// An alert definition (see docs/alert-reference.md for every field).
#[napi(object)]
pub struct AlertDefinition {
    pub id: String,
    pub name: String,
    #[napi(ts_type = "'low' | 'medium' | 'high' | 'critical'")]
    pub risk: String,
    pub description: Option<String>,
    pub enabled: Option<bool>,
    pub regions: Option<Vec<String>>,
    pub services: Option<Vec<String>>,
    pub events: Option<Vec<String>>,
    pub users: Option<Vec<String>>,
    #[napi(ts_type = "'all' | 'success' | 'failure' | 'unauthorized'")]
    pub response: Option<String>,
    pub resources: Option<Vec<String>>,
    #[napi(ts_type = "Array<{ path: string; present?: boolean; value?: string }>")]
    pub request_parameters: Option<Value>,
    #[napi(ts_type = "Array<{ path: string; present?: boolean; value?: string }>")]
    pub response_elements: Option<Value>,
    #[napi(ts_type = "{ include?: string[]; exclude?: string[]; exclude_aws?: boolean }")]
    pub source_ips: Option<Value>,
    pub pattern: Option<String>,
    #[napi(ts_type = "{ count: number; window_seconds: number; group_by?: string[] }")]
    pub threshold: Option<Value>,
    pub save_results: Option<bool>,
    #[napi(ts_type = "Array<{ type: string; [key: string]: unknown }>")]
    pub notifications: Option<Value>,
    #[napi(ts_type = "IgnoreDefinition[]")]
    pub ignores: Option<Value>,
    pub references: Option<Vec<String>>,
    pub copy_of: Option<String>,
}

/// An ignore: silences results whose event matches every field it sets.
#[napi(object)]
pub struct IgnoreDefinition {
    pub id: String,
    pub alert_id: Option<String>,
    pub region: Option<String>,
    pub service: Option<String>,
    pub event: Option<String>,
    pub user: Option<String>,
    pub identity_type: Option<String>,
    #[napi(ts_type = "{ path: string; value?: string }")]
    pub request_parameter: Option<Value>,
    #[napi(ts_type = "{ path: string; value?: string }")]
    pub response_element: Option<Value>,
    pub note: Option<String>,
    pub created_by: Option<String>,
    pub created_at: Option<String>,
}

fn to_js(r: trailalerts::AlertResult) -> AlertResult {
    AlertResult { inner: r }
}

fn alert_defs(values: Vec<Value>) -> JsResult<Vec<AlertDef>> {
    let mut known = trailalerts::builtin_alerts();
    let mut out = Vec::new();
    for v in values {
        let text = match v {
            Value::String(s) => s,
            other => other.to_string(),
        };
        let defs =
            AlertDef::parse_many(&text, &known).map_err(|e| fail(e.code(), e.to_string()))?;
        known.extend(defs.iter().cloned());
        out.extend(defs);
    }
    Ok(out)
}

fn ignore_def(v: Value) -> JsResult<IgnoreDef> {
    let v = match v {
        Value::String(s) => serde_json::from_str(&s)
            .map_err(|e| fail("invalid_alert", format!("invalid ignore: {e}")))?,
        other => other,
    };
    serde_json::from_value(v).map_err(|e| fail("invalid_alert", format!("invalid ignore: {e}")))
}

/// JSON text of an event given as an object, a JSON string or a Buffer.
fn event_text(event: Unknown<'_>) -> JsResult<String> {
    let bad = |e: Error| fail("invalid_event", format!("event: {e}"));
    match event.get_type().map_err(bad)? {
        ValueType::String => String::from_unknown(event).map_err(bad),
        ValueType::Object if event.is_buffer().map_err(bad)? => {
            let b = Buffer::from_unknown(event).map_err(bad)?;
            String::from_utf8(b.to_vec())
                .map_err(|e| fail("invalid_event", format!("event buffer is not UTF-8: {e}")))
        }
        ValueType::Object => Value::from_unknown(event)
            .map(|v| v.to_string())
            .map_err(bad),
        other => Err(fail(
            "invalid_event",
            format!("an event must be an object, a JSON string or a Buffer, not {other}"),
        )),
    }
}

/// The engine: alerts, ignores and threshold state (kept across calls).
#[napi]
pub struct Engine {
    inner: Arc<Mutex<CoreEngine>>,
}

#[napi]
impl Engine {
    #[napi(constructor)]
    pub fn new(options: Option<EngineOptions>) -> Result<Self, Code> {
        let o = options.unwrap_or(EngineOptions {
            alerts: None,
            builtin: None,
            ignores: None,
            enable: None,
            disable: None,
            storage: None,
        });
        let mut b = CoreEngine::builder()
            .builtin(o.builtin.unwrap_or(true))
            .alerts(alert_defs(o.alerts.unwrap_or_default())?);
        for ig in o.ignores.unwrap_or_default() {
            b = b.global_ignore(ignore_def(ig)?);
        }
        let mut engine = match &o.storage {
            Some(s) => {
                let store = lock(&s.inner);
                b.build_with_storage(store.as_ref())
                    .map_err(|e| fail(e.code(), e.to_string()))?
            }
            None => b.build().map_err(|e| fail(e.code(), e.to_string()))?,
        };
        for (ids, on) in [
            (o.disable.unwrap_or_default(), false),
            (o.enable.unwrap_or_default(), true),
        ] {
            for id in ids {
                if !engine.set_enabled(&id, on) {
                    return Err(fail("invalid_alert", format!("no alert with id `{id}`")));
                }
            }
        }
        Ok(Self {
            inner: Arc::new(Mutex::new(engine)),
        })
    }

    /// Evaluates one event (object, JSON string or Buffer) synchronously.
    #[napi]
    pub fn evaluate(
        &self,
        #[napi(ts_arg_type = "Record<string, unknown> | string | Buffer")] event: Unknown<'_>,
    ) -> Result<Vec<AlertResult>, Code> {
        let text = event_text(event)?;
        let mut out = Vec::new();
        lock(&self.inner)
            .evaluate_text(&text, &mut out)
            .map_err(|e| fail("invalid_event", format!("invalid event: {e}")))?;
        Ok(out.into_iter().map(to_js).collect())
    }

    /// Evaluates many events off the main thread: an array of objects / JSON strings, or a
    /// Buffer of JSON Lines (fastest). Results come in input order; if any event is invalid,
    /// the Promise rejects and nothing is counted.
    #[napi(ts_return_type = "Promise<AlertResult[]>")]
    pub fn evaluate_many(
        &self,
        #[napi(ts_arg_type = "Buffer | Array<Record<string, unknown> | string>")] events: Either<
            Buffer,
            Vec<Value>,
        >,
    ) -> AsyncTask<Job<Vec<AlertResult>>> {
        let input = match events {
            Either::A(buf) => Input::Lines(buf.to_vec()),
            Either::B(list) => Input::Texts(
                list.into_iter()
                    .map(|e| match e {
                        Value::String(s) => s,
                        v => v.to_string(),
                    })
                    .collect(),
            ),
        };
        let inner = Arc::clone(&self.inner);
        AsyncTask::new(Job::new(
            move || -> std::result::Result<Vec<AlertResult>, (String, String)> {
                let threads =
                    std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
                let mut out = Vec::new();
                type Split<'b> = (Vec<(u64, &'b [u8])>, Vec<&'b [u8]>);
                let (lines, texts): Split<'_> = match &input {
                    Input::Lines(buf) => {
                        let l = trailalerts::jsonl_lines(buf);
                        let t = l.iter().map(|x| x.1).collect();
                        (l, t)
                    }
                    Input::Texts(v) => (Vec::new(), v.iter().map(String::as_bytes).collect()),
                };
                lock(&inner)
                    .evaluate_batch(&texts, threads, &mut out)
                    .map_err(|errs| {
                        let (i, e) = errs.into_iter().next().unwrap_or_default();
                        let at = match lines.get(i) {
                            Some(l) => format!("line {}", l.0),
                            None => format!("#{i}"),
                        };
                        (
                            "invalid_event".to_owned(),
                            format!("invalid event at {at}: {e}"),
                        )
                    })?;
                Ok(out.into_iter().map(to_js).collect())
            },
        ))
    }

    /// Scans log files and directories (.json, .json.gz, JSON Lines) on the thread pool and
    /// resolves with the results. Bad records are skipped; `scanDetailed` also reports them.
    #[napi(ts_return_type = "Promise<AlertResult[]>")]
    pub fn scan(&self, paths: Vec<String>) -> AsyncTask<Job<Vec<AlertResult>>> {
        let inner = Arc::clone(&self.inner);
        AsyncTask::new(Job::new(move || run_scan(&inner, paths).map(|o| o.results)))
    }

    /// Like `scan`, resolving with the results, the problems met (bad records and unreadable
    /// files, with their position) and a summary.
    #[napi(ts_return_type = "Promise<ScanOutcome>")]
    pub fn scan_detailed(&self, paths: Vec<String>) -> AsyncTask<Job<ScanOutcome>> {
        let inner = Arc::clone(&self.inner);
        AsyncTask::new(Job::new(move || run_scan(&inner, paths)))
    }

    /// Alert definitions, built-ins first.
    #[napi(ts_return_type = "AlertDefinition[]")]
    pub fn alerts(&self) -> Vec<Value> {
        lock(&self.inner)
            .alerts()
            .filter_map(|d| serde_json::to_value(d).ok())
            .collect()
    }

    /// Turns an alert on or off.
    #[napi]
    pub fn set_enabled(&self, alert_id: String, enabled: bool) -> Result<(), Code> {
        if lock(&self.inner).set_enabled(&alert_id, enabled) {
            Ok(())
        } else {
            Err(fail(
                "invalid_alert",
                format!("no alert with id `{alert_id}`"),
            ))
        }
    }

    /// Adds (or replaces) an ignore, on `alertId` or global.
    #[napi]
    pub fn add_ignore(
        &self,
        #[napi(ts_arg_type = "IgnoreDefinition")] ignore: Value,
        alert_id: Option<String>,
    ) -> Result<(), Code> {
        let ig = ignore_def(ignore)?;
        let owner = alert_id.or_else(|| ig.alert_id.clone());
        lock(&self.inner)
            .add_ignore(owner.as_deref(), &ig)
            .map_err(|e| fail(e.code(), e.to_string()))
    }

    /// Removes an ignore; returns whether it existed.
    #[napi]
    pub fn remove_ignore(&self, ignore_id: String, alert_id: Option<String>) -> bool {
        lock(&self.inner).remove_ignore(alert_id.as_deref(), &ignore_id)
    }

    /// Counters: events, matched, ignored, results, untimed.
    #[napi(
        ts_return_type = "{ events: number; matched: number; ignored: number; results: number; untimed: number }"
    )]
    pub fn stats(&self) -> Value {
        serde_json::to_value(lock(&self.inner).stats()).unwrap_or(Value::Null)
    }
}

fn run_scan(
    inner: &Mutex<CoreEngine>,
    paths: Vec<String>,
) -> std::result::Result<ScanOutcome, (String, String)> {
    let paths: Vec<PathBuf> = paths.into_iter().map(PathBuf::from).collect();
    let mut results = Vec::new();
    let mut problems = Vec::new();
    let summary = scan_paths(
        &mut lock(inner),
        &paths,
        &mut |r| results.push(r),
        &mut |p: ScanProblem| problems.push(p.to_string()),
        &mut |_, _, _| {},
        None,
    )
    .map_err(|e| (e.code().to_owned(), e.to_string()))?;
    Ok(ScanOutcome {
        results: results.into_iter().map(to_js).collect(),
        problems,
        summary: serde_json::to_value(&summary).unwrap_or(Value::Null),
    })
}

/// What `scanDetailed` resolves with.
#[napi(object, object_from_js = false)]
pub struct ScanOutcome {
    pub results: Vec<AlertResult>,
    /// Bad records and unreadable files, with their position.
    pub problems: Vec<String>,
    #[napi(
        ts_type = "{ files: number; events: number; bad_records: number; results: number; bytes: number; unreadable_files: number; skipped_entries: number; results_by_alert: Record<string, number> }"
    )]
    pub summary: Value,
}

enum Input {
    Lines(Vec<u8>),
    Texts(Vec<String>),
}

type Work<T> = Box<dyn FnOnce() -> std::result::Result<T, (String, String)> + Send>;

/// Work for the libuv thread pool; resolves with `T` or rejects with a coded error.
pub struct Job<T> {
    work: Option<Work<T>>,
}

impl<T> Job<T> {
    fn new(f: impl FnOnce() -> std::result::Result<T, (String, String)> + Send + 'static) -> Self {
        Self {
            work: Some(Box::new(f)),
        }
    }
}

/// A rejected Promise's error, with `code` set to one of the stable codes.
fn coded_error(env: &Env, code: &str, msg: &str) -> Error {
    let attempt = || -> Result<Error> {
        let mut obj = env.create_error(Error::new(Status::GenericFailure, msg.to_owned()))?;
        obj.set_named_property("code", code)?;
        Ok(Error::from(obj.into_unknown(env)?))
    };
    attempt().unwrap_or_else(|e| e)
}

impl<T: ToNapiValue + TypeName + Send + 'static> Task for Job<T> {
    type Output = std::result::Result<T, (String, String)>;
    type JsValue = T;

    fn compute(&mut self) -> Result<Self::Output> {
        let work = self
            .work
            .take()
            .ok_or_else(|| Error::new(Status::GenericFailure, "job ran twice"))?;
        Ok(work())
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> Result<Self::JsValue> {
        output.map_err(|(code, msg)| coded_error(&env, &code, &msg))
    }
}

type DynStorage = Box<dyn CoreStorage + Send>;

/// Results, ignores and alert state: `Storage.memory()` or `await Storage.sqlite(path)`.
#[napi]
pub struct Storage {
    inner: Arc<Mutex<DynStorage>>,
}

fn storage_job<T: ToNapiValue + TypeName + Send + 'static>(
    inner: &Arc<Mutex<DynStorage>>,
    f: impl FnOnce(&mut DynStorage) -> std::result::Result<T, trailalerts::StorageError>
    + Send
    + 'static,
) -> AsyncTask<Job<T>> {
    let inner = Arc::clone(inner);
    AsyncTask::new(Job::new(move || {
        let mut store = lock(&inner);
        f(&mut store).map_err(|e| (e.code().to_owned(), e.to_string()))
    }))
}

fn ignore_js(ig: &IgnoreDef) -> IgnoreDefinition {
    IgnoreDefinition {
        id: ig.id.clone(),
        alert_id: ig.alert_id.clone(),
        region: ig.region.clone(),
        service: ig.service.clone(),
        event: ig.event.clone(),
        user: ig.user.clone(),
        identity_type: ig.identity_type.clone(),
        request_parameter: ig
            .request_parameter
            .as_ref()
            .and_then(|p| serde_json::to_value(p).ok()),
        response_element: ig
            .response_element
            .as_ref()
            .and_then(|p| serde_json::to_value(p).ok()),
        note: ig.note.clone(),
        created_by: ig.created_by.clone(),
        created_at: ig.created_at.clone(),
    }
}

fn stored_js(r: trailalerts::StoredResult) -> StoredResult {
    StoredResult {
        recorded_at: r.recorded_at,
        notifications: r.notifications.into_iter().collect(),
        result: to_js(r.result),
    }
}

/// A stored result.
#[napi(object, object_from_js = false)]
pub struct StoredResult {
    pub result: AlertResult,
    pub recorded_at: String,
    /// Notification status per channel.
    pub notifications: std::collections::HashMap<String, String>,
}

/// A page of stored results.
#[napi(object, object_from_js = false)]
pub struct ResultPage {
    pub results: Vec<StoredResult>,
    /// Pass as `cursor` to get the next page.
    pub next_cursor: Option<String>,
}

/// A stored ignore with how many results it silenced.
#[napi(object)]
pub struct StoredIgnore {
    pub ignore: IgnoreDefinition,
    pub silenced: u32,
}

/// Filters of `storage.query(...)`.
#[napi(object)]
pub struct ResultQueryOptions {
    pub alert_ids: Option<Vec<String>>,
    #[napi(ts_type = "Array<'low' | 'medium' | 'high' | 'critical'>")]
    pub risks: Option<Vec<String>>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub region: Option<String>,
    pub service: Option<String>,
    pub event: Option<String>,
    pub user: Option<String>,
    pub source_ip: Option<String>,
    pub error_code: Option<String>,
    pub text: Option<String>,
    pub sort: Option<String>,
    pub desc: Option<bool>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[napi]
impl Storage {
    /// A storage in memory.
    #[napi(factory)]
    pub fn memory() -> Self {
        Self {
            inner: Arc::new(Mutex::new(Box::new(trailalerts::MemoryStorage::new()))),
        }
    }

    /// Opens (or creates) a SQLite database; resolves with the storage.
    #[napi(ts_return_type = "Promise<Storage>")]
    pub fn sqlite(path: String) -> AsyncTask<OpenSqlite> {
        AsyncTask::new(OpenSqlite { path, store: None })
    }

    /// Stores results; resolves with how many were new.
    #[napi(ts_return_type = "Promise<number>")]
    pub fn save(&self, results: Vec<&AlertResult>, recorded_at: String) -> AsyncTask<Job<u32>> {
        let rs: Vec<trailalerts::AlertResult> =
            results.into_iter().map(|r| r.inner.clone()).collect();
        storage_job(&self.inner, move |s| {
            s.save_results(&rs, &recorded_at)
                .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
        })
    }

    /// One stored result (with `raw`).
    #[napi(ts_return_type = "Promise<StoredResult>")]
    pub fn get(&self, result_id: String) -> AsyncTask<Job<StoredResult>> {
        storage_job(&self.inner, move |s| {
            s.get_result(&result_id).map(stored_js)
        })
    }

    /// Searches results.
    #[napi(ts_return_type = "Promise<ResultPage>")]
    pub fn query(
        &self,
        options: Option<ResultQueryOptions>,
    ) -> Result<AsyncTask<Job<ResultPage>>, Code> {
        let o = options.unwrap_or(ResultQueryOptions {
            alert_ids: None,
            risks: None,
            since: None,
            until: None,
            region: None,
            service: None,
            event: None,
            user: None,
            source_ip: None,
            error_code: None,
            text: None,
            sort: None,
            desc: None,
            limit: None,
            cursor: None,
        });
        let risks = o
            .risks
            .unwrap_or_default()
            .iter()
            .map(|r| r.parse::<Risk>().map_err(|e| fail("invalid_request", e)))
            .collect::<JsResult<Vec<_>>>()?;
        let sort = match o.sort.as_deref() {
            None => SortField::EventTime,
            Some(s) => SortField::parse(s)
                .ok_or_else(|| fail("invalid_request", format!("unknown sort column `{s}`")))?,
        };
        let q = ResultQuery {
            alert_ids: o.alert_ids.unwrap_or_default(),
            risks,
            since: o.since,
            until: o.until,
            region: o.region,
            service: o.service,
            event: o.event,
            user: o.user,
            source_ip: o.source_ip,
            error_code: o.error_code,
            text: o.text,
            sort,
            desc: o.desc.unwrap_or(false),
            limit: o.limit.unwrap_or(0) as usize,
            cursor: o.cursor,
        };
        Ok(storage_job(&self.inner, move |s| {
            let page = s.query_results(&q)?;
            Ok(ResultPage {
                results: page.results.into_iter().map(stored_js).collect(),
                next_cursor: page.next_cursor,
            })
        }))
    }

    /// Ignores (of one alert, or all) with how many results each silenced.
    #[napi(ts_return_type = "Promise<StoredIgnore[]>")]
    pub fn ignores(&self, alert_id: Option<String>) -> AsyncTask<Job<Vec<StoredIgnore>>> {
        storage_job(&self.inner, move |s| {
            let list = s.list_ignores(alert_id.as_deref().map(Some))?;
            Ok(list
                .iter()
                .map(|i| StoredIgnore {
                    ignore: ignore_js(&i.ignore),
                    silenced: u32::try_from(i.silenced).unwrap_or(u32::MAX),
                })
                .collect())
        })
    }

    /// Adds or replaces an ignore.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn put_ignore(
        &self,
        #[napi(ts_arg_type = "IgnoreDefinition")] ignore: Value,
    ) -> Result<AsyncTask<Job<Undefined>>, Code> {
        let ig = ignore_def(ignore)?;
        CoreEngine::builder()
            .builtin(false)
            .global_ignore(IgnoreDef {
                alert_id: None,
                ..ig.clone()
            })
            .build()
            .map_err(|e| fail(e.code(), e.to_string()))?;
        Ok(storage_job(&self.inner, move |s| s.put_ignore(&ig)))
    }

    /// Removes an ignore.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn remove_ignore(
        &self,
        ignore_id: String,
        alert_id: Option<String>,
    ) -> AsyncTask<Job<Undefined>> {
        storage_job(&self.inner, move |s| {
            s.remove_ignore(alert_id.as_deref(), &ignore_id)
        })
    }

    /// Creates and stores an ignore for a result's alert, pre-filled from its event for the
    /// fields in `by` (region, service, event, user, request_parameter:PATH, response_element:PATH).
    #[napi(ts_return_type = "Promise<IgnoreDefinition>")]
    pub fn ignore_from_result(
        &self,
        result_id: String,
        by: Vec<String>,
        ignore_id: Option<String>,
        note: Option<String>,
    ) -> Result<AsyncTask<Job<IgnoreDefinition>>, Code> {
        let keys = by
            .iter()
            .map(|k| IgnoreKey::parse(k))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| fail(e.code(), e.to_string()))?;
        Ok(storage_job(&self.inner, move |s| {
            let stored = s.get_result(&result_id)?;
            let id = ignore_id
                .unwrap_or_else(|| format!("from-{}", result_id.get(..12).unwrap_or(&result_id)));
            let mut ig = trailalerts::ignore_from_result(&stored, &keys, &id)?;
            ig.note = note;
            s.put_ignore(&ig)?;
            Ok(ignore_js(&ig))
        }))
    }

    /// Turns an alert on or off in the stored configuration.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn set_alert_enabled(&self, alert_id: String, enabled: bool) -> AsyncTask<Job<Undefined>> {
        storage_job(&self.inner, move |s| {
            s.set_alert_enabled(&alert_id, enabled)
        })
    }
}

/// Opens a SQLite storage on the thread pool.
pub struct OpenSqlite {
    path: String,
    store: Option<trailalerts_adapters::sqlite::SqliteStorage>,
}

impl Task for OpenSqlite {
    type Output = std::result::Result<(), (String, String)>;
    type JsValue = Storage;

    fn compute(&mut self) -> Result<Self::Output> {
        Ok(
            match trailalerts_adapters::sqlite::SqliteStorage::open(&self.path) {
                Ok(s) => {
                    self.store = Some(s);
                    Ok(())
                }
                Err(e) => Err((e.code().to_owned(), e.to_string())),
            },
        )
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> Result<Self::JsValue> {
        match (output, self.store.take()) {
            (Ok(()), Some(s)) => Ok(Storage {
                inner: Arc::new(Mutex::new(Box::new(s))),
            }),
            (Err((code, msg)), _) => Err(coded_error(&env, &code, &msg)),
            (Ok(()), None) => Err(coded_error(&env, "storage", "database was not opened")),
        }
    }
}

/// Every built-in alert definition.
#[napi(ts_return_type = "AlertDefinition[]")]
pub fn builtin_alerts() -> Vec<Value> {
    trailalerts::builtin_alerts()
        .iter()
        .filter_map(|d| serde_json::to_value(d).ok())
        .collect()
}

/// Sends results to a built-in channel — `slack`, `pagerduty`, `syslog` or `email` —
/// configured like an entry of an alert's `notifications` (secrets may be `env:NAME`).
/// `send` runs on the libuv pool and returns a Promise; a rejection has `code: "notification"`
/// and `retryable`.
#[napi]
pub struct ChannelNotifier {
    config: Value,
    notifier: Arc<dyn trailalerts::Notifier>,
}

#[napi]
impl ChannelNotifier {
    #[napi(constructor)]
    pub fn new(
        #[napi(
            ts_arg_type = "{ type: 'slack' | 'pagerduty' | 'syslog' | 'email'; [key: string]: unknown }"
        )]
        config: Value,
    ) -> Result<Self, Code> {
        let kind = match trailalerts::ChannelConfig::parse(&config) {
            Ok(Some(c)) => c.kind(),
            Ok(None) => {
                return Err(fail(
                    "invalid_alert",
                    "config: `type` must be slack, pagerduty, syslog or email",
                ));
            }
            Err(e) => return Err(fail("invalid_alert", format!("config: {e}"))),
        };
        let notifier: Arc<dyn trailalerts::Notifier> = match kind {
            "slack" => Arc::new(trailalerts_adapters::notify::http::SlackNotifier::new()),
            "pagerduty" => Arc::new(trailalerts_adapters::notify::http::PagerDutyNotifier::new()),
            "syslog" => Arc::new(trailalerts_adapters::notify::syslog::SyslogNotifier::new()),
            "email" => Arc::new(trailalerts_adapters::notify::email::EmailNotifier::new()),
            other => {
                return Err(fail(
                    "invalid_alert",
                    format!(
                        "config: `{other}` is not available from Node (use the AWS SDK for JavaScript or the CLI)"
                    ),
                ));
            }
        };
        Ok(Self { config, notifier })
    }

    /// The channel type.
    #[napi(getter)]
    pub fn channel(&self) -> String {
        self.notifier.channel().to_owned()
    }

    /// Sends one result (off the event loop).
    #[napi(ts_return_type = "Promise<void>")]
    pub fn send(&self, result: &AlertResult) -> AsyncTask<SendJob> {
        AsyncTask::new(SendJob {
            notifier: Arc::clone(&self.notifier),
            config: self.config.clone(),
            result: result.inner.clone(),
        })
    }

    /// The configuration with secrets redacted.
    #[napi(js_name = "toString")]
    pub fn to_display(&self) -> String {
        format!(
            "ChannelNotifier({})",
            trailalerts::redact_config(&self.config)
        )
    }
}

/// The work of `ChannelNotifier.send`.
pub struct SendJob {
    notifier: Arc<dyn trailalerts::Notifier>,
    config: Value,
    result: trailalerts::AlertResult,
}

impl Task for SendJob {
    type Output = std::result::Result<(), trailalerts::NotifyError>;
    type JsValue = ();

    fn compute(&mut self) -> Result<Self::Output> {
        Ok(self.notifier.send(&self.result, &self.config))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> Result<Self::JsValue> {
        output.map_err(|e| {
            let attempt = || -> Result<Error> {
                let mut obj =
                    env.create_error(Error::new(Status::GenericFailure, e.to_string()))?;
                obj.set_named_property("code", e.code())?;
                obj.set_named_property("retryable", e.retryable)?;
                Ok(Error::from(obj.into_unknown(&env)?))
            };
            attempt().unwrap_or_else(|err| err)
        })
    }
}
