"""Connect-3 on a 4 x 4 board: the game, its exact solution, and the network interpreter.

This file is read-only. The verifier uses its own pristine copy of it, so what you run here is
exactly what scores you: ``python3 connect3.py`` checks ``network.json`` + ``weights.npz``.

The game: 4 columns, 4 rows, gravity (a piece drops to the lowest empty cell of its column),
players alternate, the first to have three of their pieces in a line (horizontal, vertical or
diagonal) wins; a full board with no line is a draw.

Positions are bitboards: bit ``column * 5 + row`` (row 0 at the bottom; the fifth bit of each
column is a sentinel that stays empty so that lines cannot wrap between columns). A position is
``(mine, theirs)`` from the point of view of the player to move.

The network format (see instruction.md for the full rules): a JSON list of layers, and an
``.npz`` file holding exactly the arrays the layers need, float32, named ``"<layer index>.weight"``
and ``"<layer index>.bias"``. The network sees one position as a float tensor of shape
(3, 4, 4): channel 0 the mover's pieces, channel 1 the opponent's, channel 2 the empty cells,
indexed [channel, row, column] with row 0 at the bottom. It must output 4 scores, one a column;
the move it plays is the legal column with the highest score.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

COLUMNS = 4
ROWS = 4
LINE = 3
#: Bits per column in a bitboard: the rows plus one sentinel.
STRIDE = ROWS + 1
CELLS = COLUMNS * ROWS
#: Every cell of the board (no sentinels).
BOARD_MASK = sum(1 << (c * STRIDE + r) for c in range(COLUMNS) for r in range(ROWS))
INPUT_SHAPE = (3, ROWS, COLUMNS)

WIN, DRAW, LOSS = 1, 0, -1


# --- the game --------------------------------------------------------------------------------


def has_line(pieces: int) -> bool:
    """True if ``pieces`` holds three in a line (vertical, horizontal or either diagonal)."""
    for shift in (1, STRIDE, STRIDE - 1, STRIDE + 1):
        pairs = pieces & (pieces >> shift)
        if pairs & (pairs >> shift):
            return True
    return False


def heights(mine: int, theirs: int) -> list[int]:
    """The number of pieces in each column."""
    occupied = mine | theirs
    return [((occupied >> (c * STRIDE)) & ((1 << ROWS) - 1)).bit_count() for c in range(COLUMNS)]


def legal_moves(mine: int, theirs: int) -> list[int]:
    return [c for c, h in enumerate(heights(mine, theirs)) if h < ROWS]


def play(mine: int, theirs: int, column: int) -> tuple[int, int]:
    """Drop the mover's piece into ``column``; returns the position for the next player
    (``(theirs, mine + the new piece)``). The column must not be full."""
    h = heights(mine, theirs)[column]
    if h >= ROWS:
        raise ValueError(f"column {column} is full")
    return theirs, mine | (1 << (column * STRIDE + h))


def from_rows(rows: list[str]) -> tuple[int, int]:
    """A position from a picture, top row first: ``x`` is the player to move, ``o`` the
    opponent, ``.`` empty. For tests and examples; gravity and turn order are checked."""
    if len(rows) != ROWS or any(len(r) != COLUMNS for r in rows):
        raise ValueError(f"expected {ROWS} rows of {COLUMNS} characters")
    mine = theirs = 0
    for r, line in enumerate(reversed(rows)):
        for c, ch in enumerate(line):
            bit = 1 << (c * STRIDE + r)
            if ch == "x":
                mine |= bit
            elif ch == "o":
                theirs |= bit
            elif ch != ".":
                raise ValueError(f"unexpected character {ch!r}")
    for c in range(COLUMNS):
        column = ((mine | theirs) >> (c * STRIDE)) & ((1 << ROWS) - 1)
        if column & (column + 1):
            raise ValueError(f"column {c} has a gap (pieces must rest on each other)")
    if mine.bit_count() not in (theirs.bit_count(), theirs.bit_count() - 1):
        raise ValueError("x (to move) must have as many pieces as o, or one fewer (if o moved first)")
    return mine, theirs


def to_rows(mine: int, theirs: int) -> list[str]:
    """The picture of a position, top row first (x to move)."""
    rows = []
    for r in reversed(range(ROWS)):
        line = ""
        for c in range(COLUMNS):
            bit = 1 << (c * STRIDE + r)
            line += "x" if mine & bit else "o" if theirs & bit else "."
        rows.append(line)
    return rows


# --- exact solution --------------------------------------------------------------------------


class Solver:
    """Exact minimax (negamax with a memo) over every position reachable from the empty board.

    ``values[(mine, theirs)]`` is the game-theoretic value for the player to move (WIN, DRAW or
    LOSS), ``move_values[(mine, theirs)]`` the value of each legal move ({column: value}).
    Only non-terminal positions are stored: a position where someone has a line, or the board
    is full, is never a position to move in.
    """

    def __init__(self) -> None:
        self.move_values: dict[tuple[int, int], dict[int, int]] = {}

    def value(self, mine: int, theirs: int) -> int:
        key = (mine, theirs)
        known = self.move_values.get(key)
        if known is None:
            known = {}
            occupied = mine | theirs
            # after this move the board is full
            full = occupied.bit_count() == CELLS - 1
            for c in range(COLUMNS):
                column = (occupied >> (c * STRIDE)) & ((1 << ROWS) - 1)
                if column == (1 << ROWS) - 1:
                    continue
                bit = 1 << (c * STRIDE + column.bit_count())
                after = mine | bit
                if has_line(after):
                    known[c] = WIN
                elif full:
                    known[c] = DRAW
                else:
                    known[c] = -self.value(theirs, after)
            self.move_values[key] = known
        return max(known.values())

    def solve_all(self) -> dict[tuple[int, int], dict[int, int]]:
        """Solve the game from the empty board; returns ``move_values`` for every reachable
        non-terminal position."""
        self.value(0, 0)
        return self.move_values


@dataclasses.dataclass(frozen=True)
class Positions:
    """Every reachable non-terminal position, with its labels, as arrays (N positions)."""

    #: (N, 2) int64: (mine, theirs) bitboards.
    keys: np.ndarray
    #: (N, 3, ROWS, COLUMNS) float32: the network's input.
    inputs: np.ndarray
    #: (N, COLUMNS) bool: the columns that are not full.
    legal: np.ndarray
    #: (N, COLUMNS) bool: the legal columns whose value is the best (exact minimax).
    optimal: np.ndarray
    #: (N,) int: pieces on the board, the game phase (0 ... 15).
    pieces: np.ndarray
    #: (N,) bool: positions that count for accuracy, those where the moves differ in value
    #: (where every legal move is equally good, any answer would be right).
    counted: np.ndarray


def encode(mine: int, theirs: int) -> np.ndarray:
    """The network's input for one position: (3, ROWS, COLUMNS), [channel, row, column]."""
    x = np.zeros(INPUT_SHAPE, dtype=np.float32)
    for c in range(COLUMNS):
        for r in range(ROWS):
            bit = 1 << (c * STRIDE + r)
            x[0 if mine & bit else 1 if theirs & bit else 2, r, c] = 1.0
    return x


def all_positions() -> Positions:
    """Solve the game and label every reachable non-terminal position (about a second)."""
    table = Solver().solve_all()
    keys = sorted(table)
    n = len(keys)
    key_array = np.array(keys, dtype=np.int64)
    # Decode the bitboards in bulk: bit (c * STRIDE + r) -> [r, c].
    bits = np.array([c * STRIDE + r for r in range(ROWS) for c in range(COLUMNS)], dtype=np.int64)
    mine = ((key_array[:, :1] >> bits) & 1).reshape(n, ROWS, COLUMNS)
    theirs = ((key_array[:, 1:] >> bits) & 1).reshape(n, ROWS, COLUMNS)
    inputs = np.stack([mine, theirs, 1 - mine - theirs], axis=1).astype(np.float32)
    legal = np.zeros((n, COLUMNS), dtype=bool)
    optimal = np.zeros((n, COLUMNS), dtype=bool)
    counted = np.zeros(n, dtype=bool)
    for i, key in enumerate(keys):
        moves = table[key]
        best = max(moves.values())
        for c, v in moves.items():
            legal[i, c] = True
            optimal[i, c] = v == best
        counted[i] = len(set(moves.values())) > 1
    pieces = (mine.sum(axis=(1, 2)) + theirs.sum(axis=(1, 2))).astype(np.int64)
    return Positions(key_array, inputs, legal, optimal, pieces, counted)


# --- the network format ----------------------------------------------------------------------

#: Limits on a submission, so that loading and running it stays cheap and safe.
MAX_JSON_BYTES = 64 * 1024
MAX_NPZ_BYTES = 16 * 1024 * 1024
MAX_LAYERS = 64
MAX_PARAMETERS = 1_000_000
#: Largest tensor between layers, in numbers per position.
MAX_ACTIVATION = 16_384
#: Multiply-adds per position, all layers together.
MAX_MACS = 1_000_000

ACTIVATIONS = {
    "relu": lambda x: np.maximum(x, 0.0),
    "tanh": np.tanh,
    "sigmoid": lambda x: 0.5 * (1.0 + np.tanh(0.5 * x)),
}
LAYER_KEYS: dict[str, set[str]] = {
    "dense": {"type", "units", "bias"},
    "conv2d": {"type", "filters", "kernel", "padding", "bias"},
    "columns": {"type", "window"},
    "reshape": {"type", "shape"},
    "permute": {"type", "axes"},
    **{name: {"type"} for name in ACTIVATIONS},
}


class NetworkError(ValueError):
    """The submission is not a valid network; the message says what and where."""


@dataclasses.dataclass(frozen=True)
class Layer:
    """One layer, validated: its kind, its settings, and its parameter shapes."""

    index: int
    kind: str
    settings: dict[str, Any]
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    #: name -> shape of each parameter array it needs (e.g. {"0.weight": (48, 32)}).
    params: dict[str, tuple[int, ...]]
    macs: int
    #: Numbers the layer holds at once per position (its input, output, conv patches).
    footprint: int


def _int(value: object, what: str, low: int, high: int) -> int:
    # bool is an int in Python, and JSON true must not pass as 1.
    if type(value) is not int or not low <= value <= high:
        raise NetworkError(f"{what} must be an integer in [{low}, {high}], got {value!r}")
    return value


def _int_list(value: object, what: str, length: int | None, low: int, high: int) -> list[int]:
    if not isinstance(value, list) or (length is not None and len(value) != length):
        size = f"{length} " if length is not None else ""
        raise NetworkError(f"{what} must be a list of {size}integers, got {value!r}")
    return [_int(v, f"{what}[{k}]", low, high) for k, v in enumerate(value)]


def _bias(spec: dict[str, Any], where: str) -> bool:
    value = spec.get("bias", True)
    if type(value) is not bool:
        raise NetworkError(f"{where}: 'bias' must be true or false, got {value!r}")
    return value


def parse_architecture(document: object) -> list[Layer]:
    """Validate the decoded network.json and infer every shape; raises NetworkError."""
    if not isinstance(document, list) or not document:
        raise NetworkError("network.json must be a non-empty JSON list of layers")
    if len(document) > MAX_LAYERS:
        raise NetworkError(f"network.json has {len(document)} layers: at most {MAX_LAYERS} are allowed")
    shape: tuple[int, ...] = INPUT_SHAPE
    layers = []
    total_macs = 0
    for i, spec in enumerate(document):
        where = f"layer {i}"
        if not isinstance(spec, dict):
            raise NetworkError(f"{where} must be a JSON object, got {spec!r}")
        kind = spec.get("type")
        if kind not in LAYER_KEYS:
            allowed = ", ".join(sorted(LAYER_KEYS))
            raise NetworkError(f"{where}: unknown layer type {kind!r} (allowed: {allowed})")
        where = f"layer {i} ({kind})"
        extra = set(spec) - LAYER_KEYS[kind]
        if extra:
            raise NetworkError(
                f"{where}: unknown key(s) {', '.join(sorted(extra))} (allowed: {', '.join(sorted(LAYER_KEYS[kind]))})"
            )
        params: dict[str, tuple[int, ...]] = {}
        macs = 0
        settings: dict[str, Any] = {}
        in_shape = shape
        if kind == "dense":
            units = _int(spec.get("units"), f"{where}: 'units'", 1, MAX_ACTIVATION)
            fan_in = shape[-1]
            params[f"{i}.weight"] = (fan_in, units)
            if _bias(spec, where):
                params[f"{i}.bias"] = (units,)
            shape = (*shape[:-1], units)
            macs = math.prod(shape) * fan_in
        elif kind == "conv2d":
            if len(shape) != 3:
                raise NetworkError(
                    f"{where} needs a (channels, rows, columns) input, got shape {list(shape)}"
                )
            filters = _int(spec.get("filters"), f"{where}: 'filters'", 1, MAX_ACTIVATION)
            kh, kw = _int_list(spec.get("kernel"), f"{where}: 'kernel'", 2, 1, 16)
            ph, pw = _int_list(spec.get("padding", [0, 0]), f"{where}: 'padding'", 2, 0, 8)
            channels, height, width = shape
            out_h, out_w = height + 2 * ph - kh + 1, width + 2 * pw - kw + 1
            if out_h < 1 or out_w < 1:
                raise NetworkError(
                    f"{where}: kernel {[kh, kw]} does not fit input {list(shape)} with padding {[ph, pw]}"
                )
            params[f"{i}.weight"] = (filters, channels, kh, kw)
            if _bias(spec, where):
                params[f"{i}.bias"] = (filters,)
            settings = {"kernel": (kh, kw), "padding": (ph, pw)}
            shape = (filters, out_h, out_w)
            macs = math.prod(shape) * channels * kh * kw
        elif kind == "columns":
            if len(shape) != 3:
                raise NetworkError(
                    f"{where} needs a (channels, rows, columns) input, got shape {list(shape)}"
                )
            window = _int(spec.get("window", 0), f"{where}: 'window'", 0, 8)
            channels, height, width = shape
            settings = {"window": window}
            shape = (width, channels * height * (2 * window + 1))
        elif kind == "reshape":
            target = _int_list(spec.get("shape"), f"{where}: 'shape'", None, -1, MAX_ACTIVATION)
            if not 1 <= len(target) <= 4 or target.count(-1) > 1 or 0 in target:
                raise NetworkError(
                    f"{where}: 'shape' must have 1 to 4 positive sizes, at most one of them -1, got {target}"
                )
            size = math.prod(shape)
            known = math.prod(t for t in target if t != -1)
            if -1 in target:
                if size % known:
                    raise NetworkError(f"{where}: cannot reshape {list(shape)} to {target}")
                target[target.index(-1)] = size // known
            if math.prod(target) != size:
                raise NetworkError(f"{where}: cannot reshape {list(shape)} ({size} numbers) to {target}")
            shape = tuple(target)
        elif kind == "permute":
            axes = _int_list(spec.get("axes"), f"{where}: 'axes'", len(shape), 0, len(shape) - 1)
            if sorted(axes) != list(range(len(shape))):
                raise NetworkError(
                    f"{where}: 'axes' must be a permutation of {list(range(len(shape)))}, got {axes}"
                )
            settings = {"axes": tuple(axes)}
            shape = tuple(shape[a] for a in axes)
        if math.prod(shape) > MAX_ACTIVATION:
            raise NetworkError(f"{where}: output shape {list(shape)} has more than {MAX_ACTIVATION} numbers")
        total_macs += macs
        if total_macs > MAX_MACS:
            raise NetworkError(f"the network needs more than {MAX_MACS} multiply-adds per position")
        patches = macs // shape[0] if kind == "conv2d" else 0
        footprint = math.prod(in_shape) + math.prod(shape) + patches
        layers.append(Layer(i, kind, settings, in_shape, shape, params, macs, footprint))
    if shape != (COLUMNS,):
        raise NetworkError(
            f"the network must output {COLUMNS} scores (shape [{COLUMNS}]), its last layer gives {list(shape)}; "
            "end with a reshape if needed"
        )
    return layers


_NPY_MAGIC = b"\x93NUMPY"


def read_weights(data: bytes, expected: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """Read an .npz strictly: exactly the ``expected`` arrays, each little-endian float32 of
    the expected shape, finite. Nothing is unpickled and no size is trusted before it is checked."""
    if len(data) > MAX_NPZ_BYTES:
        raise NetworkError(f"weights.npz has {len(data)} bytes: at most {MAX_NPZ_BYTES} are allowed")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise NetworkError(f"weights.npz is not an .npz (zip) file: {exc}") from None
    arrays: dict[str, np.ndarray] = {}
    for member in members:
        if not member.filename.endswith(".npy"):
            raise NetworkError(f"weights.npz holds {member.filename!r}, which is not an array (.npy)")
        name = member.filename[: -len(".npy")]
        if name in arrays:
            raise NetworkError(f"weights.npz holds the array {name!r} twice")
        if name not in expected:
            wanted = ", ".join(sorted(expected)) or "none"
            raise NetworkError(
                f"weights.npz holds an array {name!r} that no layer uses (the layers use: {wanted}); "
                "every array counts, so extra ones are rejected"
            )
        shape = expected[name]
        size = 4 * math.prod(shape)
        if member.file_size > size + 4096:
            raise NetworkError(
                f"array {name!r} has {member.file_size} bytes, more than a {list(shape)} float32 array needs"
            )
        try:
            raw = archive.read(member)
        except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, RuntimeError) as exc:
            raise NetworkError(f"array {name!r} cannot be read from weights.npz: {exc}") from None
        arrays[name] = _parse_npy(raw, name, shape)
    missing = sorted(set(expected) - set(arrays))
    if missing:
        raise NetworkError(f"weights.npz lacks the array(s) {', '.join(missing)}")
    return arrays


def _parse_npy(raw: bytes, name: str, shape: tuple[int, ...]) -> np.ndarray:
    stream = io.BytesIO(raw)
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            header_shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version == (2, 0):
            header_shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    except ValueError as exc:
        raise NetworkError(f"array {name!r} is not a valid .npy array: {exc}") from None
    if dtype != np.dtype("<f4"):
        raise NetworkError(
            f"array {name!r} has dtype {dtype}: every array must be float32 (little-endian '<f4')"
        )
    if tuple(header_shape) != shape:
        raise NetworkError(f"array {name!r} has shape {list(header_shape)}, its layer needs {list(shape)}")
    body = raw[stream.tell() :]
    if len(body) != 4 * math.prod(shape):
        raise NetworkError(
            f"array {name!r} holds {len(body)} bytes of data, a {list(shape)} float32 array has {4 * math.prod(shape)}"
        )
    array = np.frombuffer(body, dtype="<f4")
    # C order whatever the file says: BLAS sums in an order that depends on the layout
    array = np.ascontiguousarray(array.reshape(shape, order="F" if fortran else "C"), dtype=np.float64)
    if not np.all(np.isfinite(array)):
        raise NetworkError(f"array {name!r} holds NaN or infinite values")
    return array


@dataclasses.dataclass(frozen=True)
class Network:
    """A validated network: its layers and their parameters (float64 copies of the float32
    values, so that every machine computes the same scores)."""

    layers: list[Layer]
    weights: dict[str, np.ndarray]

    @property
    def parameters(self) -> int:
        """Every stored number: the sizes of all arrays in weights.npz."""
        return sum(int(a.size) for a in self.weights.values())

    def forward(self, inputs: np.ndarray) -> np.ndarray:
        """Scores, (batch, COLUMNS), for inputs of shape (batch, 3, ROWS, COLUMNS)."""
        x = np.asarray(inputs, dtype=np.float64)
        batch = x.shape[0]
        for layer in self.layers:
            i = layer.index
            if layer.kind == "dense":
                x = x @ self.weights[f"{i}.weight"]
                if f"{i}.bias" in self.weights:
                    x = x + self.weights[f"{i}.bias"]
            elif layer.kind == "conv2d":
                x = _conv2d(
                    x, self.weights[f"{i}.weight"], self.weights.get(f"{i}.bias"), *layer.settings["padding"]
                )
            elif layer.kind == "columns":
                w = layer.settings["window"]
                padded = np.pad(x, ((0, 0), (0, 0), (0, 0), (w, w)))
                width = x.shape[3]
                # (batch, channels, rows, width, 2w+1) -> (batch, width, channels, rows, 2w+1)
                windows = np.stack([padded[..., k : k + width] for k in range(2 * w + 1)], axis=-1)
                x = windows.transpose(0, 3, 1, 2, 4).reshape(batch, width, -1)
            elif layer.kind == "reshape":
                x = x.reshape(batch, *layer.out_shape)
            elif layer.kind == "permute":
                x = x.transpose(0, *(a + 1 for a in layer.settings["axes"]))
            else:
                x = ACTIVATIONS[layer.kind](x)
        return x


def _conv2d(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, ph: int, pw: int) -> np.ndarray:
    filters, _, kh, kw = weight.shape
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    out_h, out_w = padded.shape[2] - kh + 1, padded.shape[3] - kw + 1
    # patches: (batch, out_h, out_w, channels, kh, kw)
    patches = np.lib.stride_tricks.sliding_window_view(padded, (kh, kw), axis=(2, 3))
    patches = patches[:, :, :out_h, :out_w].transpose(0, 2, 3, 1, 4, 5)
    out = patches.reshape(*patches.shape[:3], -1) @ weight.reshape(filters, -1).T
    if bias is not None:
        out = out + bias
    return out.transpose(0, 3, 1, 2)


def load_network(architecture: bytes, weights: bytes) -> Network:
    """Parse network.json and weights.npz (their bytes); raises NetworkError with the reason."""
    if len(architecture) > MAX_JSON_BYTES:
        raise NetworkError(
            f"network.json has {len(architecture)} bytes: at most {MAX_JSON_BYTES} are allowed"
        )
    try:
        document = json.loads(architecture.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise NetworkError(f"network.json is not valid JSON: {exc}") from None
    layers = parse_architecture(document)
    expected = {name: shape for layer in layers for name, shape in layer.params.items()}
    total = sum(math.prod(s) for s in expected.values())
    if total > MAX_PARAMETERS:
        raise NetworkError(f"the network has {total} parameters: at most {MAX_PARAMETERS} are allowed")
    return Network(layers, read_weights(weights, expected))


# --- scoring ---------------------------------------------------------------------------------

#: The accuracy a network must reach to be scored.
THRESHOLD = 0.99


@dataclasses.dataclass(frozen=True)
class Accuracy:
    """How often the network plays an optimal move, over the counted positions."""

    correct: int
    total: int
    #: pieces on the board -> (correct, total)
    by_phase: dict[int, tuple[int, int]]

    @property
    def value(self) -> float:
        return self.correct / self.total

    def table(self) -> str:
        lines = ["pieces  positions  optimal  wrong"]
        for phase, (ok, n) in sorted(self.by_phase.items()):
            lines.append(f"{phase:6d}  {n:9d}  {ok / n:7.1%}  {n - ok:5d}")
        return "\n".join(lines)


#: Numbers held at once while a batch of positions runs through a layer (64 MiB of float64).
BATCH_NUMBERS = 8 * 1024 * 1024


def chosen_moves(network: Network, positions: Positions) -> np.ndarray:
    """The column the network plays in each position (-1 where a legal score is not finite)."""
    footprint = max(layer.footprint for layer in network.layers)
    batch = max(1, min(4096, BATCH_NUMBERS // footprint))
    moves = np.empty(len(positions.keys), dtype=np.int64)
    for start in range(0, len(moves), batch):
        # A network may overflow: inf and nan are its scores, not warnings.
        with np.errstate(all="ignore"):
            scores = network.forward(positions.inputs[start : start + batch])
        legal = positions.legal[start : start + batch]
        masked = np.where(legal, scores, -np.inf)
        picked = np.argmax(masked, axis=1)
        broken = ~np.all(np.isfinite(scores) | ~legal, axis=1)
        picked[broken] = -1
        moves[start : start + batch] = picked
    return moves


def accuracy(network: Network, positions: Positions) -> Accuracy:
    moves = chosen_moves(network, positions)
    rows = np.arange(len(moves))
    right = (moves >= 0) & positions.optimal[rows, np.maximum(moves, 0)]
    counted = positions.counted
    by_phase = {}
    for phase in np.unique(positions.pieces[counted]):
        in_phase = counted & (positions.pieces == phase)
        by_phase[int(phase)] = (int(right[in_phase].sum()), int(in_phase.sum()))
    return Accuracy(int(right[counted].sum()), int(counted.sum()), by_phase)


def iter_wrong(network: Network, positions: Positions) -> Iterator[tuple[list[str], int, list[int]]]:
    """(picture, column played, optimal columns) for each counted position the network gets wrong."""
    moves = chosen_moves(network, positions)
    for i in np.flatnonzero(positions.counted):
        if moves[i] < 0 or not positions.optimal[i, moves[i]]:
            mine, theirs = (int(k) for k in positions.keys[i])
            yield to_rows(mine, theirs), int(moves[i]), [int(c) for c in np.flatnonzero(positions.optimal[i])]


def main(argv: list[str]) -> int:
    folder = Path(argv[1]) if len(argv) > 1 else Path(".")
    try:
        network = load_network((folder / "network.json").read_bytes(), (folder / "weights.npz").read_bytes())
    except (NetworkError, OSError) as exc:
        print(f"invalid network: {exc}")
        return 1
    positions = all_positions()
    result = accuracy(network, positions)
    print(result.table())
    print(f"parameters: {network.parameters}")
    print(f"accuracy:   {result.value:.2%} over {result.total} positions (needs {THRESHOLD:.0%})")
    for picture, played, best in list(iter_wrong(network, positions))[:3]:
        print(f"\nwrong (x to move, played column {played}, optimal {best}):\n  " + "\n  ".join(picture))
    return 0 if result.value >= THRESHOLD else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
