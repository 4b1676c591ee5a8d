//! A Rust program on std, built for wasm32-wasip1: what WASI gives an ordinary program.
//! It prints its arguments, an environment variable, its standard input, what the clocks
//! say, the order a `HashMap` (seeded from `random_get`) iterates in; it sums the numbers
//! in `data.txt` and writes the sum to `out/sum.txt` (both under the `.` preopen), lists
//! `.`, writes a line to stderr, and exits with the code given as `exit N`, else 0.

use std::collections::HashMap;
use std::io::Read;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    println!("args: {}", args.join(" "));
    println!(
        "greeting: {}",
        std::env::var("GREETING").unwrap_or_else(|_| "(none)".into())
    );
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input).unwrap();
    println!("stdin: {}", input.to_uppercase());

    let started = Instant::now();
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    // 2020-01-01T00:00:00Z: the deterministic mode's epoch; a host's clock is later.
    println!("after 2020: {}", since_epoch.as_secs() >= 1_577_836_800);
    let mut spins = 0u64;
    while started.elapsed().as_nanos() == 0 {
        spins += 1;
    }
    println!("monotonic clock advances: {}", spins < 1_000_000);

    let map: HashMap<u32, u32> = (0..16).map(|k| (k, k * k)).collect();
    let order: Vec<String> = map.keys().map(u32::to_string).collect();
    println!("hash order: {}", order.join(","));

    let data = std::fs::read_to_string("data.txt").unwrap();
    let sum: i64 = data
        .split_whitespace()
        .map(|n| n.parse::<i64>().unwrap())
        .sum();
    std::fs::create_dir_all("out").unwrap();
    std::fs::write("out/sum.txt", sum.to_string()).unwrap();
    println!("sum: {sum}");
    let mut names: Vec<String> = std::fs::read_dir(".")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    println!("listing: {}", names.join(","));
    eprintln!("to stderr");

    if let [word, code] = &args[..]
        && word == "exit"
    {
        std::process::exit(code.parse().unwrap());
    }
}
