"""``python -m demo_site --port N --day D``: serve the demo site in the foreground."""

from __future__ import annotations

import argparse

from demo_site.server import serve_forever


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m demo_site", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: a free one)")
    parser.add_argument("--day", type=int, default=1, help="the day to show (1 is the baseline)")
    parser.add_argument("--seed", type=int, default=7, help="the seed the site is generated from")
    parser.add_argument(
        "--scale", type=int, default=1, help="multiply the number of products and articles"
    )
    args = parser.parse_args(argv)
    serve_forever(
        port=args.port,
        day=args.day,
        seed=args.seed,
        scale=args.scale,
        announce=lambda line: print(line, flush=True),
    )


if __name__ == "__main__":
    main()
