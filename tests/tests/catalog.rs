//! The built-in catalog: every alert has case files proving it fires on a real (or realistic)
//! event and stays quiet on a near-miss; generated docs are current.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;
use trailalerts::{Engine, Event, builtin_alerts};
use trailalerts_tests::{json_files, repo_root, tests_dir};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BuiltinCase {
    alert: String,
    description: String,
    #[expect(dead_code, reason = "attribution, read by people")]
    source: String,
    fires: Vec<Value>,
    does_not_fire: Vec<Value>,
    #[serde(default)]
    expect_results: Option<usize>,
}

/// An event of a case: inline (`{…event…}`), inline with changes (`{"event": {…}, "set": …}`), or
/// from the corpus (`{"from": FILE, "line": N}` / `{"from": FILE, "event_name": X, "index": N}`),
/// with optional `set` (dotted path → value) and `remove` (dotted paths).
fn corpus_event(spec: &Value) -> Value {
    let from = spec.get("from").and_then(Value::as_str);
    if from.is_none() && spec.get("event").is_none() {
        return spec.clone();
    }
    let mut ev = if let Some(inline) = spec.get("event") {
        inline.clone()
    } else {
        let from = from.unwrap_or_default();
        let path = tests_dir().join("data/corpus").join(from);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        corpus_record(spec, from, &text)
    };
    apply_changes(spec, &mut ev);
    ev
}

fn corpus_record(spec: &Value, from: &str, text: &str) -> Value {
    if let Some(line) = spec.get("line").and_then(Value::as_u64) {
        serde_json::from_str(text.lines().nth(line as usize - 1).unwrap()).unwrap()
    } else {
        let name = spec["event_name"].as_str().unwrap();
        let index = spec.get("index").and_then(Value::as_u64).unwrap_or(0) as usize;
        let doc: Value = serde_json::from_str(text).unwrap();
        doc["Records"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["eventName"] == name)
            .nth(index)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} #{index} in {from}"))
    }
}

fn apply_changes(spec: &Value, ev: &mut Value) {
    for p in spec
        .get("remove")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let keys: Vec<&str> = p.as_str().unwrap().split('.').collect();
        let (last, parents) = keys.split_last().unwrap();
        let mut cur = &mut *ev;
        for k in parents {
            cur = &mut cur[*k];
        }
        cur.as_object_mut().unwrap().remove(*last);
    }
    if let Some(set) = spec.get("set").and_then(Value::as_object) {
        for (p, v) in set {
            let mut cur = &mut *ev;
            for k in p.split('.') {
                if !cur.is_object() {
                    *cur = Value::Object(serde_json::Map::new());
                }
                cur = &mut cur[k];
            }
            *cur = v.clone();
        }
    }
}

fn results_for(alert: &str, events: &[Value]) -> usize {
    static TEMPLATE: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();
    let mut engine = TEMPLATE
        .get_or_init(|| Engine::builder().build().unwrap())
        .clone();
    assert!(engine.set_enabled(alert, true), "no built-in `{alert}`");
    let mut n = 0;
    for spec in events {
        let raw = serde_json::to_string(&corpus_event(spec)).unwrap();
        let ev =
            Event::parse(&raw).unwrap_or_else(|e| panic!("{alert}: event does not parse: {e}"));
        n += engine
            .evaluate(&ev)
            .iter()
            .filter(|r| r.alert_id == alert)
            .count();
    }
    n
}

fn cases() -> BTreeMap<String, (BuiltinCase, std::path::PathBuf)> {
    json_files(&tests_dir().join("cases/builtin"))
        .into_iter()
        .map(|f| {
            let c: BuiltinCase = serde_json::from_str(&std::fs::read_to_string(&f).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            (c.alert.clone(), (c, f))
        })
        .collect()
}

#[test]
fn every_builtin_fires_on_its_cases_and_not_on_near_misses() {
    let cases = cases();
    let mut failures = Vec::new();
    for def in builtin_alerts() {
        let Some((case, file)) = cases.get(&def.id) else {
            failures.push(format!("{}: no case file in tests/cases/builtin/", def.id));
            continue;
        };
        if case.fires.is_empty() || case.does_not_fire.is_empty() {
            failures.push(format!(
                "{}: needs at least one firing event and one near-miss",
                def.id
            ));
        }
        let want = case.expect_results.unwrap_or(case.fires.len());
        let got = results_for(&def.id, &case.fires);
        if got != want {
            failures.push(format!(
                "{} ({}): {} — expected {want} results from `fires`, got {got}",
                def.id,
                file.display(),
                case.description
            ));
        }
        for (i, miss) in case.does_not_fire.iter().enumerate() {
            // Each near-miss alone, and all of them in sequence (thresholds).
            if results_for(&def.id, std::slice::from_ref(miss)) != 0 {
                failures.push(format!(
                    "{}: near-miss #{i} fired — {}",
                    def.id, case.description
                ));
            }
        }
        if results_for(&def.id, &case.does_not_fire) != 0 {
            failures.push(format!(
                "{}: the near-misses together fired — {}",
                def.id, case.description
            ));
        }
    }
    for id in cases.keys() {
        if !builtin_alerts().iter().any(|d| &d.id == id) {
            failures.push(format!("case file for unknown built-in `{id}`"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn catalog_has_the_required_ids() {
    let ids: Vec<String> = builtin_alerts().into_iter().map(|a| a.id).collect();
    assert!(ids.len() >= 30, "{} built-ins", ids.len());
    for want in [
        "cis-4.1-unauthorized-api-calls",
        "cis-4.2-console-login-without-mfa",
        "cis-4.3-root-account-usage",
        "cis-4.4-iam-policy-changes",
        "cis-4.5-cloudtrail-changes",
        "cis-4.6-console-auth-failures",
        "cis-4.7-cmk-disabled-or-deleted",
        "cis-4.8-s3-bucket-policy-changes",
        "cis-4.9-config-changes",
        "cis-4.10-security-group-changes",
        "cis-4.11-nacl-changes",
        "cis-4.12-network-gateway-changes",
        "cis-4.13-route-table-changes",
        "cis-4.14-vpc-changes",
        "cis-4.15-organizations-changes",
    ] {
        assert!(ids.iter().any(|i| i == want), "missing {want}");
    }
}

fn check_generated(rel: &str, content: &str) {
    let path = repo_root().join(rel);
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, content).unwrap();
        return;
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == content,
        "{rel} is stale: run `UPDATE_DOCS=1 cargo test -p trailalerts-tests --test catalog`"
    );
}

fn md(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

#[test]
fn builtin_alerts_doc_is_current() {
    let mut out = String::from(
        "# Built-in alert catalog\n\nGenerated from `core/builtin/*.json` by `tests/tests/catalog.rs` (a test fails when this file is stale;\n\
         regenerate with `UPDATE_DOCS=1 cargo test -p trailalerts-tests --test catalog`).\n\n\
         List them with `trailalerts alerts list --builtin`, print one with `trailalerts alerts show ID`, and make your own\n\
         variant with `{\"copy_of\": \"ID\", \"id\": \"my-id\", …}` (see `alert-reference.md`). Every alert has case files in\n\
         `tests/cases/builtin/` with at least one real event that fires it and one near-miss that does not.\n\n",
    );
    let all = builtin_alerts();
    out.push_str(&format!("{} alerts.\n\n| id | name | risk | on | watches (and skips) | references |\n|---|---|---|---|---|---|\n", all.len()));
    for a in &all {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} |\n",
            a.id,
            md(&a.name),
            a.risk,
            if a.enabled { "yes" } else { "no" },
            md(&a.description),
            md(&a.references.join("; "))
        ));
    }
    out.push_str("\n## Definitions\n\n");
    for a in &all {
        out.push_str(&format!(
            "### `{}`\n\n```json\n{}\n```\n\n",
            a.id,
            serde_json::to_string_pretty(a).unwrap()
        ));
    }
    check_generated("docs/builtin-alerts.md", &out);
}

/// Which Stratus Red Team techniques the catalog detects, and what fires on benign events.
#[test]
fn detection_coverage_doc_is_current() {
    let dir = tests_dir().join("data/corpus/stratus-red-team");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut rows = String::new();
    let mut detected = 0;
    for f in &files {
        let technique = f
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .trim_start_matches("aws.")
            .to_owned();
        let alerts = alerts_fired(f);
        // CIS 4.1 alone fires on any denied call; a technique counts as detected by a specific alert.
        let specific: Vec<&String> = alerts
            .keys()
            .filter(|a| a.as_str() != "cis-4.1-unauthorized-api-calls")
            .collect();
        if !specific.is_empty() {
            detected += 1;
        }
        let list: Vec<String> = alerts.iter().map(|(a, n)| format!("`{a}` ×{n}")).collect();
        rows.push_str(&format!(
            "| {technique} | {} | {} |\n",
            if specific.is_empty() { "**no**" } else { "yes" },
            list.join(", ")
        ));
    }
    let benign = alerts_fired(&tests_dir().join("data/corpus/awsdocs_examples.jsonl"));
    let benign_total: usize = benign.values().sum();
    let benign_list: Vec<String> = benign.iter().map(|(a, n)| format!("`{a}` ×{n}")).collect();
    let out = format!(
        "# Detection coverage on real CloudTrail records\n\nGenerated by `tests/tests/catalog.rs` from the records in `tests/data/corpus/` (sources and licences in\n\
         its `SOURCES.md`) with the default catalog (every built-in that is on by default).\n\n\
         ## Stratus Red Team techniques\n\n\
         **{detected} of {} techniques detected** by at least one specific alert (not counting `cis-4.1-unauthorized-api-calls`,\n\
         which fires on any denied call).\n\n| technique | detected | results |\n|---|---|---|\n{rows}\n\
         ## Benign events\n\n\
         The 36 AWS documentation example records (ordinary sign-ins, instance starts, role assumptions, bucket reads,\n\
         service events) belong to no attack. {benign_total} results fire on them: {}.\n\
         They are sign-ins and calls of the root user (`cis-4.3`, `root-console-login`), failed sign-ins (`cis-4.6`), an IAM user\n\
         console sign-in without MFA (`cis-4.2`), a user and a bucket ACL created (by design, these alerts report changes).\n",
        files.len(),
        benign_list.join(", ")
    ) + &otrf_section()
        + &panther_agreement();
    check_generated("docs/detection-coverage.md", &out);
}

/// The OTRF CloudGoat exfiltration (stolen instance-profile credentials used from outside).
fn otrf_section() -> String {
    let path = tests_dir().join("data/corpus/otrf_ec2_proxy_s3_exfiltration.jsonl");
    let default = alerts_fired(&path);
    let buf = std::fs::read(&path).unwrap();
    let mut engine = Engine::builder().build().unwrap();
    engine.set_enabled("instance-credentials-used-outside-aws", true);
    let mut with = BTreeMap::new();
    for rec in trailalerts::Records::new(&buf).flatten() {
        if let Ok(ev) = Event::from_raw_value(rec.value) {
            for r in engine.evaluate(&ev) {
                *with.entry(r.alert_id).or_insert(0usize) += 1;
            }
        }
    }
    let fmt = |m: &BTreeMap<String, usize>| {
        if m.is_empty() {
            "nothing".to_owned()
        } else {
            m.iter()
                .map(|(a, n)| format!("`{a}` ×{n}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    format!(
        "\n## OTRF: EC2 SSRF to S3 exfiltration\n\n\
         103 records of the CloudGoat `cloud_breach_s3` scenario: an IAM user's console reads, then the web server's instance-profile\n\
         credentials (stolen through SSRF) list and download buckets from the attacker's address. With the default catalog: {}.\n\
         With `instance-credentials-used-outside-aws` turned on (off by default, see the catalog): {}.\n",
        fmt(&default),
        fmt(&with)
    )
}

/// Agreement with the labelled Panther unit-test events of rules whose meaning a built-in shares.
fn panther_agreement() -> String {
    let text = std::fs::read_to_string(tests_dir().join("data/corpus/panther_mapped_cases.jsonl"))
        .unwrap();
    let template = Engine::builder().build().unwrap();
    let mut per_rule: BTreeMap<String, (usize, usize, usize, usize)> = BTreeMap::new();
    let mut differences = Vec::new();
    let mut rejected = Vec::new();
    for line in text.lines() {
        let case: Value = serde_json::from_str(line).unwrap();
        let raw = serde_json::to_string(&case["event"]).unwrap();
        let ev = match Event::parse(&raw) {
            Ok(ev) => ev,
            Err(e) => {
                rejected.push(format!(
                    "- {} / {}: {}\n",
                    case["rule_id"].as_str().unwrap(),
                    case["test_name"].as_str().unwrap(),
                    e
                ));
                continue;
            }
        };
        let mut engine = template.clone();
        let fired: Vec<String> = engine
            .evaluate(&ev)
            .into_iter()
            .map(|r| r.alert_id)
            .collect();
        let alerts: Vec<&str> = case["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let ours = fired.iter().any(|f| alerts.contains(&f.as_str()));
        let expected = case["expected"].as_bool().unwrap();
        let row = per_rule
            .entry(case["rule_id"].as_str().unwrap().to_owned())
            .or_default();
        if expected {
            row.0 += 1;
            row.1 += usize::from(ours);
        } else {
            row.2 += 1;
            row.3 += usize::from(!ours);
        }
        if ours != expected {
            differences.push(format!(
                "| {} | {} | {} | {} |\n",
                case["rule_id"].as_str().unwrap(),
                md(case["test_name"].as_str().unwrap()),
                if expected { "fires" } else { "quiet" },
                alerts.join(", ")
            ));
        }
    }
    let (mut t, mut tf, mut f, mut fq) = (0, 0, 0, 0);
    let mut rows = String::new();
    for (rule, (a, b, c, d)) in &per_rule {
        rows.push_str(&format!("| {rule} | {b}/{a} | {d}/{c} |\n"));
        t += a;
        tf += b;
        f += c;
        fq += d;
    }
    format!(
        "\n## Panther's labelled cases\n\n\
         Panther's unit-test events for {} rules whose meaning one of our built-ins shares (`tests/data/corpus/panther_mapped_cases.jsonl`).\n\
         Where Panther expects an alert we fire on **{tf} of {t}**; where it expects silence we stay quiet on **{fq} of {f}**.\n\n\
         | Panther rule | we fire on its positives | we stay quiet on its negatives |\n|---|---|---|\n{rows}\n\
         Every difference, and why: our CIS alerts keep the benchmark's scope (StartLogging, CreateTrail, recorder creation,\n\
         root read-only calls all count); we report any change of a role trust policy, event selectors or function code where\n\
         Panther inspects the new content or the caller's role name (add an ignore for your CI role); Panther allow-lists its\n\
         own scanner and treats a user creating keys or setting a password for themselves as benign, which needs comparing two\n\
         fields of one event (not expressible in an alert; add an ignore per user if it is noise); we only call a Lambda permission\n\
         public when its principal is `*`.\n\n\
         | Panther rule | test | Panther | our alerts |\n|---|---|---|---|\n{}\n\
         Test events we reject as malformed (reported as bad records, not evaluated):\n\n{}",
        per_rule.len(),
        differences.concat(),
        rejected.concat()
    )
}

fn alerts_fired(path: &Path) -> BTreeMap<String, usize> {
    let buf = std::fs::read(path).unwrap();
    let mut engine = Engine::builder().build().unwrap();
    let mut out = BTreeMap::new();
    for rec in trailalerts::Records::new(&buf).flatten() {
        if let Ok(ev) = Event::from_raw_value(rec.value) {
            for r in engine.evaluate(&ev) {
                *out.entry(r.alert_id).or_insert(0) += 1;
            }
        }
    }
    out
}
