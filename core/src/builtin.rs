//! The built-in alert catalog, compiled into the crate as JSON (`core/builtin/*.json`).

use std::sync::OnceLock;

use crate::alert::AlertDef;

const SOURCES: &[(&str, &str)] = &[
    ("cis.json", include_str!("../builtin/cis.json")),
    ("catalog.json", include_str!("../builtin/catalog.json")),
];

fn load() -> Vec<AlertDef> {
    let mut out: Vec<AlertDef> = Vec::new();
    for (name, text) in SOURCES {
        match AlertDef::parse_many(text, &out) {
            Ok(defs) => out.extend(defs),
            // A test loads every built-in, so this cannot ship; keep going rather than panic.
            Err(e) => debug_assert!(false, "built-in catalog {name}: {e}"),
        }
    }
    out
}

/// Every built-in alert definition, in catalog order.
///
/// ```
/// let all = trailalerts::builtin_alerts();
/// assert!(all.iter().any(|a| a.id == "cis-4.3-root-account-usage"));
/// ```
pub fn builtin_alerts() -> Vec<AlertDef> {
    static CATALOG: OnceLock<Vec<AlertDef>> = OnceLock::new();
    CATALOG.get_or_init(load).clone()
}

/// One built-in by id.
pub fn builtin_alert(id: &str) -> Option<AlertDef> {
    builtin_alerts().into_iter().find(|a| a.id == id)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]
    use super::*;

    #[test]
    fn every_builtin_parses_and_compiles() {
        let mut total = 0;
        let mut ids = std::collections::HashSet::new();
        for (name, text) in SOURCES {
            let defs = AlertDef::parse_many(text, &[]).unwrap_or_else(|e| panic!("{name}: {e}"));
            for d in defs {
                assert!(ids.insert(d.id.clone()), "duplicate id {}", d.id);
                assert!(
                    !d.description.is_empty() && !d.references.is_empty(),
                    "{} lacks description/references",
                    d.id
                );
                crate::alert::CompiledAlert::compile(d).unwrap();
                total += 1;
            }
        }
        assert_eq!(total, builtin_alerts().len());
    }
}
