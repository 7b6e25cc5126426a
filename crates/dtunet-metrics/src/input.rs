//! Checks shared by every metric at its boundary: lengths, emptiness, finiteness.

use crate::error::{MetricsError, Result};

/// Fails unless `found_len == expected_len`.
pub(crate) fn check_same_len(
    what: &'static str,
    found_len: usize,
    against: &'static str,
    expected_len: usize,
) -> Result<()> {
    if found_len != expected_len {
        return Err(MetricsError::LengthMismatch {
            what,
            found: found_len,
            against,
            expected: expected_len,
        });
    }
    Ok(())
}

/// Fails when `len == 0`.
pub(crate) fn check_not_empty(what: &'static str, len: usize) -> Result<()> {
    if len == 0 {
        return Err(MetricsError::Empty { what });
    }
    Ok(())
}

/// Fails at the first NaN or infinite value.
pub(crate) fn check_finite<T: Copy + Into<f64>>(what: &'static str, values: &[T]) -> Result<()> {
    match values.iter().position(|&value| !value.into().is_finite()) {
        Some(index) => Err(MetricsError::NotFinite {
            what,
            index,
            value: values[index].into(),
        }),
        None => Ok(()),
    }
}

/// Fails when `value` is NaN or infinite; for scalar parameters.
pub(crate) fn check_finite_parameter(name: &'static str, value: f64) -> Result<()> {
    if !value.is_finite() {
        return Err(MetricsError::InvalidParameter {
            name,
            found: value.to_string(),
            expected: "a finite number",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finite_check_reports_first_bad_index() {
        let err = check_finite("map", &[0.0f32, f32::NAN, f32::INFINITY]).unwrap_err();
        assert!(matches!(err, MetricsError::NotFinite { index: 1, .. }));
        assert!(err.to_string().starts_with("map[1] = NaN is not finite"));
    }

    #[test]
    fn length_message_names_both_inputs() {
        let err = check_same_len("labels", 3, "scores", 4).unwrap_err();
        assert_eq!(
            err.to_string(),
            "labels has 3 values but scores has 4: give exactly one per pixel"
        );
    }
}
