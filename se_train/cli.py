"""`se-sweep` command line: parse, call, map user errors to one line and exit status 2."""

from __future__ import annotations

import argparse
import sys

from se_train.errors import UserError


def _models(args: argparse.Namespace) -> None:
    from se_train.models import build_model, count_parameters, model_names

    rows = []
    for name in model_names():
        options = {"image_size": args.image_size} if name == "simple_cnn" else {}
        for se in (False, True):
            # The activation changes no parameter count, so one column serves relu and selu.
            model = build_model(
                name, num_classes=args.num_classes, in_channels=args.in_channels, activation="relu", se=se, **options
            )
            rows.append(f"{name:<12} {str(se):<5} {count_parameters(model):>12,}")
    print(f"{'model':<12} {'se':<5} {'parameters':>12}", *rows, sep="\n")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="se-sweep", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("models", help="table of registered models and their parameter counts")
    p.add_argument("--num-classes", type=int, default=10)
    p.add_argument("--in-channels", type=int, default=1)
    p.add_argument("--image-size", type=int, default=28, help="input side in px (sizes simple_cnn's classifier)")
    p.set_defaults(func=_models)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except UserError as e:
        print(f"se-sweep: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
