"""Command line: ``matcalc diff|jacobian|hessian EXPR VAR [VAR ...] [--let NAME=KIND]
[--steps] [--check] [--format F]``, ``matcalc parse EXPR``, ``matcalc serve``.

stdout carries only the result (and the steps when asked for); the check report,
warnings and errors go to stderr.  ``-`` as the expression reads it from stdin, and an
expression that starts with ``-`` works as an argument.  Output that the terminal's
encoding cannot show falls back to an ASCII spelling that still parses back
(``nabla g(u)`` for ``∇g(u)``).  Exit codes: 0 success, 1 a matcalc error or a failed
check, 2 usage, 3 an internal error (with a request to report the input).
"""
from __future__ import annotations

import argparse
import sys
import warnings

from ._version import __version__
from .errors import InternalError, MatcalcError
from .web import cli as web_cli

FORMATS = ("text", "latex", "numpy", "jax", "torch", "json")
COMMANDS = {"diff": "gradient", "gradient": "gradient", "jacobian": "jacobian",
            "hessian": "hessian"}

#: ASCII spellings that parse back (∇ -> nabla) or read the same (∂ -> d, × -> x)
ASCII = (("∇²", "nabla2 "), ("∇", "nabla "), ("∂²", "d2"), ("∂", "d"), ("²", "2"),
         ("×", "x"), ("≠", "!="), ("Σ", "sum"), ("…", "..."), ("→", "->"))


def _json():
    import json  # only the JSON format needs it
    return json


def encodable(text: str, stream) -> str:
    """``text`` as ``stream`` can show it: unchanged, or in its ASCII spelling."""
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        text.encode(encoding)
        return text
    except (UnicodeEncodeError, LookupError):
        pass
    for a, b in ASCII:
        text = text.replace(a, b)
    return text.encode(encoding, errors="backslashreplace").decode(encoding)


def out(text: str = "", end: str = "\n") -> None:
    sys.stdout.write(encodable(text, sys.stdout) + end)


def err(text: str) -> None:
    sys.stderr.write(encodable(text, sys.stderr) + "\n")


def _declaration(text: str) -> tuple[str, str]:
    name, sep, kind = text.partition("=")
    if not sep or not name.strip() or not kind.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=KIND (like S=symmetric), not {text!r}")
    return name.strip(), kind.strip()


def _definition(text: str) -> tuple[str, str]:
    name, sep, body = text.partition("=")
    if not sep or "(" not in name or not body.strip():
        raise argparse.ArgumentTypeError(f"expected f(t)=BODY (like \"f(t)=t^3/(1+t^2)\"), "
                                         f"not {text!r}")
    return name.strip(), body.strip()


def build_parser() -> argparse.ArgumentParser:
    """The parser; each subcommand's parser is also ``parser.commands[name]``."""
    parser = argparse.ArgumentParser(
        prog="matcalc", description="Symbolic matrix calculus: derivatives in matrix notation.")
    parser.add_argument("--version", action="version", version=f"matcalc {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parser.commands = sub.choices
    for name, help_text, wrt_help in (
            ("diff", "gradient of a scalar expression",
             "the variable(s) to differentiate by; several give every gradient"),
            ("gradient", "the same as diff",
             "the variable(s) to differentiate by; several give every gradient"),
            ("jacobian", "Jacobian of a vector (or matrix) expression, numerator layout",
             "the variable to differentiate by"),
            ("hessian", "Hessian of a scalar expression",
             "the variable; a second one gives the mixed block d2f/dx dy'")):
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("expression", help='the expression, e.g. "g(W*x+b)"; - reads stdin')
        p.add_argument("wrt", nargs="+", metavar="VAR", help=wrt_help)
        _common(p)
        p.add_argument("--steps", action="store_true", help="show the derivation")
        p.add_argument("--check", action="store_true",
                       help="check against finite differences (report on stderr)")
        p.add_argument("--standalone", action="store_true",
                       help="with --format latex: a complete document (article, amsmath)")
    p = sub.add_parser("parse", help="show how an expression is read, with its shape",
                       description="show how an expression is read, with its shape")
    p.add_argument("expression", help="the expression; - reads stdin")
    _common(p)
    web_cli.add_parser(sub)
    return parser


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--let", action="append", type=_declaration, default=[],
                   metavar="NAME=KIND",
                   help="declare a name: scalar, vector, matrix, symmetric (optionally "
                        "sized like matrix(m,n)), function or elementwise; repeatable")
    p.add_argument("--format", choices=FORMATS, default="text",
                   help="text (default), latex, numpy/jax/torch (a Python function "
                        "returning the value and the derivative) or json")
    p.add_argument("--define", action="append", type=_definition, default=[],
                   metavar="F(T)=BODY",
                   help='define an element-wise function, like "f(t)=t^3/(1+t^2)"; SymPy '
                        "differentiates it; repeatable")


def _protect_expression(argv: list[str], parser: argparse.ArgumentParser) -> tuple:
    """An expression such as ``-y'*x`` is not an option: hide it from argparse."""
    if len(argv) < 2 or argv[0] not in COMMANDS and argv[0] != "parse":
        return argv, None
    first = argv[1]
    if first.startswith("-") and first != "-" and first != "--" and not first.startswith(
            ("--let", "--format", "--steps", "--check", "--standalone", "-h", "--help")):
        return [argv[0], "\x00expression"] + argv[2:], first
    return argv, None


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    argv, hidden = _protect_expression(argv, parser)
    try:
        args, extra = parser.parse_known_args(argv)
        if extra:  # a wrong flag: the subcommand's own usage
            parser.commands[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as exc:  # argparse has printed the usage (or --help, --version)
        return int(exc.code or 0) if exc.code in (0, None) else 2
    if getattr(args, "expression", None) == "\x00expression":
        args.expression = hidden
    if args.command == "serve":
        return web_cli.run(args)
    if args.expression == "-":
        args.expression = sys.stdin.read().strip()
    declarations = dict(args.let)
    args.functions = dict(args.define) or None
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            code = _parse(args, declarations) if args.command == "parse" \
                else _diff(args, declarations)
        for w in caught:
            err(f"matcalc: warning: {w.message}")
        return code
    except InternalError as exc:
        _report(args, declarations, exc)
        err("matcalc: this is a bug in matcalc; please report the input above at the "
            "project's issue tracker")
        return 3
    except MatcalcError as exc:
        _report(args, declarations, exc)
        return 1
    except BrokenPipeError:
        _quiet_stdout()
        return 0
    except KeyboardInterrupt:  # pragma: no cover
        return 130
    except Exception as exc:  # pragma: no cover - a bug outside the guarded API
        err(f"matcalc: internal error ({type(exc).__name__}: {exc}); please report the "
            f"input: {getattr(args, 'expression', '')}")
        return 3


def _quiet_stdout() -> None:
    """After a closed pipe (``| head``), point stdout at /dev/null so that the
    interpreter's final flush does not complain."""
    import os
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # pragma: no cover
        pass


def _report(args, declarations: dict, exc: MatcalcError) -> None:
    if getattr(args, "format", "text") == "json":
        out(_json().dumps({"input": args.expression, "wrt": _wrt_json(args),
                        "kind": COMMANDS.get(args.command, args.command),
                        "vars": declarations, "error": exc.to_json()},
                       ensure_ascii=False, indent=2))
    err(f"matcalc: {exc}")


def _wrt_json(args):
    wrt = getattr(args, "wrt", None)
    return wrt[0] if wrt and len(wrt) == 1 else wrt


def _parse(args, declarations) -> int:
    from . import api
    from .printing import latex
    e = api.parse(args.expression, vars=declarations, functions=args.functions)
    if args.format in ("numpy", "jax", "torch"):
        raise MatcalcError(f"--format {args.format} needs a derivative: use diff, jacobian "
                           "or hessian")
    if args.format == "json":
        out(_json().dumps({"input": args.expression, "kind": "parse", "vars": declarations,
                        "result": {"text": str(e), "latex": latex(e)},
                        "shape": list(e.shape)}, ensure_ascii=False, indent=2))
    elif args.format == "latex":
        out(latex(e))
    else:
        from .expr import shape_text
        out(f"{e}    ({shape_text(e.shape)})")
    return 0


def _compute(args, declarations):
    from . import api
    compute = getattr(api, COMMANDS[args.command])
    if args.command == "hessian":
        if len(args.wrt) > 2:
            raise MatcalcError("hessian takes one variable, or two for the mixed block")
        second = args.wrt[1] if len(args.wrt) == 2 else None
        return compute(args.expression, args.wrt[0], second, vars=declarations,
                       functions=args.functions)
    if args.command == "jacobian":
        if len(args.wrt) > 1:
            raise MatcalcError("jacobian takes one variable")
        return compute(args.expression, args.wrt[0], vars=declarations,
                       functions=args.functions)
    wrt = args.wrt[0] if len(args.wrt) == 1 else args.wrt
    return compute(args.expression, wrt, vars=declarations, functions=args.functions)


def _diff(args, declarations) -> int:
    r = _compute(args, declarations)
    report = r.check() if args.check else None
    fmt = args.format
    if fmt == "json":
        out(_json().dumps(r.to_json(report), ensure_ascii=False, indent=2))
    elif fmt in ("numpy", "jax", "torch"):
        generate = getattr(r, f"{fmt}_code", None)
        if generate is None:
            raise MatcalcError(f"--format {fmt} is not available for this result")
        out(generate(), end="")
    elif fmt == "latex":
        out(r.latex(steps=args.steps, standalone=args.standalone))
    else:
        if args.steps:
            for step in r.steps:
                out(step)
        out(str(r))
    if report is not None:
        err(str(report))
        if not report.passed:
            return 1
    return 0
