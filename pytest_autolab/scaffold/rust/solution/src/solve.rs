//! The reference: prefix sums, then O(1) per query.

pub fn answer(a: &[i64], queries: &[(usize, usize)]) -> Vec<i64> {
    let mut prefix = Vec::with_capacity(a.len() + 1);
    prefix.push(0i64);
    let mut running = 0i64;
    for &x in a {
        running += x;
        prefix.push(running);
    }
    queries.iter().map(|&(l, r)| prefix[r] - prefix[l]).collect()
}
