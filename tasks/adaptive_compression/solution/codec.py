"""Reference codec: long-range matches, then bitwise context mixing with rANS, lane-parallel.

1. Long repeats (64 bytes or more, at any distance) are found with a rolling hash and
   sent as (position, source, length) triples; only the other bytes ("literals") go on.
2. The literals are cut into LANES contiguous segments that are coded side by side, one
   bit of every lane per step, so that each step is a handful of numpy operations on
   vectors of lanes instead of Python work per bit. The model is shared by all lanes: every
   step reads it and then updates it with every lane's bit, the same way on both sides.
3. The model predicts each bit (most significant first) from contexts of order 0-4 and 6 and
   a word context (the letters since the last non-letter), each an adaptive probability
   with a count-based learning rate in one hashed table; a gated linear mixer in the
   logistic domain (weights selected by the partial byte) combines them, and an adaptive
   probability map refines the result by order-1 context.
4. Each lane's bits are coded by binary rANS (12-bit probabilities, 32-bit state, 16-bit
   words); the encoder runs the model forward, then codes backwards.

Everything is integer arithmetic, so the encoder and the decoder compute bit-identical
probabilities. Raw storage is the fallback when modelling does not pay (random bytes).
"""

from __future__ import annotations

import numpy as np

MIN_MATCH = 64
WINDOW = 32
LANE_BYTES = 1536
MAX_LANES = 64
TABLE_BITS = 22
PROB_BITS = 12
RANS_L = 1 << 16

_MASK64 = (1 << 64) - 1


# --- integer logistic tables (lpaq style) -------------------------------------------------------


def _squash_table() -> np.ndarray:
    x = np.arange(-2047, 2048, dtype=np.float64)
    return np.clip(np.round(4096.0 / (1.0 + np.exp(-x / 256.0))), 1, 4095).astype(np.int64)


SQUASH = _squash_table()  # index d + 2047, d in [-2047, 2047] -> p in [1, 4095]
STRETCH = np.clip(np.searchsorted(SQUASH, np.arange(4096), side="left") - 2047, -2047, 2047).astype(np.int64)


def squash(d: np.ndarray) -> np.ndarray:
    return SQUASH[np.clip(d, -2047, 2047) + 2047]


# adaptive rate: p += (target - p) * RECIP[n] >> 16, n counts up to COUNT_LIMIT
COUNT_LIMIT = 60
MIXER_RATE = 24
APM_RATE = 6
RECIP = (65536.0 / (np.arange(COUNT_LIMIT + 1) + 1.6)).astype(np.int64)


# --- varints --------------------------------------------------------------------------------------


def _put(out: bytearray, value: int) -> None:
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def _get(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


# --- stage 1: long matches --------------------------------------------------------------------------


def _window_hashes(data: np.ndarray) -> np.ndarray:
    """A 64-bit polynomial hash of every WINDOW-byte window (uint64 arithmetic wraps)."""
    n = len(data) - WINDOW + 1
    h = np.zeros(n, dtype=np.uint64)
    base = np.uint64(0x100000001B3)
    with np.errstate(over="ignore"):
        for j in range(WINDOW):
            h = h * base + data[j : j + n].astype(np.uint64)
    return h


def find_matches(raw: bytes) -> list[tuple[int, int, int]]:
    """Greedy (position, source, length) repeats of at least MIN_MATCH bytes, source < position."""
    n = len(raw)
    if n < 2 * MIN_MATCH:
        return []
    data = np.frombuffer(raw, dtype=np.uint8)
    h = _window_hashes(data)
    anchors: dict[int, int] = {}
    for p in range(0, len(h), WINDOW // 2):
        anchors.setdefault(int(h[p]), p)
    keys = np.fromiter(anchors.keys(), dtype=np.uint64, count=len(anchors))
    candidates = np.flatnonzero(np.isin(h, keys))
    matches: list[tuple[int, int, int]] = []
    covered = 0
    for i in candidates.tolist():
        if i < covered:
            continue
        src = anchors[int(h[i])]
        if src + WINDOW > i or raw[src : src + WINDOW] != raw[i : i + WINDOW]:
            continue
        length = WINDOW
        while i + length < n and raw[src + length] == raw[i + length] and src + length < i:
            length += 1
        back = 0
        while back < src and i - back > covered and raw[src - back - 1] == raw[i - back - 1]:
            back += 1
        if length + back >= MIN_MATCH:
            matches.append((i - back, src - back, length + back))
            covered = i + length
    return matches


# --- stage 2: the model -----------------------------------------------------------------------------

N_INPUTS = 9  # orders 0, 1, 2, 3, 4, 6, the word context and two record contexts
N_HASHED = 7
_HASHED_BASE = 256 + 65536
_MUL = np.uint64(0x9E3779B97F4A7C15)
_SALT = np.array(
    [0x51ED27, 0x2F0F3D1, 0x6F4F2A7, 0x1F3D5B7, 0x3A9E6B1, 0x7A3B9D1, 0x4C1F2E9], dtype=np.uint64
)


class Model:
    """Model state shared by all lanes, updated after every step in the same way on both sides."""

    def __init__(self, lanes: int, buffer: np.ndarray, period: int) -> None:
        self.buffer = buffer  # (lanes, per) bytes coded so far, for the record contexts
        self.period = period
        self.pos = 0
        size = _HASHED_BASE + N_HASHED * (1 << TABLE_BITS)
        self.prob = np.full(size, 32768, dtype=np.uint16)
        self.count = np.zeros(size, dtype=np.uint8)
        self.offsets = (_HASHED_BASE + np.arange(N_HASHED) * (1 << TABLE_BITS)).astype(np.int64)
        self.weights = np.full((256, N_INPUTS), 20000, dtype=np.int64)
        buckets = np.linspace(-2047, 2047, 33)
        start = np.round(np.interp(buckets, np.arange(-2047, 2048), SQUASH) * 16).astype(np.int64)
        self.apm = np.tile(start, (65536, 1))
        self.lanes = lanes
        self.hist = np.zeros((lanes, 6), dtype=np.uint64)  # previous bytes, most recent first
        self.word = np.zeros(lanes, dtype=np.uint64)
        self.hashes = np.zeros((lanes, N_HASHED), dtype=np.uint64)
        self.c0 = np.ones(lanes, dtype=np.int64)
        self.idx = np.zeros((lanes, N_INPUTS), dtype=np.int64)
        self._byte_contexts()

    def _byte_contexts(self) -> None:
        h = self.hist
        eight = np.uint64(8)
        with np.errstate(over="ignore"):
            o2 = h[:, 0] | h[:, 1] << eight
            o3 = o2 | h[:, 2] << np.uint64(16)
            o4 = o3 | h[:, 3] << np.uint64(24)
            o6 = o4 | h[:, 4] << np.uint64(32) | h[:, 5] << np.uint64(40)
            r = self.period
            above = self.buffer[:, self.pos - r].astype(np.uint64) if self.pos >= r else np.zeros_like(o2)
            above2 = (
                self.buffer[:, self.pos - 2 * r].astype(np.uint64) if self.pos >= 2 * r else np.zeros_like(o2)
            )
            column = np.uint64(self.pos % r)
            rec1 = above | above2 << eight | column << np.uint64(16)
            rec2 = above | h[:, 0] << eight | column << np.uint64(16)
            for k, ctx in enumerate((o2, o3, o4, o6, self.word, rec1, rec2)):
                self.hashes[:, k] = (ctx + _SALT[k]) * _MUL
        self.order1 = 256 + (h[:, 0].astype(np.int64) << 8)

    def predict(self) -> np.ndarray:
        c0 = self.c0
        idx = self.idx
        idx[:, 0] = c0
        idx[:, 1] = self.order1 + c0
        with np.errstate(over="ignore"):
            mixed = (self.hashes ^ (c0[:, None].astype(np.uint64) * np.uint64(0x2545F4914F6CDD1D))) * _MUL
        idx[:, 2:] = (mixed >> np.uint64(64 - TABLE_BITS)).astype(np.int64) + self.offsets
        p = self.prob[idx].astype(np.int64) >> 4  # 12 bits
        self.st = STRETCH[p]
        dot = (self.weights[c0] * self.st).sum(axis=1) >> 16
        self.pm = squash(dot)
        # adaptive probability map by order-1 context: 33 buckets of the mixer's output
        s = np.clip(dot, -2047, 2047) + 2047
        self.apm_lo = s >> 7
        self.apm_w = s & 127
        self.apm_row = (self.hist[:, 0].astype(np.int64) << 8) | c0
        lo = self.apm[self.apm_row, self.apm_lo]
        hi = self.apm[self.apm_row, self.apm_lo + 1]
        pa = (lo * (128 - self.apm_w) + hi * self.apm_w) >> 11
        return np.clip((self.pm + 3 * pa) >> 2, 1, 4095)

    def update(self, bit: np.ndarray, active: np.ndarray) -> None:
        y = bit[active]
        # Counts and probabilities: lanes that share a table entry in this step are one batch
        # of k observations, p <- (p * (n + 1.6) + 65536 * ones) / (n + k + 1.6).
        flat = self.idx[active].ravel()
        ys = np.repeat(y, N_INPUTS)
        entries, inverse = np.unique(flat, return_inverse=True)
        k = np.bincount(inverse).astype(np.int64)
        ones = np.bincount(inverse, weights=ys).astype(np.int64)
        n = self.count[entries].astype(np.int64)
        p = self.prob[entries].astype(np.int64)
        step = ((ones << 16) - k * p) * 16 // ((np.minimum(n, COUNT_LIMIT) + k) * 16 + 26)
        self.prob[entries] = np.clip(p + step, 0, 65535).astype(np.uint16)
        self.count[entries] = np.minimum(n + k, COUNT_LIMIT).astype(np.uint8)
        # mixer: the lanes' gradients add up
        c0 = self.c0[active]
        err = ((y << 12) - self.pm[active]) * MIXER_RATE
        np.add.at(self.weights, c0, (self.st[active] * err[:, None]) >> 14)
        row, lo, w = self.apm_row[active], self.apm_lo[active], self.apm_w[active]
        target = y << 16
        for col, share in ((lo, 128 - w), (lo + 1, w)):
            cur = self.apm[row, col]
            np.add.at(self.apm, (row, col), (((target - cur) >> APM_RATE) * share) >> 7)
        self.c0 = self.c0 * 2 + bit
        if self.c0[0] >= 256:
            byte = (self.c0 - 256).astype(np.uint64)
            self.hist[:, 1:] = self.hist[:, :-1]
            self.hist[:, 0] = byte
            lower = byte | np.uint64(32)
            letter = (lower >= np.uint64(97)) & (lower <= np.uint64(122))
            with np.errstate(over="ignore"):
                self.word = np.where(letter, (self.word + lower) * np.uint64(0x2F0F3D1), np.uint64(0))
            self.c0 = np.ones(self.lanes, dtype=np.int64)
            self.pos += 1
            if self.pos < self.buffer.shape[1]:
                self.buffer[:, self.pos - 1] = byte.astype(np.uint8)
            self._byte_contexts()


def _lanes(n: int) -> tuple[int, int]:
    lanes = max(1, min(MAX_LANES, n // LANE_BYTES))
    return lanes, -(-n // lanes)


def find_period(data: np.ndarray) -> int:
    """The record length (2..64) at which bytes most often repeat, for the record contexts."""
    if len(data) < 256:
        return 2
    rates = [np.count_nonzero(data[r:] == data[:-r]) / (len(data) - r) for r in range(2, 65)]
    best = 2 + int(np.argmax(rates))
    # a multiple of the record length can edge out the length itself (55 for 11-byte records
    # in a mixed file): take the smallest divisor that does almost as well
    for r in range(2, best):
        if best % r == 0 and rates[r - 2] >= 0.95 * rates[best - 2]:
            return r
    return best


def _encode_literals(lit: bytes) -> bytes:
    n = len(lit)
    lanes, per = _lanes(n)
    padded = np.zeros(lanes * per, dtype=np.uint8)
    padded[:n] = np.frombuffer(lit, dtype=np.uint8)
    grid = padded.reshape(lanes, per)
    lengths = np.clip(n - np.arange(lanes) * per, 0, per)
    period = find_period(padded[:n])
    model = Model(lanes, np.zeros((lanes, per), dtype=np.uint8), period)
    steps = per * 8
    probs = np.zeros((steps, lanes), dtype=np.int64)
    bits = np.zeros((steps, lanes), dtype=np.int64)
    for pos in range(per):
        active = lengths > pos
        byte = grid[:, pos].astype(np.int64)
        for b in range(7, -1, -1):
            t = pos * 8 + 7 - b
            bit = (byte >> b) & 1
            probs[t] = model.predict()
            bits[t] = bit
            model.update(bit, active)
    # rANS, backwards
    x = np.full(lanes, RANS_L, dtype=np.uint64)
    words: list[list[int]] = [[] for _ in range(lanes)]
    emitted_lane: list[np.ndarray] = []
    emitted_word: list[np.ndarray] = []
    for t in range(steps - 1, -1, -1):
        active = lengths > t // 8
        p1 = probs[t].astype(np.uint64)
        one = bits[t] == 1
        freq = np.where(one, p1, np.uint64(4096) - p1)
        start = np.where(one, np.uint64(4096) - p1, np.uint64(0))
        limit = freq << np.uint64(20)
        out = active & (x >= limit)
        if out.any():
            emitted_lane.append(np.flatnonzero(out))
            emitted_word.append((x[out] & np.uint64(0xFFFF)).astype(np.uint16))
            x[out] >>= np.uint64(16)
        xa = x[active]
        fa = freq[active]
        x[active] = ((xa // fa) << np.uint64(PROB_BITS)) + (xa % fa) + start[active]
    if emitted_lane:
        lane_of = np.concatenate(emitted_lane)
        word_of = np.concatenate(emitted_word)
    else:
        lane_of = np.zeros(0, dtype=np.int64)
        word_of = np.zeros(0, dtype=np.uint16)
    out = bytearray()
    _put(out, n)
    _put(out, period)
    for j in range(lanes):
        mine = word_of[lane_of == j][::-1]  # the decoder reads them in reverse order of emission
        words[j] = mine
        _put(out, len(mine))
        out += int(x[j]).to_bytes(4, "little")
    for j in range(lanes):
        out += np.asarray(words[j], dtype="<u2").tobytes()
    return bytes(out)


def _decode_literals(blob: bytes, pos: int) -> tuple[bytes, int]:
    n, pos = _get(blob, pos)
    period, pos = _get(blob, pos)
    lanes, per = _lanes(n)
    counts = np.zeros(lanes, dtype=np.int64)
    x = np.zeros(lanes, dtype=np.uint64)
    for j in range(lanes):
        counts[j], pos = _get(blob, pos)
        x[j] = int.from_bytes(blob[pos : pos + 4], "little")
        pos += 4
    total = int(counts.sum())
    stream = np.frombuffer(blob[pos : pos + 2 * total], dtype="<u2").astype(np.uint64)
    pos += 2 * total
    read = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)  # next word of each lane
    lengths = np.clip(n - np.arange(lanes) * per, 0, per)
    out = np.zeros((lanes, per), dtype=np.uint8)
    model = Model(lanes, out, period)
    mask = np.uint64((1 << PROB_BITS) - 1)
    for p in range(per):
        active = lengths > p
        for _ in range(8):
            p1 = model.predict().astype(np.uint64)
            slot = x & mask
            one = slot >= (np.uint64(4096) - p1)
            freq = np.where(one, p1, np.uint64(4096) - p1)
            start = np.where(one, np.uint64(4096) - p1, np.uint64(0))
            new = freq * (x >> np.uint64(PROB_BITS)) + slot - start
            x = np.where(active, new, x)
            need = active & (x < np.uint64(RANS_L))
            if need.any():
                x[need] = (x[need] << np.uint64(16)) | stream[read[need]]
                read[need] += 1
            bit = one.astype(np.int64) & active
            model.update(bit, active)
        out[:, p] = model.hist[:, 0].astype(np.uint8)
    return out.reshape(-1)[:n].tobytes(), pos


# --- container ----------------------------------------------------------------------------------------


def compress(data: bytes) -> bytes:
    matches = find_matches(data)
    head = bytearray(b"\x01")
    _put(head, len(data))
    _put(head, len(matches))
    literals = bytearray()
    last = 0
    for at, src, length in matches:
        _put(head, at - last)
        _put(head, src)
        _put(head, length)
        literals += data[last:at]
        last = at + length
    literals += data[last:]
    packed = bytes(head) + _encode_literals(bytes(literals))
    if len(packed) >= len(data) + 1:
        return b"\x00" + data
    return packed


def decompress(blob: bytes) -> bytes:
    if not blob:
        raise ValueError("empty input")
    if blob[0] == 0:
        return blob[1:]
    pos = 1
    n, pos = _get(blob, pos)
    count, pos = _get(blob, pos)
    matches = []
    last = 0
    for _ in range(count):
        gap, pos = _get(blob, pos)
        src, pos = _get(blob, pos)
        length, pos = _get(blob, pos)
        matches.append((last + gap, src, length))
        last = last + gap + length
    literals, pos = _decode_literals(blob, pos)
    out = bytearray()
    lit = 0
    for at, src, length in matches:
        take = at - len(out)
        out += literals[lit : lit + take]
        lit += take
        if src + length <= len(out):
            out += out[src : src + length]
        else:  # the copy overlaps its own output
            for k in range(length):
                out.append(out[src + k])
    out += literals[lit:]
    if len(out) != n:
        raise ValueError("corrupt stream")
    return bytes(out)
