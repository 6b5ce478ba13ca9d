//! The crate root (read-only): the interface between the C harness (main.c) and `csv::aggregate`.
//!
//! `src/csv.rs` is the only editable file. It is compiled as a module of this crate under
//! `#[forbid(unsafe_code)]`: no `unsafe` block, function or impl, and no `#[no_mangle]`,
//! `#[export_name]` or `#[link_section]` can be allowed back inside it.

#[forbid(unsafe_code)]
mod csv;

use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// The aggregates of one column: the i-th field of every record that has at least i + 1 fields.
/// A field's "contents" are its bytes with the enclosing quotes removed and each `""` inside a
/// quoted field read as one `"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ColumnStats {
    /// Records that have this column.
    pub fields: u64,
    /// Of those fields, the ones whose contents are not empty.
    pub non_empty: u64,
    /// Total length of the contents, in bytes.
    pub bytes: u64,
    /// Total length of the contents, in Unicode code points (the document is valid UTF-8).
    pub chars: u64,
    /// Fields whose whole contents are an integer: an optional `-` and 1 to 18 ASCII digits.
    pub integers: u64,
    /// The sum of those integers, wrapping around as a signed 64-bit integer.
    pub integer_sum: i64,
    /// The column hash of the contents in record order (see instruction.md).
    pub hash: u64,
}

/// Counts every allocation, so that the harness can report how many the submission made.
struct CountingAllocator;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static ALLOCATED_BYTES: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        ALLOCATED_BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        ALLOCATED_BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        System.alloc_zeroed(layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        ALLOCATED_BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// The text the harness writes for one document: a header line, then one line per column.
fn format_stats(columns: &[ColumnStats]) -> Vec<u8> {
    let mut text = String::new();
    let _ = writeln!(text, "columns {}", columns.len());
    for (i, c) in columns.iter().enumerate() {
        let _ = writeln!(
            text,
            "{} fields={} non_empty={} bytes={} chars={} integers={} integer_sum={} hash={:016x}",
            i, c.fields, c.non_empty, c.bytes, c.chars, c.integers, c.integer_sum, c.hash
        );
    }
    text.into_bytes()
}

/// Called by main.c once per document: aggregates `doc[..len]` and returns the formatted result
/// (which stays allocated; `*out_len` receives its length). `*allocations` and `*allocated_bytes`
/// receive what `csv::aggregate` allocated (allocations and reallocations, and their bytes).
///
/// # Safety
/// `doc` must point to `len` readable bytes; the three out-pointers must be valid.
#[no_mangle]
pub unsafe extern "C" fn csvagg_aggregate(
    doc: *const u8,
    len: usize,
    out_len: *mut usize,
    allocations: *mut u64,
    allocated_bytes: *mut u64,
) -> *const u8 {
    let doc: &[u8] = if len == 0 { &[] } else { std::slice::from_raw_parts(doc, len) };
    let (count0, bytes0) = (ALLOCATIONS.load(Ordering::Relaxed), ALLOCATED_BYTES.load(Ordering::Relaxed));
    let columns = csv::aggregate(doc);
    *allocations = ALLOCATIONS.load(Ordering::Relaxed) - count0;
    *allocated_bytes = ALLOCATED_BYTES.load(Ordering::Relaxed) - bytes0;
    let text = format_stats(&columns).into_boxed_slice();
    *out_len = text.len();
    Box::leak(text).as_ptr()
}
