//! Field-level tolerance for odd payloads: a field of the wrong type becomes "absent".
//!
//! Real captures carry `"None"` strings where lists belong (Fargate Windows), `"network": {}`
//! instead of `networks`, floats where integers belong. Deserializing each optional field through
//! [`lenient`] means a bad field drops only the series it feeds, never the container or the run.

use serde::de::{Deserialize, DeserializeOwned, Deserializer};
use serde_json::Value;

/// Deserialize an optional field; any value that does not fit `T` (including `null`) is `None`.
pub fn lenient<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    let value = Value::deserialize(deserializer)?;
    Ok(T::deserialize(value).ok())
}

/// Read a JSON number as a non-negative integer, accepting integral floats (`512.0`) and
/// rejecting negatives, fractions and non-numbers.
pub fn as_u64(value: &Value) -> Option<u64> {
    if let Some(n) = value.as_u64() {
        return Some(n);
    }
    let f = value.as_f64()?;
    // 2^64 as f64; anything at or above does not fit.
    (f.is_finite() && f >= 0.0 && f.fract() == 0.0 && f < 18_446_744_073_709_551_616.0)
        .then_some(f as u64)
}
