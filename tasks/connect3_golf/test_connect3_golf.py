"""Verifier of connect3_golf: the smallest network that plays Connect-3 (4 x 4) near-perfectly.

The submission is data, never code: network.json (a list of layers of a fixed format) and
weights.npz (its parameters). Both are read out of the sandbox as bytes and interpreted here, in
the pytest process, by the task's own pristine ``environment/connect3.py`` (loaded from the task
folder, not from the sandbox): a strict parser (only the layer types of the format, only float32
arrays of exactly the shapes the layers need, nothing unpickled, sizes capped before anything is
allocated), exact minimax over every reachable position for the labels, and the interpreter.

Nothing is sampled: the network is checked on every reachable non-terminal position where the
moves differ in value, so there is no public sample to memorise and the seed plays no part.
"""

from __future__ import annotations

import pytest

from pytest_autolab import Submission, pristine_module


def _load_rules():
    """The trusted copy of connect3.py."""
    return pristine_module(__file__, "connect3.py")


rules = _load_rules()

#: Wrong positions shown in a failure message.
SHOWN_MISTAKES = 3


@pytest.fixture(scope="module")
def submitted_files(submission: Submission) -> dict[str, bytes | str]:
    """The two files as bytes, or the reason one could not be read."""
    files: dict[str, bytes | str] = {}
    for name in ("network.json", "weights.npz"):
        try:
            files[name] = submission.read_file(name)
        except Exception as exc:  # a missing file, a directory, a link: the submission's fault
            files[name] = f"cannot read {name}: {exc}"
    return files


@pytest.fixture(scope="module")
def loaded(submitted_files: dict[str, bytes | str]):
    """The validated network, or the NetworkError message that rejects it."""
    for content in submitted_files.values():
        if isinstance(content, str):
            return content
    try:
        return rules.load_network(submitted_files["network.json"], submitted_files["weights.npz"])
    except rules.NetworkError as exc:
        return f"invalid network: {exc}"


@pytest.fixture(scope="module")
def network(loaded):
    if isinstance(loaded, str):
        pytest.fail(f"no valid network (see test_network_is_valid): {loaded}", pytrace=False)
    return loaded


@pytest.fixture(scope="module")
def positions():
    return rules.all_positions()


def test_network_is_valid(loaded) -> None:
    if isinstance(loaded, str):
        pytest.fail(loaded, pytrace=False)


@pytest.fixture(scope="module")
def accuracy(network, positions):
    return rules.accuracy(network, positions)


def test_plays_an_optimal_move_in_almost_every_position(network, positions, accuracy) -> None:
    result = accuracy
    if result.value >= rules.THRESHOLD:
        return
    examples = []
    for picture, played, best in list(rules.iter_wrong(network, positions))[:SHOWN_MISTAKES]:
        what = "no finite score" if played < 0 else f"plays {played}"
        examples.append(f"  {'/'.join(picture)}: {what}, optimal {best}")
    pytest.fail(
        f"the network plays an optimal move in {result.correct} of {result.total} positions "
        f"({result.value:.2%}); it must reach {rules.THRESHOLD:.0%} (at most "
        f"{int(result.total * (1 - rules.THRESHOLD))} mistakes, it makes {result.total - result.correct}).\n"
        f"Accuracy by game phase (pieces on the board):\n{result.table()}\n"
        "Some positions it gets wrong (x to move; rows top first, separated by /; columns 0-3):\n"
        + "\n".join(examples),
        pytrace=False,
    )


def test_parameters(network, accuracy, record_metric) -> None:
    """The metric; evaluate() also shows the accuracy by game phase (pieces on the board)."""
    record_metric(
        network.parameters,
        details={
            "accuracy": round(accuracy.value, 5),
            "mistakes": accuracy.total - accuracy.correct,
            "accuracy_by_phase": {
                str(phase): round(ok / n, 4) for phase, (ok, n) in sorted(accuracy.by_phase.items())
            },
        },
    )
