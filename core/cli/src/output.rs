//! Result and alert-list rendering.

use std::io::{self, Write};

use trailalerts::export::Column;
#[cfg(test)]
use trailalerts::export::csv_cell;
use trailalerts::export::push_csv_cell;
use trailalerts::{AlertDef, AlertResult, StoredIgnore, StoredResult};

use crate::Format;

const CSV_COLUMNS: &[&str] = &[
    "id",
    "alert_id",
    "alert_name",
    "risk",
    "event_id",
    "event_time",
    "event_name",
    "event_source",
    "region",
    "user",
    "source_ip",
    "error_code",
    "account_id",
    "count",
];

/// Streams results in one format.
pub struct ResultWriter<W: Write> {
    w: W,
    format: Format,
    rows: usize,
    // One CSV line, reused from row to row.
    line: String,
}

/// Keeps table cells on one line and within `width` characters.
fn cell(s: &str, width: usize) -> String {
    let clean: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if clean.chars().count() <= width {
        format!("{clean:<width$}")
    } else {
        let mut t: String = clean.chars().take(width.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

impl<W: Write> ResultWriter<W> {
    pub fn new(w: W, format: Format) -> Self {
        Self {
            w,
            format,
            rows: 0,
            line: String::new(),
        }
    }

    pub fn write(&mut self, r: &AlertResult) -> io::Result<()> {
        if self.rows == 0 {
            self.header()?;
        }
        self.rows += 1;
        let o = |v: &Option<String>| v.clone().unwrap_or_default();
        match self.format {
            Format::Jsonl => writeln!(self.w, "{}", r.to_json_line()),
            Format::Csv => {
                let count = r.count.map(|c| c.to_string()).unwrap_or_default();
                let cells: [&str; 14] = [
                    &r.id,
                    &r.alert_id,
                    &r.alert_name,
                    r.risk.as_str(),
                    &r.event_id,
                    r.event_time.as_deref().unwrap_or_default(),
                    r.event_name.as_deref().unwrap_or_default(),
                    r.event_source.as_deref().unwrap_or_default(),
                    r.region.as_deref().unwrap_or_default(),
                    &r.user,
                    r.source_ip.as_deref().unwrap_or_default(),
                    r.error_code.as_deref().unwrap_or_default(),
                    r.account_id.as_deref().unwrap_or_default(),
                    &count,
                ];
                self.line.clear();
                for (i, c) in cells.iter().enumerate() {
                    if i > 0 {
                        self.line.push(',');
                    }
                    push_csv_cell(&mut self.line, c);
                }
                self.line.push_str("\r\n");
                self.w.write_all(self.line.as_bytes())
            }
            Format::Table => {
                let count = r.count.map(|c| format!("×{c}")).unwrap_or_default();
                writeln!(
                    self.w,
                    "{} {} {} {} {} {} {} {}",
                    cell(&o(&r.event_time), 20),
                    cell(r.risk.as_str(), 8),
                    cell(&r.alert_id, 34),
                    cell(&o(&r.event_name), 30),
                    cell(&r.user, 28),
                    cell(&o(&r.region), 14),
                    cell(&o(&r.source_ip), 16),
                    count
                )
            }
        }
    }

    fn header(&mut self) -> io::Result<()> {
        match self.format {
            Format::Jsonl => Ok(()),
            Format::Csv => write!(self.w, "{}\r\n", CSV_COLUMNS.join(",")),
            Format::Table => writeln!(
                self.w,
                "{} {} {} {} {} {} {} COUNT",
                cell("TIME", 20),
                cell("RISK", 8),
                cell("ALERT", 34),
                cell("EVENT", 30),
                cell("USER", 28),
                cell("REGION", 14),
                cell("SOURCE IP", 16)
            ),
        }
    }

    /// Hands what was written so far to the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }

    pub fn finish(&mut self) -> io::Result<()> {
        if self.rows == 0 {
            match self.format {
                Format::Table => writeln!(self.w, "No alerts fired.")?,
                Format::Csv => self.header()?,
                Format::Jsonl => {}
            }
        }
        self.w.flush()
    }
}

pub fn alert_table(w: &mut impl Write, defs: &[AlertDef]) -> io::Result<()> {
    writeln!(
        w,
        "{} {} {} NAME",
        cell("ID", 44),
        cell("RISK", 8),
        cell("ENABLED", 7)
    )?;
    for d in defs {
        writeln!(
            w,
            "{} {} {} {}",
            cell(&d.id, 44),
            cell(d.risk.as_str(), 8),
            cell(if d.enabled { "yes" } else { "no" }, 7),
            d.name
        )?;
    }
    Ok(())
}

fn width(c: Column) -> usize {
    use trailalerts::SortField as F;
    match c {
        Column::Id => 32,
        Column::Raw => 60,
        Column::Notifications => 24,
        Column::Field(F::EventTime | F::RecordedAt) => 20,
        Column::Field(F::Risk | F::Count) => 8,
        Column::Field(F::AlertId | F::AlertName) => 34,
        Column::Field(F::EventName | F::EventSource | F::User) => 28,
        Column::Field(_) => 16,
    }
}

/// Stored results as a table of the chosen columns.
pub fn stored_table(
    w: &mut impl Write,
    rows: &[StoredResult],
    columns: &[Column],
) -> io::Result<()> {
    if rows.is_empty() {
        return writeln!(w, "No results.");
    }
    let header: Vec<String> = columns
        .iter()
        .map(|c| cell(&c.name().to_uppercase(), width(*c)))
        .collect();
    writeln!(w, "{}", header.join(" ").trim_end())?;
    for r in rows {
        let line: Vec<String> = columns
            .iter()
            .map(|&c| {
                let v: serde_json::Value =
                    serde_json::from_str(&trailalerts::export::json_line(r, &[c]))
                        .unwrap_or_default();
                let text = match v.get(c.name()) {
                    Some(serde_json::Value::String(s)) => s.clone(),
                    Some(serde_json::Value::Null) | None => String::new(),
                    Some(other) => other.to_string(),
                };
                cell(&text, width(c))
            })
            .collect();
        writeln!(w, "{}", line.join(" ").trim_end())?;
    }
    Ok(())
}

/// Ignores as a table.
pub fn ignore_table(w: &mut impl Write, list: &[StoredIgnore]) -> io::Result<()> {
    if list.is_empty() {
        return writeln!(w, "No ignores.");
    }
    writeln!(
        w,
        "{} {} {} {} NOTE",
        cell("ALERT", 34),
        cell("ID", 24),
        cell("SILENCED", 8),
        cell("MATCHES", 50)
    )?;
    for i in list {
        let ig = &i.ignore;
        let mut parts = Vec::new();
        for (k, v) in [
            ("region", &ig.region),
            ("service", &ig.service),
            ("event", &ig.event),
            ("user", &ig.user),
            ("identity_type", &ig.identity_type),
        ] {
            if let Some(v) = v {
                parts.push(format!("{k}={v}"));
            }
        }
        if let Some(p) = &ig.request_parameter {
            parts.push(format!("request.{}={}", p.path, p.value));
        }
        if let Some(p) = &ig.response_element {
            parts.push(format!("response.{}={}", p.path, p.value));
        }
        writeln!(
            w,
            "{} {} {} {} {}",
            cell(ig.alert_id.as_deref().unwrap_or("(global)"), 34),
            cell(&ig.id, 24),
            cell(&i.silenced.to_string(), 8),
            cell(&parts.join(" "), 50),
            ig.note.as_deref().unwrap_or("").replace(['\n', '\r'], " ")
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quoting_and_formula_neutralising() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("line\nbreak"), "\"line\nbreak\"");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("@SUM(1)"), "'@SUM(1)");
        assert_eq!(
            csv_cell("-2+3+cmd|' /C calc'!A0"),
            "'-2+3+cmd|' /C calc'!A0"
        );
        assert_eq!(csv_cell("+1, 2"), "\"'+1, 2\"");
        assert_eq!(csv_cell(" padded "), "\" padded \"");
    }

    #[test]
    fn table_cells_stay_on_one_line() {
        assert_eq!(cell("a\nb", 5), "a b  ");
        assert_eq!(cell("abcdefgh", 5), "abcd…");
    }
}
