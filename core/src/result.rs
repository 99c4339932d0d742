//! Alert results.

use serde::{Deserialize, Serialize};
use std::sync::Arc;

use serde_json::value::RawValue;

use crate::alert::Risk;

/// One alert result: which alert fired on which event, with the raw event.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AlertResult {
    /// Stable id derived from the alert id and the event id, so re-reading the same event
    /// gives the same id (storage keeps one result per id).
    pub id: String,
    /// The alert.
    pub alert_id: String,
    /// The alert's name.
    pub alert_name: String,
    /// The alert's risk.
    pub risk: Risk,
    /// `eventID` (or a hash of the raw event when it has none).
    pub event_id: String,
    /// `eventTime` as written.
    pub event_time: Option<String>,
    /// `eventName`.
    pub event_name: Option<String>,
    /// `eventSource`.
    pub event_source: Option<String>,
    /// `awsRegion`.
    pub region: Option<String>,
    /// The most readable user name (see [`crate::Event::display_user`]).
    pub user: String,
    /// `sourceIPAddress`.
    pub source_ip: Option<String>,
    /// `errorCode`.
    pub error_code: Option<String>,
    /// The account (`recipientAccountId` or `userIdentity.accountId`).
    pub account_id: Option<String>,
    /// For threshold alerts: how many events were counted when it fired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// For threshold alerts: time of the first counted event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_start: Option<String>,
    /// Whether the alert asks for results to be saved.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub save: bool,
    /// The CloudTrail event, exactly as read (shared by the results of one event).
    pub raw: Arc<RawValue>,
}

fn yes() -> bool {
    true
}
#[expect(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's skip_serializing_if passes a reference"
)]
fn is_true(b: &bool) -> bool {
    *b
}

impl AlertResult {
    /// The result as one line of JSON (for JSON Lines output). The raw event keeps its text,
    /// but line breaks between its tokens are dropped: a raw newline can only be whitespace in
    /// JSON (newlines inside strings are escaped), so this never changes a value.
    ///
    /// ```
    /// # use trailalerts::{Engine, Event};
    /// let mut e = Engine::builder().build().unwrap();
    /// let ev = Event::parse("{\n \"eventName\": \"StopLogging\",\n \"eventSource\": \"cloudtrail.amazonaws.com\"}").unwrap();
    /// let line = e.evaluate(&ev)[0].to_json_line();
    /// assert!(!line.contains('\n'));
    /// ```
    pub fn to_json_line(&self) -> String {
        let text = serde_json::to_string(self).unwrap_or_default();
        if text.contains(['\n', '\r']) {
            text.replace(['\n', '\r'], "")
        } else {
            text
        }
    }
}

/// FNV-1a, twice with different offsets, for a 128-bit stable identifier.
pub(crate) fn stable_id(parts: &[&str]) -> String {
    parts
        .iter()
        .fold(IdHash::default(), |h, p| h.push(p))
        .finish()
}

/// The state of [`stable_id`] after some parts: an alert keeps it after its own id, so a
/// result hashes only the event id (the hash is byte-serial, a multiply per byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IdHash(u64, u64);

impl Default for IdHash {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325, 0x6c62_272e_07bb_0142)
    }
}

impl IdHash {
    /// The state after one more part.
    pub(crate) fn push(self, part: &str) -> Self {
        let Self(mut a, mut b) = self;
        for &byte in part.as_bytes().iter().chain(std::iter::once(&0u8)) {
            a = (a ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
            b = (b ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3 ^ 0x2_0000);
        }
        Self(a, b)
    }

    /// The identifier.
    pub(crate) fn finish(self) -> String {
        // Written digit by digit: `format!` costs more than the hashing for short inputs, and
        // every result computes one.
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut digits = [b'0'; 32];
        let all = (u128::from(self.0) << 64) | u128::from(self.1);
        for (i, d) in digits.iter_mut().enumerate() {
            let nibble = ((all >> ((31 - i) * 4)) & 0xf) as usize;
            *d = HEX.get(nibble).copied().unwrap_or(b'0');
        }
        // Hex digits are ASCII, so this never fails; bytes into a `String` without a
        // per-character push.
        String::from_utf8(digits.to_vec()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn stable_ids_never_change() {
        // Stored results are keyed by these ids: the value must stay the same across versions.
        assert_eq!(
            super::stable_id(&["cis-1.7-root-usage", "ev-1"]),
            "bb282ff71cf2bac30fcd2cacfdc45774"
        );
    }
}
