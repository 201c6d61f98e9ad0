"""``optical`` command line: evaluate, train, book."""

from __future__ import annotations

import argparse
import logging
import sys

from optical.data.schema import DataError


def _languages(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def _add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="evaluate a retrieval system per language")
    p.add_argument("--dataset", default="afriqa", help="afriqa (default) or beir:<folder>")
    p.add_argument("--languages", help="comma-separated codes (default: the dataset's default set)")
    p.add_argument("--system", required=True, help="teacher, ceiling, bm25, e5, or a saved student directory")
    p.add_argument("--model", default="all-MiniLM-L6-v2", help="teacher model: hub id, directory or offline alias")
    p.add_argument("--split", default="test")
    p.add_argument("--k", type=int, default=100, help="depth of the run")
    p.add_argument("--output", help="results JSON (written atomically)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write cached document matrices")


def _run_evaluate(args) -> int:
    from optical.evaluate import evaluate

    result = evaluate(args.system, args.dataset, _languages(args.languages), args.model, args.split, args.output,
                      args.k, cache=not args.no_cache)
    print(f"{'lang':6} {'MRR@10':>7} {'nDCG@10':>8} {'R@100':>6} {'n':>5}")
    for lang, m in {**result["languages"], "macro": result["macro"]}.items():
        print(f"{lang:6} {m['MRR@10']:7.3f} {m['nDCG@10']:8.3f} {m['R@100']:6.3f} {m.get('n_queries', ''):>5}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="optical", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_evaluate(sub)
    return parser


COMMANDS = {"evaluate": _run_evaluate}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("optical").setLevel(logging.INFO)
    try:
        return COMMANDS[args.command](args)
    except (DataError, ValueError, FileNotFoundError) as err:
        print(f"optical: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
