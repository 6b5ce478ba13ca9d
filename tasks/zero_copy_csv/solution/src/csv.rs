//! The reference solution: one pass over the document, fields as borrowed slices, no allocation
//! per field or record.
//!
//! A field is scanned eight bytes at a time (SWAR: a zero-byte test on the word xor-ed with each
//! byte searched for), and each word is folded into the field's hash and its count of UTF-8
//! continuation bytes (chars = bytes - continuation bytes) as soon as it has been scanned, so
//! every byte of a field is loaded once: the word that holds the field's end is masked to the
//! bytes before it. The field's statistics go straight into its column. A quoted field whose
//! contents hold `""` cannot be folded in place (each `""` shifts the words of what follows), so
//! it is decoded into one scratch buffer, reused for the whole document, and folded from there.

use crate::ColumnStats;

const K0: u64 = 0x9E37_79B9_7F4A_7C15;
const K1: u64 = 0xFF51_AFD7_ED55_8CCD;
const K2: u64 = 0xC4CE_B9FE_1A85_EC53;
const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The aggregates of every column of `doc` (a document of the dialect, valid UTF-8).
pub fn aggregate(doc: &[u8]) -> Vec<ColumnStats> {
    let mut columns: Vec<ColumnStats> = Vec::new();
    let mut scratch: Vec<u8> = Vec::new();
    let end = doc.len();
    let mut pos = 0;
    let mut column = 0;
    while pos < end {
        if column == columns.len() {
            columns.push(ColumnStats::default());
        }
        let stats = &mut columns[column];
        let after = if doc[pos] == b'"' {
            match fold_quoted(doc, pos + 1) {
                Ok((field, after)) => {
                    add_field(stats, field, &doc[pos + 1..after - 1]);
                    after
                }
                Err(quote) => {
                    let after = decode_escaped(doc, pos + 1, quote, &mut scratch);
                    add_field(stats, fold_buffer(&scratch), &scratch);
                    after
                }
            }
        } else {
            let (field, after) = fold_unquoted(doc, pos);
            add_field(stats, field, &doc[pos..after]);
            after
        };
        if after >= end {
            break;
        }
        match doc[after] {
            b',' => {
                column += 1;
                pos = after + 1;
                if pos == end {
                    // "...,": the record ends with an empty field.
                    if column == columns.len() {
                        columns.push(ColumnStats::default());
                    }
                    add_field(&mut columns[column], Folded::new(), &[]);
                }
            }
            b'\r' => {
                column = 0;
                pos = after + 2;
            }
            _ => {
                column = 0;
                pos = after + 1;
            }
        }
    }
    columns
}

/// The hash and the continuation-byte count of a field, word by word.
#[derive(Clone, Copy)]
struct Folded {
    hash: u64,
    continuation: u32,
}

impl Folded {
    #[inline(always)]
    fn new() -> Self {
        Folded { hash: K0, continuation: 0 }
    }

    #[inline(always)]
    fn word(&mut self, w: u64) {
        self.continuation += (w & !(w << 1) & HIGHS).count_ones();
        self.hash = (self.hash ^ w).wrapping_mul(K1);
        self.hash ^= self.hash >> 32;
    }
}

#[inline(always)]
fn word_at(buf: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&buf[at..at + 8]);
    u64::from_le_bytes(word)
}

/// The zero-padded word of the `n` (< 8) bytes at `buf[at..]`.
#[inline(always)]
fn partial_word(buf: &[u8], at: usize, n: usize) -> u64 {
    let mut word = [0u8; 8];
    word[..n].copy_from_slice(&buf[at..at + n]);
    u64::from_le_bytes(word)
}

/// A mask of the high bit of every byte of `w` equal to `byte`; its lowest set bit is exact.
#[inline(always)]
fn bytes_equal(w: u64, byte: u8) -> u64 {
    let x = w ^ (ONES * byte as u64);
    x.wrapping_sub(ONES) & !x & HIGHS
}

/// Folds the unquoted field at `doc[start..]`; returns it and the index of the byte after it.
#[inline(always)]
fn fold_unquoted(doc: &[u8], start: usize) -> (Folded, usize) {
    let mut folded = Folded::new();
    let mut at = start;
    while at + 8 <= doc.len() {
        let w = word_at(doc, at);
        let hits = bytes_equal(w, b',') | bytes_equal(w, b'\n') | bytes_equal(w, b'\r');
        if hits != 0 {
            let bytes = (hits.trailing_zeros() / 8) as usize;
            if bytes != 0 {
                folded.word(w & (u64::MAX >> (64 - 8 * bytes)));
            }
            return (folded, at + bytes);
        }
        folded.word(w);
        at += 8;
    }
    let mut stop = at;
    while stop < doc.len() && !matches!(doc[stop], b',' | b'\n' | b'\r') {
        stop += 1;
    }
    if stop != at {
        folded.word(partial_word(doc, at, stop - at));
    }
    (folded, stop)
}

/// Folds the quoted field whose contents start at `doc[start..]`; returns it and the index
/// after its closing quote, or, if its contents hold `""`, Err(index of the first of those).
#[inline(always)]
fn fold_quoted(doc: &[u8], start: usize) -> Result<(Folded, usize), usize> {
    let mut folded = Folded::new();
    let mut at = start;
    let quote = loop {
        if at + 8 > doc.len() {
            let mut stop = at;
            while doc[stop] != b'"' {
                stop += 1;
            }
            if stop != at {
                folded.word(partial_word(doc, at, stop - at));
            }
            break stop;
        }
        let w = word_at(doc, at);
        let hits = bytes_equal(w, b'"');
        if hits != 0 {
            let bytes = (hits.trailing_zeros() / 8) as usize;
            if bytes != 0 {
                folded.word(w & (u64::MAX >> (64 - 8 * bytes)));
            }
            break at + bytes;
        }
        folded.word(w);
        at += 8;
    };
    if quote + 1 < doc.len() && doc[quote + 1] == b'"' {
        Err(quote)
    } else {
        Ok((folded, quote + 1))
    }
}

/// The first index >= i of '"' (a quoted field is always closed).
fn find_quote(doc: &[u8], mut i: usize) -> usize {
    while i + 8 <= doc.len() {
        let hits = bytes_equal(word_at(doc, i), b'"');
        if hits != 0 {
            return i + (hits.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while doc[i] != b'"' {
        i += 1;
    }
    i
}

/// Decodes a quoted field holding "" (the first of them at `quote`) into `scratch`; returns
/// the index after the closing quote.
#[cold]
fn decode_escaped(doc: &[u8], start: usize, mut quote: usize, scratch: &mut Vec<u8>) -> usize {
    scratch.clear();
    let mut from = start;
    loop {
        scratch.extend_from_slice(&doc[from..quote]);
        if quote + 1 < doc.len() && doc[quote + 1] == b'"' {
            scratch.push(b'"');
            from = quote + 2;
            quote = find_quote(doc, from);
        } else {
            return quote + 1;
        }
    }
}

#[cold]
fn fold_buffer(buf: &[u8]) -> Folded {
    let mut folded = Folded::new();
    let mut chunks = buf.chunks_exact(8);
    for chunk in &mut chunks {
        folded.word(word_at(chunk, 0));
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        folded.word(partial_word(rest, 0, rest.len()));
    }
    folded
}

/// Adds the field (its contents and what was folded from them) to its column.
#[inline(always)]
fn add_field(column: &mut ColumnStats, folded: Folded, contents: &[u8]) {
    let len = contents.len();
    column.fields += 1;
    column.non_empty += (len != 0) as u64;
    column.bytes += len as u64;
    column.chars += len as u64 - folded.continuation as u64;
    if let Some(value) = parse_integer(contents) {
        column.integers += 1;
        column.integer_sum = column.integer_sum.wrapping_add(value);
    }
    column.hash = (column.hash.rotate_left(5) ^ folded.hash ^ len as u64).wrapping_mul(K2);
}

/// An optional '-' and 1 to 18 ASCII digits, nothing else.
#[inline(always)]
fn parse_integer(field: &[u8]) -> Option<i64> {
    let (negative, digits) = match field.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((first, _)) if first.is_ascii_digit() => (false, field),
        _ => return None,
    };
    if digits.is_empty() || digits.len() > 18 {
        return None;
    }
    let mut value: i64 = 0;
    for &d in digits {
        let digit = d.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        value = value * 10 + digit as i64;
    }
    Some(if negative { -value } else { value })
}
