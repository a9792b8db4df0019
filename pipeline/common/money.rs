//! Money in Arrow: every amount is `Decimal128(38, 12)`, exact to a trillionth of a dollar,
//! and [`to_money`] turns an exact decimal into that column's integer.

use datafusion::arrow::datatypes::DataType;
use rust_decimal::Decimal;

/// Precision of money columns.
pub const MONEY_PRECISION: u8 = 38;
/// Scale of money columns (digits after the point).
pub const MONEY_SCALE: i8 = 12;
/// The money column type.
pub fn money_type() -> DataType {
    DataType::Decimal128(MONEY_PRECISION, MONEY_SCALE)
}

/// A decimal as the money column's integer at [`MONEY_SCALE`], and whether it had to be
/// rounded to fit (only for prices with more than 6 decimals per million tokens). Costs are
/// bounded by the caps on token counts and prices, far inside `DECIMAL(38, 12)`.
pub fn to_money(value: Decimal) -> (i128, bool) {
    // Most amounts have at most 12 places already: widened as they are, no rounding.
    if value.scale() <= MONEY_SCALE as u32 {
        const WIDEN: [i128; MONEY_SCALE as usize + 1] = {
            let mut powers = [1i128; MONEY_SCALE as usize + 1];
            let mut i = 1;
            while i < powers.len() {
                powers[i] = powers[i - 1] * 10;
                i += 1;
            }
            powers
        };
        return (
            value.mantissa() * WIDEN[(MONEY_SCALE as u32 - value.scale()) as usize],
            false,
        );
    }
    let rounded = value.round_dp(MONEY_SCALE as u32);
    let widen = 10i128.pow(MONEY_SCALE as u32 - rounded.scale());
    (rounded.mantissa() * widen, rounded != value)
}
