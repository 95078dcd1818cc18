//! Numbers the way Redis reads and prints them.
//!
//! INCRBYFLOAT works in C `long double` (x87 80-bit: a 64-bit mantissa) and
//! prints with `%.17Lf` then trims zeros; plain `f64` would print 0.1 as
//! `0.10000000000000001`. [`LongDouble`] emulates that arithmetic exactly with
//! big integers: parse rounds to 64 significant bits, addition is exact then
//! rounded, printing is exact. Rounding is to nearest, ties to even, as the
//! x87 unit and glibc's printf do.

use num_bigint::BigUint;
use num_traits::{One, ToPrimitive, Zero};

/// `long double` exponent limit: values at or above 2^16384 overflow.
const LD_MAX_EXP: i64 = 16384;
/// Smallest normal `long double` is 2^-16382; below that we report underflow.
const LD_MIN_EXP: i64 = -16382;

#[derive(Clone, Debug, PartialEq)]
pub enum LongDouble {
    /// (negative, mantissa < 2^64, exponent): value = ±mantissa · 2^exponent.
    Finite(bool, u64, i64),
    Inf(bool),
}

/// Why a string is not a `long double` Redis accepts (`string2ld` fails).
#[derive(Debug, PartialEq)]
pub struct NotAFloat;

/// Rounds `n · 2^exp` to 64 significant bits (ties to even).
fn round_to_ld(neg: bool, n: BigUint, exp: i64, sticky: bool) -> LongDouble {
    if n.is_zero() {
        return LongDouble::Finite(neg, 0, 0);
    }
    let bits = n.bits() as i64;
    let (mut mant, mut e) = if bits <= 64 {
        (n.to_u64().unwrap_or(0), exp)
    } else {
        let shift = (bits - 64) as u64;
        let q = &n >> shift;
        let rem = &n - (&q << shift);
        let half = BigUint::one() << (shift - 1);
        let mut m = q.to_u64().unwrap_or(u64::MAX);
        let round_up = rem > half || (rem == half && (sticky || m & 1 == 1));
        if round_up {
            let (m2, carry) = m.overflowing_add(1);
            m = if carry { 1 << 63 } else { m2 };
            if carry {
                return finish(neg, m, exp + shift as i64 + 1);
            }
        }
        (m, exp + shift as i64)
    };
    // Normalise so the exponent check below is meaningful.
    let lz = mant.leading_zeros() as i64;
    mant <<= lz;
    e -= lz;
    finish(neg, mant, e)
}

fn finish(neg: bool, mant: u64, exp: i64) -> LongDouble {
    if exp + 64 > LD_MAX_EXP {
        LongDouble::Inf(neg)
    } else {
        LongDouble::Finite(neg, mant, exp)
    }
}

impl LongDouble {
    pub fn from_i64(v: i64) -> LongDouble {
        round_to_ld(v < 0, BigUint::from(v.unsigned_abs()), 0, false)
    }

    /// Redis's `string2ld`: `strtold` on the whole string, rejecting leading
    /// space, trailing garbage, NaN, and overflow/underflow (ERANGE).
    pub fn parse(s: &[u8]) -> Result<LongDouble, NotAFloat> {
        if s.is_empty() || s.len() >= 5 * 1024 {
            return Err(NotAFloat);
        }
        let text = std::str::from_utf8(s).map_err(|_| NotAFloat)?;
        let (neg, body) = match text.as_bytes()[0] {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        let lower = body.to_ascii_lowercase();
        if lower == "inf" || lower == "infinity" {
            return Ok(LongDouble::Inf(neg));
        }
        if let Some(hex) = lower.strip_prefix("0x") {
            return parse_hex(neg, hex);
        }
        let b = body.as_bytes();
        let mut i = 0;
        let mut digits = BigUint::zero();
        let mut ndigits = 0usize;
        let mut exp10: i64 = 0;
        let ten = BigUint::from(10u32);
        while i < b.len() && b[i].is_ascii_digit() {
            digits = digits * &ten + BigUint::from(b[i] - b'0');
            ndigits += 1;
            i += 1;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            while i < b.len() && b[i].is_ascii_digit() {
                digits = digits * &ten + BigUint::from(b[i] - b'0');
                ndigits += 1;
                exp10 -= 1;
                i += 1;
            }
        }
        if ndigits == 0 {
            return Err(NotAFloat);
        }
        if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
            let mut j = i + 1;
            let eneg = match b.get(j) {
                Some(b'-') => {
                    j += 1;
                    true
                }
                Some(b'+') => {
                    j += 1;
                    false
                }
                _ => false,
            };
            let start = j;
            let mut e: i64 = 0;
            while j < b.len() && b[j].is_ascii_digit() {
                e = (e * 10 + (b[j] - b'0') as i64).min(1_000_000);
                j += 1;
            }
            if j > start {
                exp10 += if eneg { -e } else { e };
                i = j;
            }
        }
        if i != b.len() {
            return Err(NotAFloat);
        }
        if digits.is_zero() {
            return Ok(LongDouble::Finite(neg, 0, 0));
        }
        // Quick range checks (in decimal digits) before any big arithmetic.
        let magnitude = ndigits as i64 + exp10;
        if magnitude > 4933 {
            return Err(NotAFloat); // ERANGE, HUGE_VAL
        }
        if magnitude < -4950 {
            return Err(NotAFloat); // ERANGE, underflow to zero
        }
        let ld = if exp10 >= 0 {
            round_to_ld(neg, digits * ten.pow(exp10 as u32), 0, false)
        } else {
            let p = ten.pow((-exp10) as u32);
            let s = (66 + p.bits() as i64 - digits.bits() as i64).max(0) as u64;
            let scaled = digits << s;
            let q = &scaled / &p;
            let r = scaled - &q * &p;
            round_to_ld(neg, q, -(s as i64), !r.is_zero())
        };
        match ld {
            LongDouble::Inf(_) => Err(NotAFloat),
            LongDouble::Finite(_, m, e) if m != 0 && e + 63 < LD_MIN_EXP => Err(NotAFloat),
            ok => Ok(ok),
        }
    }

    pub fn is_finite(&self) -> bool {
        matches!(self, LongDouble::Finite(..))
    }

    /// Exact sum rounded to `long double`; `None` for inf - inf (NaN).
    pub fn add(&self, other: &LongDouble) -> Option<LongDouble> {
        match (self, other) {
            (LongDouble::Inf(a), LongDouble::Inf(b)) => (a == b).then_some(LongDouble::Inf(*a)),
            (LongDouble::Inf(a), _) | (_, LongDouble::Inf(a)) => Some(LongDouble::Inf(*a)),
            (LongDouble::Finite(n1, m1, e1), LongDouble::Finite(n2, m2, e2)) => {
                if *m1 == 0 {
                    return Some(other.clone());
                }
                if *m2 == 0 {
                    return Some(self.clone());
                }
                let e = (*e1).min(*e2);
                let a = BigUint::from(*m1) << (*e1 - e) as u64;
                let b = BigUint::from(*m2) << (*e2 - e) as u64;
                Some(if n1 == n2 {
                    round_to_ld(*n1, a + b, e, false)
                } else if a >= b {
                    round_to_ld(*n1, a - b, e, false)
                } else {
                    round_to_ld(*n2, b - a, e, false)
                })
            }
        }
    }

    /// Redis's `ld2string(…, LD_STR_HUMAN)`: `%.17Lf`, trailing zeros and a
    /// bare '.' removed, "-0" printed as "0".
    pub fn to_human_string(&self) -> String {
        let (neg, m, e) = match self {
            LongDouble::Inf(n) => return if *n { "-inf".into() } else { "inf".into() },
            LongDouble::Finite(n, m, e) => (*n, *m, *e),
        };
        let scale = BigUint::from(10u32).pow(17);
        let fixed = if e >= 0 {
            (BigUint::from(m) << e as u64) * &scale
        } else {
            let scaled = BigUint::from(m) * &scale;
            let sh = (-e) as u64;
            let q = &scaled >> sh;
            let rem = &scaled - (&q << sh);
            let half = BigUint::one() << (sh - 1);
            if rem > half || (rem == half && q.bit(0)) {
                q + 1u32
            } else {
                q
            }
        };
        let digits = fixed.to_string();
        let digits = format!("{digits:0>18}");
        let (int_part, frac) = digits.split_at(digits.len() - 17);
        let frac = frac.trim_end_matches('0');
        let mut s = String::new();
        if neg {
            s.push('-');
        }
        s.push_str(int_part);
        if !frac.is_empty() {
            s.push('.');
            s.push_str(frac);
        }
        if s == "-0" {
            s = "0".into();
        }
        s
    }
}

/// `strtold`'s hexadecimal form: `0x` hex digits, optional `.` fraction,
/// optional binary exponent `p±n`. Exact, then rounded to 64 bits.
fn parse_hex(neg: bool, body: &str) -> Result<LongDouble, NotAFloat> {
    let b = body.as_bytes();
    let mut i = 0;
    let mut n = BigUint::zero();
    let mut exp2: i64 = 0;
    let mut ndigits = 0;
    let mut seen_dot = false;
    while i < b.len() {
        let c = b[i];
        if c == b'.' && !seen_dot {
            seen_dot = true;
        } else if let Some(d) = (c as char).to_digit(16) {
            n = (n << 4u32) + BigUint::from(d);
            ndigits += 1;
            if seen_dot {
                exp2 -= 4;
            }
        } else {
            break;
        }
        i += 1;
    }
    if ndigits == 0 {
        return Err(NotAFloat);
    }
    if i < b.len() && b[i] == b'p' {
        let rest = &body[i + 1..];
        let e: i64 = rest.parse().map_err(|_| NotAFloat)?;
        exp2 += e.clamp(-1_000_000, 1_000_000);
        i = b.len();
    }
    if i != b.len() {
        return Err(NotAFloat);
    }
    match round_to_ld(neg, n, exp2, false) {
        LongDouble::Inf(_) => Err(NotAFloat),
        LongDouble::Finite(_, m, e) if m != 0 && e + 63 < LD_MIN_EXP => Err(NotAFloat),
        ok => Ok(ok),
    }
}

/// C's `%.17g` for an `f64` (RESP3 doubles and score formatting).
pub fn format_g17(d: f64) -> String {
    if d == 0.0 {
        return if d.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let sci = format!("{:.16e}", d); // 17 significant digits, exactly rounded
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..17).contains(&exp) {
        let mant = trim_frac(mant);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (16 - exp).max(0) as usize;
        trim_frac(&format!("{:.*}", decimals, d)).to_string()
    }
}

fn trim_frac(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incr(a: &str, b: &str) -> String {
        let x = LongDouble::parse(a.as_bytes()).unwrap();
        let y = LongDouble::parse(b.as_bytes()).unwrap();
        x.add(&y).unwrap().to_human_string()
    }

    #[test]
    fn incrbyfloat_prints_like_redis() {
        // Figures from redis-server 7.0 INCRBYFLOAT.
        assert_eq!(incr("0", "0.1"), "0.1");
        assert_eq!(incr("10.5", "0.1"), "10.6");
        assert_eq!(incr("5.0e3", "2.0e2"), "5200");
        assert_eq!(incr("0.1", "0.2"), "0.3");
        assert_eq!(incr("1", "-1"), "0");
        assert_eq!(incr("3", "1e-20"), "3");
        assert_eq!(incr("0", "1.5e-10"), "0.00000000015");
        assert_eq!(incr("0", "-0"), "0");
        assert_eq!(incr("0", "1e30"), "1000000000000000000024696061952");
    }

    #[test]
    fn rejects_what_string2ld_rejects() {
        for bad in [
            "", " 1", "1 ", "abc", "1e", "nan", "1e5000", "1e-5000", ".", "-", "0x",
        ] {
            let r = LongDouble::parse(bad.as_bytes());
            if bad == "1e" {
                // strtold stops before a bare 'e': trailing garbage.
                assert!(r.is_err());
            } else {
                assert!(r.is_err(), "{bad:?}");
            }
        }
        assert!(LongDouble::parse(b".5").is_ok());
        assert!(LongDouble::parse(b"5.").is_ok());
        assert!(LongDouble::parse(b"+5").is_ok());
        assert_eq!(LongDouble::parse(b"inf"), Ok(LongDouble::Inf(false)));
    }

    #[test]
    fn g17() {
        assert_eq!(format_g17(1.5), "1.5");
        assert_eq!(format_g17(0.1), "0.10000000000000001");
        assert_eq!(format_g17(1e20), "1e+20");
        assert_eq!(format_g17(123.0), "123");
        assert_eq!(format_g17(0.0001), "0.0001");
        assert_eq!(format_g17(0.00001), "1.0000000000000001e-05");
    }
}
