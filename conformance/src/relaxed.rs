//! The results the spec permits for each relaxed SIMD operation, lane by lane: what the
//! lane probes check a default-profile result against before they call an engines'
//! difference an allowed relaxed choice.
//!
//! Each lane gets the set of the spec's alternatives (the WebAssembly 3.0 numerics'
//! `relaxed[…]` lists): where the operands leave no choice the set has one member, so a
//! wrong answer there is a divergence even when the operation is relaxed. NaN results are
//! compared as "some NaN": which NaN is the NaN probes' question, not this one.

/// Whether `result` is one of the results the spec permits for relaxed operation `op`
/// (its instruction name) on `args`; `None` when `op` is not a relaxed operation this
/// module knows.
pub fn permitted(op: &str, args: &[u128], result: u128) -> Option<bool> {
    let arg = |i: usize| args.get(i).copied().unwrap_or(0);
    let (a, b, c) = (arg(0), arg(1), arg(2));
    let ok = match op {
        "f32x4.relaxed_madd" | "f32x4.relaxed_nmadd" => {
            let negate = op.ends_with("nmadd");
            lanes32(result).into_iter().enumerate().all(|(k, r)| {
                let [x, y, z] = [a, b, c].map(|v| f32::from_bits(lanes32(v)[k]));
                let x = if negate { -x } else { x };
                let fused = x.mul_add(y, z);
                float_in(
                    r.into(),
                    [fused.to_bits().into(), (x * y + z).to_bits().into()],
                    32,
                )
            })
        }
        "f64x2.relaxed_madd" | "f64x2.relaxed_nmadd" => {
            let negate = op.ends_with("nmadd");
            lanes64(result).into_iter().enumerate().all(|(k, r)| {
                let [x, y, z] = [a, b, c].map(|v| f64::from_bits(lanes64(v)[k]));
                let x = if negate { -x } else { x };
                float_in(r, [x.mul_add(y, z).to_bits(), (x * y + z).to_bits()], 64)
            })
        }
        "f32x4.relaxed_min" | "f32x4.relaxed_max" => {
            let min = op.ends_with("min");
            lanes32(result).into_iter().enumerate().all(|(k, r)| {
                let (x, y) = (lanes32(a)[k], lanes32(b)[k]);
                let strict =
                    strict_min_max(f32::from_bits(x).into(), f32::from_bits(y).into(), min);
                let strict = (strict as f32).to_bits();
                // Where they are NaN or zeros of both signs, either operand may come back.
                float_in(r.into(), [strict.into(), x.into(), y.into()], 32)
            })
        }
        "f64x2.relaxed_min" | "f64x2.relaxed_max" => {
            let min = op.ends_with("min");
            lanes64(result).into_iter().enumerate().all(|(k, r)| {
                let (x, y) = (lanes64(a)[k], lanes64(b)[k]);
                let strict = strict_min_max(f64::from_bits(x), f64::from_bits(y), min).to_bits();
                float_in(r, [strict, x, y], 64)
            })
        }
        "i32x4.relaxed_trunc_f32x4_s" | "i32x4.relaxed_trunc_f32x4_u" => {
            let signed = op.ends_with("_s");
            let inputs = lanes32(a).map(|l| f64::from(f32::from_bits(l)));
            trunc_lanes(&inputs, signed, result)
        }
        "i32x4.relaxed_trunc_f64x2_s_zero" | "i32x4.relaxed_trunc_f64x2_u_zero" => {
            let signed = op.contains("_s_");
            let inputs = lanes64(a).map(f64::from_bits);
            trunc_lanes(&inputs, signed, result & u128::from(u64::MAX)) && result >> 64 == 0
        }
        "i8x16.relaxed_swizzle" => {
            let (table, picks, out) = (a.to_le_bytes(), b.to_le_bytes(), result.to_le_bytes());
            (0..16).all(|k| match picks[k] {
                i @ 0..16 => out[k] == table[usize::from(i)],
                i @ 16..128 => out[k] == 0 || out[k] == table[usize::from(i % 16)],
                _ => out[k] == 0,
            })
        }
        "i16x8.relaxed_q15mulr_s" => (0..8).all(|k| {
            let (x, y, r) = (lane16(a, k), lane16(b, k), lane16(result, k));
            if x == i16::MIN && y == i16::MIN {
                r == i16::MIN || r == i16::MAX
            } else {
                i32::from(r) == (i32::from(x) * i32::from(y) + 0x4000) >> 15
            }
        }),
        "i16x8.relaxed_dot_i8x16_i7x16_s" => (0..8).all(|k| {
            let r = i32::from(lane16(result, k));
            [true, false].iter().any(|signed| {
                let sum = pair_sum(a, b, 2 * k, *signed);
                narrowings(sum).contains(&r)
            })
        }),
        "i32x4.relaxed_dot_i8x16_i7x16_add_s" => {
            lanes32(result).into_iter().enumerate().all(|(k, r)| {
                let acc = lanes32(c)[k];
                // One choice for both pairs of a lane: how `b` is read, how a pair narrows.
                [true, false].iter().any(|signed| {
                    let low = narrowings(pair_sum(a, b, 4 * k, *signed));
                    let high = narrowings(pair_sum(a, b, 4 * k + 2, *signed));
                    (0..3).any(|n| acc.wrapping_add((low[n] + high[n]) as u32) == r)
                })
            })
        }
        "i8x16.relaxed_laneselect" => laneselect(a, b, c, result, 8),
        "i16x8.relaxed_laneselect" => laneselect(a, b, c, result, 16),
        "i32x4.relaxed_laneselect" => laneselect(a, b, c, result, 32),
        "i64x2.relaxed_laneselect" => laneselect(a, b, c, result, 64),
        _ => return None,
    };
    Some(ok)
}

fn lanes32(v: u128) -> [u32; 4] {
    std::array::from_fn(|k| (v >> (32 * k)) as u32)
}

fn lanes64(v: u128) -> [u64; 2] {
    std::array::from_fn(|k| (v >> (64 * k)) as u64)
}

fn lane16(v: u128, k: usize) -> i16 {
    (v >> (16 * k)) as u16 as i16
}

/// Whether float bits `r` (of `width` bits) are one of `candidates`, a NaN standing for any
/// NaN.
fn float_in<const N: usize>(r: u64, candidates: [u64; N], width: u32) -> bool {
    let nan = |bits: u64| match width {
        32 => f32::from_bits(bits as u32).is_nan(),
        _ => f64::from_bits(bits).is_nan(),
    };
    candidates.iter().any(|c| *c == r || (nan(*c) && nan(r)))
}

/// `fmin` / `fmax` as the strict (non-relaxed) instructions compute them: NaN if either is
/// NaN, and −0 below +0.
fn strict_min_max(x: f64, y: f64, min: bool) -> f64 {
    if x.is_nan() || y.is_nan() {
        return f64::NAN;
    }
    if x == 0.0 && y == 0.0 {
        let negative = x.is_sign_negative();
        let pick_x = if min { negative } else { !negative };
        return if pick_x { x } else { y };
    }
    if (x < y) == min { x } else { y }
}

/// Each 32-bit lane of `result` against the relaxed truncation of its input: exact in range;
/// otherwise the saturating result or one of the spec's fixed alternatives.
fn trunc_lanes(inputs: &[f64], signed: bool, result: u128) -> bool {
    inputs.iter().enumerate().all(|(k, z)| {
        let r = lanes32(result)[k];
        let t = z.trunc();
        let (low, high) = if signed {
            (f64::from(i32::MIN), f64::from(i32::MAX))
        } else {
            (0.0, f64::from(u32::MAX))
        };
        if !z.is_nan() && t >= low && t <= high {
            return r == if signed { t as i32 as u32 } else { t as u32 };
        }
        let saturated = if signed {
            (*z as i32) as u32
        } else {
            *z as u32
        };
        if signed {
            [saturated, i32::MIN as u32].contains(&r)
        } else {
            [saturated, u32::MAX, u32::MAX - 1, 1 << 31].contains(&r)
        }
    })
}

/// Bytes `j` and `j + 1` of `a` (signed) times those of `b` (read signed or not), summed.
fn pair_sum(a: u128, b: u128, j: usize, signed: bool) -> i32 {
    let (a, b) = (a.to_le_bytes(), b.to_le_bytes());
    (j..j + 2)
        .map(|i| {
            let y = if signed {
                i32::from(b[i] as i8)
            } else {
                i32::from(b[i])
            };
            i32::from(a[i] as i8) * y
        })
        .sum()
}

/// A pair's sum as the spec lets it reach the result: kept whole, wrapped to 16 bits, or
/// saturated to 16 bits.
fn narrowings(sum: i32) -> [i32; 3] {
    let saturated = sum.clamp(i32::from(i16::MIN), i32::from(i16::MAX));
    [sum, i32::from(sum as i16), saturated]
}

/// Each `width`-bit lane: the bitwise select by the mask, or the lane of `a` or `b` chosen
/// by the mask lane's top bit.
fn laneselect(a: u128, b: u128, mask: u128, result: u128, width: u32) -> bool {
    let ones = if width == 128 {
        u128::MAX
    } else {
        (1u128 << width) - 1
    };
    (0..128 / width).all(|k| {
        let lane = |v: u128| (v >> (width * k)) & ones;
        let (x, y, m, r) = (lane(a), lane(b), lane(mask), lane(result));
        let bitwise = (x & m) | (y & !m & ones);
        let by_top = if m >> (width - 1) == 1 { x } else { y };
        r == bitwise || r == by_top
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(b: [u8; 16]) -> u128 {
        u128::from_le_bytes(b)
    }

    fn i16s(lanes: [i16; 8]) -> u128 {
        lanes
            .iter()
            .rev()
            .fold(0, |v, l| v << 16 | u128::from(*l as u16))
    }

    fn i32s(lanes: [i32; 4]) -> u128 {
        lanes
            .iter()
            .rev()
            .fold(0, |v, l| v << 32 | u128::from(*l as u32))
    }

    #[test]
    fn swizzle_indices_past_15_may_give_zero_or_wrap_and_past_127_give_zero() {
        let table = bytes(std::array::from_fn(|i| 100 + i as u8));
        let picks = bytes([0, 15, 17, 0x80, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3]);
        let mut out = [103u8; 16];
        out[..4].copy_from_slice(&[100, 115, 0, 0]);
        let permitted =
            |out: [u8; 16]| permitted("i8x16.relaxed_swizzle", &[table, picks], bytes(out));
        assert_eq!(permitted(out), Some(true));
        out[2] = 101; // 17 % 16
        assert_eq!(permitted(out), Some(true));
        out[3] = 100; // 0x80 must give 0
        assert_eq!(permitted(out), Some(false));
        out[3] = 0;
        out[0] = 0; // index 0 has one answer
        assert_eq!(permitted(out), Some(false));
    }

    #[test]
    fn q15mulr_has_a_choice_only_at_min_times_min() {
        let a = i16s([i16::MIN, 0x4000, 3, 0, 0, 0, 0, 0]);
        let b = i16s([i16::MIN, 0x4000, 3, 0, 0, 0, 0, 0]);
        let q = |first| {
            permitted(
                "i16x8.relaxed_q15mulr_s",
                &[a, b],
                i16s([first, 0x2000, 0, 0, 0, 0, 0, 0]),
            )
        };
        assert_eq!(q(i16::MAX), Some(true));
        assert_eq!(q(i16::MIN), Some(true));
        assert_eq!(q(0), Some(false));
    }

    #[test]
    fn dot_products_may_read_b_unsigned_and_wrap_or_saturate() {
        let a = bytes([0x80; 16]); // -128
        let b = bytes([0x80; 16]); // -128 signed, 128 unsigned
        let dot = |r| permitted("i16x8.relaxed_dot_i8x16_i7x16_s", &[a, b], i16s([r; 8]));
        // Signed: 2·16384 = 32768, wrapped to MIN or saturated to MAX; unsigned: -32768.
        assert_eq!(dot(i16::MIN), Some(true));
        assert_eq!(dot(i16::MAX), Some(true));
        assert_eq!(dot(0), Some(false));
        let c = i32s([1; 4]);
        let add = |r| {
            permitted(
                "i32x4.relaxed_dot_i8x16_i7x16_add_s",
                &[a, b, c],
                i32s([r; 4]),
            )
        };
        assert_eq!(add(65537), Some(true)); // whole sums
        assert_eq!(add(2 * 32767 + 1), Some(true)); // saturated pairs
        assert_eq!(add(-65535), Some(true)); // wrapped, or b unsigned
        assert_eq!(add(12), Some(false));
    }

    #[test]
    fn truncations_are_exact_in_range_and_chosen_outside_it() {
        let lanes = |v: [f32; 4]| {
            v.iter()
                .rev()
                .fold(0u128, |acc, f| acc << 32 | u128::from(f.to_bits()))
        };
        let input = lanes([1.9, f32::NAN, 3e9, -3e9]);
        let t = |r| permitted("i32x4.relaxed_trunc_f32x4_s", &[input], i32s(r));
        assert_eq!(t([1, 0, i32::MAX, i32::MIN]), Some(true));
        assert_eq!(t([1, i32::MIN, i32::MIN, i32::MIN]), Some(true));
        assert_eq!(t([2, 0, i32::MAX, i32::MIN]), Some(false));
        assert_eq!(t([1, 7, i32::MAX, i32::MIN]), Some(false));
    }

    #[test]
    fn laneselect_is_bitwise_or_by_the_top_bit_of_each_lane() {
        let (a, b) = (u128::MAX, 0);
        let mask = i32s([0x0f0f_0f0f, -1, 0, i32::MIN]);
        let sel = |r| permitted("i32x4.relaxed_laneselect", &[a, b, mask], i32s(r));
        assert_eq!(sel([0x0f0f_0f0f, -1, 0, i32::MIN]), Some(true)); // bitwise
        assert_eq!(sel([0, -1, 0, -1]), Some(true)); // by the top bit
        assert_eq!(sel([0, 0, 0, -1]), Some(false));
        assert_eq!(permitted("i32x4.add", &[], 0), None);
    }

    #[test]
    fn relaxed_min_max_may_return_either_operand_at_nan_and_signed_zeros() {
        let pair = |x: f64, y: f64| [u128::from(x.to_bits()) | u128::from(y.to_bits()) << 64];
        let (a, b) = (pair(0.0, f64::NAN), pair(-0.0, 1.0));
        let min = |r: [f64; 2]| permitted("f64x2.relaxed_min", &[a[0], b[0]], pair(r[0], r[1])[0]);
        assert_eq!(min([-0.0, f64::NAN]), Some(true));
        assert_eq!(min([0.0, 1.0]), Some(true));
        assert_eq!(min([1.0, 1.0]), Some(false));
    }
}
