//! A rung: sums of blocks of 1024 values, loops only over the partial blocks at the ends.

const B: usize = 1024;

pub fn answer(a: &[i64], queries: &[(usize, usize)]) -> Vec<i64> {
    let mut sums = vec![0i64; a.len() / B + 1];
    for (i, &x) in a.iter().enumerate() {
        sums[i / B] += x;
    }
    let mut out = Vec::with_capacity(queries.len());
    for &(l, r) in queries {
        let mut sum = 0i64;
        let mut i = l;
        while i < r && i % B != 0 {
            sum += a[i];
            i += 1;
        }
        while i + B <= r {
            sum += sums[i / B];
            i += B;
        }
        while i < r {
            sum += a[i];
            i += 1;
        }
        out.push(sum);
    }
    out
}
