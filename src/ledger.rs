//! The in-memory ledger's fixed-point cost: a cost as an integer count of 10^-18 USD, the
//! form the ledger's ring stores (`python/fastrouter/usage/columns.py`, `fixed_from_text`).

/// Decimal places of a fixed-point cost.
pub const COST_SCALE: usize = 18;

/// The largest cost the ring holds in fixed point; larger ones go to its side table.
pub const COST_MAX: u64 = (1 << 63) - 3;

/// A plain non-negative decimal text (`"0.00001275"`, as a server writes `usage.cost`) as
/// fixed-point units; `None` for any other form (a sign, an exponent, more than
/// [`COST_SCALE`] decimal places, over [`COST_MAX`]), which the ring converts itself.
pub fn cost_units(text: &str) -> Option<u64> {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(frac) || frac.len() > COST_SCALE {
        return None;
    }
    let padding = std::iter::repeat_n(b'0', COST_SCALE - frac.len());
    let mut units: u64 = 0;
    for digit in whole.bytes().chain(frac.bytes()).chain(padding) {
        units = units
            .checked_mul(10)?
            .checked_add(u64::from(digit - b'0'))
            .filter(|&units| units <= COST_MAX)?;
    }
    Some(units)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_decimal_texts_are_exact_units() {
        assert_eq!(cost_units("0.00001275"), Some(12_750_000_000_000));
        assert_eq!(cost_units("0"), Some(0));
        assert_eq!(cost_units("5."), Some(5_000_000_000_000_000_000));
        assert_eq!(
            cost_units("1.000000000000000001"),
            Some(1_000_000_000_000_000_001)
        );
        assert_eq!(cost_units("9.223372036854775805"), Some(COST_MAX));
    }

    #[test]
    fn other_forms_are_left_to_the_ring() {
        for text in [
            "",
            ".5",
            "-0.1",
            "+1",
            "1e-5",
            "1.5E3",
            "0.0000000000000000001",
            "9.223372036854775806",
            "100000000000",
            "1.2.3",
            "1_0",
            " 1",
        ] {
            assert_eq!(cost_units(text), None, "{text}");
        }
    }
}
