//! Glob matching as Redis's `stringmatchlen` answers it, in O(len(pattern) ×
//! len(string)) time and constant stack: the one matcher behind KEYS, SCAN
//! MATCH, PSUBSCRIBE, PUBSUB CHANNELS, CONFIG GET and COMMAND LIST FILTERBY.
//!
//! Redis 7.0's matcher recurses at every `*` and, since CVE-2022-36021, stops
//! retrying earlier stars once a later one has failed at every position
//! (`skipLongerMatches`). The answers are those of plain backtracking glob, so
//! here the search keeps only the last star's restart point (classic
//! single-backtrack glob): no recursion for a pattern of a million stars to
//! overflow, and no exponential retry. Redis's quirks are kept: an empty
//! string matches only the empty pattern (so `*` does not match `""`; callers
//! that treat `*` as "everything" test for it themselves, as Redis does), an
//! unterminated `[` class runs to the end of the pattern, `[a-]` is the range
//! `a`..`]`, and a trailing lone `\` is a literal backslash.

/// Does `s` match the glob `pattern`? `nocase` folds ASCII case.
pub fn glob_match(pattern: &[u8], s: &[u8], nocase: bool) -> bool {
    let p = pattern;
    if s.is_empty() {
        return p.is_empty();
    }
    let (mut pi, mut si) = (0usize, 0usize);
    // Where the last star's remainder starts in the pattern, and the string
    // position it was last tried at.
    let mut star: Option<(usize, usize)> = None;
    loop {
        if si == s.len() {
            while pi < p.len() && p[pi] == b'*' {
                pi += 1;
            }
            if pi == p.len() {
                return true;
            }
        } else if pi < p.len() && p[pi] == b'*' {
            while pi < p.len() && p[pi] == b'*' {
                pi += 1;
            }
            if pi == p.len() {
                return true;
            }
            star = Some((pi, si));
            continue;
        } else if pi < p.len() {
            if let Some(next) = match_token(p, pi, s[si], nocase) {
                pi = next;
                si += 1;
                continue;
            }
        }
        // A mismatch (or pattern left with no string, or string left with no
        // pattern): let the last star swallow one more byte. Redis's star
        // tries every non-empty remainder of the string, never the empty one.
        match star {
            Some((sp, ss)) if ss + 1 < s.len() => {
                star = Some((sp, ss + 1));
                pi = sp;
                si = ss + 1;
            }
            _ => return false,
        }
    }
}

/// Matches the one-byte token (`?`, a class, an escape or a literal) at
/// `p[pi]` against `c`; the index after the token if it matches.
fn match_token(p: &[u8], mut pi: usize, c: u8, nocase: bool) -> Option<usize> {
    let fold = |b: u8| if nocase { b.to_ascii_lowercase() } else { b };
    match p[pi] {
        b'?' => Some(pi + 1),
        b'[' => {
            pi += 1;
            let not = pi < p.len() && p[pi] == b'^';
            if not {
                pi += 1;
            }
            let mut matched = false;
            loop {
                if pi < p.len() && p[pi] == b'\\' && p.len() - pi >= 2 {
                    pi += 1;
                    if p[pi] == c {
                        matched = true;
                    }
                } else if pi < p.len() && p[pi] == b']' {
                    break;
                } else if pi >= p.len() {
                    // Unterminated class: Redis steps back so the shared
                    // "advance past the token" lands on the pattern's end.
                    pi -= 1;
                    break;
                } else if p.len() - pi >= 3 && p[pi + 1] == b'-' {
                    let (mut a, mut b) = (p[pi], p[pi + 2]);
                    if a > b {
                        std::mem::swap(&mut a, &mut b);
                    }
                    let (a, b, x) = (fold(a), fold(b), fold(c));
                    pi += 2;
                    if x >= a && x <= b {
                        matched = true;
                    }
                } else if fold(p[pi]) == fold(c) {
                    matched = true;
                }
                pi += 1;
            }
            (matched != not).then_some(pi + 1)
        }
        b'\\' if p.len() - pi >= 2 => (fold(p[pi + 1]) == fold(c)).then_some(pi + 2),
        lit => (fold(lit) == fold(c)).then_some(pi + 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A line-for-line port of Redis 7.0.15's recursive `stringmatchlen_impl`
    /// (util.c), the reference the fast matcher is checked against.
    fn redis_reference(p: &[u8], s: &[u8], nocase: bool, skip: &mut bool) -> bool {
        let at = |p: &[u8], i: usize| p.get(i).copied().unwrap_or(0);
        let (mut p, mut s) = (p, s);
        let low = |b: u8| if nocase { b.to_ascii_lowercase() } else { b };
        while !p.is_empty() && !s.is_empty() {
            match p[0] {
                b'*' => {
                    while !p.is_empty() && at(p, 1) == b'*' {
                        p = &p[1..];
                    }
                    if p.len() == 1 {
                        return true;
                    }
                    while !s.is_empty() {
                        if redis_reference(&p[1..], s, nocase, skip) {
                            return true;
                        }
                        if *skip {
                            return false;
                        }
                        s = &s[1..];
                    }
                    *skip = true;
                    return false;
                }
                b'?' => s = &s[1..],
                b'[' => {
                    let mut i = 1;
                    let not = at(p, i) == b'^';
                    if not {
                        i += 1;
                    }
                    let mut m = false;
                    loop {
                        if at(p, i) == b'\\' && p.len() - i >= 2 {
                            i += 1;
                            if p[i] == s[0] {
                                m = true;
                            }
                        } else if at(p, i) == b']' && i < p.len() {
                            break;
                        } else if i == p.len() {
                            i -= 1;
                            break;
                        } else if p.len() - i >= 3 && p[i + 1] == b'-' {
                            let (mut a, mut b) = (p[i], p[i + 2]);
                            if a > b {
                                std::mem::swap(&mut a, &mut b);
                            }
                            i += 2;
                            if low(s[0]) >= low(a) && low(s[0]) <= low(b) {
                                m = true;
                            }
                        } else if low(p[i]) == low(s[0]) {
                            m = true;
                        }
                        i += 1;
                    }
                    if m == not {
                        return false;
                    }
                    p = &p[i..];
                    s = &s[1..];
                }
                c => {
                    let c = if c == b'\\' && p.len() >= 2 {
                        p = &p[1..];
                        p[0]
                    } else {
                        c
                    };
                    if low(c) != low(s[0]) {
                        return false;
                    }
                    s = &s[1..];
                }
            }
            p = &p[1..];
            if s.is_empty() {
                while !p.is_empty() && p[0] == b'*' {
                    p = &p[1..];
                }
                break;
            }
        }
        p.is_empty() && s.is_empty()
    }

    fn reference(p: &[u8], s: &[u8], nocase: bool) -> bool {
        redis_reference(p, s, nocase, &mut false)
    }

    #[test]
    fn examples() {
        for (p, s, want) in [
            ("*", "", false),
            ("", "", true),
            ("*", "x", true),
            ("h?llo", "hello", true),
            ("h*llo", "heeeello", true),
            ("h[ae]llo", "hallo", true),
            ("h[^e]llo", "hello", false),
            ("h[a-b]llo", "hbllo", true),
            ("h[b-a]llo", "hallo", true),
            ("k\\*", "k*", true),
            ("k\\*", "kx", false),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "aXbY", false),
            ("x", "", false),
            ("a\\", "a\\", true),
            ("[a-]", "]", true),
            ("[abc", "c", true),
            ("a*", "a", true),
            ("*a", "a", true),
        ] {
            assert_eq!(
                glob_match(p.as_bytes(), s.as_bytes(), false),
                want,
                "{p} {s}"
            );
            assert_eq!(
                reference(p.as_bytes(), s.as_bytes(), false),
                want,
                "ref {p} {s}"
            );
        }
        assert!(glob_match(b"H[A-C]LLO", b"hbllo", true));
        assert!(!glob_match(b"H[A-C]LLO", b"hbllo", false));
    }

    /// Property: the fast matcher answers as Redis's own algorithm on random
    /// patterns and strings over an alphabet rich in metacharacters.
    #[test]
    fn agrees_with_redis_on_random_inputs() {
        let mut rng = crate::rng::Rng::new(0x9e3779b97f4a7c15);
        let pat_alpha = b"ab*?[]^-\\A";
        let str_alpha = b"ab-]\\*A";
        for round in 0..200_000 {
            let pl = (rng.next_u64() % 9) as usize;
            let sl = (rng.next_u64() % 9) as usize;
            let p: Vec<u8> = (0..pl)
                .map(|_| pat_alpha[(rng.next_u64() % pat_alpha.len() as u64) as usize])
                .collect();
            let s: Vec<u8> = (0..sl)
                .map(|_| str_alpha[(rng.next_u64() % str_alpha.len() as u64) as usize])
                .collect();
            let nocase = round % 3 == 0;
            assert_eq!(
                glob_match(&p, &s, nocase),
                reference(&p, &s, nocase),
                "pattern {:?} string {:?} nocase {nocase}",
                String::from_utf8_lossy(&p),
                String::from_utf8_lossy(&s)
            );
        }
    }

    #[test]
    fn pathological_patterns_finish() {
        let s = vec![b'a'; 100];
        let mut p = b"a".to_vec();
        for _ in 0..30 {
            p.extend_from_slice(b"*a");
        }
        p.push(b'b');
        assert!(!glob_match(&p, &s, false));
        // A million stars: no recursion to overflow the stack.
        let p: Vec<u8> = b"*a".iter().copied().cycle().take(2_000_000).collect();
        assert!(glob_match(&p, &vec![b'a'; 1_000_000], false));
        assert!(!glob_match(
            &[&p[..], b"b"].concat(),
            &vec![b'a'; 10_000],
            false
        ));
    }
}
