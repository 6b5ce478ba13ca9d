//! The harness (read-only): `./prog IN OUT` reads the input, calls `solve::answer` once and
//! writes one answer a line.
#![forbid(unsafe_code)]

mod solve;

use std::io::Write;

fn die(msg: &str) -> ! {
    eprintln!("prog: {}", msg);
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        die("usage: prog IN OUT");
    }
    let text = std::fs::read_to_string(&args[1]).unwrap_or_else(|_| die("cannot read the input"));
    let mut words = text.split_ascii_whitespace().map(|w| w.parse::<i64>().unwrap_or_else(|_| die("bad number")));
    let mut next = || words.next().unwrap_or_else(|| die("input too short"));
    let (n, q) = (next() as usize, next() as usize);
    let a: Vec<i64> = (0..n).map(|_| next()).collect();
    let mut queries = Vec::with_capacity(q);
    for _ in 0..q {
        let (l, r) = (next() as usize, next() as usize);
        if l > r || r > n {
            die("bad query");
        }
        queries.push((l, r));
    }
    let out = solve::answer(&a, &queries);
    if out.len() != q {
        die("answer() returned the wrong number of answers");
    }
    let mut o = std::io::BufWriter::new(std::fs::File::create(&args[2]).unwrap_or_else(|_| die("cannot create the output")));
    for v in out {
        writeln!(o, "{}", v).unwrap_or_else(|_| die("cannot write the output"));
    }
}
