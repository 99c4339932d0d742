//! Splitting an in-memory buffer into CloudTrail records. Pure: reading files and
//! decompressing happen in the adapters; this module only sees bytes.
//!
//! Accepted shapes, detected from the content:
//! - a CloudTrail log file `{"Records":[ … ]}` (several concatenated, as `zcat *.gz` gives),
//! - a JSON array of events,
//! - JSON Lines (one event per line) or any sequence of event objects,
//! - a single event object.
//!
//! A record that is not valid JSON is reported with its position and skipped. Inside a
//! `Records` array a syntax error ends that array (a truncated file keeps every record before the
//! damage); at the top level the reader resumes at the next line that starts with `{` or `[`.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::{EventError, Position};
use crate::event::Event;
use crate::validate::ws;

/// One record's JSON text and where it was found.
#[derive(Debug, Clone)]
pub struct RawRecord<'a> {
    /// The record's JSON text.
    pub raw: &'a str,
    /// The same text as a JSON value (already checked to be one valid value).
    pub value: &'a RawValue,
    /// Its position (line for top-level values, record index inside a `Records` array).
    pub position: Position,
}

/// A record as the reader finds it: its `RawValue` when serde_json delimited it, none when
/// the fast scanner did ([`Records::next_text`]).
struct Found<'a> {
    raw: &'a str,
    value: Option<&'a RawValue>,
    position: Position,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Top,
    // Inside `[ … ]`; `wrapped` when the array is the value of a `Records` key.
    Array {
        wrapped: bool,
        line: u64,
        index: u64,
    },
    Done,
}

/// Iterator over the records of a buffer. Yields `Err` for each bad record and carries on.
///
/// ```
/// use trailalerts::Records;
/// let buf = br#"{"Records":[{"eventName":"A"},{"eventName":"B"}]}"#;
/// let recs: Vec<_> = Records::new(buf).collect::<Result<_, _>>().unwrap();
/// assert_eq!(recs.len(), 2);
/// assert_eq!(recs[1].position.record, Some(1));
///
/// let jsonl = b"{\"eventName\":\"A\"}\nnot json\n{\"eventName\":\"B\"}\n";
/// let all: Vec<_> = Records::new(jsonl).collect();
/// assert!(all[0].is_ok() && all[1].is_err() && all[2].is_ok());
/// assert_eq!(all[1].as_ref().unwrap_err().position().line, Some(2));
/// ```
#[derive(Debug)]
pub struct Records<'a> {
    buf: &'a [u8],
    // `buf` as text when all of it is UTF-8 (checked once, which is much faster than
    // serde_json checking every record's bytes again); records are then read from it.
    text: Option<&'a str>,
    // Delimit objects with the fast scanner (`next_text`), not as serde_json `RawValue`s.
    fast: bool,
    // No byte of `buf` is below 0x20 (checked with the UTF-8 check's first use).
    no_controls: Option<bool>,
    pos: usize,
    state: State,
    // Line counting is incremental: offsets only move forward.
    line_at: usize,
    line: u64,
}

impl<'a> Records<'a> {
    /// Starts reading `buf` (a UTF-8 byte order mark is skipped).
    pub fn new(buf: &'a [u8]) -> Self {
        let pos = if buf.starts_with(b"\xEF\xBB\xBF") {
            3
        } else {
            0
        };
        Self {
            buf,
            text: std::str::from_utf8(buf).ok(),
            fast: false,
            no_controls: None,
            pos,
            state: State::Top,
            line_at: 0,
            line: 1,
        }
    }

    fn line_of(&mut self, offset: usize) -> u64 {
        if offset >= self.line_at {
            let seg = self.buf.get(self.line_at..offset).unwrap_or_default();
            self.line += seg.iter().filter(|&&b| b == b'\n').count() as u64;
            self.line_at = offset;
        }
        self.line
    }

    fn skip_ws(&mut self) {
        self.pos = ws(self.buf, self.pos);
    }

    fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    /// Parses one JSON value at `self.pos`, returning its text, its `RawValue` (unless the
    /// fast scanner found it) and its end offset.
    fn value_at(&mut self) -> Result<(&'a str, Option<&'a RawValue>, usize), (usize, String)> {
        if self.fast {
            // Only in UTF-8 text; anything the scanner is unsure of goes to serde_json.
            let buf = self.buf;
            let no_controls = *self
                .no_controls
                .get_or_insert_with(|| no_control_bytes(buf));
            let found = self.text.and_then(|t| {
                let end = crate::validate::object_end(self.buf, self.pos, no_controls)?;
                Some((t.get(self.pos..end)?, end))
            });
            if let Some((raw, end)) = found {
                return Ok((raw, None, end));
            }
        }
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        // `pos` only ever stops on ASCII bytes, so `get` finds a char boundary; if it did
        // not, the byte path below reports the same errors.
        let parsed = match self.text.and_then(|t| t.get(self.pos..)) {
            Some(text) => <&RawValue>::deserialize(&mut serde_json::Deserializer::from_str(text)),
            None => <&RawValue>::deserialize(&mut serde_json::Deserializer::from_slice(rest)),
        };
        match parsed {
            Ok(v) => {
                let text = v.get();
                let start = text.as_ptr() as usize - self.buf.as_ptr() as usize;
                Ok((text, Some(v), start + text.len()))
            }
            Err(e) => {
                let at = self.pos + offset_in(rest, e.line(), e.column());
                let msg = crate::event::describe_json_error(&e);
                let msg = msg.split(" (at column").next().unwrap_or(&msg).to_owned();
                Err((at, msg))
            }
        }
    }

    /// Skips to the next line that begins with `{` or `[`, after a top-level error.
    fn resync(&mut self) {
        let mut i = self.pos;
        while let Some(&b) = self.buf.get(i) {
            i += 1;
            if b == b'\n' && matches!(self.buf.get(i), Some(b'{' | b'[')) {
                self.pos = i;
                return;
            }
        }
        self.pos = self.buf.len();
    }

    /// At `{`: is this a `{"Records": [` wrapper? If so, consume through `[`.
    fn enter_records(&mut self) -> bool {
        match self.wrapper_at(self.pos) {
            Some(i) => {
                self.pos = i;
                true
            }
            None => false,
        }
    }

    /// If a `{"Records": [` wrapper starts at `at`, the offset just after its `[`.
    fn wrapper_at(&self, at: usize) -> Option<usize> {
        let mut i = ws(self.buf, at + 1);
        if !self
            .buf
            .get(i..)
            .is_some_and(|r| r.starts_with(b"\"Records\""))
        {
            return None;
        }
        i = ws(self.buf, i + 9);
        if self.buf.get(i) != Some(&b':') {
            return None;
        }
        i = ws(self.buf, i + 1);
        if self.buf.get(i) != Some(&b'[') {
            return None;
        }
        Some(i + 1)
    }

    fn next_found(&mut self) -> Option<Result<Found<'a>, EventError>> {
        match self.state {
            State::Done => None,
            State::Top => self.next_top(),
            State::Array {
                wrapped,
                line,
                index,
            } => self.next_in_array(wrapped, line, index),
        }
    }

    /// The next record's text and position, checked to be one valid JSON value: the same
    /// records and errors as [`Iterator::next`], without a `RawValue`. Faster: objects in UTF-8
    /// text are delimited by a scanner that only checks JSON syntax (serde_json takes over
    /// for anything else, and for the wording of errors).
    ///
    /// ```
    /// use trailalerts::Records;
    /// let buf = br#"{"Records":[{"eventName":"A"},{"eventName":}]}"#;
    /// let mut recs = Records::new(buf);
    /// let (text, pos) = recs.next_text().unwrap().unwrap();
    /// assert_eq!((text, pos.record), (r#"{"eventName":"A"}"#, Some(0)));
    /// assert!(recs.next_text().unwrap().is_err());
    /// assert!(recs.next_text().is_none());
    /// ```
    pub fn next_text(&mut self) -> Option<Result<(&'a str, Position), EventError>> {
        self.fast = true;
        let found = self.next_found();
        self.fast = false;
        Some(found?.map(|f| (f.raw, f.position)))
    }

    /// The next record as an [`Event`]: the same as [`Iterator::next`] followed by
    /// [`Event::from_raw_value`], errors included (a record that is not valid JSON, or valid
    /// JSON that is not an event, comes back as an `Err` with the record's position), but a
    /// well-formed event's text is read once instead of twice (delimited as a JSON value, then
    /// parsed). Use it when every record is parsed anyway.
    ///
    /// ```
    /// use trailalerts::Records;
    /// let buf = br#"{"Records":[{"eventName":"A"},{"eventSource":"s3.amazonaws.com"},{"eventName":"B"}]}"#;
    /// let mut recs = Records::new(buf);
    /// let (a, pos) = recs.next_event().unwrap().unwrap();
    /// assert_eq!((a.event_name(), pos.record), (Some("A"), Some(0)));
    /// let bad = recs.next_event().unwrap().unwrap_err();
    /// assert!(bad.to_string().contains("eventName"));
    /// assert_eq!(recs.next_event().unwrap().unwrap().0.event_name(), Some("B"));
    /// assert!(recs.next_event().is_none());
    /// ```
    pub fn next_event(&mut self) -> Option<Result<(Event<'a>, Position), EventError>> {
        if let Some(found) = self.try_event() {
            return Some(Ok(found));
        }
        let rec = match self.next()? {
            Ok(rec) => rec,
            Err(e) => return Some(Err(e)),
        };
        Some(match Event::from_raw_value(rec.value) {
            Ok(ev) => Ok((ev, rec.position)),
            Err(problem) => Err(EventError::new(rec.position, problem)),
        })
    }

    /// The one-pass path of [`Records::next_event`]: parses the event at the next record's
    /// position and moves past it as `next` would have. `None`, with nothing consumed, when
    /// the next item is not a well-formed event (or not a record at all): `next` then takes
    /// over and reports exactly what it always reports.
    fn try_event(&mut self) -> Option<(Event<'a>, Position)> {
        let text = self.text?;
        let mut i = ws(self.buf, self.pos);
        match self.state {
            State::Array {
                wrapped,
                line,
                index,
            } => {
                if index > 0 && self.buf.get(i) == Some(&b',') {
                    i = ws(self.buf, i + 1);
                }
                let (ev, len) = Event::parse_prefix(text.get(i..)?)?;
                self.pos = i + len;
                self.state = State::Array {
                    wrapped,
                    line,
                    index: index + 1,
                };
                Some((
                    ev,
                    Position {
                        source: None,
                        line: Some(line),
                        record: Some(index),
                        offset: Some(i as u64),
                    },
                ))
            }
            State::Top => {
                if self.wrapper_at(i).is_some() {
                    return None;
                }
                let (ev, len) = Event::parse_prefix(text.get(i..)?)?;
                let line = self.line_of(i);
                self.pos = i + len;
                Some((
                    ev,
                    Position {
                        line: Some(line),
                        offset: Some(i as u64),
                        ..Position::default()
                    },
                ))
            }
            State::Done => None,
        }
    }

    /// An error for the value starting at `start`, found at byte `at`.
    fn err(&mut self, start: usize, at: usize, record: Option<u64>, problem: String) -> EventError {
        let line = self.line_of(start);
        EventError::new(
            Position {
                source: None,
                line: Some(line),
                record,
                offset: Some(at as u64),
            },
            problem,
        )
    }

    fn next_top(&mut self) -> Option<Result<Found<'a>, EventError>> {
        self.skip_ws();
        let start = self.pos;
        match self.peek()? {
            b'{' => {
                let line = self.line_of(start);
                if self.enter_records() {
                    self.state = State::Array {
                        wrapped: true,
                        line,
                        index: 0,
                    };
                    return self.next_found();
                }
                match self.value_at() {
                    Ok((raw, value, end)) => {
                        self.pos = end;
                        Some(Ok(Found {
                            raw,
                            value,
                            position: Position {
                                line: Some(line),
                                offset: Some(start as u64),
                                ..Position::default()
                            },
                        }))
                    }
                    Err((at, msg)) => {
                        let e = self.err(start, at, None, msg);
                        self.resync();
                        Some(Err(e))
                    }
                }
            }
            b'[' => {
                let line = self.line_of(start);
                self.pos += 1;
                self.state = State::Array {
                    wrapped: false,
                    line,
                    index: 0,
                };
                self.next_found()
            }
            other => {
                let what = if other.is_ascii_graphic() {
                    format!("`{}`", other as char)
                } else {
                    format!("byte 0x{other:02x}")
                };
                let e = self.err(
                    start,
                    start,
                    None,
                    format!("expected a JSON object or array, found {what}"),
                );
                self.resync();
                Some(Err(e))
            }
        }
    }

    fn next_in_array(
        &mut self,
        wrapped: bool,
        line: u64,
        index: u64,
    ) -> Option<Result<Found<'a>, EventError>> {
        self.skip_ws();
        if self.peek() == Some(b',') && index > 0 {
            self.pos += 1;
            self.skip_ws();
        }
        match self.peek() {
            Some(b']') => {
                self.pos += 1;
                self.state = State::Top;
                if wrapped {
                    return self.close_wrapper();
                }
                return self.next_found();
            }
            None => {
                self.state = State::Done;
                let at = self.pos;
                return Some(Err(self.err(
                    at,
                    at,
                    Some(index),
                    "unexpected end of input inside the records array (truncated file?)".into(),
                )));
            }
            _ => {}
        }
        let start = self.pos;
        match self.value_at() {
            Ok((raw, value, end)) => {
                self.pos = end;
                self.state = State::Array {
                    wrapped,
                    line,
                    index: index + 1,
                };
                Some(Ok(Found {
                    raw,
                    value,
                    position: Position {
                        source: None,
                        line: Some(line),
                        record: Some(index),
                        offset: Some(start as u64),
                    },
                }))
            }
            Err((at, msg)) => {
                let skipped = self.buf.len() - start;
                self.state = State::Done;
                Some(Err(self.err(
                    start,
                    at,
                    Some(index),
                    format!("{msg}; the rest of this input ({skipped} bytes) was skipped"),
                )))
            }
        }
    }

    /// After the `]` of `{"Records":[…]`: skip any further keys, then the closing `}`.
    fn close_wrapper(&mut self) -> Option<Result<Found<'a>, EventError>> {
        loop {
            self.skip_ws();
            match self.peek() {
                Some(b'}') => {
                    self.pos += 1;
                    return self.next_found();
                }
                Some(b',') => {
                    self.pos += 1;
                    self.skip_ws();
                    // key, colon, value
                    let ok = self
                        .value_at()
                        .ok()
                        .map(|(_, _, end)| self.pos = end)
                        .is_some()
                        && {
                            self.skip_ws();
                            self.peek() == Some(b':')
                        }
                        && {
                            self.pos += 1;
                            self.skip_ws();
                            self.value_at()
                                .ok()
                                .map(|(_, _, end)| self.pos = end)
                                .is_some()
                        };
                    if !ok {
                        let at = self.pos;
                        self.state = State::Done;
                        return Some(Err(self.err(
                            at,
                            at,
                            None,
                            "malformed log file object after the records array".into(),
                        )));
                    }
                }
                _ => {
                    let at = self.pos;
                    self.state = State::Done;
                    return Some(Err(self.err(
                        at,
                        at,
                        None,
                        "expected `}` after the records array".into(),
                    )));
                }
            }
        }
    }
}

/// Whether no byte of `buf` is below 0x20. Chunks without an early exit inside, so the
/// compiler vectorizes the inner loop (a plain `any` goes byte by byte).
fn no_control_bytes(buf: &[u8]) -> bool {
    buf.chunks(256)
        .all(|c| c.iter().fold(0u8, |m, &b| m | u8::from(b < 0x20)) == 0)
}

/// The non-blank lines of a JSON Lines buffer with their 1-based line numbers, split without
/// parsing (for [`crate::Engine::evaluate_batch`], which parses only what may match).
pub fn jsonl_lines(buf: &[u8]) -> Vec<(u64, &[u8])> {
    let mut out = Vec::new();
    let mut start = 0;
    for (line, end) in
        (1u64..).zip(memchr::memchr_iter(b'\n', buf).chain(std::iter::once(buf.len())))
    {
        if let Some(l) = buf.get(start..end)
            && !l.trim_ascii().is_empty()
        {
            out.push((line, l));
        }
        start = end + 1;
    }
    out
}

/// Converts serde_json's 1-based line/column into a byte offset within `buf`.
fn offset_in(buf: &[u8], line: usize, column: usize) -> usize {
    let mut off = 0usize;
    let mut l = 1usize;
    while l < line {
        match buf
            .get(off..)
            .and_then(|r| r.iter().position(|&b| b == b'\n'))
        {
            Some(p) => {
                off += p + 1;
                l += 1;
            }
            None => return buf.len(),
        }
    }
    (off + column.saturating_sub(1)).min(buf.len())
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<RawRecord<'a>, EventError>;

    fn next(&mut self) -> Option<Self::Item> {
        let found = match self.next_found()? {
            Ok(found) => found,
            Err(e) => return Some(Err(e)),
        };
        // Not in fast mode, so serde_json delimited it and `value` is there; were it not,
        // checking the text again gives the same value (or the error).
        let value = match found.value {
            Some(v) => v,
            None => match serde_json::from_str::<&RawValue>(found.raw) {
                Ok(v) => v,
                Err(e) => {
                    let problem = crate::event::describe_json_error(&e);
                    return Some(Err(EventError::new(found.position, problem)));
                }
            },
        };
        Some(Ok(RawRecord {
            raw: found.raw,
            value,
            position: found.position,
        }))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing, reason = "tests")]
    use super::*;

    fn collect(b: &[u8]) -> (Vec<String>, Vec<EventError>) {
        let mut ok = vec![];
        let mut bad = vec![];
        for r in Records::new(b) {
            match r {
                Ok(r) => ok.push(r.raw.to_owned()),
                Err(e) => bad.push(e),
            }
        }
        (ok, bad)
    }

    #[test]
    fn shapes() {
        assert_eq!(collect(br#"{"eventName":"A"}"#).0.len(), 1);
        assert_eq!(
            collect(br#"[{"eventName":"A"}, {"eventName":"B"}]"#)
                .0
                .len(),
            2
        );
        assert_eq!(collect(b"{\"Records\":[]}").0.len(), 0);
        assert_eq!(collect(b"").0.len(), 0);
        assert_eq!(
            collect(b"\xEF\xBB\xBF{\"Records\" : [ {\"a\":1} ] , \"x\": {\"y\":[1]} }")
                .0
                .len(),
            1
        );
        // zcat of two log files: no separator at all
        let (ok, bad) = collect(br#"{"Records":[{"a":1},{"a":2}]}{"Records":[{"a":3}]}"#);
        assert_eq!((ok.len(), bad.len()), (3, 0));
    }

    #[test]
    fn truncated_log_keeps_earlier_records() {
        let (ok, bad) = collect(br#"{"Records":[{"a":1},{"a":2},{"a":"#);
        assert_eq!(ok.len(), 2);
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].position().record, Some(2));
        assert!(bad[0].problem().contains("skipped"), "{}", bad[0]);
        let (ok, bad) = collect(br#"{"Records":[{"a":1}"#);
        assert_eq!((ok.len(), bad.len()), (1, 1));
    }

    #[test]
    fn jsonl_errors_are_positioned_and_skipped() {
        let b = b"{\"a\":1}\n{\"a\":\n{\"a\":3}\n\xff\xfe\n{\"a\":\"\xff\"}\n{\"a\":5}";
        let (ok, bad) = collect(b);
        assert_eq!(
            ok,
            vec![
                r#"{"a":1}"#.to_owned(),
                r#"{"a":3}"#.into(),
                r#"{"a":5}"#.into()
            ]
        );
        assert_eq!(bad.len(), 3, "{bad:?}");
        assert_eq!(bad[0].position().line, Some(2));
        assert_eq!(bad[1].position().line, Some(4));
        assert_eq!(bad[2].position().line, Some(5));
    }
}
