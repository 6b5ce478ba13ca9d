"""Train the reference network (solution/network.json): a scorer shared by the four columns.

    cd tasks/connect3_golf/solution && python3 train.py      # writes weights.npz

It reuses environment/train.py (the loss, Adam, the dense/activation backward passes) and adds
the one thing the reference needs: a ``columns`` layer at the input, which has no parameters and
needs no gradient there, so it is applied once to the whole data set.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "environment"))

import connect3  # noqa: E402
import train as base  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--network", default=str(HERE / "network.json"))
    parser.add_argument("--out", default=str(HERE / "weights.npz"))
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    layers = connect3.parse_architecture(json.loads(Path(args.network).read_text()))
    positions = connect3.all_positions()
    head, rest = layers[0], layers[1:]
    assert head.kind == "columns", "this trainer expects the network to start with a columns layer"
    # The columns view of every position, computed once by the interpreter itself.
    view = connect3.Network([head], {}).forward(positions.inputs)
    shifted = connect3.Positions(
        positions.keys, view, positions.legal, positions.optimal, positions.pieces, positions.counted
    )
    weights = base.train(rest, shifted, epochs=args.epochs, seed=args.seed, lr=args.lr, batch=args.batch)
    out = Path(args.out)
    base.save(weights, out)
    network = connect3.load_network(Path(args.network).read_bytes(), out.read_bytes())
    result = connect3.accuracy(network, positions)
    print(result.table())
    print(f"{out}: {network.parameters} parameters, accuracy {result.value:.2%}")


if __name__ == "__main__":
    main()
