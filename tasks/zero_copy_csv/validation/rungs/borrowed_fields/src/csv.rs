//! A rung: borrowed fields with a `Vec` per record. Each record becomes a `Vec` of its fields,
//! each a slice of the document (`Cow::Borrowed`) unless it holds `""` and had to be decoded
//! (`Cow::Owned`); no allocation per field, one per record. Fields are still found and folded
//! byte by byte, each in its own pass.

use std::borrow::Cow;

use crate::ColumnStats;

const K0: u64 = 0x9E37_79B9_7F4A_7C15;
const K1: u64 = 0xFF51_AFD7_ED55_8CCD;
const K2: u64 = 0xC4CE_B9FE_1A85_EC53;

pub fn aggregate(doc: &[u8]) -> Vec<ColumnStats> {
    let mut columns: Vec<ColumnStats> = Vec::new();
    let mut pos = 0;
    while pos < doc.len() {
        let (fields, next) = read_record(doc, pos);
        for (i, field) in fields.iter().enumerate() {
            if columns.len() <= i {
                columns.push(ColumnStats::default());
            }
            add_field(&mut columns[i], field);
        }
        pos = next;
    }
    columns
}

fn read_record(doc: &[u8], mut pos: usize) -> (Vec<Cow<'_, [u8]>>, usize) {
    let mut fields = Vec::new();
    loop {
        if pos < doc.len() && doc[pos] == b'"' {
            let start = pos + 1;
            let mut end = start;
            let mut escaped = false;
            loop {
                if doc[end] == b'"' {
                    if end + 1 < doc.len() && doc[end + 1] == b'"' {
                        escaped = true;
                        end += 2;
                        continue;
                    }
                    break;
                }
                end += 1;
            }
            let raw = &doc[start..end];
            fields.push(if escaped { Cow::Owned(unescape(raw)) } else { Cow::Borrowed(raw) });
            pos = end + 1;
        } else {
            let start = pos;
            while pos < doc.len() && !matches!(doc[pos], b',' | b'\r' | b'\n') {
                pos += 1;
            }
            fields.push(Cow::Borrowed(&doc[start..pos]));
        }
        if pos < doc.len() && doc[pos] == b',' {
            pos += 1;
            if pos == doc.len() {
                fields.push(Cow::Borrowed(&doc[pos..])); // "...,": an empty last field
                break;
            }
            continue;
        }
        if pos < doc.len() {
            pos += if doc[pos] == b'\r' { 2 } else { 1 };
        }
        break;
    }
    (fields, pos)
}

fn unescape(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        out.push(raw[i]);
        i += if raw[i] == b'"' { 2 } else { 1 };
    }
    out
}

fn add_field(column: &mut ColumnStats, field: &[u8]) {
    column.fields += 1;
    if !field.is_empty() {
        column.non_empty += 1;
    }
    column.bytes += field.len() as u64;
    column.chars += field.iter().filter(|&&b| b & 0xC0 != 0x80).count() as u64;
    if let Some(value) = parse_integer(field) {
        column.integers += 1;
        column.integer_sum = column.integer_sum.wrapping_add(value);
    }
    column.hash = (column.hash.rotate_left(5) ^ field_hash(field)).wrapping_mul(K2);
}

fn parse_integer(field: &[u8]) -> Option<i64> {
    let (negative, digits) = match field.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, field),
    };
    if digits.is_empty() || digits.len() > 18 || !digits.iter().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value = digits.iter().fold(0i64, |v, &d| v * 10 + (d - b'0') as i64);
    Some(if negative { -value } else { value })
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
