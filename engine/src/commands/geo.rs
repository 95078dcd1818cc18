//! Geo commands, as geo.c, geohash.c and geohash_helper.c in Redis 7.0
//! answer them: GEOADD (NX XX CH) GEOPOS GEODIST GEOHASH GEOSEARCH
//! GEOSEARCHSTORE GEORADIUS GEORADIUSBYMEMBER and the _RO forms.
//!
//! A point is a sorted-set member whose score is its 52-bit geohash
//! (longitude and latitude interleaved, 26 bits each, latitude limited to
//! ±85.05112878 as in Web Mercator). A search covers the centre's geohash
//! box and its eight neighbours at a precision chosen from the radius,
//! reads each box as one score range of the sorted set, and keeps the
//! points inside the circle or rectangle — the same boxes, the same float
//! arithmetic and the same sort as Redis, so results, distances and their
//! order match byte for byte.

use super::coll;
use super::zsets::{string2d, zadd};
use super::{eq_ic, err_syntax, parse_int, Ctx, Handler};
use crate::pqsort::pqsort;
use crate::protocol::Reply;
use crate::store::zset::ScoreRange;
use crate::store::ZSet;

pub fn handler(name: &str) -> Option<Handler> {
    Some(match name {
        "geoadd" => geoadd,
        "geopos" => geopos,
        "geodist" => geodist,
        "geohash" => geohash,
        "georadius" => |c, a| search(c, a, 1, COORDS),
        "georadius_ro" => |c, a| search(c, a, 1, COORDS | NOSTORE),
        "georadiusbymember" => |c, a| search(c, a, 1, MEMBER),
        "georadiusbymember_ro" => |c, a| search(c, a, 1, MEMBER | NOSTORE),
        "geosearch" => |c, a| search(c, a, 1, SEARCH),
        "geosearchstore" => |c, a| search(c, a, 2, SEARCH | SEARCHSTORE),
        _ => return None,
    })
}

const LONG_MIN: f64 = -180.0;
const LONG_MAX: f64 = 180.0;
const LAT_MIN: f64 = -85.05112878;
const LAT_MAX: f64 = 85.05112878;
const STEP_MAX: u8 = 26;
const EARTH_RADIUS_IN_METERS: f64 = 6372797.560856;
const MERCATOR_MAX: f64 = 20037726.37;
const D_R: f64 = std::f64::consts::PI / 180.0;

/// A geohash of `step` bits per coordinate (`GeoHashBits`).
#[derive(Clone, Copy, PartialEq, Debug)]
struct Bits {
    bits: u64,
    step: u8,
}

impl Bits {
    const ZERO: Bits = Bits { bits: 0, step: 0 };
    fn is_zero(self) -> bool {
        self.bits == 0 && self.step == 0
    }
    /// `geohashAlign52Bits`: the sorted-set score of the box's first point.
    fn align52(self) -> u64 {
        self.bits << (52 - u32::from(self.step) * 2)
    }
}

#[derive(Clone, Copy, Default)]
struct Area {
    lon: (f64, f64),
    lat: (f64, f64),
}

fn interleave64(xlo: u32, ylo: u32) -> u64 {
    const B: [u64; 5] = [
        0x5555555555555555,
        0x3333333333333333,
        0x0F0F0F0F0F0F0F0F,
        0x00FF00FF00FF00FF,
        0x0000FFFF0000FFFF,
    ];
    const S: [u32; 5] = [1, 2, 4, 8, 16];
    let (mut x, mut y) = (u64::from(xlo), u64::from(ylo));
    for i in (0..5).rev() {
        x = (x | (x << S[i])) & B[i];
        y = (y | (y << S[i])) & B[i];
    }
    x | (y << 1)
}

fn deinterleave64(interleaved: u64) -> u64 {
    const B: [u64; 6] = [
        0x5555555555555555,
        0x3333333333333333,
        0x0F0F0F0F0F0F0F0F,
        0x00FF00FF00FF00FF,
        0x0000FFFF0000FFFF,
        0x00000000FFFFFFFF,
    ];
    const S: [u32; 6] = [0, 1, 2, 4, 8, 16];
    let (mut x, mut y) = (interleaved, interleaved >> 1);
    for i in 0..6 {
        x = (x | (x >> S[i])) & B[i];
        y = (y | (y >> S[i])) & B[i];
    }
    x | (y << 32)
}

/// `geohashEncode` over the given ranges; `None` outside them.
fn encode(lon_r: (f64, f64), lat_r: (f64, f64), lon: f64, lat: f64, step: u8) -> Option<Bits> {
    if !(LONG_MIN..=LONG_MAX).contains(&lon) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return None;
    }
    if lat < lat_r.0 || lat > lat_r.1 || lon < lon_r.0 || lon > lon_r.1 {
        return None;
    }
    let scale = (1u64 << step) as f64;
    let lat_offset = (lat - lat_r.0) / (lat_r.1 - lat_r.0) * scale;
    let lon_offset = (lon - lon_r.0) / (lon_r.1 - lon_r.0) * scale;
    Some(Bits {
        bits: interleave64(lat_offset as u32, lon_offset as u32),
        step,
    })
}

fn encode_wgs84(lon: f64, lat: f64, step: u8) -> Option<Bits> {
    encode((LONG_MIN, LONG_MAX), (LAT_MIN, LAT_MAX), lon, lat, step)
}

/// `geohashDecode` over the WGS84 ranges.
fn decode(h: Bits) -> Option<Area> {
    if h.is_zero() {
        return None;
    }
    let sep = deinterleave64(h.bits);
    let (lat_scale, lon_scale) = (LAT_MAX - LAT_MIN, LONG_MAX - LONG_MIN);
    let ilat = f64::from(sep as u32);
    let ilon = f64::from((sep >> 32) as u32);
    let div = (1u64 << h.step) as f64;
    Some(Area {
        lat: (
            LAT_MIN + (ilat * 1.0 / div) * lat_scale,
            LAT_MIN + ((ilat + 1.0) * 1.0 / div) * lat_scale,
        ),
        lon: (
            LONG_MIN + (ilon * 1.0 / div) * lon_scale,
            LONG_MIN + ((ilon + 1.0) * 1.0 / div) * lon_scale,
        ),
    })
}

/// `decodeGeohash`: a score's point, the centre of its 52-bit box.
fn decode_score(score: f64) -> [f64; 2] {
    // C's (uint64_t) conversion of the double.
    let bits = if score < 0.0 {
        score as i64 as u64
    } else {
        score as u64
    };
    let a = decode(Bits {
        bits,
        step: STEP_MAX,
    })
    .expect("a 26-step hash is never zero");
    let lon = ((a.lon.0 + a.lon.1) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let lat = ((a.lat.0 + a.lat.1) / 2.0).clamp(LAT_MIN, LAT_MAX);
    [lon, lat]
}

/// `geohash_move_x`/`geohash_move_y`: steps the bits of one coordinate
/// (`mine`: longitude's odd bits 0xaa…, latitude's even bits 0x55…) by
/// one cell, east/north for `d > 0`.
fn move_axis(h: &mut Bits, d: i8, mine: u64) {
    if d == 0 {
        return;
    }
    let other = !mine;
    let shift = 64 - u32::from(h.step) * 2;
    let mut x = h.bits & mine;
    let y = h.bits & other;
    let zz = other >> shift;
    if d > 0 {
        x = x.wrapping_add(zz + 1);
    } else {
        x |= zz;
        x = x.wrapping_sub(zz + 1);
    }
    x &= mine >> shift;
    h.bits = x | y;
}

fn move_x(h: &mut Bits, d: i8) {
    move_axis(h, d, 0xaaaaaaaaaaaaaaaa);
}

fn move_y(h: &mut Bits, d: i8) {
    move_axis(h, d, 0x5555555555555555);
}

/// The eight neighbours in Redis's search order: north, south, east, west,
/// north-east, north-west, south-east, south-west.
fn neighbours(h: Bits) -> [Bits; 8] {
    let at = |dx: i8, dy: i8| {
        let mut n = h;
        move_x(&mut n, dx);
        move_y(&mut n, dy);
        n
    };
    [
        at(0, 1),
        at(0, -1),
        at(1, 0),
        at(-1, 0),
        at(1, 1),
        at(-1, 1),
        at(1, -1),
        at(-1, -1),
    ]
}

fn deg_rad(a: f64) -> f64 {
    a * D_R
}
fn rad_deg(a: f64) -> f64 {
    a / D_R
}

fn lat_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS_IN_METERS * (deg_rad(lat2) - deg_rad(lat1)).abs()
}

/// `geohashGetDistance`: the haversine distance in metres.
fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let (lon1r, lon2r) = (deg_rad(lon1), deg_rad(lon2));
    let v = ((lon2r - lon1r) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1, lat2);
    }
    let (lat1r, lat2r) = (deg_rad(lat1), deg_rad(lat2));
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_IN_METERS * a.sqrt().asin()
}

/// `geohashEstimateStepsByRadius`.
fn estimate_steps(mut range_meters: f64, lat: f64) -> u8 {
    if range_meters == 0.0 {
        return 26;
    }
    let mut step: i32 = 1;
    while range_meters < MERCATOR_MAX {
        range_meters *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

#[derive(Clone, Copy)]
enum Kind {
    Circle(f64),
    /// Width, height.
    Rect(f64, f64),
}

/// `GeoShape`: the centre, the area (in the request's unit) and the unit's
/// size in metres.
struct Shape {
    xy: [f64; 2],
    kind: Kind,
    conversion: f64,
}

impl Shape {
    /// `geohashBoundingBox`: min lon, min lat, max lon, max lat.
    fn bounds(&self) -> [f64; 4] {
        let [lon, lat] = self.xy;
        let (h, w) = match self.kind {
            Kind::Circle(r) => (r, r),
            Kind::Rect(w, h) => (h / 2.0, w / 2.0),
        };
        let (height, width) = (self.conversion * h, self.conversion * w);
        let lat_delta = rad_deg(height / EARTH_RADIUS_IN_METERS);
        let long_delta_top =
            rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(lat + lat_delta).cos());
        let long_delta_bottom =
            rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(lat - lat_delta).cos());
        let south = lat < 0.0;
        [
            if south {
                lon - long_delta_bottom
            } else {
                lon - long_delta_top
            },
            lat - lat_delta,
            if south {
                lon + long_delta_bottom
            } else {
                lon + long_delta_top
            },
            lat + lat_delta,
        ]
    }

    /// `geohashCalculateAreasByShapeWGS84`: the centre's box and the
    /// neighbours worth searching (the others zeroed), in search order.
    fn boxes(&self) -> [Bits; 9] {
        let [min_lon, min_lat, max_lon, max_lat] = self.bounds();
        let [lon, lat] = self.xy;
        let radius_meters = match self.kind {
            Kind::Circle(r) => r,
            Kind::Rect(w, h) => ((w / 2.0) * (w / 2.0) + (h / 2.0) * (h / 2.0)).sqrt(),
        } * self.conversion;
        let mut steps = estimate_steps(radius_meters, lat);
        let at = |steps| {
            let hash = encode_wgs84(lon, lat, steps).expect("the centre was validated");
            (hash, neighbours(hash), decode(hash).unwrap_or_default())
        };
        let (mut hash, mut nb, mut area) = at(steps);
        let side = |b: Bits| decode(b).unwrap_or_default();
        let decrease = side(nb[0]).lat.1 < max_lat
            || side(nb[1]).lat.0 > min_lat
            || side(nb[2]).lon.1 < max_lon
            || side(nb[3]).lon.0 > min_lon;
        if steps > 1 && decrease {
            steps -= 1;
            (hash, nb, area) = at(steps);
        }
        if steps >= 2 {
            let [n, s, e, w, ne, nw, se, sw] = [0, 1, 2, 3, 4, 5, 6, 7];
            let mut zero = |idx: &[usize]| idx.iter().for_each(|&i| nb[i] = Bits::ZERO);
            if area.lat.0 < min_lat {
                zero(&[s, sw, se]);
            }
            if area.lat.1 > max_lat {
                zero(&[n, ne, nw]);
            }
            if area.lon.0 < min_lon {
                zero(&[w, sw, nw]);
            }
            if area.lon.1 > max_lon {
                zero(&[e, se, ne]);
            }
        }
        [hash, nb[0], nb[1], nb[2], nb[3], nb[4], nb[5], nb[6], nb[7]]
    }

    /// `geoWithinShape`: the point of `score` and its distance from the
    /// centre in metres, if it lies inside.
    fn within(&self, score: f64) -> Option<([f64; 2], f64)> {
        let xy = decode_score(score);
        let [x1, y1] = self.xy;
        match self.kind {
            Kind::Circle(r) => {
                let d = distance(x1, y1, xy[0], xy[1]);
                (d <= r * self.conversion).then_some((xy, d))
            }
            Kind::Rect(w, h) => {
                let (w, h) = (w * self.conversion, h * self.conversion);
                if lat_distance(xy[1], y1) > h / 2.0 {
                    return None;
                }
                if distance(xy[0], xy[1], x1, xy[1]) > w / 2.0 {
                    return None;
                }
                Some((xy, distance(x1, y1, xy[0], xy[1])))
            }
        }
    }
}

/// A point found by a search (`geoPoint`).
struct Point {
    xy: [f64; 2],
    dist: f64,
    score: f64,
    member: Vec<u8>,
}

/// `membersOfAllNeighbors`: the points of the sorted set inside the shape,
/// box by box, stopping once `limit` (ANY) points are found.
fn collect(z: &ZSet, shape: &Shape, limit: usize) -> Vec<Point> {
    let boxes = shape.boxes();
    let mut out = Vec::new();
    let mut last: Option<Bits> = None;
    for b in boxes {
        if b.is_zero() {
            continue;
        }
        // Huge radii make adjacent neighbours the same box: skip repeats.
        if last == Some(b) {
            continue;
        }
        if !out.is_empty() && limit > 0 && out.len() >= limit {
            break;
        }
        let min = b.align52() as f64;
        let max = Bits {
            bits: b.bits + 1,
            step: b.step,
        }
        .align52() as f64;
        let r = ScoreRange {
            min,
            max,
            minex: false,
            maxex: true,
        };
        let (lo, hi) = z.score_bounds(&r);
        for i in lo..hi {
            let Some((member, score)) = z.get_index(i) else {
                break;
            };
            if let Some((xy, dist)) = shape.within(score) {
                out.push(Point {
                    xy,
                    dist,
                    score,
                    member,
                });
            }
            if limit > 0 && out.len() >= limit {
                break;
            }
        }
        last = Some(b);
    }
    out
}

fn unit(b: &[u8]) -> Result<f64, Reply> {
    if eq_ic(b, "m") {
        Ok(1.0)
    } else if eq_ic(b, "km") {
        Ok(1000.0)
    } else if eq_ic(b, "ft") {
        Ok(0.3048)
    } else if eq_ic(b, "mi") {
        Ok(1609.34)
    } else {
        Err(Reply::err(
            "ERR unsupported unit provided. please use M, KM, FT, MI",
        ))
    }
}

fn double(b: &[u8], msg: &str) -> Result<f64, Reply> {
    string2d(b).ok_or_else(|| Reply::err(format!("ERR {msg}")))
}

/// `extractLongLatOrReply`.
fn lon_lat(lon: &[u8], lat: &[u8]) -> Result<[f64; 2], Reply> {
    let x = double(lon, "value is not a valid float")?;
    let y = double(lat, "value is not a valid float")?;
    if !(LONG_MIN..=LONG_MAX).contains(&x) || !(LAT_MIN..=LAT_MAX).contains(&y) {
        return Err(Reply::err(format!(
            "ERR invalid longitude,latitude pair {x:.6},{y:.6}"
        )));
    }
    Ok([x, y])
}

/// `extractDistanceOrReply`: radius and the unit's size in metres.
fn radius(argv: &[Vec<u8>]) -> Result<(f64, f64), Reply> {
    let d = double(&argv[0], "need numeric radius")?;
    if d < 0.0 {
        return Err(Reply::err("ERR radius cannot be negative"));
    }
    Ok((d, unit(&argv[1])?))
}

/// `addReplyDoubleDistance`: four decimals, rounded as `llrint` does.
fn distance_reply(d: f64) -> Reply {
    if d == 0.0 {
        return Reply::bulk("0.0000");
    }
    let v = (d * 10000.0).round_ties_even() as i64;
    let sign = if v < 0 { "-" } else { "" };
    let a = v.unsigned_abs();
    Reply::Bulk(format!("{sign}{}.{:04}", a / 10000, a % 10000).into_bytes())
}

/// `addReplyHumanLongDouble`: `%.17Lf` without trailing zeros.
fn human(d: f64) -> Reply {
    let mut s = format!("{d:.17}");
    if s.contains('.') {
        let t = s.trim_end_matches('0').trim_end_matches('.').len();
        s.truncate(t);
    }
    if s == "-0" {
        s = "0".into();
    }
    Reply::DoubleText(s)
}

fn coords(xy: [f64; 2]) -> Reply {
    Reply::Array(vec![human(xy[0]), human(xy[1])])
}

/// GEOADD key [NX|XX] [CH] longitude latitude member [...]: ZADD with the
/// points' geohashes as scores.
fn geoadd(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    match as_zadd(argv) {
        Ok(zargv) => zadd(ctx, &zargv, false),
        Err(e) => e,
    }
}

/// GEOADD as the ZADD it is (what Redis runs, and propagates): `zadd key
/// [flags] <52-bit geohash> member …`.
pub fn as_zadd(argv: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, Reply> {
    let (mut nx, mut xx) = (false, false);
    let mut at = 2;
    while at < argv.len() {
        let o = &argv[at];
        if eq_ic(o, "nx") {
            nx = true;
        } else if eq_ic(o, "xx") {
            xx = true;
        } else if !eq_ic(o, "ch") {
            break;
        }
        at += 1;
    }
    if !(argv.len() - at).is_multiple_of(3) || (xx && nx) {
        return Err(err_syntax());
    }
    let mut zargv: Vec<Vec<u8>> = Vec::with_capacity(at + (argv.len() - at) / 3 * 2);
    zargv.push(b"zadd".to_vec());
    zargv.extend(argv[1..at].iter().cloned());
    for p in argv[at..].chunks(3) {
        let xy = lon_lat(&p[0], &p[1])?;
        let hash = encode_wgs84(xy[0], xy[1], STEP_MAX).expect("validated coordinates");
        zargv.push(hash.align52().to_string().into_bytes());
        zargv.push(p[2].clone());
    }
    Ok(zargv)
}

/// GEOPOS/GEOHASH's reading: the score of each member argument (`None`
/// for a missing member or key), or WRONGTYPE.
fn member_scores(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Result<Vec<Option<f64>>, Reply> {
    let z = coll::read::<ZSet>(ctx, &argv[1])?;
    Ok(argv[2..]
        .iter()
        .map(|m| z.and_then(|z| z.score(m)))
        .collect())
}

/// GEOPOS key [member ...]
fn geopos(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let scores = match member_scores(ctx, argv) {
        Ok(s) => s,
        Err(e) => return e,
    };
    Reply::Array(
        scores
            .into_iter()
            .map(|s| match s {
                Some(s) => coords(decode_score(s)),
                None => Reply::NilArray,
            })
            .collect(),
    )
}

/// GEODIST key member1 member2 [M|KM|FT|MI]
fn geodist(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let to_meter = match argv.len() {
        5 => match unit(&argv[4]) {
            Ok(u) => u,
            Err(e) => return e,
        },
        n if n > 5 => return err_syntax(),
        _ => 1.0,
    };
    let z = match coll::read::<ZSet>(ctx, &argv[1]) {
        Ok(Some(z)) => z,
        Ok(None) => return Reply::Nil,
        Err(e) => return e,
    };
    match (z.score(&argv[2]), z.score(&argv[3])) {
        (Some(a), Some(b)) => {
            let (a, b) = (decode_score(a), decode_score(b));
            distance_reply(distance(a[0], a[1], b[0], b[1]) / to_meter)
        }
        _ => Reply::Nil,
    }
}

/// GEOHASH key [member ...]: the standard 11-character geohash (latitude
/// over ±90, so the point is decoded and encoded again).
fn geohash(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let scores = match member_scores(ctx, argv) {
        Ok(s) => s,
        Err(e) => return e,
    };
    Reply::Array(
        scores
            .into_iter()
            .map(|s| {
                let Some(s) = s else {
                    return Reply::Nil;
                };
                let xy = decode_score(s);
                let Some(h) = encode((-180.0, 180.0), (-90.0, 90.0), xy[0], xy[1], 26) else {
                    return Reply::Nil;
                };
                let s: Vec<u8> = (0..11)
                    .map(|i| {
                        let idx = if i == 10 {
                            0
                        } else {
                            (h.bits >> (52 - (i + 1) * 5)) & 0x1f
                        };
                        ALPHABET[idx as usize]
                    })
                    .collect();
                Reply::Bulk(s)
            })
            .collect(),
    )
}

const COORDS: u8 = 1;
const MEMBER: u8 = 2;
const NOSTORE: u8 = 4;
const SEARCH: u8 = 8;
const SEARCHSTORE: u8 = 16;

#[derive(PartialEq, Clone, Copy)]
enum Sort {
    None,
    Asc,
    Desc,
}

/// `georadiusGeneric`: GEORADIUS(BYMEMBER)(_RO), GEOSEARCH(STORE).
fn search(ctx: &mut Ctx, argv: &[Vec<u8>], src: usize, flags: u8) -> Reply {
    match search_inner(ctx, argv, src, flags) {
        Ok(r) | Err(r) => r,
    }
}

fn search_inner(ctx: &mut Ctx, argv: &[Vec<u8>], src: usize, flags: u8) -> Result<Reply, Reply> {
    let resp3 = ctx.client().is_some_and(|c| c.resp >= 3);
    let lim = ctx.srv.config.encoding_limits();
    let z = coll::read::<ZSet>(ctx, &argv[src])?;
    let mut storekey: Option<&Vec<u8>> = None;
    let mut storedist = false;
    let mut xy = [0.0; 2];
    let mut kind: Option<Kind> = None;
    let mut conversion = 1.0;
    let base;
    if flags & COORDS != 0 {
        base = 6;
        xy = lon_lat(&argv[2], &argv[3])?;
        let (r, c) = radius(&argv[4..6])?;
        (kind, conversion) = (Some(Kind::Circle(r)), c);
    } else if flags & MEMBER != 0 {
        base = 5;
        if let Some(z) = z {
            xy = member_xy(z, &argv[2])?;
            let (r, c) = radius(&argv[3..5])?;
            (kind, conversion) = (Some(Kind::Circle(r)), c);
        }
    } else if flags & SEARCHSTORE != 0 {
        base = 3;
        storekey = Some(&argv[1]);
    } else {
        base = 2;
    }
    let search = flags & SEARCH != 0;
    let (mut withdist, mut withhash, mut withcoords) = (false, false, false);
    let (mut frommember, mut fromloc, mut byradius, mut bybox) = (false, false, false, false);
    let mut sort = Sort::None;
    let mut any = false;
    let mut count: i64 = 0;
    let rest = &argv[base.min(argv.len())..];
    let remaining = rest.len();
    let mut i = 0;
    while i < remaining {
        let arg = &rest[i];
        if eq_ic(arg, "withdist") {
            withdist = true;
        } else if eq_ic(arg, "withhash") {
            withhash = true;
        } else if eq_ic(arg, "withcoord") {
            withcoords = true;
        } else if eq_ic(arg, "any") {
            any = true;
        } else if eq_ic(arg, "asc") {
            sort = Sort::Asc;
        } else if eq_ic(arg, "desc") {
            sort = Sort::Desc;
        } else if eq_ic(arg, "count") && i + 1 < remaining {
            count = parse_int(&rest[i + 1])?;
            if count <= 0 {
                return Err(Reply::err("ERR COUNT must be > 0"));
            }
            i += 1;
        } else if (eq_ic(arg, "store") || eq_ic(arg, "storedist"))
            && i + 1 < remaining
            && flags & NOSTORE == 0
            && !search
        {
            storekey = Some(&rest[i + 1]);
            storedist = eq_ic(arg, "storedist");
            i += 1;
        } else if eq_ic(arg, "storedist") && search && flags & SEARCHSTORE != 0 {
            storedist = true;
        } else if eq_ic(arg, "frommember") && i + 1 < remaining && search && !fromloc {
            if let Some(z) = z {
                xy = member_xy(z, &rest[i + 1])?;
            }
            frommember = true;
            i += 1;
        } else if eq_ic(arg, "fromlonlat") && i + 2 < remaining && search && !frommember {
            xy = lon_lat(&rest[i + 1], &rest[i + 2])?;
            fromloc = true;
            i += 2;
        } else if eq_ic(arg, "byradius") && i + 2 < remaining && search && !bybox {
            let (r, c) = radius(&rest[i + 1..i + 3])?;
            (kind, conversion) = (Some(Kind::Circle(r)), c);
            byradius = true;
            i += 2;
        } else if eq_ic(arg, "bybox") && i + 3 < remaining && search && !byradius {
            let w = double(&rest[i + 1], "need numeric width")?;
            let h = double(&rest[i + 2], "need numeric height")?;
            if h < 0.0 || w < 0.0 {
                return Err(Reply::err("ERR height or width cannot be negative"));
            }
            conversion = unit(&rest[i + 3])?;
            kind = Some(Kind::Rect(w, h));
            bybox = true;
            i += 3;
        } else {
            return Err(err_syntax());
        }
        i += 1;
    }
    if storekey.is_some() && (withdist || withhash || withcoords) {
        let what = if flags & SEARCHSTORE != 0 {
            "GEOSEARCHSTORE"
        } else {
            "STORE option in GEORADIUS"
        };
        return Err(Reply::err(format!(
            "ERR {what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        )));
    }
    let name = String::from_utf8_lossy(&argv[0]);
    if search && !(frommember || fromloc) {
        return Err(Reply::err(format!(
            "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}"
        )));
    }
    if search && !(byradius || bybox) {
        return Err(Reply::err(format!(
            "ERR exactly one of BYRADIUS and BYBOX can be specified for {name}"
        )));
    }
    if any && count == 0 {
        return Err(Reply::err("ERR the ANY argument requires COUNT argument"));
    }
    let Some(z) = z else {
        return Ok(match storekey {
            Some(k) => {
                ctx.db().remove(k);
                Reply::Int(0)
            }
            None => Reply::Array(vec![]),
        });
    };
    if count != 0 && sort == Sort::None && !any {
        sort = Sort::Asc;
    }
    let kind = kind.expect("every search form sets its shape");
    let shape = Shape {
        xy,
        kind,
        conversion,
    };
    let limit = if any { count as usize } else { 0 };
    let mut points = collect(z, &shape, limit);
    if points.is_empty() && storekey.is_none() {
        return Ok(Reply::Array(vec![]));
    }
    let returned = if count == 0 {
        points.len()
    } else {
        points.len().min(count as usize)
    };
    if sort != Sort::None {
        let asc = |a: &Point, b: &Point| {
            a.dist
                .partial_cmp(&b.dist)
                .unwrap_or(std::cmp::Ordering::Equal)
        };
        let cmp = |a: &Point, b: &Point| {
            if sort == Sort::Asc {
                asc(a, b)
            } else {
                asc(b, a)
            }
        };
        if returned == points.len() {
            // glibc's qsort is a merge sort: stable.
            points.sort_by(cmp);
        } else {
            pqsort(&mut points, &cmp, 0, returned - 1);
        }
    }
    points.truncate(returned);
    for p in &mut points {
        p.dist /= conversion;
    }
    match storekey {
        None => {
            let opts = usize::from(withdist) + usize::from(withhash) + usize::from(withcoords);
            let _ = resp3;
            Ok(Reply::Array(
                points
                    .into_iter()
                    .map(|p| {
                        if opts == 0 {
                            return Reply::Bulk(p.member);
                        }
                        let mut item = vec![Reply::Bulk(p.member)];
                        if withdist {
                            item.push(distance_reply(p.dist));
                        }
                        if withhash {
                            item.push(Reply::Int(p.score as i64));
                        }
                        if withcoords {
                            item.push(coords(p.xy));
                        }
                        Reply::Array(item)
                    })
                    .collect(),
            ))
        }
        Some(k) => {
            let n = points.len();
            let pairs = points
                .into_iter()
                .map(|p| (p.member, if storedist { p.dist } else { p.score }))
                .collect();
            let k = k.clone();
            coll::store(ctx, &k, ZSet::from_pairs(pairs, &lim));
            Ok(Reply::Int(n as i64))
        }
    }
}

/// `longLatFromMember`, or Redis's error for a missing member.
fn member_xy(z: &ZSet, m: &[u8]) -> Result<[f64; 2], Reply> {
    z.score(m)
        .map(decode_score)
        .ok_or_else(|| Reply::err("ERR could not decode requested zset member"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn palermo_as_redis_encodes_and_formats_it() {
        let h = encode_wgs84(13.361389, 38.115556, 26).unwrap();
        assert_eq!(h.align52(), 3479099956230698);
        let xy = decode_score(3479099956230698.0);
        let Reply::DoubleText(lon) = human(xy[0]) else {
            panic!()
        };
        let Reply::DoubleText(lat) = human(xy[1]) else {
            panic!()
        };
        assert_eq!(
            (lon.as_str(), lat.as_str()),
            ("13.36138933897018433", "38.11555639549629859")
        );
        let c = decode_score(encode_wgs84(15.087269, 37.502669, 26).unwrap().align52() as f64);
        assert_eq!(
            distance_reply(distance(xy[0], xy[1], c[0], c[1]) / 1000.0),
            Reply::bulk("166.2742")
        );
    }
}
