//! A rung: one `String` per record. Each record is decoded into a single string (the fields'
//! contents one after the other) with the ends of its fields in a `Vec`, then split at those ends
//! and aggregated before the next record is read: two allocations a record instead of one a
//! field, and nothing kept for the whole document. Fields are still handled byte by byte.

use crate::ColumnStats;

const K0: u64 = 0x9E37_79B9_7F4A_7C15;
const K1: u64 = 0xFF51_AFD7_ED55_8CCD;
const K2: u64 = 0xC4CE_B9FE_1A85_EC53;

pub fn aggregate(doc: &[u8]) -> Vec<ColumnStats> {
    let mut columns: Vec<ColumnStats> = Vec::new();
    let mut pos = 0;
    while pos < doc.len() {
        let (text, ends, next) = read_record(doc, pos);
        let mut start = 0;
        for (i, &end) in ends.iter().enumerate() {
            if columns.len() <= i {
                columns.push(ColumnStats::default());
            }
            add_field(&mut columns[i], &text[start..end]);
            start = end;
        }
        pos = next;
    }
    columns
}

/// The record at `doc[pos..]`: its fields' contents in one string, the end of each field in
/// that string, and the index of the next record.
fn read_record(doc: &[u8], mut pos: usize) -> (String, Vec<usize>, usize) {
    let mut text: Vec<u8> = Vec::new();
    let mut ends: Vec<usize> = Vec::new();
    loop {
        if pos < doc.len() && doc[pos] == b'"' {
            pos += 1;
            loop {
                if doc[pos] == b'"' {
                    if pos + 1 < doc.len() && doc[pos + 1] == b'"' {
                        text.push(b'"');
                        pos += 2;
                        continue;
                    }
                    pos += 1;
                    break;
                }
                text.push(doc[pos]);
                pos += 1;
            }
        } else {
            while pos < doc.len() && !matches!(doc[pos], b',' | b'\r' | b'\n') {
                text.push(doc[pos]);
                pos += 1;
            }
        }
        ends.push(text.len());
        if pos < doc.len() && doc[pos] == b',' {
            pos += 1;
            if pos == doc.len() {
                ends.push(text.len()); // "...,": an empty last field
                break;
            }
            continue;
        }
        if pos < doc.len() {
            pos += if doc[pos] == b'\r' { 2 } else { 1 };
        }
        break;
    }
    let text = String::from_utf8(text).expect("the document is valid UTF-8");
    (text, ends, pos)
}

fn add_field(column: &mut ColumnStats, field: &str) {
    column.fields += 1;
    if !field.is_empty() {
        column.non_empty += 1;
    }
    column.bytes += field.len() as u64;
    column.chars += field.chars().count() as u64;
    if let Some(value) = parse_integer(field) {
        column.integers += 1;
        column.integer_sum = column.integer_sum.wrapping_add(value);
    }
    column.hash = (column.hash.rotate_left(5) ^ field_hash(field.as_bytes())).wrapping_mul(K2);
}

fn parse_integer(field: &str) -> Option<i64> {
    let digits = field.strip_prefix('-').unwrap_or(field);
    if digits.is_empty() || digits.len() > 18 || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    field.parse::<i64>().ok()
}

fn field_hash(bytes: &[u8]) -> u64 {
    let mut h = K0;
    for chunk in bytes.chunks(8) {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        h = (h ^ u64::from_le_bytes(word)).wrapping_mul(K1);
        h ^= h >> 32;
    }
    h ^ bytes.len() as u64
}
