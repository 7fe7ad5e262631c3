"""Command line: ``matcalc diff|jacobian|hessian EXPR VAR [--let NAME=KIND] [--steps]
[--check] [--format F]``.

stdout carries the result (and the steps when asked for); the check report and errors
go to stderr.  Exit codes: 0 success, 1 a matcalc error or a failed check, 2 usage.
"""
from __future__ import annotations

import argparse
import json
import sys

from . import api
from .errors import MatcalcError
from .web import cli as web_cli

FORMATS = ("text", "latex", "numpy", "json")


def _declaration(text: str) -> tuple[str, str]:
    name, sep, kind = text.partition("=")
    if not sep or not name.strip() or not kind.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=KIND (like S=symmetric), not {text!r}")
    return name.strip(), kind.strip()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="matcalc", description="Symbolic matrix calculus: derivatives in matrix notation.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_text in (("diff", "gradient of a scalar expression"),
                            ("gradient", "the same as diff"),
                            ("jacobian", "Jacobian of a vector (or matrix) expression, "
                                         "numerator layout"),
                            ("hessian", "Hessian of a scalar expression")):
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("expression", help='the expression, e.g. "g(W*x+b)"')
        p.add_argument("wrt", help="the variable to differentiate by, e.g. W")
        _common(p)
        p.add_argument("--steps", action="store_true", help="show the derivation")
        p.add_argument("--check", action="store_true",
                       help="check against finite differences (report on stderr)")
    web_cli.add_parser(sub)
    p = sub.add_parser("parse", help="show how an expression is read, with its shape")
    p.add_argument("expression")
    _common(p)
    return parser


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--let", action="append", type=_declaration, default=[],
                   metavar="NAME=KIND",
                   help="declare a variable: scalar, vector, matrix, symmetric, optionally "
                        "sized like matrix(m,n); repeat for several")
    p.add_argument("--format", choices=FORMATS, default="text",
                   help="text (default), latex, numpy (a Python function returning the "
                        "value and the derivative) or json")


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed the usage error
        return int(exc.code or 0) if exc.code in (0, None) else 2
    if args.command == "serve":
        return web_cli.run(args)
    declarations = dict(args.let)
    try:
        if args.command == "parse":
            return _parse(args, declarations)
        return _diff(args, declarations)
    except MatcalcError as exc:
        print(f"matcalc: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # pragma: no cover
        return 130


def _parse(args, declarations) -> int:
    e = api.parse(args.expression, vars=declarations)
    if args.format == "numpy":
        raise MatcalcError("--format numpy needs a derivative: use diff, jacobian or hessian")
    if args.format == "json":
        print(json.dumps({"input": args.expression, "vars": declarations,
                          "result": {"text": str(e), "latex": _latex(e)},
                          "shape": list(e.shape)}, ensure_ascii=False, indent=2))
    elif args.format == "latex":
        print(_latex(e))
    else:
        from .expr import shape_text
        print(f"{e}    ({shape_text(e.shape)})")
    return 0


def _latex(e) -> str:
    from .printing import latex
    return latex(e)


COMMANDS = {"diff": "gradient", "gradient": "gradient", "jacobian": "jacobian",
            "hessian": "hessian"}


def _diff(args, declarations) -> int:
    compute = getattr(api, COMMANDS[args.command])
    r = compute(args.expression, args.wrt, vars=declarations)
    report = r.check() if args.check else None
    if args.format == "json":
        print(json.dumps(r.to_json(report), ensure_ascii=False, indent=2))
    elif args.format == "numpy":
        print(r.numpy_code(), end="")
    else:
        if args.steps:
            for step in r.steps[:-1]:
                print(step)
        print(r.latex() if args.format == "latex" else str(r))
    if report is not None:
        print(str(report), file=sys.stderr)
        if not report.passed:
            return 1
    return 0
