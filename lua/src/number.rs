//! Number conversions matching the C library as Lua 5.1 uses it: `strtod`-style
//! parsing (`luaO_str2d`), `%.14g` formatting and a small printf engine for
//! `string.format` conversions (`%d %i %o %u %x %X %e %E %f %g %G %c`).

/// Parse the longest prefix of `s` that `strtod` accepts (after optional leading
/// whitespace). Returns the value and the number of bytes consumed (0 on failure).
pub fn strtod(s: &[u8]) -> (f64, usize) {
    let mut i = 0;
    while i < s.len() && is_space(s[i]) {
        i += 1;
    }
    let start = i;
    let mut neg = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        neg = s[i] == b'-';
        i += 1;
    }
    // hex
    if i + 1 < s.len() && s[i] == b'0' && (s[i + 1] | 0x20) == b'x' {
        let mut j = i + 2;
        let mut mant: f64 = 0.0;
        let mut any = false;
        let mut exp: i64 = 0;
        while j < s.len() && s[j].is_ascii_hexdigit() {
            mant = mant * 16.0 + hexval(s[j]) as f64;
            any = true;
            j += 1;
        }
        if j < s.len() && s[j] == b'.' {
            j += 1;
            while j < s.len() && s[j].is_ascii_hexdigit() {
                mant = mant * 16.0 + hexval(s[j]) as f64;
                exp -= 4;
                any = true;
                j += 1;
            }
        }
        if any {
            if j < s.len() && (s[j] | 0x20) == b'p' {
                let mut k = j + 1;
                let mut eneg = false;
                if k < s.len() && (s[k] == b'+' || s[k] == b'-') {
                    eneg = s[k] == b'-';
                    k += 1;
                }
                if k < s.len() && s[k].is_ascii_digit() {
                    let mut e: i64 = 0;
                    while k < s.len() && s[k].is_ascii_digit() {
                        e = (e * 10 + (s[k] - b'0') as i64).min(100000);
                        k += 1;
                    }
                    exp += if eneg { -e } else { e };
                    j = k;
                }
            }
            let v = mant * (2f64).powi(exp.clamp(-3000, 3000) as i32);
            return (if neg { -v } else { v }, j);
        }
        // "0x" without digits: strtod parses the "0"
        return (if neg { -0.0 } else { 0.0 }, i + 1);
    }
    // inf / nan
    let rest = &s[i..];
    let lower: Vec<u8> = rest
        .iter()
        .take(8)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if lower.starts_with(b"inf") {
        let n = if lower.starts_with(b"infinity") { 8 } else { 3 };
        let v = f64::INFINITY;
        return (if neg { -v } else { v }, i + n);
    }
    if lower.starts_with(b"nan") {
        let mut n = i + 3;
        if n < s.len() && s[n] == b'(' {
            let mut k = n + 1;
            while k < s.len() && (s[k].is_ascii_alphanumeric() || s[k] == b'_') {
                k += 1;
            }
            if k < s.len() && s[k] == b')' {
                n = k + 1;
            }
        }
        return (f64::NAN, n);
    }
    let mut j = i;
    let mut digits = false;
    while j < s.len() && s[j].is_ascii_digit() {
        j += 1;
        digits = true;
    }
    if j < s.len() && s[j] == b'.' {
        j += 1;
        while j < s.len() && s[j].is_ascii_digit() {
            j += 1;
            digits = true;
        }
    }
    if !digits {
        return (0.0, 0);
    }
    if j < s.len() && (s[j] | 0x20) == b'e' {
        let mut k = j + 1;
        if k < s.len() && (s[k] == b'+' || s[k] == b'-') {
            k += 1;
        }
        if k < s.len() && s[k].is_ascii_digit() {
            while k < s.len() && s[k].is_ascii_digit() {
                k += 1;
            }
            j = k;
        }
    }
    let text = std::str::from_utf8(&s[start..j]).unwrap_or("0");
    let text = text.strip_prefix('+').unwrap_or(text);
    let text = if text.ends_with('.') || text.starts_with('.') || text.starts_with("-.") {
        // Rust accepts "5." and ".5" but be explicit
        text.to_string()
    } else {
        text.to_string()
    };
    (text.parse::<f64>().unwrap_or(0.0), j)
}

fn hexval(c: u8) -> u32 {
    (c as char).to_digit(16).unwrap_or(0)
}

#[inline]
pub fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// `strtoul(s, &end, base)`: returns value (wrapping like unsigned long) and bytes consumed.
fn strtoul(s: &[u8], base: u32) -> (u64, usize) {
    let mut i = 0;
    while i < s.len() && is_space(s[i]) {
        i += 1;
    }
    let mut neg = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        neg = s[i] == b'-';
        i += 1;
    }
    if base == 16
        && i + 1 < s.len()
        && s[i] == b'0'
        && (s[i + 1] | 0x20) == b'x'
        && i + 2 < s.len()
        && s[i + 2].is_ascii_hexdigit()
    {
        i += 2;
    }
    let st = i;
    let mut v: u64 = 0;
    let mut overflow = false;
    while i < s.len() {
        let d = match (s[i] as char).to_digit(base) {
            Some(d) => d,
            None => break,
        };
        match v
            .checked_mul(base as u64)
            .and_then(|x| x.checked_add(d as u64))
        {
            Some(x) => v = x,
            None => overflow = true,
        }
        i += 1;
    }
    if i == st {
        return (0, 0);
    }
    if overflow {
        v = u64::MAX;
    } else if neg {
        v = v.wrapping_neg();
    }
    (v, i)
}

/// `luaO_str2d`: the whole string (surrounding spaces allowed) must be a number.
pub fn str2d(s: &[u8]) -> Option<f64> {
    let (mut v, mut end) = strtod(s);
    if end == 0 {
        return None;
    }
    if end < s.len() && (s[end] | 0x20) == b'x' {
        let (u, e) = strtoul(s, 16);
        v = u as f64;
        end = e;
    }
    while end < s.len() && is_space(s[end]) {
        end += 1;
    }
    if end != s.len() {
        return None;
    }
    Some(v)
}

/// `tonumber(s, base)` for bases other than 10 (`strtoul` semantics).
pub fn str2int_base(s: &[u8], base: u32) -> Option<f64> {
    let (v, mut end) = strtoul(s, base);
    if end == 0 {
        return None;
    }
    while end < s.len() && is_space(s[end]) {
        end += 1;
    }
    if end != s.len() {
        return None;
    }
    Some(v as f64)
}

/// Format `x` like C's `%.14g` (`LUA_NUMBER_FMT`), appending to `out`.
pub fn fmt_num(out: &mut Vec<u8>, x: f64) {
    if x == (x as i64) as f64 && x.abs() < 1e15 {
        // fast path for integers (%.14g prints them exactly below 1e14..1e15)
        if x.abs() < 1e14 {
            if x == 0.0 && x.is_sign_negative() {
                out.extend_from_slice(b"-0");
                return;
            }
            out.extend_from_slice((x as i64).to_string().as_bytes());
            return;
        }
    }
    fmt_g(out, x, 14, false, false);
}

/// `%.Pg` / `%.PG` (with optional `#` alternate form).
pub fn fmt_g(out: &mut Vec<u8>, x: f64, prec: usize, upper: bool, alt: bool) {
    if !x.is_finite() {
        return fmt_nonfinite(out, x, upper);
    }
    let p = if prec == 0 { 1 } else { prec };
    // Round to p significant digits, find exponent
    let e_repr = format!("{:.*e}", p - 1, x);
    let (mant, exp) = e_repr.split_once('e').unwrap();
    let exp: i32 = exp.parse().unwrap();
    if exp < -4 || exp >= p as i32 {
        // exponential style
        let mut m = mant.to_string();
        if !alt {
            m = strip_zeros(&m);
        }
        out.extend_from_slice(m.as_bytes());
        out.push(if upper { b'E' } else { b'e' });
        out.push(if exp < 0 { b'-' } else { b'+' });
        let ae = exp.unsigned_abs();
        if ae < 10 {
            out.push(b'0');
        }
        out.extend_from_slice(ae.to_string().as_bytes());
    } else {
        let decimals = (p as i32 - 1 - exp).max(0) as usize;
        let mut f = format!("{:.*}", decimals, x);
        if !alt {
            f = strip_zeros(&f);
        } else if !f.contains('.') {
            f.push('.');
        }
        out.extend_from_slice(f.as_bytes());
    }
}

fn strip_zeros(s: &str) -> String {
    if s.contains('.') {
        let t = s.trim_end_matches('0');
        t.trim_end_matches('.').to_string()
    } else {
        s.to_string()
    }
}

fn fmt_nonfinite(out: &mut Vec<u8>, x: f64, upper: bool) {
    let s = if x.is_nan() {
        if x.is_sign_negative() {
            "-nan"
        } else {
            "nan"
        }
    } else if x > 0.0 {
        "inf"
    } else {
        "-inf"
    };
    if upper {
        out.extend_from_slice(s.to_uppercase().as_bytes());
    } else {
        out.extend_from_slice(s.as_bytes());
    }
}

/// A parsed printf conversion spec (flags, width, precision).
#[derive(Default, Clone, Copy)]
pub struct Spec {
    pub minus: bool,
    pub plus: bool,
    pub space: bool,
    pub alt: bool,
    pub zero: bool,
    pub width: usize,
    pub prec: Option<usize>,
}

fn pad(out: &mut Vec<u8>, body: &[u8], sign: &[u8], spec: &Spec, zero_ok: bool) {
    let len = body.len() + sign.len();
    if len >= spec.width {
        out.extend_from_slice(sign);
        out.extend_from_slice(body);
    } else if spec.minus {
        out.extend_from_slice(sign);
        out.extend_from_slice(body);
        out.resize(out.len() + spec.width - len, b' ');
    } else if spec.zero && zero_ok {
        out.extend_from_slice(sign);
        out.resize(out.len() + spec.width - len, b'0');
        out.extend_from_slice(body);
    } else {
        out.resize(out.len() + spec.width - len, b' ');
        out.extend_from_slice(sign);
        out.extend_from_slice(body);
    }
}

/// Integer conversions `d i o u x X c` on a C `long` value.
pub fn fmt_int(out: &mut Vec<u8>, v: i64, conv: u8, spec: &Spec) {
    let neg = (conv == b'd' || conv == b'i') && v < 0;
    let mag: u64 = if conv == b'd' || conv == b'i' {
        v.unsigned_abs()
    } else {
        v as u64
    };
    let mut digits = match conv {
        b'o' => format!("{:o}", mag),
        b'x' => format!("{:x}", mag),
        b'X' => format!("{:X}", mag),
        _ => mag.to_string(),
    }
    .into_bytes();
    if let Some(p) = spec.prec {
        if p == 0 && mag == 0 {
            digits.clear();
        }
        while digits.len() < p {
            digits.insert(0, b'0');
        }
    }
    let mut sign: Vec<u8> = Vec::new();
    if neg {
        sign.push(b'-');
    } else if (conv == b'd' || conv == b'i') && spec.plus {
        sign.push(b'+');
    } else if (conv == b'd' || conv == b'i') && spec.space {
        sign.push(b' ');
    }
    if spec.alt {
        match conv {
            b'o' if digits.first() != Some(&b'0') => digits.insert(0, b'0'),
            b'x' if mag != 0 => sign.extend_from_slice(b"0x"),
            b'X' if mag != 0 => sign.extend_from_slice(b"0X"),
            _ => {}
        }
    }
    pad(out, &digits, &sign, spec, spec.prec.is_none());
}

/// Float conversions `e E f F g G`.
pub fn fmt_float(out: &mut Vec<u8>, x: f64, conv: u8, spec: &Spec) {
    let neg = x.is_sign_negative() && !x.is_nan();
    let a = x.abs();
    let mut body = Vec::new();
    let upper = conv.is_ascii_uppercase();
    if !a.is_finite() {
        fmt_nonfinite(&mut body, a, upper);
    } else {
        let prec = spec.prec.unwrap_or(6);
        match conv {
            b'f' | b'F' => {
                body.extend_from_slice(format!("{:.*}", prec, a).as_bytes());
                if spec.alt && prec == 0 {
                    body.push(b'.');
                }
            }
            b'e' | b'E' => {
                let s = format!("{:.*e}", prec, a);
                let (m, e) = s.split_once('e').unwrap();
                let e: i32 = e.parse().unwrap();
                body.extend_from_slice(m.as_bytes());
                if spec.alt && prec == 0 {
                    body.push(b'.');
                }
                body.push(if upper { b'E' } else { b'e' });
                body.push(if e < 0 { b'-' } else { b'+' });
                let ae = e.unsigned_abs();
                if ae < 10 {
                    body.push(b'0');
                }
                body.extend_from_slice(ae.to_string().as_bytes());
            }
            _ => fmt_g(&mut body, a, prec, upper, spec.alt),
        }
    }
    let sign: &[u8] = if neg {
        b"-"
    } else if spec.plus {
        b"+"
    } else if spec.space {
        b" "
    } else {
        b""
    };
    pad(out, &body, sign, spec, a.is_finite());
}

/// `%s` with width/precision applied to a byte string.
pub fn fmt_str(out: &mut Vec<u8>, s: &[u8], spec: &Spec) {
    let s = match spec.prec {
        Some(p) if p < s.len() => &s[..p],
        _ => s,
    };
    let mut sp = *spec;
    sp.zero = false;
    pad(out, s, b"", &sp, false);
}

#[cfg(test)]
mod tests {
    use super::*;
    fn g(x: f64) -> String {
        let mut v = Vec::new();
        fmt_num(&mut v, x);
        String::from_utf8(v).unwrap()
    }
    #[test]
    fn formats() {
        assert_eq!(g(1.0 / 3.0), "0.33333333333333");
        assert_eq!(g(1e100), "1e+100");
        assert_eq!(g(123456789012345.0), "1.2345678901234e+14");
        assert_eq!(g(100000000000000.0), "1e+14");
        assert_eq!(g(0.1), "0.1");
        assert_eq!(g(-0.0), "-0");
        assert_eq!(g(1e-5), "1e-05");
        assert_eq!(g(f64::INFINITY), "inf");
        assert_eq!(str2d(b" 0x10 "), Some(16.0));
        assert_eq!(str2d(b"1e"), None);
        assert_eq!(str2d(b".5"), Some(0.5));
    }
}
