"""The trusted reference of the zero_copy_csv task (read-only): parser, aggregates, generator.

    python3 csvref.py gen SEED FILE         write a document in the benchmark's distribution
    python3 csvref.py stats FILE            print its aggregates, as ./csvagg run prints them
    python3 csvref.py check FILE OUT        compare ./csvagg's output OUT with the aggregates

The verifier uses this same module (its pristine copy) to compute the expected aggregates.
Pure Python with numpy, no other dependency.
"""

from __future__ import annotations

import dataclasses
import re
import struct
import sys

import numpy as np

__all__ = [
    "ColumnStats",
    "MalformedDocument",
    "aggregate",
    "benchmark_records",
    "encode",
    "field_hash",
    "format_stats",
    "parse",
]

MASK = (1 << 64) - 1
#: The constants of the field hash and of the column hash (see instruction.md).
K0 = 0x9E3779B97F4A7C15
K1 = 0xFF51AFD7ED558CCD
K2 = 0xC4CEB9FE1A85EC53
#: An integer field: an optional minus sign and 1 to 18 ASCII digits, nothing else.
INTEGER = re.compile(rb"-?[0-9]{1,18}")
#: A field at the start of the rest of a record: quoted (with "" for a quote inside) or not.
FIELD = re.compile(rb'"((?:[^"]+|"")*)"|([^,"\r\n]*)')


class MalformedDocument(ValueError):
    """The bytes are not a document of the dialect (the generators never produce one)."""


@dataclasses.dataclass
class ColumnStats:
    """The aggregates of one column (the i-th field of every record that has one)."""

    fields: int = 0  # records with this column
    non_empty: int = 0  # of those fields, the ones with at least one byte
    bytes: int = 0  # total length of the fields' contents, in bytes (quotes removed, "" -> ")
    chars: int = 0  # total length in Unicode code points
    integers: int = 0  # fields that are integers (INTEGER, the whole field)
    integer_sum: int = 0  # their sum, wrapping as a signed 64-bit integer
    hash: int = 0  # the column hash over the fields in record order

    def add(self, field: bytes) -> None:
        self.fields += 1
        self.non_empty += bool(field)
        self.bytes += len(field)
        self.chars += len(field) - sum(1 for b in field if b & 0xC0 == 0x80)
        if INTEGER.fullmatch(field):
            self.integers += 1
            self.integer_sum = wrap_i64(self.integer_sum + int(field))
        self.hash = combine(self.hash, field_hash(field))


def wrap_i64(x: int) -> int:
    x &= MASK
    return x - (1 << 64) if x >> 63 else x


def field_hash(field: bytes) -> int:
    """h = K0; for every 8-byte little-endian word w of the field (the last one zero-padded):
    h = (h ^ w) * K1 mod 2^64, h ^= h >> 32; then h ^ len(field)."""
    h = K0
    padded = field + b"\0" * (-len(field) % 8)
    for (word,) in struct.iter_unpack("<Q", padded):
        h = ((h ^ word) * K1) & MASK
        h ^= h >> 32
    return h ^ len(field)


def combine(column_hash: int, fh: int) -> int:
    """The column hash after one more field: (rotate_left(c, 5) ^ field_hash) * K2 mod 2^64."""
    rotated = ((column_hash << 5) | (column_hash >> 59)) & MASK
    return ((rotated ^ fh) * K2) & MASK


# --- the dialect ----------------------------------------------------------------------------------


def parse(doc: bytes) -> list[list[bytes]]:
    """The records of a document, each a list of field contents.

    A document is a sequence of records, each ended by "\\n" or "\\r\\n", except that the last one
    may end at the end of the document instead; so "" has no records, "\\n" one (a single empty
    field) and "a\\n\\nb" three. A record is fields separated by ",". A field is either unquoted
    (any bytes but , " \\r \\n) or quoted: a " , then any bytes with each " doubled, then a ".
    """
    records: list[list[bytes]] = []
    pos, end = 0, len(doc)
    while pos < end:
        record = []
        while True:
            m = FIELD.match(doc, pos)
            assert m is not None  # the unquoted alternative matches the empty string
            quoted = m.group(1)
            record.append(quoted.replace(b'""', b'"') if quoted is not None else m.group(2))
            pos = m.end()
            if pos < end and doc[pos] == 0x2C:  # ","
                pos += 1
                continue
            break
        records.append(record)
        if pos == end:
            break
        if doc.startswith(b"\r\n", pos):
            pos += 2
        elif doc[pos] == 0x0A:
            pos += 1
        else:
            raise MalformedDocument(f"unexpected byte {doc[pos : pos + 1]!r} at offset {pos}")
    return records


def needs_quotes(field: bytes) -> bool:
    return any(c in field for c in b',"\r\n')


def encode(
    records: list[list[bytes]],
    *,
    terminators: list[bytes] | None = None,
    quote: list[list[bool]] | None = None,
    trailing: bool = True,
) -> bytes:
    """The document of ``records``: each record ended by its terminator ("\\n" or "\\r\\n"), the
    last one only if ``trailing``. A field is quoted when it must be or ``quote`` says so; a last
    record that is one empty field is quoted when no terminator follows it (else it would vanish)."""
    out = []
    for i, record in enumerate(records):
        last = i == len(records) - 1
        parts = []
        for j, field in enumerate(record):
            force = bool(quote and quote[i][j]) or (last and not trailing and record == [b""])
            if force or needs_quotes(field):
                parts.append(b'"' + field.replace(b'"', b'""') + b'"')
            else:
                parts.append(field)
        out.append(b",".join(parts))
        if not last or trailing:
            out.append(terminators[i] if terminators else b"\n")
    return b"".join(out)


def aggregate(records: list[list[bytes]]) -> list[ColumnStats]:
    columns: list[ColumnStats] = []
    for record in records:
        while len(columns) < len(record):
            columns.append(ColumnStats())
        for column, field in zip(columns, record, strict=False):
            column.add(field)
    return columns


def format_stats(columns: list[ColumnStats]) -> str:
    """The text ./csvagg run writes: a header line, then one line per column."""
    lines = [f"columns {len(columns)}"]
    for i, c in enumerate(columns):
        lines.append(
            f"{i} fields={c.fields} non_empty={c.non_empty} bytes={c.bytes} chars={c.chars} "
            f"integers={c.integers} integer_sum={c.integer_sum} hash={c.hash:016x}"
        )
    return "\n".join(lines) + "\n"


# --- the benchmark's documents ----------------------------------------------------------------------

LATIN = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
ACCENTED = "éèêëàâäôöûüùçñøåæœßÉÀÖÜÑ"
GREEK_CYRILLIC = "αβγδεζηθλμπσφψωЖЗИЙКЛМНОПРСТУФХЦЧШЩЭЮЯжзийклмн"
CJK = "日本語中文字漢한국어가나다라"
EMOJI = "😀🚀🌍🎉✨🔥💡🐍🦀"
PUNCT = " .;:!?-_/()'"


def _text(rng: np.random.Generator, alphabet: str, lo: int, hi: int) -> str:
    n = int(rng.integers(lo, hi + 1))
    return "".join(alphabet[i] for i in rng.integers(0, len(alphabet), size=n))


def _pool(rng: np.random.Generator, size: int, make) -> list[bytes]:
    return [make(rng).encode() for _ in range(size)]


def _amount(rng: np.random.Generator) -> str:
    kind = int(rng.integers(0, 100))
    if kind < 70:
        return str(int(rng.integers(-99_999, 100_000)))
    if kind < 78:
        return f"{int(rng.integers(-9999, 10000)) / 100:.2f}"
    if kind < 84:
        return str(int(rng.integers(-(10**18) + 1, 10**18)))  # 18 digits at most: an integer
    if kind < 88:
        return str(int(rng.integers(10**18, 2**63, dtype=np.uint64)))  # 19 digits: not an integer
    if kind < 92:
        return str(rng.choice(["+5", "007", "-0", " 42", "42 ", "1e3", "-", "--1", "0x1F", "１２"]))
    return ""


def _comment(rng: np.random.Generator) -> str:
    words = [_text(rng, LATIN + ACCENTED, 1, 9) for _ in range(int(rng.integers(0, 9)))]
    text = " ".join(words)
    if rng.integers(0, 3) == 0:
        text = text.replace(" ", ", ", 1)
    if rng.integers(0, 4) == 0:
        text = f'he said "{text}"' if rng.integers(0, 2) else f'{text} 5" tall'
    return text


def _notes(rng: np.random.Generator, kind: int) -> str:
    """A notes field of the given kind (0..999): empty, a short line, a few lines, or (the top
    half-percent) a few kilobytes of lines, whose length is set by the kind alone."""
    if kind < 600:
        return ""
    if kind < 940:
        return _text(rng, LATIN + PUNCT + GREEK_CYRILLIC, 1, 40)
    lines = [_text(rng, LATIN + PUNCT + ACCENTED + EMOJI, 0, 60) for _ in range(int(rng.integers(2, 6)))]
    text = "".join(line + ("\r\n" if rng.integers(0, 3) == 0 else "\n") for line in lines)
    if kind >= 995 and text.strip():  # a long field: 1,500 to 5,700 characters
        want = 1500 + (kind - 995) * 1050
        text = (text * (want // len(text) + 1))[:want]
    return text


def _kinds(rng: np.random.Generator, size: int, span: int) -> np.ndarray:
    """``size`` kinds spread evenly over 0..span-1, shuffled: every seed's pool has the same mix
    (the document's size, hence the baseline's count, barely moves between seeds)."""
    return rng.permutation(np.arange(size) * span // size)


def _uses(rng: np.random.Generator, pool_size: int, records: int) -> np.ndarray:
    """Which pool entry each record uses: every entry equally often, in a random order."""
    return rng.permutation(np.resize(np.arange(pool_size), records))


def benchmark_records(
    seed: int, records: int = 100_000
) -> tuple[list[list[bytes]], list[bytes], list[list[bool]]]:
    """The records of the benchmark document, their terminators and which fields are quoted
    though they need not be. Eight columns: an id, a code, a name in many scripts, an amount
    (integers, decimals, near-integers), a comment (commas and quotes), a flag (mostly empty),
    notes (sometimes several lines, now and then kilobytes long) and a date; 2% of the records
    are short of 1 to 3 fields and 1% have 1 or 2 more."""
    rng = np.random.default_rng([seed, 0xC5F])
    code = _pool(rng, 500, lambda r: _text(r, LATIN + "_", 2, 10))
    name = _pool(rng, 3000, lambda r: _text(r, LATIN + ACCENTED + GREEK_CYRILLIC + CJK + EMOJI + " ", 2, 18))
    amount = _pool(rng, 5000, _amount)
    comment = _pool(rng, 5000, _comment)
    notes = [_notes(rng, int(kind)).encode() for kind in _kinds(rng, 3000, 1000)]
    date = _pool(
        rng,
        1000,
        lambda r: f"20{int(r.integers(0, 30)):02d}-{int(r.integers(1, 13)):02d}-{int(r.integers(1, 29)):02d}",
    )
    flag = [b"", b"", b"", b"", b"Y", b"N", b"y"]
    extra = _pool(rng, 100, lambda r: _text(r, LATIN, 0, 6))
    pools = [code, name, amount, comment, flag, notes, date]
    picks = [_uses(rng, len(p), records) for p in pools]
    shape = rng.integers(0, 100, size=records)
    short = rng.integers(1, 4, size=records)
    crlf = rng.integers(0, 10, size=records) < 3
    quoted = rng.integers(0, 100, size=(records, 10)) < 4
    out, terminators, quote = [], [], []
    for i in range(records):
        record = [str(i).encode()] + [pool[pick[i]] for pool, pick in zip(pools, picks, strict=False)]
        if shape[i] < 2:
            record = record[: 8 - short[i]]
        elif shape[i] < 3:
            record += extra[i % 100 : i % 100 + 1 + i % 2]
        out.append(record)
        terminators.append(b"\r\n" if crlf[i] else b"\n")
        quote.append(quoted[i, : len(record)].tolist())
    return out, terminators, quote


def benchmark_document(seed: int) -> tuple[bytes, list[list[bytes]]]:
    records, terminators, quote = benchmark_records(seed)
    return encode(records, terminators=terminators, quote=quote, trailing=True), records


def main(argv: list[str]) -> int:
    if len(argv) == 4 and argv[1] == "gen":
        doc, _ = benchmark_document(int(argv[2]))
        with open(argv[3], "wb") as f:
            f.write(doc)
        return 0
    if len(argv) == 3 and argv[1] == "stats":
        with open(argv[2], "rb") as f:
            sys.stdout.write(format_stats(aggregate(parse(f.read()))))
        return 0
    if len(argv) == 4 and argv[1] == "check":
        with open(argv[2], "rb") as f:
            want = format_stats(aggregate(parse(f.read())))
        with open(argv[3], encoding="utf-8", errors="replace") as f:
            got = f.read()
        if got == want:
            print("ok")
            return 0
        for g, w in zip(got.splitlines() + [""] * 99, want.splitlines(), strict=False):
            if g != w:
                print(f"FAIL: got      {g!r}\n      expected {w!r}")
                break
        else:
            print(f"FAIL: got {len(got.splitlines())} lines, expected {len(want.splitlines())}")
        return 1
    print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
