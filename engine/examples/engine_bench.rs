//! Native half of the engine-only benchmark (`cargo xtask bench` runs it in
//! release): prints commands per second for `set_get_loop`.

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(300_000);
    cachelab_engine::bench::set_get_loop(n / 10); // warm up
    let start = std::time::Instant::now();
    let ops = cachelab_engine::bench::set_get_loop(n);
    println!("{:.0}", ops as f64 / start.elapsed().as_secs_f64());
}
