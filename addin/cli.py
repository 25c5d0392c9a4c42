"""The `relhealth` command. Each command opens its input, calls one engine or add-in function, and turns input
problems into one clean message and exit code 1. Heavy libraries are imported inside the command that uses them."""

from __future__ import annotations

import argparse
import datetime as dt
import sys


def _date(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def _cmd_sample(args: argparse.Namespace) -> None:
    from addin.sample_book import write_sample_book

    write_sample_book(args.out, accounts=args.accounts, seed=args.seed)
    print(f"wrote {args.out} ({args.accounts} accounts, seed {args.seed})")


def _cmd_read(args: argparse.Namespace) -> None:
    from addin.workbook import read_book_file
    from relhealth.reader import describe_book

    print(describe_book(read_book_file(args.book)))


def _cmd_score_transactions(args: argparse.Namespace) -> None:
    from addin.transactions import score_transactions_file

    score_transactions_file(args.log, as_of=args.as_of, horizon_days=args.horizon_days, out=args.out)


def _cmd_refresh(args: argparse.Namespace) -> None:
    from addin.refresh import refresh_file

    refresh_file(args.book, out=args.out, progress=not args.quiet)


def _cmd_demo(args: argparse.Namespace) -> None:
    from addin.refresh import refresh_file
    from addin.sample_book import write_sample_book

    write_sample_book(args.out, accounts=args.accounts, seed=args.seed)
    refresh_file(args.out, out=None, progress=not args.quiet)


def _cmd_template(args: argparse.Namespace) -> None:
    from addin.template import build_template

    build_template(args.out)
    print(f"wrote {args.out}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="relhealth", description="Relationship health for account spreadsheets")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("sample", help="write a realistic sample account book")
    p.add_argument("out")
    p.add_argument("--accounts", type=int, default=600)
    p.add_argument("--seed", type=int, default=7)
    p.set_defaults(run=_cmd_sample)

    p = sub.add_parser("read", help="read a workbook and summarise what was found")
    p.add_argument("book")
    p.set_defaults(run=_cmd_read)

    p = sub.add_parser("score-transactions", help="score customers from a purchase log (CSV)")
    p.add_argument("log")
    p.add_argument("--as-of", type=_date, required=True)
    p.add_argument("--horizon-days", type=int, default=180)
    p.add_argument("--out", required=True)
    p.set_defaults(run=_cmd_score_transactions)

    p = sub.add_parser("refresh", help="recompute scores, planner, tables and charts in a workbook")
    p.add_argument("book")
    p.add_argument("--out")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(run=_cmd_refresh)

    p = sub.add_parser("demo", help="write the sample book and refresh it")
    p.add_argument("out", nargs="?", default="relhealth-demo.xlsx")
    p.add_argument("--accounts", type=int, default=600)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(run=_cmd_demo)

    p = sub.add_parser("template", help="build workbook_template.xlsx")
    p.add_argument("out", nargs="?", default="workbook_template.xlsx")
    p.set_defaults(run=_cmd_template)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from relhealth.book import BookError

    try:
        args.run(args)
    except (BookError, FileNotFoundError, PermissionError) as exc:
        print(f"relhealth: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
