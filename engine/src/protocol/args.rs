//! Redis's `sdssplitargs`: how inline commands and redis-cli input lines are
//! split into arguments (double quotes with `\n \r \t \b \a \\ \" \xHH`
//! escapes, single quotes with `\'`). `None` means unbalanced quotes.

fn hex_val(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\n' | b'\r' | b'\t' | 0x0b | 0x0c)
}

pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut argv = Vec::new();
    let mut p = 0;
    loop {
        while p < line.len() && is_space(line[p]) {
            p += 1;
        }
        if p >= line.len() {
            return Some(argv);
        }
        let (mut inq, mut insq, mut done) = (false, false, false);
        let mut cur = Vec::new();
        while !done {
            let c = line.get(p).copied();
            if inq {
                match c {
                    None => return None,
                    Some(b'\\')
                        if line.get(p + 1) == Some(&b'x')
                            && line.get(p + 2).and_then(|&c| hex_val(c)).is_some()
                            && line.get(p + 3).and_then(|&c| hex_val(c)).is_some() =>
                    {
                        cur.push(
                            hex_val(line[p + 2]).unwrap() * 16 + hex_val(line[p + 3]).unwrap(),
                        );
                        p += 3;
                    }
                    Some(b'\\') if p + 1 < line.len() => {
                        p += 1;
                        cur.push(match line[p] {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'b' => 8,
                            b'a' => 7,
                            other => other,
                        });
                    }
                    Some(b'"') => {
                        if p + 1 < line.len() && !is_space(line[p + 1]) {
                            return None;
                        }
                        done = true;
                    }
                    Some(ch) => cur.push(ch),
                }
            } else if insq {
                match c {
                    None => return None,
                    Some(b'\\') if line.get(p + 1) == Some(&b'\'') => {
                        p += 1;
                        cur.push(b'\'');
                    }
                    Some(b'\'') => {
                        if p + 1 < line.len() && !is_space(line[p + 1]) {
                            return None;
                        }
                        done = true;
                    }
                    Some(ch) => cur.push(ch),
                }
            } else {
                match c {
                    None => done = true,
                    Some(ch) if is_space(ch) => done = true,
                    Some(b'"') => inq = true,
                    Some(b'\'') => insq = true,
                    Some(ch) => cur.push(ch),
                }
            }
            if p < line.len() {
                p += 1;
            }
        }
        argv.push(cur);
    }
}

#[cfg(test)]
mod tests {
    use super::split_args;

    fn check(input: &str, want: Option<&[&[u8]]>) {
        let got = split_args(input.as_bytes());
        let want = want.map(|w| w.iter().map(|a| a.to_vec()).collect::<Vec<_>>());
        assert_eq!(got, want, "{input:?}");
    }

    #[test]
    fn splits_like_sdssplitargs() {
        check("", Some(&[]));
        check("  set a  b ", Some(&[b"set", b"a", b"b"]));
        check(r#"set "a b" 'c d'"#, Some(&[b"set", b"a b", b"c d"]));
        check(r#"set k "\x41\n\"""#, Some(&[b"set", b"k", b"A\n\""]));
        check(r#"set k 'it\'s'"#, Some(&[b"set", b"k", b"it's"]));
        check(r#"a"b c"d"#, None);
        check(r#"a"b c""#, Some(&[b"ab c"]));
        check(r#"set "unterminated"#, None);
        check("set 'x", None);
        check(r#""""#, Some(&[b""]));
    }
}
