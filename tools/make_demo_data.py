"""Write the built-in demo dataset (synthetic H.264 clips + Kinetics-format lists)."""

import argparse
import json

from videossl.data.demo import write_demo_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("root", help="output folder")
    parser.add_argument("--train-per-class", type=int, default=16)
    parser.add_argument("--val-per-class", type=int, default=4)
    parser.add_argument("--test-per-class", type=int, default=4)
    parser.add_argument("--size", type=int, nargs=2, default=[64, 64], metavar=("H", "W"))
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--seed", type=int, default=0)
    a = parser.parse_args()
    info = write_demo_dataset(
        a.root,
        num_train_per_class=a.train_per_class,
        num_val_per_class=a.val_per_class,
        num_test_per_class=a.test_per_class,
        size=tuple(a.size),
        num_frames=a.frames,
        seed=a.seed,
    )
    print(json.dumps(info, indent=1))


if __name__ == "__main__":
    main()
