"""Verifier of the adaptive_compression task.

The corpus is drawn here, in the pytest process, from ``submission.seed``: six files from
seeded sources (prose from a grammar with its own vocabulary, a CSV table, binary records,
a service log whose multi-line reports recur far apart, random bytes, and a file that mixes
sections of all of them). Each file is compressed by ``codec.compress`` in its own process
(``run_codec.py``, CPU-time limit) in the submission's sandbox. Each compressed file is then
taken to a fresh sandbox of its own that holds the pristine environment without samples/,
``codec.py`` as it was before the compressor ever ran, and that one compressed file: nothing
else (the small edge cases share one). There it is decompressed and the result compared byte
for byte with the original here.

The total compressed size in bits over the total original size in bytes is reported (bits per
byte); the metric divides the total compressed size by that of zlib level 6 on the same files
(computed here), so that it measures the codec rather than how compressible a seed's corpus
happens to be: the shipped zlib codec scores exactly 1.0 whatever the seed. Only the compressed bytes count, and codec.py (the only place a
dictionary or model could live) is capped at SOURCE_LIMIT bytes.
"""

from __future__ import annotations

import shlex
import zlib

import numpy as np
import pytest

from pytest_autolab import Submission

#: Largest codec.py accepted: whatever the decoder knows beyond the compressed bytes lives here.
SOURCE_LIMIT = 64 * 1024
#: Wall-clock limit of one compress or decompress call, a backstop far above the CPU-time
#: limit (run_codec.CPU_LIMIT_S, 60 s, enforced in the sandbox by the kernel), so that a
#: loaded machine does not fail an honest codec.
WALL_LIMIT_S = 300.0
#: Run in the compressor's sandbox once it is done with.
WIPE = """
find . -mindepth 1 -delete
parent=$(dirname "$PWD")
for folder in "$HOME" "$TMPDIR"; do
    case "$folder" in "$parent"/?*) find "$folder" -mindepth 1 -delete ;; esac
done
"""
#: Inputs that must round-trip but are not measured: the corners of "any bytes".
EDGE_CASES = {
    "empty.bin": b"",
    "one.bin": b"\x00",
    "zeros.bin": bytes(5000),
    "all_bytes.bin": bytes(range(256)) * 8,
    "ramp.bin": bytes((i * 7) % 251 for i in range(3000)),
}

# --- the sources ---------------------------------------------------------------------------------

CONSONANTS = [*list("bcdfghjklmnprstvwz"), "ch", "sh", "th", "qu", "st", "tr", "br", "pl"]
VOWELS = [*list("aeiou"), "ai", "ea", "ou", "ie", "y"]
PUNCT_END = [".", ".", ".", ".", "!", "?"]


def _words(rng: np.random.Generator, n: int, syllables: tuple[int, int]) -> list[str]:
    cons = [CONSONANTS[i] for i in rng.permutation(len(CONSONANTS))[:14]]
    vows = [VOWELS[i] for i in rng.permutation(len(VOWELS))[:6]]
    out: set[str] = set()
    while len(out) < n:
        k = int(rng.integers(syllables[0], syllables[1] + 1))
        w = "".join(cons[int(rng.integers(len(cons)))] + vows[int(rng.integers(len(vows)))] for _ in range(k))
        if rng.random() < 0.3:
            w += cons[int(rng.integers(len(cons)))]
        out.add(w)
    return sorted(out)


def _zipf(rng: np.random.Generator, n: int, a: float = 1.1) -> np.ndarray:
    p = 1.0 / np.arange(1, n + 1) ** a
    p = p[rng.permutation(n)]
    return p / p.sum()


def text(seed: int, size: int) -> bytes:
    """Prose from a seeded grammar: word classes with Zipf vocabularies, nouns that prefer verbs."""
    rng = np.random.default_rng([seed, 11])
    nouns, verbs, adjs = _words(rng, 900, (1, 3)), _words(rng, 400, (1, 3)), _words(rng, 250, (2, 3))
    dets = _words(rng, 6, (1, 1))
    preps = _words(rng, 10, (1, 2))
    advs = [a + "ly" for a in _words(rng, 60, (1, 2))]
    pn, pv, pa = _zipf(rng, len(nouns)), _zipf(rng, len(verbs)), _zipf(rng, len(adjs))
    # each noun favours a few verbs
    favourite = rng.integers(0, len(verbs), (len(nouns), 3))
    out: list[str] = []
    total = 0
    sentence_in_para = 0

    def np_phrase() -> tuple[str, int]:
        words = [dets[int(rng.integers(len(dets)))]]
        while rng.random() < 0.35:
            words.append(adjs[int(rng.choice(len(adjs), p=pa))])
        noun = int(rng.choice(len(nouns), p=pn))
        words.append(nouns[noun])
        if rng.random() < 0.2:
            words += [
                preps[int(rng.integers(len(preps)))],
                dets[int(rng.integers(len(dets)))],
                nouns[int(rng.choice(len(nouns), p=pn))],
            ]
        return " ".join(words), noun

    while total < size:
        subj, noun = np_phrase()
        verb = (
            verbs[int(favourite[noun, int(rng.integers(3))])]
            if rng.random() < 0.7
            else verbs[int(rng.choice(len(verbs), p=pv))]
        )
        parts = [subj, verb]
        if rng.random() < 0.7:
            parts.append(np_phrase()[0])
        if rng.random() < 0.25:
            parts.append(advs[int(rng.integers(len(advs)))])
        if rng.random() < 0.2:
            parts[-1] += ","
            parts += ["and", np_phrase()[0], verbs[int(rng.choice(len(verbs), p=pv))]]
        if rng.random() < 0.05:
            parts.append(str(int(rng.integers(2, 2000))))
        s = " ".join(parts)
        s = s[0].upper() + s[1:] + PUNCT_END[int(rng.integers(len(PUNCT_END)))]
        sentence_in_para += 1
        sep = " "
        if sentence_in_para >= int(rng.integers(3, 8)):
            sep, sentence_in_para = "\n\n", 0
        out.append(s + sep)
        total += len(s) + len(sep)
    return "".join(out).encode()[:size]


def table(seed: int, size: int) -> bytes:
    """A CSV table: ids, dates, a few string columns, a random-walk price, counts, totals."""
    rng = np.random.default_rng([seed, 12])
    regions = _words(rng, 7, (2, 3))
    products = [
        f"{chr(65 + int(rng.integers(26)))}{chr(65 + int(rng.integers(26)))}-{int(rng.integers(1000, 9999))}"
        for _ in range(40)
    ]
    price = rng.uniform(2, 400, len(products))
    lines = ["id,date,region,product,qty,unit_price,total,status"]
    day = int(rng.integers(0, 3000))
    row = int(rng.integers(1000, 90000))
    statuses = ["ok", "ok", "ok", "ok", "late", "returned", "ok", "pending"]
    total = len(lines[0]) + 1
    while total < size:
        row += 1
        if rng.random() < 0.15:
            day += 1
        y, rem = 2001 + day // 365, day % 365
        date = f"{y}-{1 + rem // 31:02d}-{1 + rem % 28:02d}"
        p = int(rng.integers(len(products))) if rng.random() < 0.5 else int(rng.integers(8))
        price[p] = max(0.5, price[p] * np.exp(rng.normal(0, 0.01)))
        qty = int(rng.poisson(4)) + 1
        unit = round(float(price[p]), 2)
        line = f"{row},{date},{regions[int(rng.integers(len(regions)))]},{products[p]},{qty},{unit:.2f},{qty * unit:.2f},{statuses[int(rng.integers(len(statuses)))]}"
        lines.append(line)
        total += len(line) + 1
    return ("\n".join(lines) + "\n").encode()[:size]


def records(seed: int, size: int) -> bytes:
    """Binary records: little-endian uint32 counter, int16 sensor triple (random walks), uint8 flags."""
    rng = np.random.default_rng([seed, 13])
    n = size // 11 + 1
    dtype = np.dtype([("t", "<u4"), ("a", "<i2"), ("b", "<i2"), ("c", "<i2"), ("flag", "u1")])
    rec = np.zeros(n, dtype)
    rec["t"] = int(rng.integers(0, 2**31)) + np.cumsum(rng.integers(1, 40, n))
    for field, sd in (("a", 30), ("b", 8), ("c", 200)):
        rec[field] = np.clip(np.cumsum(rng.normal(0, sd, n)), -32000, 32000).astype(np.int16)
    rec["flag"] = (rng.random(n) < 0.05).astype(np.uint8) * rng.integers(1, 8, n).astype(np.uint8)
    return rec.tobytes()[:size]


def noise(seed: int, size: int) -> bytes:
    """Uniform random bytes: nothing to gain, nothing to lose."""
    return np.random.default_rng([seed, 14]).integers(0, 256, size, dtype=np.uint8).tobytes()


#: The log has a report every REPORT_EVERY lines, of REPORT_LINES lines each: the share of the
#: log that recurs (what a long-range model gains over zlib) is then the same on every seed.
REPORT_EVERY = 33
REPORT_LINES = 19


def logs(seed: int, size: int) -> bytes:
    """A service log: structured lines with random ids, and multi-line reports that come back,
    slightly changed, far away (beyond 32 KB)."""
    rng = np.random.default_rng([seed, 15])
    services = _words(rng, 6, (2, 3))
    paths = ["/" + "/".join(_words(rng, 3, (1, 2))[: int(rng.integers(1, 4))]) for _ in range(30)]
    levels = ["INFO", "INFO", "INFO", "WARN", "DEBUG", "ERROR"]
    methods = ["GET", "GET", "GET", "POST", "PUT", "DELETE"]
    codes = [200, 200, 200, 200, 201, 204, 301, 404, 500]
    vocabulary = _words(rng, 300, (1, 3))
    reports: list[tuple[bytes, int]] = []
    out = bytearray()
    t = int(rng.integers(10**12, 2 * 10**12))
    line_number = 0
    while len(out) < size:
        t += int(rng.integers(1, 4000))
        stamp = f"{t // 1000}.{t % 1000:03d}"
        line_number += 1
        if line_number % REPORT_EVERY == 0:
            old = [r for r in reports if len(out) - r[1] > 32_768]
            if old and len(reports) % 10 < 7:  # seven reports in ten come back once there is a far one
                body = bytearray(old[int(rng.integers(len(old)))][0])
                for _ in range(int(rng.integers(0, 4))):
                    body[int(rng.integers(len(body)))] = int(rng.integers(48, 58))
                body = bytes(body)
            else:
                lines = []
                for _ in range(REPORT_LINES):
                    words = [
                        vocabulary[int(rng.integers(len(vocabulary)))] for _ in range(int(rng.integers(2, 7)))
                    ]
                    lines.append(
                        f"    at {'.'.join(words[:2])}({words[-1]}.src:{int(rng.integers(1, 3000))}) {rng.integers(0, 2**32):08x}"
                    )
                body = ("\n".join(lines) + "\n").encode()
            reports.append((body, len(out)))
            out += (
                f"{stamp} ERROR {services[int(rng.integers(len(services)))]}: report follows\n".encode()
                + body
            )
            continue
        line = (
            f"{stamp} {levels[int(rng.integers(len(levels)))]} {services[int(rng.integers(len(services)))]}: "
            f"{methods[int(rng.integers(len(methods)))]} {paths[int(rng.integers(len(paths)))]} "
            f"{codes[int(rng.integers(len(codes)))]} {int(rng.gamma(2.0, 30.0))}ms id={rng.integers(0, 2**48):012x}\n"
        )
        out += line.encode()
    return bytes(out[:size])


#: (name, generator, size in bytes)
SOURCES = (
    ("text.txt", text, 96_000),
    ("table.csv", table, 96_000),
    ("records.bin", records, 48_000),
    ("logs.txt", logs, 96_000),
    ("noise.bin", noise, 8_000),
)


#: The mixed file's sections as (index into SOURCES, length), in order: every source twice, a
#: fifth of the file each. The same on every seed (only the content is seeded), so that how
#: compressible the mix is does not move with the seed.
MIXED_SECTIONS = (
    *((source, 5_800) for source in range(len(SOURCES))),
    *((source, 3_800) for source in (3, 1, 4, 0, 2)),
)


def mixed(seed: int, size: int) -> bytes:
    """Sections of every source, one after the other; each source's sections are consecutive
    pieces of one stream of its own (drawn from seed + 1: none of it repeats the other files)."""
    need = [sum(length for s, length in MIXED_SECTIONS if s == source) for source in range(len(SOURCES))]
    streams = [gen(seed + 1, n) for (_name, gen, _), n in zip(SOURCES, need, strict=True)]
    taken = [0] * len(SOURCES)
    out = bytearray()
    for source, length in MIXED_SECTIONS:
        out += streams[source][taken[source] : taken[source] + length]
        taken[source] += length
    assert len(out) == size, (len(out), size)
    return bytes(out)


def corpus(seed: int) -> dict[str, bytes]:
    files = {name: gen(seed, size) for name, gen, size in SOURCES}
    files["mixed.dat"] = mixed(seed, 48_000)
    return files


def relative_size(files: dict[str, bytes], compressed_sizes: dict[str, int]) -> float:
    """The metric: total compressed bytes over the total of zlib level 6 on the same files.

    Every byte of the compressed output counts (headers, models, dictionaries it carries); the
    decoder's source does not, but it is capped (SOURCE_LIMIT).
    """
    if set(compressed_sizes) != set(files):
        raise ValueError(f"sizes for {sorted(compressed_sizes)}, files {sorted(files)}")
    zlib_total = sum(len(zlib.compress(data, 6)) for data in files.values())
    return sum(compressed_sizes.values()) / zlib_total


# --- running the codec ---------------------------------------------------------------------------


def run_codec(sandbox: Submission, direction: str, source: str, target: str):
    command = f"python3 run_codec.py {direction} {shlex.quote(source)} {shlex.quote(target)}"
    return sandbox.exec(command, timeout=WALL_LIMIT_S)


def failure(result, what: str) -> str:
    if result.exit_code == 128 + 24:  # SIGXCPU (the local backend also calls it a timeout)
        return f"{what}: ran past the CPU-time limit of 60 s and was stopped"
    if result.timed_out:
        return f"{what}: ran past the wall-clock limit of {WALL_LIMIT_S:.0f} s"
    if result.exit_code == 128 + 9:
        return f"{what}: killed (SIGKILL: the CPU-time limit of 60 s, or memory)"
    return f"{what}: failed ({result.describe()}):\n{result.output[-2000:]}"


@pytest.fixture(scope="module")
def source(submission: Submission) -> bytes:
    """codec.py as submitted, read before any of it runs: the decoder gets this copy."""
    return submission.read_file("codec.py")


@pytest.fixture(scope="module")
def files(submission: Submission) -> dict[str, bytes]:
    return corpus(submission.seed)


@pytest.fixture(scope="module")
def packed(submission: Submission, source: bytes, files: dict[str, bytes]) -> dict[str, bytes | str]:
    """name -> compressed bytes, or the reason there are none."""
    out: dict[str, bytes | str] = {}
    for name, data in {**files, **EDGE_CASES}.items():
        submission.write_file(f"in/{name}", data)
        result = run_codec(submission, "compress", f"in/{name}", f"out/{name}.z")
        if not result.ok:
            out[name] = failure(result, f"compress({name})")
            continue
        try:
            out[name] = submission.read_file(f"out/{name}.z")
        except Exception as exc:
            out[name] = f"compress({name}) wrote no output: {exc}"
    # Nothing of this sandbox is needed any more. Where sandboxes share a file system (the local
    # backend) a decoder could reach it by path: wipe the app dir (the originals with it) and the
    # sandbox's own HOME and TMPDIR, which live beside the app dir there (never anything else).
    submission.exec(WIPE, timeout=60)
    return out


@pytest.fixture(scope="module")
def unpacked(
    submission: Submission, source: bytes, files: dict[str, bytes], packed
) -> dict[str, bytes | str]:
    """name -> the decompressed bytes. Each corpus file is decompressed in a fresh sandbox of its
    own that holds the read-only files (samples/ removed), codec.py as submitted and that one
    compressed file: the decoder never sees an original, a stash, or another file's data. The
    small edge cases, which are not measured, share one."""
    out: dict[str, bytes | str] = {}
    for group in [[name] for name in files] + [list(EDGE_CASES)]:
        blobs = {name: packed[name] for name in group if isinstance(packed.get(name), bytes)}
        if not blobs:
            continue
        fresh = submission.fresh(
            {"codec.py": source, **{f"packed/{name}.z": blob for name, blob in blobs.items()}}
        )
        try:
            fresh.exec("rm -rf samples", timeout=30)
            for name in blobs:
                result = run_codec(fresh, "decompress", f"packed/{name}.z", f"unpacked/{name}")
                if not result.ok:
                    out[name] = failure(result, f"decompress({name}.z)")
                    continue
                try:
                    out[name] = fresh.read_file(f"unpacked/{name}")
                except Exception as exc:
                    out[name] = f"decompress({name}.z) wrote no output: {exc}"
        finally:
            fresh.close()
    return out


# --- tests (the metric test comes last) ----------------------------------------------------------


def test_source_within_size_limit(source: bytes) -> None:
    assert len(source) <= SOURCE_LIMIT, (
        f"codec.py has {len(source)} bytes: at most {SOURCE_LIMIT} are accepted (a model or dictionary the "
        "decoder needs must fit in the source, or travel in the compressed bytes, where it counts)"
    )


def test_compress_runs(packed: dict[str, bytes | str]) -> None:
    problems = [value for value in packed.values() if isinstance(value, str)]
    assert not problems, "\n".join(problems)


def test_round_trip(
    files: dict[str, bytes], packed: dict[str, bytes | str], unpacked: dict[str, bytes | str]
) -> None:
    """Every file, the edge cases included, comes back exactly from its compressed bytes alone."""
    problems = []
    for name, data in {**files, **EDGE_CASES}.items():
        back = unpacked.get(name)
        if not isinstance(packed.get(name), bytes):
            continue  # reported by test_compress_runs
        if isinstance(back, str):
            problems.append(back)
        elif back != data:
            size = len(back) if back is not None else 0
            first = next((i for i in range(min(size, len(data))) if back[i] != data[i]), min(size, len(data)))
            problems.append(
                f"{name}: decompress(compress(data)) differs from data ({size} bytes back, {len(data)} expected; "
                f"first difference at byte {first})"
            )
    assert not problems, "\n".join(problems)


def test_size_relative_to_zlib(
    files: dict[str, bytes], packed: dict[str, bytes | str], record_metric, record_property
) -> None:
    """The metric: total compressed bytes / total bytes of zlib level 6 on the same files."""
    sizes = {name: len(packed[name]) for name in files}  # type: ignore[arg-type]
    zlib_sizes = {name: len(zlib.compress(data, 6)) for name, data in files.items()}
    raw = sum(len(data) for data in files.values())
    report = {
        "bits_per_byte": round(8 * sum(sizes.values()) / raw, 4),
        "zlib_bits_per_byte": round(8 * sum(zlib_sizes.values()) / raw, 4),
        "bits_per_byte_by_file": {name: round(8 * sizes[name] / len(files[name]), 4) for name in files},
    }
    record_property("adaptive_compression", report)
    print(f"adaptive_compression: {report}")
    record_metric(relative_size(files, sizes))
