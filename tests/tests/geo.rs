//! Differential test of the geo commands (the ride-hailing and restaurant
//! use cases): 10,000 random points loaded with GEOADD around a few cities,
//! the antimeridian and both polar limits (plus members sharing a position,
//! so ties in distance are ordered as Redis orders them), then 20,000 seeded
//! GEOADD (NX XX CH) GEOPOS GEODIST GEOHASH GEOSEARCH GEOSEARCHSTORE
//! GEORADIUS GEORADIUSBYMEMBER and _RO commands — circles and boxes, every
//! unit, ASC/DESC, COUNT with and without ANY, WITHDIST WITHHASH WITHCOORD,
//! STORE/STOREDIST, bad coordinates, bad options, wrong types and missing
//! keys, RESP2 and RESP3 — against redis-server, byte-identical.
//! CACHELAB_GEO_SEED / _COMMANDS / _TRACE reproduce, extend, trace.

use cachelab_engine::rng::Rng;
use cachelab_tests::pair::{Cmp, Pair};

fn s(x: &str) -> Vec<u8> {
    x.as_bytes().to_vec()
}

fn pick<'a>(rng: &mut Rng, xs: &[&'a str]) -> &'a str {
    xs[rng.below(xs.len())]
}

/// Uniform in [lo, hi).
fn uniform(rng: &mut Rng, lo: f64, hi: f64) -> f64 {
    lo + (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * (hi - lo)
}

/// Centres points cluster around: cities, the antimeridian, the latitude
/// limits Redis accepts (±85.05112878).
const CENTRES: &[(f64, f64)] = &[
    (13.361389, 38.115556),
    (-122.4194, 37.7749),
    (139.6917, 35.6895),
    (-0.1276, 51.5072),
    (151.2093, -33.8688),
    (179.95, 0.5),
    (-179.95, -0.5),
    (0.0, 84.9),
    (-60.0, -84.9),
];

/// A point: near a centre (within about 2°) or anywhere.
fn point(rng: &mut Rng) -> (f64, f64) {
    if rng.below(10) == 0 {
        return (uniform(rng, -180.0, 180.0), uniform(rng, -85.05, 85.05));
    }
    let (x, y) = CENTRES[rng.below(CENTRES.len())];
    let spread = [0.01, 0.2, 2.0][rng.below(3)];
    let lon = (x + uniform(rng, -spread, spread)).clamp(-180.0, 180.0);
    let lat = (y + uniform(rng, -spread, spread)).clamp(-85.05, 85.05);
    (lon, lat)
}

fn coord(v: f64) -> Vec<u8> {
    format!("{v:.6}").into_bytes()
}

/// A longitude/latitude pair as a client would type it, sometimes invalid.
fn lon_lat(rng: &mut Rng) -> [Vec<u8>; 2] {
    match rng.below(40) {
        0 => [s("200"), s("10")],
        1 => [s("10"), s("86")],
        2 => [s("abc"), s("10")],
        3 => [s("180"), s("85.05112878")],
        4 => [s("-180"), s("-85.05112878")],
        5 => [s("inf"), s("0")],
        _ => {
            let (x, y) = point(rng);
            [coord(x), coord(y)]
        }
    }
}

fn member(rng: &mut Rng) -> Vec<u8> {
    match rng.below(20) {
        0 => s("nosuch"),
        1 => format!("dup{}", rng.below(6)).into_bytes(),
        _ => format!("p{}", rng.below(10_000)).into_bytes(),
    }
}

fn small_member(rng: &mut Rng) -> Vec<u8> {
    format!("s{}", rng.below(40)).into_bytes()
}

fn unit(rng: &mut Rng) -> Vec<u8> {
    if rng.below(30) == 0 {
        s("yd")
    } else {
        s(pick(rng, &["m", "km", "KM", "ft", "mi", "m", "km"]))
    }
}

/// A radius (or box side) in a unit, mostly small enough to keep replies
/// readable, sometimes zero, huge or malformed.
fn distance(rng: &mut Rng, u: &[u8]) -> Vec<u8> {
    let per_m = match u.to_ascii_lowercase().as_slice() {
        b"km" => 1000.0,
        b"ft" => 0.3048,
        b"mi" => 1609.34,
        _ => 1.0,
    };
    let metres = match rng.below(60) {
        0 => return s("-5"),
        1 => return s("x"),
        2 | 3 => 0.0,
        4 => 6_000_000.0,
        5..=20 => uniform(rng, 10.0, 5_000.0),
        _ => uniform(rng, 5_000.0, 300_000.0),
    };
    format!("{:.3}", metres / per_m).into_bytes()
}

fn key(rng: &mut Rng) -> (&'static str, bool) {
    match rng.below(20) {
        0 => ("missing", false),
        1 => ("str", false),
        2..=6 => ("small", true),
        _ => ("pts", false),
    }
}

/// WITH*, ASC/DESC, COUNT [ANY] options in a random order.
fn options(rng: &mut Rng, a: &mut Vec<Vec<u8>>, with: bool) {
    let mut opts: Vec<Vec<Vec<u8>>> = Vec::new();
    if with {
        for o in ["WITHDIST", "WITHHASH", "WITHCOORD"] {
            if rng.below(3) == 0 {
                opts.push(vec![s(o)]);
            }
        }
    }
    if rng.below(2) == 0 {
        opts.push(vec![s(pick(rng, &["ASC", "DESC", "asc"]))]);
    }
    if rng.below(2) == 0 {
        let n = if rng.below(15) == 0 {
            pick(rng, &["0", "-2", "x"])
        } else {
            pick(rng, &["1", "3", "10", "50", "200"])
        };
        let mut c = vec![s("COUNT"), s(n)];
        if rng.below(3) == 0 {
            c.push(s("ANY"));
        }
        opts.push(c);
    } else if rng.below(30) == 0 {
        opts.push(vec![s("ANY")]);
    }
    for i in (1..opts.len()).rev() {
        opts.swap(i, rng.below(i + 1));
    }
    a.extend(opts.into_iter().flatten());
    if rng.below(40) == 0 {
        a.push(s("bogus"));
    }
}

/// GEOSEARCH / GEOSEARCHSTORE's FROM… and BY… arguments.
fn from_by(rng: &mut Rng, a: &mut Vec<Vec<u8>>, small: bool) {
    let mut parts: Vec<Vec<Vec<u8>>> = Vec::new();
    match rng.below(24) {
        0 => {}
        1 => {
            // Both: refused one way or the other.
            parts.push(vec![s("FROMMEMBER"), member(rng)]);
            let [x, y] = lon_lat(rng);
            parts.push(vec![s("FROMLONLAT"), x, y]);
        }
        2..=12 => {
            let m = if small {
                small_member(rng)
            } else {
                member(rng)
            };
            parts.push(vec![s("FROMMEMBER"), m]);
        }
        _ => {
            let [x, y] = lon_lat(rng);
            parts.push(vec![s("FROMLONLAT"), x, y]);
        }
    }
    let u = unit(rng);
    match rng.below(24) {
        0 => {}
        1 => {
            parts.push(vec![s("BYRADIUS"), distance(rng, &u), u.clone()]);
            parts.push(vec![s("BYBOX"), distance(rng, &u), distance(rng, &u), u]);
        }
        2..=12 => parts.push(vec![s("BYRADIUS"), distance(rng, &u), u]),
        _ => parts.push(vec![s("BYBOX"), distance(rng, &u), distance(rng, &u), u]),
    }
    if rng.below(4) == 0 {
        parts.reverse();
    }
    a.extend(parts.into_iter().flatten());
}

fn step(p: &mut Pair, rng: &mut Rng) {
    let (key, small) = key(rng);
    let k = s(key);
    let m = |rng: &mut Rng| {
        if small {
            small_member(rng)
        } else {
            member(rng)
        }
    };
    let a: Vec<Vec<u8>> = match rng.below(40) {
        0..=5 => {
            let mut a = vec![s("GEOADD"), k.clone()];
            for _ in 0..rng.below(3) {
                a.push(s(pick(rng, &["NX", "XX", "CH", "ch", "GT"])));
            }
            for _ in 0..1 + rng.below(3) {
                let [x, y] = lon_lat(rng);
                a.extend([x, y, m(rng)]);
            }
            if rng.below(25) == 0 {
                a.pop();
            }
            a
        }
        6 | 7 => {
            let mut a = vec![s("GEOPOS"), k.clone()];
            for _ in 0..rng.below(4) {
                a.push(m(rng));
            }
            a
        }
        8 | 9 => {
            let mut a = vec![s("GEODIST"), k.clone(), m(rng), m(rng)];
            if rng.below(3) > 0 {
                a.push(unit(rng));
            }
            if rng.below(30) == 0 {
                a.push(s("extra"));
            }
            a
        }
        10 => {
            let mut a = vec![s("GEOHASH"), k.clone()];
            for _ in 0..rng.below(4) {
                a.push(m(rng));
            }
            a
        }
        11..=20 => {
            let mut a = vec![s(pick(rng, &["GEOSEARCH", "geosearch"])), k.clone()];
            from_by(rng, &mut a, small);
            options(rng, &mut a, true);
            a
        }
        21..=24 => {
            let mut a = vec![s("GEOSEARCHSTORE"), s("dst"), k.clone()];
            from_by(rng, &mut a, small);
            let with = rng.below(10) == 0;
            options(rng, &mut a, with);
            if rng.below(3) == 0 {
                a.push(s("STOREDIST"));
            }
            a
        }
        25..=29 => {
            let ro = rng.below(2) == 0;
            let mut a = vec![s(if ro { "GEORADIUS_RO" } else { "GEORADIUS" }), k.clone()];
            let [x, y] = lon_lat(rng);
            let u = unit(rng);
            a.extend([x, y, distance(rng, &u), u]);
            let store = !ro && rng.below(4) == 0;
            let with = !store || rng.below(10) == 0;
            options(rng, &mut a, with);
            if store {
                a.push(s(pick(rng, &["STORE", "STOREDIST"])));
                a.push(s("dst"));
            }
            a
        }
        30..=33 => {
            let ro = rng.below(2) == 0;
            let name = if ro {
                "GEORADIUSBYMEMBER_RO"
            } else {
                "GEORADIUSBYMEMBER"
            };
            let mut a = vec![s(name), k.clone(), m(rng)];
            let u = unit(rng);
            a.extend([distance(rng, &u), u]);
            let store = rng.below(4) == 0;
            let with = !store || rng.below(10) == 0;
            options(rng, &mut a, with);
            if store {
                a.push(s(pick(rng, &["STORE", "STOREDIST"])));
                a.push(s("dst"));
            }
            a
        }
        34 => vec![s("ZREM"), k.clone(), m(rng)],
        35 => vec![s("ZRANGE"), s("dst"), s("0"), s("-1"), s("WITHSCORES")],
        36 => vec![s("OBJECT"), s("ENCODING"), s("dst")],
        37 => {
            p.hello(if rng.below(2) == 0 { 2 } else { 3 });
            return;
        }
        38 => vec![s("ZSCORE"), k.clone(), m(rng)],
        _ => vec![s("ZCARD"), k.clone()],
    };
    p.check(&a, Cmp::Exact);
}

#[test]
fn random_geo_commands_match_redis() {
    let mut p = Pair::start("geo", "CACHELAB_GEO", 0x6E0);
    let total = p.total(20_000);
    let mut rng = p.rng();
    p.check(&[s("SET"), s("str"), s("v")], Cmp::Exact);
    // 10,000 points, 50 per GEOADD, and members sharing positions.
    for batch in 0..200 {
        p.step = batch;
        let mut a = vec![s("GEOADD"), s("pts")];
        for i in 0..50 {
            let (x, y) = point(&mut rng);
            a.extend([
                coord(x),
                coord(y),
                format!("p{}", batch * 50 + i).into_bytes(),
            ]);
        }
        p.check(&a, Cmp::Exact);
    }
    for d in 0..6 {
        let (x, y) = CENTRES[d % CENTRES.len()];
        let (x, y) = (coord(x), coord(y));
        let mut a = vec![s("GEOADD"), s("pts")];
        for j in 0..3 {
            a.extend([x.clone(), y.clone(), format!("dup{d}{j}").into_bytes()]);
        }
        a.extend([x, y, format!("dup{d}").into_bytes()]);
        p.check(&a, Cmp::Exact);
    }
    for i in 0..40 {
        let (x, y) = point(&mut rng);
        let a = vec![
            s("GEOADD"),
            s("small"),
            coord(x),
            coord(y),
            format!("s{i}").into_bytes(),
        ];
        p.check(&a, Cmp::Exact);
    }
    for i in 0..total {
        p.step = 1000 + i;
        step(&mut p, &mut rng);
    }
    for k in ["pts", "small", "dst"] {
        p.check(
            &[s("ZRANGE"), s(k), s("0"), s("-1"), s("WITHSCORES")],
            Cmp::Exact,
        );
    }
}
