//! The broker's one table of Kafka error codes: for every code, its number, its Kafka name
//! (`NOT_LEADER_OR_FOLLOWER`, as Kafka's `Errors` enum spells it), whether clients retry it,
//! and a static label for metrics. Every error number the broker sends comes from here:
//! handlers name codes as [`KafkaError`] variants, and each engine error's `kafka_code()` maps
//! its variants onto them.
//!
//! The list itself is not typed here: it is the vendored `kafka-protocol` crate's
//! `ResponseError` (re-exported as [`KafkaError`]), which carries every Kafka error with its
//! number and Kafka's retriable flag. The table adds what the crate lacks — `NONE` (code 0,
//! which the crate models as "no error"), the Kafka name (derived from the variant name, so a
//! crate upgrade brings new codes with their names), and the metric label.
//!
//! Why a top-level module rather than a `protocol/` one: the engines (`log`, `group`, `store`,
//! `cluster`) must map their errors to Kafka codes (one `kafka_code()` per error enum, STYLE
//! rule 3) yet never import wire types. This module is only Kafka's error vocabulary — numbers
//! and names, no message, no encoding, no I/O — so engines may depend on it, and still on
//! nothing in `protocol` or `kafka_protocol::messages`. The alternative, mapping engine errors
//! to codes at the handler boundary, would scatter each enum's mapping over every handler that
//! meets it. Engines reach the crate's enum only through this module, so replacing the crate
//! means replacing this file.
//!
//! Invariants: codes the crate knows, plus `NONE`, each have exactly one row, with a distinct
//! label; the label is the code's decimal number ("0", "6", "-1"), as the request metric has
//! always used, so dashboards keep working. A code the crate does not know is labelled
//! [`OTHER_LABEL`], so the label set stays closed whatever a caller passes.
//!
//! Compiled standalone by the fuzz crate (`protocol-tests/fuzz`, through `log/error.rs`): no
//! imports of other Runnel modules.

use std::sync::LazyLock;

/// Kafka's error codes, one variant per error (`KafkaError::NotLeaderOrFollower.code() == 6`).
/// Success (code 0) is not a variant: see [`NONE`].
pub use kafka_protocol::error::ResponseError as KafkaError;

/// Kafka's code for "no error".
pub const NONE: i16 = 0;

/// The metric label of a code the table does not know.
pub const OTHER_LABEL: &str = "other";

/// One row of the table.
struct ErrorInfo {
    code: i16,
    name: String,
    retriable: bool,
    label: String,
}

/// Every row, sorted by code; built once from the crate's enum.
static TABLE: LazyLock<Vec<ErrorInfo>> = LazyLock::new(|| {
    (i16::MIN..=i16::MAX)
        .filter_map(|code| match KafkaError::try_from_code(code) {
            None => Some(row(NONE, "NONE".into(), false)),
            Some(KafkaError::Unknown(_)) => None,
            Some(e) => Some(row(
                code,
                screaming_snake(&format!("{e:?}")),
                e.is_retriable(),
            )),
        })
        .collect()
});

fn row(code: i16, name: String, retriable: bool) -> ErrorInfo {
    ErrorInfo {
        code,
        name,
        retriable,
        label: code.to_string(),
    }
}

/// `NotLeaderOrFollower` → `NOT_LEADER_OR_FOLLOWER`: the crate's variants are Kafka's names in
/// CamelCase, one capital per word.
fn screaming_snake(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 8);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// The row of `code`, `None` for a code the crate does not know.
fn info(code: i16) -> Option<&'static ErrorInfo> {
    let table: &'static [ErrorInfo] = &TABLE;
    table
        .binary_search_by_key(&code, |r| r.code)
        .ok()
        .and_then(|i| table.get(i))
}

/// Kafka's name for `code`; `UNKNOWN` for a code the crate does not know.
pub fn name(code: i16) -> &'static str {
    info(code).map_or("UNKNOWN", |r| r.name.as_str())
}

/// Whether clients retry `code`; an unknown code is not retriable, as Kafka's clients treat it.
pub fn is_retriable(code: i16) -> bool {
    info(code).is_some_and(|r| r.retriable)
}

/// The static metric label of `code`: its number, or [`OTHER_LABEL`] for an unknown code.
pub fn label(code: i16) -> &'static str {
    info(code).map_or(OTHER_LABEL, |r| r.label.as_str())
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    /// Numbers and names from Kafka's `Errors.java`, checked against the table.
    #[test]
    fn numbers_and_names_match_kafka() {
        for (code, kafka_name) in [
            (-1, "UNKNOWN_SERVER_ERROR"),
            (0, "NONE"),
            (1, "OFFSET_OUT_OF_RANGE"),
            (3, "UNKNOWN_TOPIC_OR_PARTITION"),
            (6, "NOT_LEADER_OR_FOLLOWER"),
            (15, "COORDINATOR_NOT_AVAILABLE"),
            (17, "INVALID_TOPIC_EXCEPTION"),
            (35, "UNSUPPORTED_VERSION"),
            (43, "UNSUPPORTED_FOR_MESSAGE_FORMAT"),
            (48, "INVALID_TXN_STATE"),
            (56, "KAFKA_STORAGE_ERROR"),
            (61, "DELEGATION_TOKEN_AUTH_DISABLED"),
            (74, "FENCED_LEADER_EPOCH"),
            (75, "UNKNOWN_LEADER_EPOCH"),
            (89, "THROTTLING_QUOTA_EXCEEDED"),
            (100, "UNKNOWN_TOPIC_ID"),
            (106, "FETCH_SESSION_TOPIC_ID_ERROR"),
            (109, "OFFSET_MOVED_TO_TIERED_STORAGE"),
            (114, "MISMATCHED_ENDPOINT_TYPE"),
        ] {
            let row = info(code).unwrap_or_else(|| panic!("code {code} missing"));
            assert_eq!((row.code, row.name.as_str()), (code, kafka_name));
            assert_eq!(name(code), kafka_name);
        }
        assert_eq!(KafkaError::UnknownServerError.code(), -1);
        assert_eq!(KafkaError::NotLeaderOrFollower.code(), 6);
        assert_eq!(KafkaError::CoordinatorNotAvailable.code(), 15);
        assert_eq!(KafkaError::FencedLeaderEpoch.code(), 74);
        assert_eq!(KafkaError::UnknownLeaderEpoch.code(), 75);
        assert_eq!(KafkaError::UnknownTopicId.code(), 100);
        assert_eq!(name(30_000), "UNKNOWN");
        assert!(info(30_000).is_none());
    }

    #[test]
    fn names_are_distinct_screaming_snake() {
        let mut seen = HashSet::new();
        for row in TABLE.iter() {
            let n = row.name.as_str();
            assert!(
                !n.is_empty()
                    && !n.starts_with('_')
                    && !n.ends_with('_')
                    && !n.contains("__")
                    && n.chars().all(|c| c.is_ascii_uppercase() || c == '_'),
                "{n}"
            );
            assert!(seen.insert(n), "duplicate name {n}");
        }
    }

    #[test]
    fn retriable_flags_match_kafka() {
        // RetriableException subclasses in Kafka's clients.
        for code in [2, 3, 5, 6, 7, 13, 14, 15, 16, 19, 56, 70, 74, 75, 100] {
            assert!(is_retriable(code), "{} should be retriable", name(code));
        }
        for code in [-1, 0, 1, 10, 17, 22, 25, 27, 35, 36, 42, 45, 87] {
            assert!(
                !is_retriable(code),
                "{} should not be retriable",
                name(code)
            );
        }
        assert!(!is_retriable(30_000));
    }

    #[test]
    fn labels_are_the_number_distinct_and_cover_every_code() {
        assert_eq!(label(0), "0");
        assert_eq!(label(-1), "-1");
        assert_eq!(label(6), "6");
        assert_eq!(label(30_000), OTHER_LABEL);
        let mut seen = HashSet::new();
        for code in i16::MIN..=i16::MAX {
            let known = !matches!(
                KafkaError::try_from_code(code),
                Some(KafkaError::Unknown(_))
            );
            assert_eq!(known, label(code) != OTHER_LABEL, "code {code}");
            if known {
                assert_eq!(label(code), code.to_string());
                assert!(seen.insert(label(code)), "label of {code} repeated");
            }
        }
        assert_eq!(seen.len(), TABLE.len());
        // The crate knows Kafka 4.1's codes: -1 and 0 through 133 at least.
        assert!(TABLE.len() >= 135, "{}", TABLE.len());
    }

    #[test]
    fn rows_are_sorted_by_code() {
        assert!(TABLE.windows(2).all(|w| w[0].code < w[1].code));
    }
}
