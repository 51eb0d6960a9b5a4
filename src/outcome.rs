//! The bounded classification of one request: success, or one failure reason.
//!
//! Reasons are label values, so the set is closed: error text never becomes a label (it
//! goes to logs and the status page instead). Classification is a `match` on types, never
//! on message strings.
//!
//! Adding a new reason:
//! 1. add the variant to [`Reason`] and to [`Reason::ALL`];
//! 2. produce it where it is detected (`client.rs` for transport, `runner.rs` for checks);
//! 3. document it in `docs/concepts.md` (outcomes) and `docs/metrics.md`, and in DESIGN.md.

use std::fmt::Write as _;

use prometheus_client::encoding::{EncodeLabelValue, LabelValueEncoder};

/// Why a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// No complete response within the target's timeout (counted from the intended start).
    Timeout,
    /// Name resolution or TCP connection failed.
    Connect,
    /// The TLS handshake failed.
    Tls,
    /// The connection broke or the response was malformed.
    Io,
    /// The status code was not one the step expects.
    Status,
    /// A check on the body or latency failed.
    Check,
    /// The target answered 429 and the step does not expect it.
    Throttled,
}

impl Reason {
    /// Every reason, so metrics can start each series at zero.
    pub const ALL: [Reason; 7] = [
        Reason::Timeout,
        Reason::Connect,
        Reason::Tls,
        Reason::Io,
        Reason::Status,
        Reason::Check,
        Reason::Throttled,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Timeout => "timeout",
            Reason::Connect => "connect",
            Reason::Tls => "tls",
            Reason::Io => "io",
            Reason::Status => "status",
            Reason::Check => "check",
            Reason::Throttled => "throttled",
        }
    }

    /// Whether this failure counts towards the error ratio (throttling has its own ratio).
    pub fn is_error(self) -> bool {
        self != Reason::Throttled
    }
}

impl EncodeLabelValue for Reason {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> std::fmt::Result {
        encoder.write_str(self.as_str())
    }
}

/// The classification of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every check passed.
    Success,
    /// The request failed for this reason.
    Failure(Reason),
}

impl Outcome {
    /// The failure reason, if any.
    pub fn reason(self) -> Option<Reason> {
        match self {
            Outcome::Success => None,
            Outcome::Failure(reason) => Some(reason),
        }
    }
}

/// Classifies a response by status: throttled, unexpected status, or fine so far.
pub fn classify_status(code: u16, accepted: bool) -> Outcome {
    match (accepted, code) {
        (true, _) => Outcome::Success,
        (false, 429) => Outcome::Failure(Reason::Throttled),
        (false, _) => Outcome::Failure(Reason::Status),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttled_only_when_not_expected() {
        assert_eq!(
            classify_status(429, false),
            Outcome::Failure(Reason::Throttled)
        );
        assert_eq!(classify_status(429, true), Outcome::Success);
        assert_eq!(
            classify_status(500, false),
            Outcome::Failure(Reason::Status)
        );
    }

    #[test]
    fn throttled_is_not_an_error_for_the_error_ratio() {
        let errors: Vec<Reason> = Reason::ALL.into_iter().filter(|r| r.is_error()).collect();
        assert_eq!(errors.len(), 6);
        assert!(!errors.contains(&Reason::Throttled));
    }
}
