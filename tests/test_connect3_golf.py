"""The trusted parts of connect3_golf: the game, the minimax labeller and the network interpreter.

They live in tasks/connect3_golf/environment/connect3.py (the verifier loads that file from the
task folder); these tests load it the same way.
"""

from __future__ import annotations

import io
import json
import zipfile
from types import ModuleType

import numpy as np
import pytest

from .conftest import REPO, load_module

TASK = REPO / "tasks" / "connect3_golf"


def _load() -> ModuleType:
    name = "autolab_connect3_golf_rules"
    return load_module(TASK / "environment" / "connect3.py", name)


c3 = _load()


@pytest.fixture(scope="module")
def positions():  # type: ignore[no-untyped-def]
    return c3.all_positions()


def npz(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


MLP = [
    {"type": "reshape", "shape": [48]},
    {"type": "dense", "units": 5},
    {"type": "relu"},
    {"type": "dense", "units": 4},
]


def mlp_weights(dtype: str = "<f4") -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    shapes = {"1.weight": (48, 5), "1.bias": (5,), "3.weight": (5, 4), "3.bias": (4,)}
    return {k: rng.standard_normal(s).astype(dtype) for k, s in shapes.items()}


def load(layers: object, arrays: dict[str, np.ndarray]):  # type: ignore[no-untyped-def]
    return c3.load_network(json.dumps(layers).encode(), npz(**arrays))


# --- the game and the labels ---------------------------------------------------------------


def test_lines_are_found_in_every_direction_and_never_wrap_between_columns() -> None:
    def bits(*cells: tuple[int, int]) -> int:
        return sum(1 << (c * c3.STRIDE + r) for c, r in cells)

    assert c3.has_line(bits((0, 0), (0, 1), (0, 2)))  # vertical
    assert c3.has_line(bits((1, 3), (2, 3), (3, 3)))  # horizontal
    assert c3.has_line(bits((0, 0), (1, 1), (2, 2)))  # diagonal
    assert c3.has_line(bits((1, 2), (2, 1), (3, 0)))  # anti-diagonal
    assert not c3.has_line(bits((0, 2), (0, 3), (1, 0)))  # top of column 0 + bottom of column 1
    assert not c3.has_line(bits((0, 0), (1, 0), (3, 0)))


def test_the_game_has_23930_positions_and_the_first_player_wins(positions) -> None:  # type: ignore[no-untyped-def]
    assert len(positions.keys) == 23930
    assert int(positions.counted.sum()) == 13586
    solver = c3.Solver()
    assert solver.value(0, 0) == c3.WIN


def move_values(rows: list[str]) -> dict[int, int]:
    mine, theirs = c3.from_rows(rows)
    solver = c3.Solver()
    solver.value(mine, theirs)
    return dict(solver.move_values[(mine, theirs)])


def row_of(positions, rows: list[str]) -> int:  # type: ignore[no-untyped-def]
    key = list(c3.from_rows(rows))
    return int(np.flatnonzero((positions.keys == key).all(axis=1))[0])


def test_when_the_opponent_threatens_only_the_block_avoids_losing(positions) -> None:  # type: ignore[no-untyped-def]
    # o threatens the bottom row at column 3; x has no line to complete
    rows = ["....", "....", ".x..", "xoo."]
    assert move_values(rows) == {0: c3.LOSS, 1: c3.LOSS, 2: c3.LOSS, 3: c3.WIN}
    i = row_of(positions, rows)
    assert positions.optimal[i].tolist() == [False, False, False, True]
    assert positions.counted[i]


def test_every_move_that_keeps_a_forced_win_is_optimal(positions) -> None:  # type: ignore[no-untyped-def]
    # column 0 wins at once; column 3 blocks o and still wins: wins are not ranked by speed
    rows = ["....", "....", "x...", "xoo."]
    assert move_values(rows) == {0: c3.WIN, 1: c3.LOSS, 2: c3.LOSS, 3: c3.WIN}
    assert positions.optimal[row_of(positions, rows)].tolist() == [True, False, False, True]


def test_filling_the_board_without_a_line_is_a_draw_and_a_single_move_is_not_counted(positions) -> None:  # type: ignore[no-untyped-def]
    rows = ["oxo.", "xoxo", "xoxo", "oxox"]
    assert move_values(rows) == {3: c3.DRAW}
    i = row_of(positions, rows)
    assert positions.legal[i].tolist() == [False, False, False, True]
    assert not positions.counted[i]


def test_pictures_that_cannot_arise_are_refused() -> None:
    with pytest.raises(ValueError, match="gap"):
        c3.from_rows(["....", "x...", "....", "o..."])
    with pytest.raises(ValueError, match="one fewer"):
        c3.from_rows(["....", "....", "....", "xx.o"])


def test_positions_are_encoded_as_mover_opponent_and_empty_planes(positions) -> None:  # type: ignore[no-untyped-def]
    mine, theirs = c3.from_rows(["....", "....", "o...", "xox."])
    x = c3.encode(mine, theirs)
    assert x.shape == (3, 4, 4)
    assert x[0, 0].tolist() == [1, 0, 1, 0]  # row 0 is the bottom row
    assert x[1, 0].tolist() == [0, 1, 0, 0]
    assert x[1, 1].tolist() == [1, 0, 0, 0]
    assert x.sum(axis=0).tolist() == np.ones((4, 4)).tolist()
    row = int(np.flatnonzero((positions.keys == [mine, theirs]).all(axis=1))[0])
    np.testing.assert_array_equal(positions.inputs[row], x)
    assert positions.legal[row].tolist() == [True, True, True, True]
    assert positions.pieces[row] == 4


# --- the network format --------------------------------------------------------------------


def test_the_shipped_networks_have_the_documented_parameter_counts(positions) -> None:  # type: ignore[no-untyped-def]
    for folder, parameters in ((TASK / "environment", 18044), (TASK / "solution", 901)):
        network = c3.load_network(
            (folder / "network.json").read_bytes(), (folder / "weights.npz").read_bytes()
        )
        assert network.parameters == parameters
        assert c3.accuracy(network, positions).value >= c3.THRESHOLD


def test_dense_layers_apply_to_the_last_axis_with_their_bias() -> None:
    weights = mlp_weights()
    network = load(MLP, weights)
    assert network.parameters == 48 * 5 + 5 + 5 * 4 + 4
    x = np.random.default_rng(1).standard_normal((7, 3, 4, 4))
    w = {k: v.astype(np.float64) for k, v in weights.items()}
    hidden = np.maximum(x.reshape(7, 48) @ w["1.weight"] + w["1.bias"], 0)
    np.testing.assert_allclose(network.forward(x), hidden @ w["3.weight"] + w["3.bias"], rtol=1e-12)


def test_conv2d_is_a_zero_padded_cross_correlation() -> None:
    layers = [
        {"type": "conv2d", "filters": 2, "kernel": [2, 3], "padding": [1, 1]},
        {"type": "reshape", "shape": [-1]},
        {"type": "dense", "units": 4, "bias": False},
    ]
    rng = np.random.default_rng(2)
    weights = {
        "0.weight": rng.standard_normal((2, 3, 2, 3)).astype("<f4"),
        "0.bias": rng.standard_normal(2).astype("<f4"),
        "2.weight": rng.standard_normal((2 * 5 * 4, 4)).astype("<f4"),
    }
    network = load(layers, weights)
    assert [layer.out_shape for layer in network.layers] == [(2, 5, 4), (40,), (4,)]
    x = rng.standard_normal((3, 3, 4, 4))
    k, b = weights["0.weight"].astype(np.float64), weights["0.bias"].astype(np.float64)
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    conv = np.zeros((3, 2, 5, 4))
    for n in range(3):
        for f in range(2):
            for i in range(5):
                for j in range(4):
                    conv[n, f, i, j] = (padded[n, :, i : i + 2, j : j + 3] * k[f]).sum() + b[f]
    expected = conv.reshape(3, -1) @ weights["2.weight"].astype(np.float64)
    np.testing.assert_allclose(network.forward(x), expected, rtol=1e-10)


def test_the_columns_layer_gives_each_column_its_window_in_channel_row_offset_order() -> None:
    layers = [
        {"type": "columns", "window": 1},
        {"type": "dense", "units": 1, "bias": False},
        {"type": "reshape", "shape": [4]},
    ]
    network = load(layers, {"1.weight": np.ones((36, 1), dtype="<f4")})
    view = c3.Network(network.layers[:1], {}).forward(np.arange(48.0).reshape(1, 3, 4, 4))
    assert view.shape == (1, 4, 36)
    x = np.arange(48.0).reshape(3, 4, 4)
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1)))
    for c in range(4):
        np.testing.assert_array_equal(view[0, c], padded[:, :, c : c + 3].reshape(-1))
    assert view[0, 0, 0] == 0.0  # channel 0, row 0, the column left of column 0: off the board


def test_a_full_column_is_never_played_and_a_nan_score_is_a_wrong_move(positions) -> None:  # type: ignore[no-untyped-def]
    # a network that always prefers column 0: wherever column 0 is full it must play another
    prefer_0 = [{"type": "reshape", "shape": [48]}, {"type": "dense", "units": 4, "bias": True}]
    weights = {"1.weight": np.zeros((48, 4), dtype="<f4"), "1.bias": np.array([3, 2, 1, 0], dtype="<f4")}
    moves = c3.chosen_moves(load(prefer_0, weights), positions)
    np.testing.assert_array_equal(moves, np.argmax(positions.legal, axis=1))
    # finite float32 weights whose float64 products overflow, then inf * 0 = nan in every score
    blow_up: list[dict[str, object]] = [{"type": "reshape", "shape": [48]}, {"type": "dense", "units": 1}]
    big = {"1.weight": np.zeros((48, 1), dtype="<f4"), "1.bias": np.array([3e38], dtype="<f4")}
    for i in range(2, 10):  # (3e38)**9 overflows float64
        blow_up.append({"type": "dense", "units": 1, "bias": False})
        big[f"{i}.weight"] = np.array([[3e38]], dtype="<f4")
    blow_up.append({"type": "dense", "units": 4, "bias": False})
    big["10.weight"] = np.zeros((1, 4), dtype="<f4")  # inf * 0
    result = c3.accuracy(load(blow_up, big), positions)
    assert result.correct == 0


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        ([], "non-empty JSON list"),
        ({"type": "dense"}, "non-empty JSON list"),
        ([*MLP[:-1], {"type": "lookup", "units": 4}], "unknown layer type 'lookup'"),
        ([*MLP[:-1], {"type": "dense", "units": 4, "table": [1, 2]}], "unknown key"),
        ([*MLP[:-1], {"type": "dense", "units": 4.0}], "'units' must be an integer"),
        ([*MLP[:-1], {"type": "dense", "units": True}], "'units' must be an integer"),
        ([*MLP[:-1], {"type": "dense", "units": 4, "bias": 1}], "'bias' must be true or false"),
        ([*MLP[:-1], {"type": "dense", "units": 3}], "must output 4 scores"),
        ([{"type": "reshape", "shape": [5, -1]}], "cannot reshape"),
        ([{"type": "permute", "axes": [0, 0, 1]}], "permutation"),
        ([{"type": "conv2d", "filters": 1, "kernel": [5, 1]}], "does not fit"),
        (
            [
                {"type": "reshape", "shape": [48]},
                {"type": "dense", "units": 1001},
                {"type": "dense", "units": 1000},
            ],
            "multiply-adds",
        ),
        ([{"type": "relu"}] * 65, "at most 64"),
    ],
)
def test_architectures_outside_the_format_are_rejected_with_the_reason(layers: object, message: str) -> None:
    with pytest.raises(c3.NetworkError, match=message):
        c3.parse_architecture(layers)


def with_array(name: str, value: np.ndarray) -> dict[str, np.ndarray]:
    weights = mlp_weights()
    weights[name] = value
    return weights


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        (with_array("table", np.zeros(10, dtype="<f4")), "no layer uses"),
        ({k: v for k, v in mlp_weights().items() if k != "3.bias"}, "lacks the array"),
        (mlp_weights("<f8"), "dtype float64"),
        (mlp_weights("<f2"), "dtype float16"),
        (mlp_weights(">f4"), "dtype >f4"),
        (with_array("1.bias", np.zeros(5, dtype=np.int32)), "dtype int32"),
        (with_array("1.bias", np.zeros(5, dtype=np.complex64)), "dtype complex64"),
        (with_array("1.bias", np.array([{"a": 1}, 0, 0, 0, 0], dtype=object)), "dtype object"),
        (with_array("1.bias", np.zeros(6, dtype="<f4")), r"shape \[6\], its layer needs \[5\]"),
        (with_array("1.bias", np.array([0, 0, np.nan, 0, 0], dtype="<f4")), "NaN or infinite"),
        (with_array("1.bias", np.array([0, 0, np.inf, 0, 0], dtype="<f4")), "NaN or infinite"),
    ],
)
def test_weight_files_with_anything_but_the_needed_float32_arrays_are_rejected(
    arrays: dict[str, np.ndarray], message: str
) -> None:
    with pytest.raises(c3.NetworkError, match=message):
        load(MLP, arrays)


def test_weight_files_that_are_not_plain_npz_archives_are_rejected() -> None:
    arch = json.dumps(MLP).encode()
    with pytest.raises(c3.NetworkError, match=r"not an \.npz"):
        c3.load_network(arch, b"not a zip file")
    stray = io.BytesIO()
    with zipfile.ZipFile(stray, "w") as archive:
        archive.writestr("notes.txt", "hello")
    with pytest.raises(c3.NetworkError, match="not an array"):
        c3.load_network(arch, stray.getvalue())
    with pytest.raises(c3.NetworkError, match="at most"):
        c3.load_network(arch, b"\0" * (c3.MAX_NPZ_BYTES + 1))
    with pytest.raises(c3.NetworkError, match="not valid JSON"):
        c3.load_network(b"[{]", npz(**mlp_weights()))
    with pytest.raises(c3.NetworkError, match="not valid JSON"):
        c3.load_network(b"[" * 30000 + b"]" * 30000, npz(**mlp_weights()))
    # a member whose header promises the right shape but whose body is a huge (compressed) blob
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, value in mlp_weights().items():
            body = io.BytesIO()
            np.lib.format.write_array(body, value)
            archive.writestr(
                f"{name}.npy", body.getvalue() + (b"\0" * 10_000_000 if name == "1.bias" else b"")
            )
    with pytest.raises(c3.NetworkError, match="more than a"):
        c3.load_network(arch, bomb.getvalue())


def test_fortran_ordered_arrays_are_read_in_their_own_order() -> None:
    weights = mlp_weights()
    fortran = {k: np.asfortranarray(v) for k, v in weights.items()}
    x = np.random.default_rng(3).standard_normal((2, 3, 4, 4))
    np.testing.assert_array_equal(load(MLP, fortran).forward(x), load(MLP, weights).forward(x))
