//! Redis's `pqsort` (pqsort.c, from NetBSD's qsort): a partial quicksort
//! that orders only what lands in a range of positions. It is not stable,
//! so callers that must answer ties in Redis's order use this port.

/// Redis's `pqsort`: a quicksort that only orders the elements whose final
/// positions fall within `[lrange, rrange]` (GEO* COUNT without ANY, SORT BY … LIMIT). It
/// is not stable, so ties come out in Redis's order only if it is ported
/// as it is.
pub fn pqsort<T>(
    v: &mut [T],
    cmp: &impl Fn(&T, &T) -> std::cmp::Ordering,
    lrange: usize,
    rrange: usize,
) {
    let n = v.len();
    pqsort_at(v, 0, n, cmp, lrange, rrange);
}

/// `_pqsort` over `v[a..a + n]`; positions are `v`'s throughout.
fn pqsort_at<T>(
    v: &mut [T],
    mut a: usize,
    mut n: usize,
    cmp: &impl Fn(&T, &T) -> std::cmp::Ordering,
    lrange: usize,
    rrange: usize,
) {
    use std::cmp::Ordering::*;
    loop {
        if n < 7 {
            for pm in a + 1..a + n {
                let mut pl = pm;
                while pl > a && cmp(&v[pl - 1], &v[pl]) == Greater {
                    v.swap(pl, pl - 1);
                    pl -= 1;
                }
            }
            return;
        }
        let med3 = |v: &[T], x: usize, y: usize, z: usize| {
            if cmp(&v[x], &v[y]) == Less {
                if cmp(&v[y], &v[z]) == Less {
                    y
                } else if cmp(&v[x], &v[z]) == Less {
                    z
                } else {
                    x
                }
            } else if cmp(&v[y], &v[z]) == Greater {
                y
            } else if cmp(&v[x], &v[z]) == Less {
                x
            } else {
                z
            }
        };
        let mut pm = a + n / 2;
        if n > 7 {
            let mut pl = a;
            let mut pn = a + n - 1;
            if n > 40 {
                let d = n / 8;
                pl = med3(v, pl, pl + d, pl + 2 * d);
                pm = med3(v, pm - d, pm, pm + d);
                pn = med3(v, pn - 2 * d, pn - d, pn);
            }
            pm = med3(v, pl, pm, pn);
        }
        v.swap(a, pm);
        let (mut pa, mut pb) = (a + 1, a + 1);
        // pc and pd can step below a + 1; keep them as signed positions.
        let (mut pc, mut pd) = ((a + n - 1) as isize, (a + n - 1) as isize);
        loop {
            while pb as isize <= pc {
                let c = cmp(&v[pb], &v[a]);
                if c == Greater {
                    break;
                }
                if c == Equal {
                    v.swap(pa, pb);
                    pa += 1;
                }
                pb += 1;
            }
            while pb as isize <= pc {
                let c = cmp(&v[pc as usize], &v[a]);
                if c == Less {
                    break;
                }
                if c == Equal {
                    v.swap(pc as usize, pd as usize);
                    pd -= 1;
                }
                pc -= 1;
            }
            if pb as isize > pc {
                break;
            }
            v.swap(pb, pc as usize);
            pb += 1;
            pc -= 1;
        }
        let pn = a + n;
        let vecswap = |v: &mut [T], x: usize, y: usize, k: usize| {
            for i in 0..k {
                v.swap(x + i, y + i);
            }
        };
        let r = (pa - a).min(pb - pa);
        vecswap(v, a, pb - r, r);
        let (pc, pd) = (pc as usize, pd as usize);
        let r = (pd - pc).min(pn - pd - 1);
        vecswap(v, pb, pn - r, r);
        let skip = |l: usize, k: usize| {
            let r = l + k - 1;
            (lrange < l && rrange < l) || (lrange > r && rrange > r)
        };
        let r = pb - pa;
        if r > 1 && !skip(a, r) {
            pqsort_at(v, a, r, cmp, lrange, rrange);
        }
        let r = pd - pc;
        if r > 1 {
            a = pn - r;
            n = r;
            if !skip(a, r) {
                continue;
            }
        }
        return;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pqsort_orders_the_requested_prefix() {
        let mut rng = 12345u64;
        for n in [0usize, 1, 5, 7, 8, 40, 41, 200, 1000] {
            for k in [1usize, 3, 10, 100] {
                if k > n {
                    continue;
                }
                let mut v: Vec<u32> = (0..n)
                    .map(|_| {
                        rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1);
                        ((rng >> 33) % 50) as u32
                    })
                    .collect();
                let mut sorted = v.clone();
                sorted.sort();
                pqsort(&mut v, &|a: &u32, b: &u32| a.cmp(b), 0, k - 1);
                assert_eq!(&v[..k], &sorted[..k], "n={n} k={k}");
                v.sort();
                assert_eq!(v, sorted);
            }
        }
    }
}
