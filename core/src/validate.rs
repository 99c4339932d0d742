//! A fast check that a record is one valid JSON object, used to delimit records before the
//! prefilter decides whether to parse them.
//!
//! Every record is checked, including the many no alert can match (a malformed record is always
//! reported), so this check is the largest single cost of a scan with few alerts. serde_json's
//! `RawValue` does it through its general deserializer; this scanner does only that job, about
//! 1.4× faster on CloudTrail records. It is deliberately one-sided: it answers "valid, and
//! ends here" or "not sure". Anything unusual (deep nesting, any error) is "not sure", and the
//! caller asks serde_json, which also words the error. So the only promise it must keep is:
//! when it accepts, serde_json accepts the same text with the same end (unit cases here; a
//! property test and a fuzz check compare the two on valid and damaged input).

/// The end (exclusive) of the JSON object starting at `b[i]`, or `None` when `b[i]` does not
/// start a valid object or the scanner is unsure. `b` must be valid UTF-8 (checked once per
/// buffer by the caller), so strings only need checking for quotes, escapes and control bytes.
///
/// `no_controls` says `b` has no byte below 0x20 at all (true of CloudTrail's one-line log
/// files): strings then cannot hold one, and the scan looks only for quotes and backslashes.
pub(crate) fn object_end(b: &[u8], i: usize, no_controls: bool) -> Option<usize> {
    if b.get(i) != Some(&b'{') {
        return None;
    }
    // One copy of the scanner for each case, so the string loop has no extra test.
    if no_controls {
        value_end::<true>(b, i)
    } else {
        value_end::<false>(b, i)
    }
}

/// The end of the JSON value (any kind) starting at `b[i]`; `None` when invalid or unsure.
/// After a number, the caller must check what follows (as after any value).
pub(crate) fn value_end<const NO_CONTROLS: bool>(b: &[u8], i: usize) -> Option<usize> {
    // One bit per open container (1 = object), deepest in bit 0.
    let mut stack: u128 = 0;
    let mut depth: u32 = 0;
    let mut i = i;
    loop {
        // At the start of a value.
        match *b.get(i)? {
            b'{' => {
                if depth == 127 {
                    return None;
                }
                i = ws(b, i + 1);
                if b.get(i) == Some(&b'}') {
                    i += 1;
                } else {
                    stack = (stack << 1) | 1;
                    depth += 1;
                    i = key::<NO_CONTROLS>(b, i)?;
                    continue;
                }
            }
            b'[' => {
                if depth == 127 {
                    return None;
                }
                i = ws(b, i + 1);
                if b.get(i) == Some(&b']') {
                    i += 1;
                } else {
                    stack <<= 1;
                    depth += 1;
                    continue;
                }
            }
            b'"' => i = string_end::<NO_CONTROLS>(b, i)?,
            b't' => i = literal(b, i, b"true")?,
            b'f' => i = literal(b, i, b"false")?,
            b'n' => i = literal(b, i, b"null")?,
            _ => i = number_end(b, i)?,
        }
        // After a value: close containers until one continues with `,`.
        loop {
            if depth == 0 {
                return Some(i);
            }
            i = ws(b, i);
            let in_object = stack & 1 == 1;
            match (*b.get(i)?, in_object) {
                (b',', true) => {
                    i = key::<NO_CONTROLS>(b, ws(b, i + 1))?;
                    break;
                }
                (b',', false) => {
                    i = ws(b, i + 1);
                    break;
                }
                (b'}', true) | (b']', false) => {
                    i += 1;
                    stack >>= 1;
                    depth -= 1;
                }
                _ => return None,
            }
        }
    }
}

/// JSON whitespace.
pub(crate) fn ws(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\n' | b'\r' | b'\t') = b.get(i) {
        i += 1;
    }
    i
}

/// `"key"` then `:` at `i`; the start of the value after it.
fn key<const NO_CONTROLS: bool>(b: &[u8], i: usize) -> Option<usize> {
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let i = ws(b, string_end::<NO_CONTROLS>(b, i)?);
    (b.get(i) == Some(&b':')).then(|| ws(b, i + 1))
}

fn literal(b: &[u8], i: usize, word: &[u8]) -> Option<usize> {
    b.get(i..)?.starts_with(word).then_some(i + word.len())
}

/// The end of the string whose opening quote is at `i`.
pub(crate) fn string_end<const NO_CONTROLS: bool>(b: &[u8], i: usize) -> Option<usize> {
    string_scan::<NO_CONTROLS>(b, i).map(|(end, _)| end)
}

/// The end of the string whose opening quote is at `i`, and whether it holds an escape (a
/// reader borrows the text of strings without one, saving a second search for `\`).
pub(crate) fn string_scan<const NO_CONTROLS: bool>(b: &[u8], i: usize) -> Option<(usize, bool)> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut i = i + 1;
    let mut escaped = false;
    loop {
        // Eight bytes at a time: stop at the first quote, backslash or control byte.
        while let Some(chunk) = b.get(i..i + 8) {
            let x = u64::from_le_bytes(<[u8; 8]>::try_from(chunk).ok()?);
            let zero_byte = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
            let mut stops =
                zero_byte(x ^ (ONES * u64::from(b'"'))) | zero_byte(x ^ (ONES * u64::from(b'\\')));
            if !NO_CONTROLS {
                // bytes below 0x20; a flag above a real stop may be false, but only the
                // lowest is used, and the byte is looked at again below
                stops |= x.wrapping_sub(ONES * 0x20) & !x & HIGH;
            }
            if stops != 0 {
                i += (stops.trailing_zeros() / 8) as usize;
                break;
            }
            i += 8;
        }
        match *b.get(i)? {
            b'"' => return Some((i + 1, escaped)),
            b'\\' => match *b.get(i + 1)? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {
                    escaped = true;
                    i += 2;
                }
                b'u' => {
                    // Any four hex digits: like serde_json when it skips a value, surrogates
                    // are not paired here (the field parse that reads the string checks them).
                    if !b.get(i + 2..i + 6)?.iter().all(u8::is_ascii_hexdigit) {
                        return None;
                    }
                    escaped = true;
                    i += 6;
                }
                _ => return None,
            },
            c if c < 0x20 => return None,
            _ => i += 1,
        }
    }
}

/// The end of the number at `i` (JSON's grammar: no leading zeros, digits after `.` and `e`).
fn number_end(b: &[u8], mut i: usize) -> Option<usize> {
    let digits = |mut i: usize| {
        while let Some(b'0'..=b'9') = b.get(i) {
            i += 1;
        }
        i
    };
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    i = match *b.get(i)? {
        b'0' => i + 1,
        b'1'..=b'9' => digits(i + 1),
        _ => return None,
    };
    if b.get(i) == Some(&b'.') {
        if !b.get(i + 1)?.is_ascii_digit() {
            return None;
        }
        i = digits(i + 1);
    }
    if let Some(b'e' | b'E') = b.get(i) {
        i += 1;
        if let Some(b'+' | b'-') = b.get(i) {
            i += 1;
        }
        if !b.get(i)?.is_ascii_digit() {
            return None;
        }
        i = digits(i);
    }
    Some(i)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use serde::Deserialize;

    /// What serde_json says: the end of the value at the start of `s`, if valid.
    fn serde_end(s: &str) -> Option<usize> {
        let mut de = serde_json::Deserializer::from_str(s);
        let v = <&serde_json::value::RawValue>::deserialize(&mut de).ok()?;
        Some(v.get().len() + (v.get().as_ptr() as usize - s.as_ptr() as usize))
    }

    #[test]
    fn accepts_only_what_serde_json_accepts() {
        let cases = [
            r#"{}"#,
            r#"{"a":1}"#,
            r#"{ "a" : [ 1 , -0.5e+3, 0, 10, true, false, null, "x\"y\\z\u00e9\n" ] , "b":{}}"#,
            r#"{"a":[],"b":[[]],"c":{"d":{}}} trailing"#,
            r#"{"a":01}"#,
            r#"{"a":-}"#,
            r#"{"a":1.}"#,
            r#"{"a":1e}"#,
            r#"{"a":.5}"#,
            r#"{"a":+1}"#,
            r#"{"a":tru}"#,
            r#"{"a":nulls}"#,
            r#"{"a":1,}"#,
            r#"{"a":[1,]}"#,
            r#"{"a" 1}"#,
            r#"{a:1}"#,
            r#"{"a":"\x"}"#,
            r#"{"a":"\u12"}"#,
            r#"{"a":"\ud800"}"#,
            r#"{"a":"\uDBFF\uDFFF"}"#,
            "{\"a\":\"tab\there\"}",
            "{\"a\":\"\u{7f}\u{1f600}\"}",
            r#"{"a":[}"#,
            r#"{"a":{]}"#,
            r#"{"a":1"#,
            r#"{"a":"#,
            r#"{"#,
            r#"[1]"#,
            r#""s""#,
            r#"{"a":1}}"#,
            "{\"a\":\"12345678\\\"12345678\"}",
            "{\"0123456\":\"\u{1f}\"}",
        ];
        for c in cases {
            let no_controls = !c.bytes().any(|b| b < 0x20);
            for flag in [false, no_controls] {
                if let Some(end) = object_end(c.as_bytes(), 0, flag) {
                    assert_eq!(Some(end), serde_end(c), "{c}");
                }
            }
        }
        // And it does accept the ordinary ones.
        for c in &cases[..4] {
            assert_eq!(object_end(c.as_bytes(), 0, false), serde_end(c), "{c}");
        }
        let deep = format!("{}{}", "{\"a\":".repeat(200), "}".repeat(200));
        assert_eq!(object_end(deep.as_bytes(), 0, true), None);
    }
}
