//! The baseline (editable): parse the whole document into records of owned fields, a `String`
//! per field and a `Vec` per record, then aggregate them column by column.

use crate::ColumnStats;

const K0: u64 = 0x9E37_79B9_7F4A_7C15;
const K1: u64 = 0xFF51_AFD7_ED55_8CCD;
const K2: u64 = 0xC4CE_B9FE_1A85_EC53;

/// The aggregates of every column of `doc` (a document of the dialect, valid UTF-8).
pub fn aggregate(doc: &[u8]) -> Vec<ColumnStats> {
    let records = parse(doc);
    let mut columns: Vec<ColumnStats> = Vec::new();
    for record in &records {
        for (i, field) in record.iter().enumerate() {
            if columns.len() <= i {
                columns.push(ColumnStats::default());
            }
            add_field(&mut columns[i], field);
        }
    }
    columns
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a field.
    FieldStart,
    /// Inside an unquoted field.
    Unquoted,
    /// Inside a quoted field.
    Quoted,
    /// Just after a `"` inside a quoted field: the end of the field, or the first of `""`.
    QuoteInQuoted,
}

/// Every record of the document, each a list of its fields' contents.
fn parse(doc: &[u8]) -> Vec<Vec<String>> {
    let mut records: Vec<Vec<String>> = Vec::new();
    let mut record: Vec<String> = Vec::new();
    let mut field: Vec<u8> = Vec::new();
    let mut state = State::FieldStart;
    let mut i = 0;
    while i < doc.len() {
        let b = doc[i];
        match state {
            State::FieldStart | State::Unquoted | State::QuoteInQuoted if b == b',' => {
                record.push(finish_field(&mut field));
                state = State::FieldStart;
            }
            State::FieldStart | State::Unquoted | State::QuoteInQuoted if b == b'\n' || b == b'\r' => {
                if b == b'\r' {
                    i += 1; // the '\n' of "\r\n"
                }
                record.push(finish_field(&mut field));
                records.push(std::mem::take(&mut record));
                state = State::FieldStart;
            }
            State::FieldStart if b == b'"' => state = State::Quoted,
            State::FieldStart | State::Unquoted => {
                field.push(b);
                state = State::Unquoted;
            }
            State::Quoted if b == b'"' => state = State::QuoteInQuoted,
            State::Quoted => field.push(b),
            State::QuoteInQuoted => {
                field.push(b'"'); // the second quote of ""
                state = State::Quoted;
            }
        }
        i += 1;
    }
    // A last record without a line terminator (a document that ends with one is done already).
    if state != State::FieldStart || !record.is_empty() {
        record.push(finish_field(&mut field));
        records.push(record);
    }
    records
}

fn finish_field(field: &mut Vec<u8>) -> String {
    String::from_utf8(std::mem::take(field)).expect("the document is valid UTF-8")
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

/// An optional '-' and 1 to 18 ASCII digits, nothing else.
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
