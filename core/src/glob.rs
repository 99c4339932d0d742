//! Case-insensitive glob patterns used by every list filter and ignore.
//!
//! Syntax (from `globset`): `*` any run of characters (including `/` and `:`), `?` one
//! character, `[abc]` / `[!abc]` a class, `{a,b}` alternatives, `\` escapes the next character.
//! Matching ignores case (IAM and most AWS names are case-insensitive). Common shapes
//! (`exact`, `prefix*`, `*suffix`, `*infix*`) on ASCII text take a fast path that avoids the
//! regex engine; every other case uses the compiled `globset` matcher, so both paths agree.

use std::sync::OnceLock;

use globset::{GlobBuilder, GlobMatcher};

#[derive(Debug, Clone)]
enum Fast {
    Any,
    Exact(String),
    Prefix(String),
    Suffix(String),
    Contains(CaseFinder),
    // Only `*` and `?` wildcards, ASCII: matched without the regex engine. `head`/`tail` are
    // the literal bytes before the first and after the last wildcard: checking them first
    // rejects most values (`arn:aws:iam::*:role/Admin` against other ARNs) without the
    // backtracking loop.
    Wild {
        pattern: Vec<u8>,
        head: usize,
        tail: usize,
        // Nothing but `*` between them (`arn:aws:iam::*:role/Admin`, the usual shape): the
        // edges then decide alone.
        one_gap: bool,
    },
    Complex,
}

/// One compiled, case-insensitive glob.
///
/// ```
/// use trailalerts::Glob;
/// let g = Glob::new("arn:aws:iam::*:role/Admin*").unwrap();
/// assert!(g.is_match("arn:aws:iam::123456789012:role/AdminOps"));
/// assert!(g.is_match("ARN:AWS:IAM::123456789012:ROLE/ADMIN"));
/// assert!(!g.is_match("arn:aws:iam::123456789012:role/ReadOnly"));
/// ```
#[derive(Debug, Clone)]
pub struct Glob {
    text: String,
    // Lowercase literal text before the first wildcard, class or escape (for indexing).
    prefix: String,
    // Longest lowercase literal run outside wildcards, classes and alternatives.
    longest: String,
    fast: Fast,
    parsed: globset::Glob,
    // Compiling the regex is most of the cost of building an alert set, and the fast shapes
    // need it only for non-ASCII values: compiled on first use (at once for `Complex`).
    matcher: OnceLock<GlobMatcher>,
}

fn is_meta(c: char) -> bool {
    matches!(c, '*' | '?' | '[' | ']' | '{' | '}' | '\\')
}

/// The longest pattern accepted, in bytes. globset panics when a pattern's regex outgrows its
/// size limit (~350 KB of `{ab,cd}` groups did; ~70 KB still compiled); every construct stays
/// well under it at this length, which the tests check.
pub const MAX_GLOB_LEN: usize = 32 * 1024;

impl Glob {
    /// Compiles `pattern`; the error says what is wrong with it.
    ///
    /// ```
    /// use trailalerts::Glob;
    /// assert!(Glob::new("Delete*").is_ok());
    /// assert!(Glob::new("[a-").unwrap_err().contains("bad glob"));
    /// assert!(Glob::new(&"?".repeat(40_000)).unwrap_err().contains("longer than"));
    /// ```
    pub fn new(pattern: &str) -> Result<Self, String> {
        if pattern.len() > MAX_GLOB_LEN {
            let head: String = pattern.chars().take(40).collect();
            return Err(format!(
                "bad glob `{head}…`: longer than {MAX_GLOB_LEN} bytes ({})",
                pattern.len()
            ));
        }
        // Case-insensitivity is "equal after Unicode lowercasing": the matcher sees lowercase
        // patterns and (for non-ASCII text) lowercase values; globset's own flag covers ASCII.
        let lower = pattern.to_lowercase();
        let parsed = GlobBuilder::new(&lower)
            .case_insensitive(true)
            .literal_separator(false)
            .backslash_escape(true)
            .build()
            .map_err(|e| format!("bad glob `{pattern}`: {}", e.kind()))?;
        let prefix: String = lower.chars().take_while(|c| !is_meta(*c)).collect();
        let longest = longest_run(&lower);
        let fast = classify(&lower);
        let matcher = OnceLock::new();
        if matches!(fast, Fast::Complex) {
            let _ = matcher.set(parsed.compile_matcher());
        }
        Ok(Self {
            text: pattern.to_owned(),
            prefix,
            longest,
            fast,
            parsed,
            matcher,
        })
    }

    fn matcher(&self) -> &GlobMatcher {
        self.matcher.get_or_init(|| self.parsed.compile_matcher())
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True when the pattern has no wildcard, class or alternative.
    pub fn is_literal(&self) -> bool {
        matches!(self.fast, Fast::Exact(_))
    }

    /// The lowercase literal, when [`Glob::is_literal`].
    pub fn literal(&self) -> Option<&str> {
        match &self.fast {
            Fast::Exact(s) => Some(s),
            _ => None,
        }
    }

    /// The lowercase literal text every match starts with (empty when the pattern starts
    /// with a wildcard). Used to index alerts by event-name prefix.
    pub fn literal_prefix(&self) -> &str {
        &self.prefix
    }

    /// The longest lowercase literal run of the pattern (text between wildcards), which every
    /// match contains. Used for byte-level prefilters.
    pub fn longest_literal(&self) -> &str {
        &self.longest
    }

    /// The literal run most likely to single out matching text, for byte-level prefilters:
    /// the longest, where a run that starts like an ARN (`arn:`, which most identifiers in an
    /// event share) counts a quarter of its length. `arn:aws:iam::*:role/Admin` gives
    /// `:role/admin`.
    pub(crate) fn telling_literal(&self) -> String {
        let score = |r: &str| {
            if r.starts_with("arn:") {
                r.len() / 4
            } else {
                r.len()
            }
        };
        literal_runs(&self.text.to_lowercase())
            .into_iter()
            .fold(String::new(), |best, r| {
                if score(&r) > score(&best) { r } else { best }
            })
    }

    /// Whether `value` matches, ignoring case.
    pub fn is_match(&self, value: &str) -> bool {
        self.is_match_known(value, value.is_ascii())
    }

    /// [`Glob::is_match`] when the caller already knows whether `value` is ASCII (a list checks
    /// it once for all its globs).
    pub(crate) fn is_match_known(&self, value: &str, ascii: bool) -> bool {
        if !ascii {
            return self.matcher().is_match(value.to_lowercase());
        }
        let v = value.as_bytes();
        match &self.fast {
            Fast::Any => true,
            Fast::Exact(p) => v.eq_ignore_ascii_case(p.as_bytes()),
            Fast::Prefix(p) => v
                .get(..p.len())
                .is_some_and(|h| h.eq_ignore_ascii_case(p.as_bytes())),
            Fast::Suffix(p) => ends_with_ignore_ascii_case(v, p.as_bytes()),
            Fast::Contains(f) => f.found_in(v),
            Fast::Wild {
                pattern,
                head,
                tail,
                one_gap,
            } => {
                // The tail first, from its last byte: values often share a head
                // (`arn:aws:iam::`) and differ at the end (`:role/Admin`).
                let edges = v.len() >= head + tail
                    && (*tail == 0
                        || v.last().map(u8::to_ascii_lowercase) == pattern.last().copied())
                    && matches!(
                        (pattern.get(pattern.len() - tail..), v.get(v.len() - tail..)),
                        (Some(p), Some(x)) if x.eq_ignore_ascii_case(p)
                    )
                    && matches!((pattern.get(..*head), v.get(..*head)), (Some(p), Some(x)) if x.eq_ignore_ascii_case(p));
                edges && (*one_gap || wild_match(pattern, v))
            }
            Fast::Complex => self.matcher().is_match(value),
        }
    }
}

/// Iterative `*`/`?` matching with single-star backtracking: linear-ish, no recursion, so
/// pathological patterns such as `*a*a*a*a*b` stay cheap.
fn wild_match(p: &[u8], v: &[u8]) -> bool {
    let (mut pi, mut vi) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while vi < v.len() {
        match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, vi));
                pi += 1;
            }
            Some(&c) if c == b'?' || v.get(vi).is_some_and(|x| x.eq_ignore_ascii_case(&c)) => {
                pi += 1;
                vi += 1;
            }
            _ => match star {
                Some((sp, sv)) => {
                    pi = sp + 1;
                    vi = sv + 1;
                    star = Some((sp, sv + 1));
                }
                None => return false,
            },
        }
    }
    p.get(pi..)
        .is_some_and(|rest| rest.iter().all(|&c| c == b'*'))
}

/// Whether `v` ends with `suffix`, ignoring ASCII case.
pub(crate) fn ends_with_ignore_ascii_case(v: &[u8], suffix: &[u8]) -> bool {
    v.len()
        .checked_sub(suffix.len())
        .and_then(|start| v.get(start..))
        .is_some_and(|t| t.eq_ignore_ascii_case(suffix))
}

/// Bytes of CloudTrail JSON from most to least frequent (case-folded; measured on the public
/// records of the test corpus). Bytes not listed are rarer than all of these.
const COMMON_BYTES: &[u8] = b"\" eastnr:iocdl,u1m2p-03v4y.5fwb9g867h_{}kzx/q\\j[]";

/// How common `b` is in CloudTrail text, either case (higher is more common).
fn commonness(b: u8) -> usize {
    let lower = b.to_ascii_lowercase();
    COMMON_BYTES
        .iter()
        .position(|&c| c == lower)
        .map_or(0, |p| COMMON_BYTES.len() - p)
}

/// Finds a literal in text, ignoring ASCII case. Candidates are found with `memchr`/`memchr2`
/// (SIMD) on the literal's rarest byte in CloudTrail text rather than its first: searching
/// for `a` of `arn:aws:…` stops at almost every word.
#[derive(Debug, Clone)]
pub(crate) struct CaseFinder {
    lit: Vec<u8>,
    // Index of the byte searched for.
    at: usize,
}

impl CaseFinder {
    pub(crate) fn new(lit: &[u8]) -> Self {
        let at = lit
            .iter()
            .enumerate()
            .min_by_key(|&(_, &b)| commonness(b))
            .map_or(0, |(i, _)| i);
        Self {
            lit: lit.to_vec(),
            at,
        }
    }

    /// Whether `hay` contains the literal, ignoring ASCII case.
    pub(crate) fn found_in(&self, hay: &[u8]) -> bool {
        let Some(&b) = self.lit.get(self.at) else {
            return true;
        };
        let (lo, up) = (b.to_ascii_lowercase(), b.to_ascii_uppercase());
        // The literal's two ends are compared first: most candidates fail there (`bucketName`
        // for `"bucket-12"`), and the whole comparison is many times dearer.
        let ends = |w: &[u8]| {
            w.first().map(u8::to_ascii_lowercase) == self.lit.first().map(u8::to_ascii_lowercase)
                && w.last().map(u8::to_ascii_lowercase)
                    == self.lit.last().map(u8::to_ascii_lowercase)
        };
        let here = |i: usize| {
            i.checked_sub(self.at)
                .and_then(|s| hay.get(s..s + self.lit.len()))
                .is_some_and(|w| ends(w) && w.eq_ignore_ascii_case(&self.lit))
        };
        if lo == up {
            memchr::memchr_iter(lo, hay).any(here)
        } else {
            memchr::memchr2_iter(lo, up, hay).any(here)
        }
    }
}

/// Longest run of plain characters outside `[…]` classes and `{…}` alternatives.
fn longest_run(p: &str) -> String {
    literal_runs(p).into_iter().fold(
        String::new(),
        |best, r| if r.len() > best.len() { r } else { best },
    )
}

/// The literal runs of a lowercase pattern: text between wildcards, outside classes and
/// alternatives, escapes resolved.
fn literal_runs(p: &str) -> Vec<String> {
    let mut runs = Vec::new();
    let mut cur = String::new();
    let mut depth = 0usize;
    let mut chars = p.chars();
    while let Some(c) = chars.next() {
        match c {
            '[' | '{' | ']' | '}' | '*' | '?' => {
                match c {
                    '[' | '{' => depth += 1,
                    ']' | '}' => depth = depth.saturating_sub(1),
                    _ => {}
                }
                if !cur.is_empty() {
                    runs.push(std::mem::take(&mut cur));
                }
            }
            '\\' if depth == 0 => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            _ if depth == 0 => cur.push(c),
            _ => {}
        }
    }
    if !cur.is_empty() {
        runs.push(cur);
    }
    runs
}

fn classify(p: &str) -> Fast {
    if !p.is_ascii() {
        return Fast::Complex;
    }
    if p == "*" {
        return Fast::Any;
    }
    let lower = p.to_ascii_lowercase();
    let inner = |s: &str| !s.chars().any(is_meta);
    let starts = lower.starts_with('*');
    let ends = lower.ends_with('*') && lower.len() > 1;
    let core = lower.trim_start_matches('*').trim_end_matches('*');
    // Several leading/trailing stars are equivalent to one.
    match (starts, ends) {
        (false, false) if inner(&lower) => Fast::Exact(lower),
        (false, true) if inner(core) => Fast::Prefix(core.to_owned()),
        (true, false) if inner(core) => Fast::Suffix(core.to_owned()),
        (true, true) if inner(core) => Fast::Contains(CaseFinder::new(core.as_bytes())),
        _ if !lower.contains(['[', ']', '{', '}', '\\']) => {
            let wild = |c: &u8| matches!(c, b'*' | b'?');
            let b = lower.as_bytes();
            let head = b.iter().position(wild).unwrap_or(b.len());
            let tail = b.iter().rev().position(wild).unwrap_or(b.len());
            let one_gap = b
                .get(head..b.len() - tail)
                .is_some_and(|gap| gap.iter().all(|&c| c == b'*'));
            Fast::Wild {
                head,
                tail,
                one_gap,
                pattern: lower.into_bytes(),
            }
        }
        _ => Fast::Complex,
    }
}

/// A list of globs; an empty list matches anything.
#[derive(Debug, Clone, Default)]
pub struct GlobList {
    globs: Vec<Glob>,
}

impl GlobList {
    /// Compiles every pattern; the error names the index of the bad one.
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Self, (usize, String)> {
        let globs = patterns
            .iter()
            .enumerate()
            .map(|(i, p)| Glob::new(p.as_ref()).map_err(|e| (i, e)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { globs })
    }
    /// True when the list is empty (and so matches anything).
    pub fn is_empty(&self) -> bool {
        self.globs.is_empty()
    }
    /// The compiled globs.
    pub fn globs(&self) -> &[Glob] {
        &self.globs
    }
    /// Whether any glob matches `value`.
    pub fn matches(&self, value: &str) -> bool {
        let ascii = value.is_ascii();
        self.globs.iter().any(|g| g.is_match_known(value, ascii))
    }
    /// Whether any glob matches any of `values`; `ascii` says all of them are ASCII.
    pub(crate) fn matches_any(&self, values: &[&str], ascii: bool) -> bool {
        if ascii {
            self.globs
                .iter()
                .any(|g| values.iter().any(|v| g.is_match_known(v, true)))
        } else {
            values.iter().any(|v| self.matches(v))
        }
    }
    /// Empty lists match anything; otherwise a missing value never matches.
    pub fn matches_opt(&self, value: Option<&str>) -> bool {
        self.globs.is_empty() || value.is_some_and(|v| self.matches(v))
    }
    /// The lowercase literals of this list, when every entry is a literal.
    pub fn literals(&self) -> Option<Vec<String>> {
        if self.globs.is_empty() {
            return None;
        }
        self.globs
            .iter()
            .map(|g| g.literal().map(str::to_owned))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn telling_literal_avoids_shared_arn_heads() {
        let t = |p: &str| Glob::new(p).unwrap().telling_literal();
        assert_eq!(t("arn:aws:iam::*:role/Admin"), ":role/admin");
        assert_eq!(t("arn:aws:iam::*:user/bo"), ":user/bo");
        // An ARN head still wins over a much shorter run, and is kept when it is all there is.
        assert_eq!(t("arn:aws:s3:::my-bucket-*/a"), "arn:aws:s3:::my-bucket-");
        assert_eq!(t("arn:aws:s3:::logs"), "arn:aws:s3:::logs");
        assert_eq!(t("Alice*"), "alice");
        // Classes, alternatives and escapes: runs stop at them; escaped characters are text.
        assert_eq!(t("ab[xyz]cdef{g,h}i"), "cdef");
        assert_eq!(t("a\\*bcd*e"), "a*bcd");
        assert_eq!(t("*?*"), "");
        assert_eq!(
            Glob::new("ab[xyz]cdef{g,h}i").unwrap().longest_literal(),
            "cdef"
        );
    }

    #[test]
    fn case_finder_agrees_with_a_plain_search() {
        // Every needle of up to 4 bytes over a small alphabet (rare and common bytes, letters
        // in both cases) against every haystack of up to 4 bytes: the searched-for byte may
        // be anywhere in the needle, and matches may touch either end of the haystack.
        let alphabet = [b'a', b'A', b'z', b'Z', b':', b'7'];
        let all = |n: usize| {
            let mut v = vec![Vec::new()];
            for _ in 0..n {
                v = v
                    .iter()
                    .flat_map(|p| {
                        alphabet.iter().map(move |&c| {
                            let mut q = p.clone();
                            q.push(c);
                            q
                        })
                    })
                    .collect();
            }
            v
        };
        let needles: Vec<Vec<u8>> = (1..=4).flat_map(all).collect();
        let hays: Vec<Vec<u8>> = (0..=4).flat_map(all).collect();
        for n in &needles {
            let lower = n.to_ascii_lowercase();
            let f = CaseFinder::new(&lower);
            for h in &hays {
                let want = h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(&lower));
                assert_eq!(f.found_in(h), want, "{n:?} in {h:?}");
            }
        }
        assert!(CaseFinder::new(b"").found_in(b"x"));
        assert_eq!(CaseFinder::new(b"arn:aws:s3:::bucket-7").at, 16, "the `k`");
    }

    #[test]
    fn longest_patterns_of_every_construct_compile() {
        // The matcher is compiled lazily: at the length limit, every construct must still
        // compile (globset panics past its regex size limit).
        for unit in [
            "?",
            "*a",
            "[a-z]",
            "[!a]",
            "{ab,cd}",
            "{é,ü}",
            "[é-ü]",
            "[[:alpha:]]",
            "\\*",
            "é",
        ] {
            let p = unit.repeat(MAX_GLOB_LEN / unit.len());
            let g = Glob::new(&p).unwrap();
            assert!(!g.matcher().is_match("x"), "{unit}");
        }
        let long = "a".repeat(MAX_GLOB_LEN + 1);
        let e = Glob::new(&long).unwrap_err();
        assert!(
            e.contains("longer than 32768 bytes (32769)") && e.len() < 200,
            "{e}"
        );
    }

    #[test]
    fn shapes_agree_with_matcher() {
        let cases = [
            ("alice", "ALICE", true),
            ("alice", "alice2", false),
            ("ci-bot*", "CI-BOT-7", true),
            ("*Unauthorized*", "Client.UnauthorizedOperation", true),
            (
                "*UnauthorizedOperation",
                "Client.UnauthorizedOperation",
                true,
            ),
            ("AccessDenied*", "accessdeniedexception", true),
            ("us-?-1", "us-xx-1", false),
            ("us-?-1", "us-x-1", true),
            ("us-*-1", "us-east-1", true),
            (
                "arn:aws:iam::*:role/Admin*",
                "arn:aws:iam::1:role/adminX",
                true,
            ),
            (
                "arn:aws:iam::*:role/Admin*",
                "arn:aws:iam::1:user/Admin",
                false,
            ),
            ("*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false),
            ("a?c*", "ABCdef", true),
            ("a?c*", "ac", false),
            ("**", "", true),
            ("{a,b}c", "BC", true),
            ("[ab]x", "cx", false),
            ("*", "", true),
            ("", "", true),
            ("", "x", false),
        ];
        for (p, v, want) in cases {
            let g = Glob::new(p).unwrap();
            assert_eq!(g.is_match(v), want, "{p} vs {v}");
            assert_eq!(
                g.matcher().is_match(v.to_lowercase()),
                want,
                "matcher {p} vs {v}"
            );
        }
    }

    #[test]
    fn wildcard_fast_path_agrees_with_matcher_exhaustively() {
        // Every pattern over {a, B, *, ?} up to 5 characters against every value over {a, b}
        // up to 5 characters: the edge checks and the backtracking loop agree with globset.
        fn all(alphabet: &[char], max: usize) -> Vec<String> {
            let mut out = vec![String::new()];
            let mut frontier = vec![String::new()];
            for _ in 0..max {
                let next: Vec<String> = frontier
                    .iter()
                    .flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}")))
                    .collect();
                out.extend(next.iter().cloned());
                frontier = next;
            }
            out
        }
        let values = all(&['a', 'b'], 5);
        for p in all(&['a', 'B', '*', '?'], 5) {
            let g = Glob::new(&p).unwrap();
            for v in &values {
                assert_eq!(
                    g.is_match(v),
                    g.matcher().is_match(v.to_lowercase()),
                    "{p} vs {v}"
                );
            }
        }
    }

    #[test]
    fn unicode_case_folding() {
        let g = Glob::new("ÄRGER*").unwrap();
        assert!(g.is_match("ärger-user"));
        let g = Glob::new("straße").unwrap();
        assert!(g.is_match("STRAßE"));
    }

    #[test]
    fn bad_glob_is_rejected() {
        let e = Glob::new("role/[abc").unwrap_err();
        assert!(e.contains("role/[abc"), "{e}");
        let (i, _) = GlobList::new(&["ok", "{a,"]).unwrap_err();
        assert_eq!(i, 1);
    }
}
