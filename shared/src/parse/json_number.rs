//! Exact comparisons of JSON numbers, for the schema decoder. serde_json (without
//! `arbitrary_precision`) keeps an integer literal that fits `i64` or `u64` exactly and
//! any other number as an `f64`; the `jsonschema` crate compares them exactly. Going
//! through `f64` here would round integers past 2^53 (9007199254740993 becomes
//! 9007199254740992), so the decoder would offer values the validator then refuses.
//! Every integer is held as an `i128` (which holds every `i64` and `u64`), and an integer
//! is compared with a float without rounding either.

use std::cmp::Ordering;

use serde_json::{Number, Value};

/// 2^127 as an `f64`: floats at or beyond it do not fit an `i128`.
const I128_LIMIT: f64 = 170_141_183_460_469_231_731_687_303_715_884_105_728.0;

/// A JSON number as serde_json holds it: an integer, exactly, or a float (finite: JSON
/// has no NaN or infinity).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Exact {
    Int(i128),
    Float(f64),
}

impl Exact {
    /// The number `value` holds, or `None` for other JSON values.
    pub(crate) fn of(value: &Value) -> Option<Exact> {
        value.as_number().map(Exact::of_number)
    }

    fn of_number(number: &Number) -> Exact {
        if let Some(i) = number.as_i64() {
            Exact::Int(i128::from(i))
        } else if let Some(u) = number.as_u64() {
            Exact::Int(i128::from(u))
        } else {
            Exact::Float(number.as_f64().unwrap_or(f64::NAN))
        }
    }

    /// The number as an integer when it is one (JSON Schema counts `1.0` as an integer),
    /// exactly; `None` for a fraction or a float beyond `i128`.
    pub(crate) fn integer(self) -> Option<i128> {
        match self {
            Exact::Int(i) => Some(i),
            Exact::Float(f) if f.fract() == 0.0 && f.abs() < I128_LIMIT => Some(f as i128),
            Exact::Float(_) => None,
        }
    }

    /// Whether JSON Schema counts the number as an integer (`1.0` and `1e300` are).
    pub(crate) fn is_integer(self) -> bool {
        match self {
            Exact::Int(_) => true,
            Exact::Float(f) => f.fract() == 0.0,
        }
    }

    /// The smallest integer at or above the number, saturating at the `i128` range.
    pub(crate) fn ceil(self) -> i128 {
        match self {
            Exact::Int(i) => i,
            // `as` saturates, which is what a bound beyond i128 means here.
            Exact::Float(f) => f.ceil() as i128,
        }
    }

    /// The largest integer at or below the number, saturating at the `i128` range.
    pub(crate) fn floor(self) -> i128 {
        match self {
            Exact::Int(i) => i,
            Exact::Float(f) => f.floor() as i128,
        }
    }

    /// The number as an `f64`, rounded: for placing values on a scale, never for
    /// deciding whether a value is allowed.
    pub(crate) fn approx(self) -> f64 {
        match self {
            Exact::Int(i) => i as f64,
            Exact::Float(f) => f,
        }
    }

    /// Orders two numbers exactly.
    pub(crate) fn cmp(self, other: Exact) -> Ordering {
        match (self, other) {
            (Exact::Int(a), Exact::Int(b)) => a.cmp(&b),
            (Exact::Int(a), Exact::Float(b)) => int_vs_float(a, b),
            (Exact::Float(a), Exact::Int(b)) => int_vs_float(b, a).reverse(),
            (Exact::Float(a), Exact::Float(b)) => a.total_cmp(&b),
        }
    }
}

/// Orders an integer against a finite float without rounding either.
fn int_vs_float(i: i128, f: f64) -> Ordering {
    if f >= I128_LIMIT {
        return Ordering::Less;
    }
    if f < -I128_LIMIT {
        return Ordering::Greater;
    }
    let floor = f.floor();
    // |floor| < 2^127, so it converts exactly.
    let whole = floor as i128;
    match i.cmp(&whole) {
        Ordering::Equal if f > floor => Ordering::Less,
        other => other,
    }
}

/// JSON Schema's equality: numbers by exact value (`1` and `1.0` are one value,
/// 9007199254740993 and 9007199254740992 are two), other values as JSON.
pub(crate) fn same_value(a: &Value, b: &Value) -> bool {
    match (Exact::of(a), Exact::of(b)) {
        (Some(x), Some(y)) => x.cmp(y) == Ordering::Equal,
        _ => a == b,
    }
}

/// The integer `i` as a JSON number a typed client reads as an integer (`1`, never
/// `1.0`), or `None` beyond the `i64`/`u64` range that JSON parsers keep exactly.
pub(crate) fn integer_value(i: i128) -> Option<Value> {
    if let Ok(small) = i64::try_from(i) {
        Some(Value::from(small))
    } else {
        u64::try_from(i).ok().map(Value::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TWO_53: i128 = 1 << 53;

    #[test]
    fn integers_past_2_pow_53_stay_distinct() {
        let a: Value = serde_json::from_str("9007199254740993").unwrap();
        let b: Value = serde_json::from_str("9007199254740992").unwrap();
        assert!(!same_value(&a, &b));
        assert_eq!(Exact::of(&a).unwrap().integer(), Some(TWO_53 + 1));
        assert_eq!(
            Exact::of(&a).unwrap().cmp(Exact::of(&b).unwrap()),
            Ordering::Greater
        );
        let max: Value = serde_json::from_str("18446744073709551615").unwrap();
        assert_eq!(
            Exact::of(&max).unwrap().integer(),
            Some(i128::from(u64::MAX))
        );
    }

    #[test]
    fn integers_and_floats_compare_without_rounding() {
        // 2^53 + 1 against the float 2^53 (what the literal 9007199254740993.0 parses to).
        let float = Exact::Float(9_007_199_254_740_992.0);
        assert_eq!(Exact::Int(TWO_53 + 1).cmp(float), Ordering::Greater);
        assert_eq!(Exact::Int(TWO_53).cmp(float), Ordering::Equal);
        assert_eq!(Exact::Int(1).cmp(Exact::Float(1.5)), Ordering::Less);
        assert_eq!(Exact::Int(2).cmp(Exact::Float(1.5)), Ordering::Greater);
        assert_eq!(Exact::Int(-1).cmp(Exact::Float(-1.5)), Ordering::Greater);
        assert_eq!(
            Exact::Int(i128::MAX).cmp(Exact::Float(1e308)),
            Ordering::Less
        );
        assert_eq!(
            Exact::Int(i128::MIN).cmp(Exact::Float(-1e308)),
            Ordering::Greater
        );
        assert_eq!(Exact::Float(-0.0).integer(), Some(0));
        assert!(same_value(&json!(1), &json!(1.0)));
        assert!(same_value(&json!(0), &json!(-0.0)));
    }

    #[test]
    fn bounds_round_inwards_and_saturate() {
        assert_eq!(Exact::Float(1.5).ceil(), 2);
        assert_eq!(Exact::Float(1.5).floor(), 1);
        assert_eq!(Exact::Float(-1.5).ceil(), -1);
        assert_eq!(Exact::Float(1e300).floor(), i128::MAX);
        assert_eq!(Exact::Float(-1e300).ceil(), i128::MIN);
    }

    #[test]
    fn integers_are_written_as_integers_within_64_bits() {
        assert_eq!(integer_value(1), Some(json!(1)));
        assert_eq!(integer_value(-5), Some(json!(-5)));
        assert_eq!(
            integer_value(i128::from(u64::MAX)),
            Some(Value::from(u64::MAX))
        );
        assert_eq!(integer_value(i128::from(u64::MAX) + 1), None);
        assert_eq!(integer_value(i128::from(i64::MIN) - 1), None);
    }
}
