//! Bad rows of a source: their reasons counted by kind (numbers masked), and the source's
//! limit (`max_bad_fraction`) enforced, for the one read loop (`read::source_reading`).

use std::collections::HashMap;

use crate::common::error::{Error, Result};

/// Masks numbers in a reason so that reasons of one kind count together.
pub fn reason_kind(reason: &str) -> String {
    let mut kind = String::new();
    let mut in_number = false;
    for c in reason.chars() {
        if c.is_ascii_digit() {
            if !in_number {
                kind.push('N');
            }
            in_number = true;
        } else {
            in_number = false;
            kind.push(c);
        }
    }
    // Long enough for a reason's advice (a missing time says what to add) to be shown.
    kind.chars().take(240).collect()
}

/// Counts a source's quarantine reasons (by kind) and enforces its bad-row limit.
#[derive(Debug, Default)]
pub struct BadRows {
    reasons: HashMap<String, u64>,
}

impl BadRows {
    /// Counts one quarantined row.
    pub fn record(&mut self, reason: &str) {
        *self.reasons.entry(reason_kind(reason)).or_default() += 1;
    }

    /// The five commonest reasons; fails with [`Error::TooManyBadRows`] when more than
    /// `limit` of the `read` rows were quarantined.
    pub fn finish(
        self,
        name: &str,
        read: u64,
        quarantined: u64,
        limit: f64,
    ) -> Result<Vec<(String, u64)>> {
        let mut reasons: Vec<(String, u64)> = self.reasons.into_iter().collect();
        reasons.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        reasons.truncate(5);
        if read > 0 && quarantined as f64 > limit * read as f64 {
            return Err(Error::TooManyBadRows {
                source_name: name.to_string(),
                read,
                quarantined,
                max_bad_fraction: limit,
                reasons: reasons
                    .iter()
                    .take(3)
                    .map(|(r, n)| format!("{n}× {r}"))
                    .collect::<Vec<_>>()
                    .join("; "),
            });
        }
        Ok(reasons)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_group_by_kind() {
        assert_eq!(
            reason_kind("input_tokens: negative token count -35"),
            "input_tokens: negative token count -N"
        );
    }
}
