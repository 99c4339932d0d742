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

use super::{Fields, Resource, S, SessionContext, SessionIssuer, UserIdentity};
use crate::validate::{string_end, value_end, ws};

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
        let bit = |n: u32| 1u32 << n;
        match key {
            "eventID" => {
                once(&mut seen, bit(0))?;
                string(text, at, &mut f.event_id)
            }
            "eventTime" => {
                once(&mut seen, bit(1))?;
                string(text, at, &mut f.event_time)
            }
            "@timestamp" => {
                once(&mut seen, bit(2))?;
                string(text, at, &mut f.at_timestamp)
            }
            "eventSource" => {
                once(&mut seen, bit(3))?;
                string(text, at, &mut f.event_source)
            }
            "eventName" => {
                once(&mut seen, bit(4))?;
                string(text, at, &mut f.event_name)
            }
            "awsRegion" => {
                once(&mut seen, bit(5))?;
                string(text, at, &mut f.aws_region)
            }
            "sourceIPAddress" => {
                once(&mut seen, bit(6))?;
                string(text, at, &mut f.source_ip_address)
            }
            "errorCode" => {
                once(&mut seen, bit(7))?;
                string(text, at, &mut f.error_code)
            }
            "errorMessage" => {
                once(&mut seen, bit(8))?;
                string(text, at, &mut f.error_message)
            }
            "eventType" => {
                once(&mut seen, bit(9))?;
                string(text, at, &mut f.event_type)
            }
            "recipientAccountId" => {
                once(&mut seen, bit(10))?;
                string(text, at, &mut f.recipient_account_id)
            }
            "userAgent" => {
                once(&mut seen, bit(11))?;
                string(text, at, &mut f.user_agent)
            }
            "userIdentity" => {
                once(&mut seen, bit(12))?;
                user_identity(text, at, &mut f.user_identity)
            }
            "requestParameters" => {
                once(&mut seen, bit(13))?;
                raw(text, at, &mut f.request_parameters)
            }
            "responseElements" => {
                once(&mut seen, bit(14))?;
                raw(text, at, &mut f.response_elements)
            }
            "additionalEventData" => {
                once(&mut seen, bit(15))?;
                raw(text, at, &mut f.additional_event_data)
            }
            "resources" => {
                once(&mut seen, bit(16))?;
                resources(text, at, &mut f.resources)
            }
            _ => skip(text, at),
        }
    })?;
    Some((f, end))
}

/// `Some` the first time a key is seen, `None` when it repeats (serde rejects a repeated
/// field; that error is left to it).
fn once(seen: &mut u32, bit: u32) -> Option<()> {
    if *seen & bit != 0 {
        return None;
    }
    *seen |= bit;
    Some(())
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
        let key_end = string_end::<false>(b, i)?;
        let key = text.get(i + 1..key_end - 1)?;
        if key.contains('\\') {
            return None; // serde would unescape the key before matching it
        }
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
    let end = string_end::<false>(b, i)?;
    let inner = text.get(i + 1..end - 1)?;
    *slot = Some(if inner.contains('\\') {
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
    if let Some(end) = null(text, i) {
        *slot = None;
        return Some(end);
    }
    let mut u = UserIdentity::default();
    let mut seen = 0u32;
    let end = object(text, i, |key, at| match key {
        "type" => {
            once(&mut seen, 1)?;
            string(text, at, &mut u.kind)
        }
        "principalId" => {
            once(&mut seen, 2)?;
            string(text, at, &mut u.principal_id)
        }
        "arn" => {
            once(&mut seen, 4)?;
            string(text, at, &mut u.arn)
        }
        "accountId" => {
            once(&mut seen, 8)?;
            string(text, at, &mut u.account_id)
        }
        "userName" => {
            once(&mut seen, 16)?;
            string(text, at, &mut u.user_name)
        }
        "invokedBy" => {
            once(&mut seen, 32)?;
            string(text, at, &mut u.invoked_by)
        }
        "sessionContext" => {
            once(&mut seen, 64)?;
            session_context(text, at, &mut u.session_context)
        }
        _ => skip(text, at),
    })?;
    *slot = Some(u);
    Some(end)
}

fn session_context<'a>(
    text: &'a str,
    i: usize,
    slot: &mut Option<SessionContext<'a>>,
) -> Option<usize> {
    if let Some(end) = null(text, i) {
        *slot = None;
        return Some(end);
    }
    let mut c = SessionContext::default();
    let mut seen = 0u32;
    let end = object(text, i, |key, at| match key {
        "sessionIssuer" => {
            once(&mut seen, 1)?;
            session_issuer(text, at, &mut c.session_issuer)
        }
        _ => skip(text, at),
    })?;
    *slot = Some(c);
    Some(end)
}

fn session_issuer<'a>(
    text: &'a str,
    i: usize,
    slot: &mut Option<SessionIssuer<'a>>,
) -> Option<usize> {
    if let Some(end) = null(text, i) {
        *slot = None;
        return Some(end);
    }
    let mut s = SessionIssuer::default();
    let mut seen = 0u32;
    let end = object(text, i, |key, at| match key {
        "type" => {
            once(&mut seen, 1)?;
            string(text, at, &mut s.kind)
        }
        "userName" => {
            once(&mut seen, 2)?;
            string(text, at, &mut s.user_name)
        }
        "arn" => {
            once(&mut seen, 4)?;
            string(text, at, &mut s.arn)
        }
        "accountId" => {
            once(&mut seen, 8)?;
            string(text, at, &mut s.account_id)
        }
        _ => skip(text, at),
    })?;
    *slot = Some(s);
    Some(end)
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
                once(&mut seen, 1)?;
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
