//! A direct reader for the fields an event needs, for the common case.
//!
//! serde_json's derived parse spends most of its time on the machinery around the data
//! (matching key names through visitors, checking each skipped value through its general
//! deserializer). This reader walks the object once with the record scanner
//! ([`crate::validate`]), matches the keys it knows and skips the rest, checking everything it
//! passes over. Like the scanner it is one-sided: anything unusual (escaped keys, a value of an
//! unexpected type, a repeated key, deep nesting, any syntax error) makes it give up, and the
//! serde path parses the event and words the error. What it must guarantee is that when it
//! succeeds, the serde path would have produced the same fields (a property test and a fuzz
//! check compare the two).

use std::borrow::Cow;

use super::{Fields, Resource, S, SessionIssuer, UserIdentity};
use crate::validate::{string_scan, value_end, ws};

/// The fields of the event object that is all of `text` (whitespace around it aside).
pub(super) fn fields_whole(text: &str) -> Option<Fields<'_>> {
    let b = text.as_bytes();
    let (f, end) = fields_at(text, ws(b, 0))?;
    (ws(b, end) == b.len()).then_some(f)
}

/// The fields of the event object starting at `text[i]`, and where it ends.
pub(super) fn fields_at(text: &str, i: usize) -> Option<(Fields<'_>, usize)> {
    let mut f = Fields::default();
    let mut seen = 0u32;
    let end = object(text, i, |key, at| {
        let (bit, slot) = match key {
            "eventID" => (0, &mut f.event_id),
            "eventTime" => (1, &mut f.event_time),
            "@timestamp" => (2, &mut f.at_timestamp),
            "eventSource" => (3, &mut f.event_source),
            "eventName" => (4, &mut f.event_name),
            "awsRegion" => (5, &mut f.aws_region),
            "sourceIPAddress" => (6, &mut f.source_ip_address),
            "errorCode" => (7, &mut f.error_code),
            "errorMessage" => (8, &mut f.error_message),
            "eventType" => (9, &mut f.event_type),
            "recipientAccountId" => (10, &mut f.recipient_account_id),
            "userAgent" => (11, &mut f.user_agent),
            "userIdentity" => {
                once(&mut seen, 12)?;
                return user_identity(text, at, &mut f.user_identity);
            }
            "requestParameters" | "responseElements" | "additionalEventData" => {
                let (bit, slot) = match key {
                    "requestParameters" => (13, &mut f.request_parameters),
                    "responseElements" => (14, &mut f.response_elements),
                    _ => (15, &mut f.additional_event_data),
                };
                once(&mut seen, bit)?;
                return raw(text, at, slot);
            }
            "resources" => {
                once(&mut seen, 16)?;
                return resources(text, at, &mut f.resources);
            }
            _ => return skip(text, at),
        };
        once(&mut seen, bit)?;
        string(text, at, slot)
    })?;
    Some((f, end))
}

/// `Some` the first time key number `n` is seen, `None` when it repeats (serde rejects a
/// repeated field; that error is left to it).
fn once(seen: &mut u32, n: u32) -> Option<()> {
    let bit = 1u32.checked_shl(n)?;
    if *seen & bit != 0 {
        return None;
    }
    *seen |= bit;
    Some(())
}

/// `null`, or an object read into a fresh `T`: `member(t, key, value_start)` reads a value
/// (or skips it) and returns its end.
fn opt_object<'a, T: Default>(
    text: &'a str,
    i: usize,
    slot: &mut Option<T>,
    mut member: impl FnMut(&mut T, &'a str, usize) -> Option<usize>,
) -> Option<usize> {
    if let Some(end) = null(text, i) {
        *slot = None;
        return Some(end);
    }
    let mut t = T::default();
    let end = object(text, i, |key, at| member(&mut t, key, at))?;
    *slot = Some(t);
    Some(end)
}

/// Walks the object at `text[i]`: `member(key, value_start)` reads or skips each value and
/// returns its end. The end of the object, or `None` when anything is unusual.
fn object<'a>(
    text: &'a str,
    i: usize,
    mut member: impl FnMut(&'a str, usize) -> Option<usize>,
) -> Option<usize> {
    let b = text.as_bytes();
    if b.get(i) != Some(&b'{') {
        return None;
    }
    let mut i = ws(b, i + 1);
    if b.get(i) == Some(&b'}') {
        return Some(i + 1);
    }
    loop {
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let (key_end, escaped) = string_scan::<false>(b, i)?;
        if escaped {
            return None; // serde would unescape the key before matching it
        }
        let key = text.get(i + 1..key_end - 1)?;
        i = ws(b, key_end);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i = ws(b, member(key, ws(b, i + 1))?);
        match b.get(i)? {
            b',' => i = ws(b, i + 1),
            b'}' => return Some(i + 1),
            _ => return None,
        }
    }
}

fn skip(text: &str, i: usize) -> Option<usize> {
    value_end::<false>(text.as_bytes(), i)
}

/// `null` at `text[i]`: its end.
fn null(text: &str, i: usize) -> Option<usize> {
    text.as_bytes()
        .get(i..)?
        .starts_with(b"null")
        .then_some(i + 4)
}

/// An optional string: `null`, or a string borrowed from the text unless it has escapes.
fn string<'a>(text: &'a str, i: usize, slot: &mut S<'a>) -> Option<usize> {
    if let Some(end) = null(text, i) {
        *slot = None;
        return Some(end);
    }
    let b = text.as_bytes();
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let (end, escaped) = string_scan::<false>(b, i)?;
    let inner = text.get(i + 1..end - 1)?;
    *slot = Some(if escaped {
        // Rare: serde_json unescapes it (and rejects what it rejects).
        Cow::Owned(serde_json::from_str::<String>(text.get(i..end)?).ok()?)
    } else {
        Cow::Borrowed(inner)
    });
    Some(end)
}

/// An optional nested value kept as its JSON text.
fn raw<'a>(text: &'a str, i: usize, slot: &mut Option<&'a str>) -> Option<usize> {
    if let Some(end) = null(text, i) {
        *slot = None;
        return Some(end);
    }
    let end = skip(text, i)?;
    *slot = Some(text.get(i..end)?);
    Some(end)
}

fn user_identity<'a>(
    text: &'a str,
    i: usize,
    slot: &mut Option<UserIdentity<'a>>,
) -> Option<usize> {
    let mut seen = 0u32;
    opt_object(text, i, slot, |u, key, at| {
        let (n, field) = match key {
            "type" => (0, &mut u.kind),
            "principalId" => (1, &mut u.principal_id),
            "arn" => (2, &mut u.arn),
            "accountId" => (3, &mut u.account_id),
            "userName" => (4, &mut u.user_name),
            "invokedBy" => (5, &mut u.invoked_by),
            "sessionContext" => {
                once(&mut seen, 6)?;
                let mut seen = 0u32;
                return opt_object(text, at, &mut u.session_context, |c, key, at| {
                    if key != "sessionIssuer" {
                        return skip(text, at);
                    }
                    once(&mut seen, 0)?;
                    session_issuer(text, at, &mut c.session_issuer)
                });
            }
            _ => return skip(text, at),
        };
        once(&mut seen, n)?;
        string(text, at, field)
    })
}

fn session_issuer<'a>(
    text: &'a str,
    i: usize,
    slot: &mut Option<SessionIssuer<'a>>,
) -> Option<usize> {
    let mut seen = 0u32;
    opt_object(text, i, slot, |s, key, at| {
        let (n, field) = match key {
            "type" => (0, &mut s.kind),
            "userName" => (1, &mut s.user_name),
            "arn" => (2, &mut s.arn),
            "accountId" => (3, &mut s.account_id),
            _ => return skip(text, at),
        };
        once(&mut seen, n)?;
        string(text, at, field)
    })
}

/// `resources`: `null`, or an array of objects whose `ARN` (or `arn`) is read.
fn resources<'a>(text: &'a str, i: usize, slot: &mut Option<Vec<Resource<'a>>>) -> Option<usize> {
    if let Some(end) = null(text, i) {
        *slot = None;
        return Some(end);
    }
    let b = text.as_bytes();
    if b.get(i) != Some(&b'[') {
        return None;
    }
    let mut list = Vec::new();
    let mut i = ws(b, i + 1);
    if b.get(i) == Some(&b']') {
        *slot = Some(list);
        return Some(i + 1);
    }
    loop {
        let mut r = Resource::default();
        let mut seen = 0u32;
        // `ARN` and its alias `arn` are one field: both present is a repeated field.
        i = object(text, i, |key, at| match key {
            "ARN" | "arn" => {
                once(&mut seen, 0)?;
                string(text, at, &mut r.arn)
            }
            _ => skip(text, at),
        })?;
        list.push(r);
        i = ws(b, i);
        match b.get(i)? {
            b',' => i = ws(b, i + 1),
            b']' => {
                *slot = Some(list);
                return Some(i + 1);
            }
            _ => return None,
        }
    }
}

/// A value a path finds in raw JSON text (see [`lookup_raw`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RawFound<'a> {
    Null,
    /// A string, as its JSON token (quotes and escapes included).
    Str(&'a str),
    /// A number, as written.
    Num(&'a str),
    Bool(bool),
    /// An object, or an array inside an array.
    Compound,
}

/// What `lookup_all` finds at `path` in the parsed tree of the JSON value at `text[i]`, read
/// from the text without building the tree: a key descends into an object (the last of
/// repeated keys, as serde keeps it), `*` into every member or element, an index into an
/// array, any other key into every element of an array; an array at the end of the path gives
/// its elements. `None` when the text holds what only serde reads (an escaped key) or is not
/// the valid JSON the event's parse accepted; the caller then asks the tree.
pub(crate) fn lookup_raw<'a, S: AsRef<str>>(
    text: &'a str,
    i: usize,
    path: &[S],
    out: &mut Vec<RawFound<'a>>,
) -> Option<()> {
    let b = text.as_bytes();
    let i = ws(b, i);
    let Some((first, rest)) = path.split_first() else {
        if b.get(i) == Some(&b'[') {
            elements(text, i, |j| {
                out.push(found_at(text, j)?);
                skip(text, j)
            })?;
        } else {
            out.push(found_at(text, i)?);
        }
        return Some(());
    };
    let first = first.as_ref();
    match b.get(i)? {
        b'{' if first == "*" => {
            // Every member, but of repeated keys only the last (the one serde keeps).
            let mut members = Vec::new();
            object(text, i, |k, j| {
                members.push((k, j));
                skip(text, j)
            })?;
            members.reverse();
            // Stable: of each key, the last written comes first now.
            members.sort_by_key(|&(k, _)| k);
            members.dedup_by_key(|&mut (k, _)| k);
            for (_, j) in members {
                lookup_raw(text, j, rest, out)?;
            }
        }
        b'{' => {
            let mut last = None;
            object(text, i, |k, j| {
                if k == first {
                    last = Some(j);
                }
                skip(text, j)
            })?;
            if let Some(j) = last {
                lookup_raw(text, j, rest, out)?;
            }
        }
        b'[' => match first.parse::<usize>() {
            _ if first == "*" => {
                elements(text, i, |j| {
                    lookup_raw(text, j, rest, out)?;
                    skip(text, j)
                })?;
            }
            Ok(n) => {
                let (mut k, mut at) = (0usize, None);
                elements(text, i, |j| {
                    if k == n {
                        at = Some(j);
                    }
                    k += 1;
                    skip(text, j)
                })?;
                if let Some(j) = at {
                    lookup_raw(text, j, rest, out)?;
                }
            }
            Err(_) => {
                elements(text, i, |j| {
                    lookup_raw(text, j, path, out)?;
                    skip(text, j)
                })?;
            }
        },
        _ => {}
    }
    Some(())
}

/// The value at `text[i]`, as [`lookup_raw`] reports it.
fn found_at(text: &str, i: usize) -> Option<RawFound<'_>> {
    let b = text.as_bytes();
    Some(match b.get(i)? {
        b'{' | b'[' => RawFound::Compound,
        b'n' => {
            null(text, i)?;
            RawFound::Null
        }
        b't' if b.get(i..)?.starts_with(b"true") => RawFound::Bool(true),
        b'f' if b.get(i..)?.starts_with(b"false") => RawFound::Bool(false),
        b'"' => RawFound::Str(text.get(i..string_scan::<false>(b, i)?.0)?),
        _ => RawFound::Num(text.get(i..skip(text, i)?)?),
    })
}

/// Walks the array at `text[i]`: `each(value_start)` reads or skips each element and returns
/// its end. The end of the array, or `None` when anything is unusual.
fn elements(text: &str, i: usize, mut each: impl FnMut(usize) -> Option<usize>) -> Option<usize> {
    let b = text.as_bytes();
    if b.get(i) != Some(&b'[') {
        return None;
    }
    let mut i = ws(b, i + 1);
    if b.get(i) == Some(&b']') {
        return Some(i + 1);
    }
    loop {
        i = ws(b, each(i)?);
        match b.get(i)? {
            b',' => i = ws(b, i + 1),
            b']' => return Some(i + 1),
            _ => return None,
        }
    }
}
