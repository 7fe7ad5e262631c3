"""No code injection: user text is never evaluated as Python.

Hostile expressions, declarations, variable names and values go through ``parse``,
``diff``, ``check``, ``evaluate``, generated code and the command line.  Each gives a
clean ``MatcalcError`` or a harmless result; a payload that would create a file never
does; the builtins ``eval``/``exec``/``compile`` never see the payload; and the package
source holds none of the usual ways of running text as code.
"""
from __future__ import annotations

import ast
import builtins
import io
import json
import re
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

import matcalc
from matcalc import MatcalcError, ParseError
from matcalc import expr as E
from matcalc.cli import FORMATS, main

from guards import assert_clean_error, time_limit

PACKAGE = Path(matcalc.__file__).resolve().parent
MARK = "PWNED"


def payloads(sentinel: Path) -> list[str]:
    """Python that would create ``sentinel`` if anything evaluated it."""
    s = str(sentinel)
    return [
        f"__import__('os').system('touch {s}')",
        f"open('{s}', 'w').write('{MARK}')",
        f"x; __import__('pathlib').Path('{s}').touch()",
        f"x'*x; open('{s}','w')",
        f"exec(\"open('{s}','w')\")",
        f"eval('open(\"{s}\",\"w\")')",
        f"(lambda: open('{s}', 'w'))()",
        f"[open('{s}', 'w') for _ in 'a']",
        f"x.__class__.__bases__[0].__subclasses__()  # {MARK}",
        f"{{'{MARK}': open('{s}', 'w')}}",
        f"`touch {s}`",
        f"$(touch {s})",
        f"x'*x\n__import__('os').system('touch {s}')",
        f"\"{MARK}\"",
        f"'{MARK}'",
        f"x'*x # {MARK}",
        f"f'{{open(\"{s}\",\"w\")}}'",
    ]


@contextmanager
def watching_eval():
    """Record every text source handed to eval, exec or compile inside the block (the
    import system compiles module files as bytes; those are not user text)."""
    seen: list[str] = []
    originals = {name: getattr(builtins, name) for name in ("eval", "exec", "compile")}

    def spy(original):
        def wrapper(source, *args, **kwargs):
            if isinstance(source, str):
                seen.append(source)
            return original(source, *args, **kwargs)
        return wrapper

    for name, original in originals.items():
        setattr(builtins, name, spy(original))
    try:
        yield seen
    finally:
        for name, original in originals.items():
            setattr(builtins, name, original)


def clean(call):
    """``call()``'s result, or its MatcalcError after checking that it is clean."""
    with time_limit(10):
        try:
            return call()
        except MatcalcError as exc:
            assert_clean_error(exc)
            return exc


def run_cli(argv):
    out, err = io.StringIO(), io.StringIO()
    with time_limit(10), redirect_stdout(out), redirect_stderr(err):
        code = main(argv)
    assert code in (0, 1, 2)
    return code, out.getvalue(), err.getvalue()


def test_payloads_are_never_run(tmp_path):
    sentinel = tmp_path / "pwned"
    with watching_eval() as seen:
        for text in payloads(sentinel):
            result = clean(lambda: matcalc.parse(text))
            assert isinstance(result, ParseError), (text, result)
            clean(lambda: matcalc.diff(text, "x"))
            for fmt in FORMATS:
                code, out, _ = run_cli(["diff", text, "x", "--check", "--format", fmt])
                assert code == 1
                if fmt == "json":  # the error as JSON, the input as an inert string
                    data = json.loads(out)
                    assert data["input"] == text and data["error"]["type"] == "ParseError"
                else:
                    assert out == ""
            run_cli(["parse", text])
    assert not sentinel.exists()
    assert not [s for s in seen if MARK in s or str(sentinel) in s]


@pytest.mark.parametrize("kind", [
    "__import__('os').system('touch {s}')",
    "vector(__import__('os').system('touch {s}'))",
    "matrix(n, open('{s}','w'))",
    "symmetric({s})",
])
def test_declarations_are_not_run(tmp_path, kind):
    sentinel = tmp_path / "pwned"
    kind = kind.format(s=sentinel)
    with watching_eval() as seen:
        result = clean(lambda: matcalc.diff("x'*x", "x", vars={"x": kind}))
        assert isinstance(result, ParseError)
        code, out, err = run_cli(["diff", "x'*x", "x", "--let", f"x={kind}"])
    assert code in (1, 2) and out == ""
    assert not sentinel.exists()
    assert not [s for s in seen if str(sentinel) in s]


@pytest.mark.parametrize("name", [
    "__import__('os')", "x; import os", "x y", "os.system", "x'", "", "1x", "__class__",
    "х",  # Cyrillic
])
def test_hostile_names_are_refused(name):
    assert isinstance(clean(lambda: matcalc.diff("x'*x", name)), ParseError)
    assert isinstance(clean(lambda: matcalc.diff("x'*x", "x", vars={name: "scalar"})),
                      ParseError)


@pytest.mark.parametrize("text, wrt", [
    ("sum(exp(import))", "import"),
    ("lambda'*lambda", "lambda"),
    ("eval(x) + exec(x) + os(x) + open(x)", "x"),
    ("sum(print(x).*x)", "x"),
    ("np'*x", "np"),
    ("sum(exp(None*x)) + self'*x", "x"),
    ("def*sum(class) + import'*import", "import"),
])
def test_python_names_are_just_names(text, wrt):
    # keywords and builtins are ordinary names of the language; nothing calls them
    functions = {name: "function" for name in re.findall(r"([A-Za-z]\w*)\(", text)
                 if name not in E.RESERVED}
    with watching_eval() as seen:
        r = clean(lambda: matcalc.diff(text, wrt, vars=functions))
        assert not isinstance(r, MatcalcError), str(r)
        report = clean(r.check)
        code = r.numpy_code()
    assert not [source for source in seen if text in source]
    assert not isinstance(report, MatcalcError) and report.passed, str(report)
    ast.parse(code)  # parsed, never run: still a valid Python module
    imports = [line.strip() for line in code.splitlines()
               if line.strip().startswith(("import ", "from "))]
    assert imports == ["import numpy as _np"]


LOOKALIKES = [
    ("х'*x", 0),            # Cyrillic small ha
    ("x'*ｘ", 3),            # fullwidth x
    ("Α*x", 0),             # Greek capital alpha
    ("x′*x", 1),            # prime instead of an apostrophe
    ("x − y", 2),           # minus sign
    ("x ∗ y", 2),           # asterisk operator
    ("x'*x\u200b", 4),      # zero-width space
    ("\u202ex'*x", 0),      # right-to-left override
    ("x\u00a0+ y", 1),      # no-break space
    ("𝑥'*x", 0),            # mathematical italic x
    ("ℯ^x'*x", 0),          # script e
    ("x'*x；", 4),           # fullwidth semicolon
    ("x\u0301'*x", 1),      # combining acute accent
    ("x'*x\x00", 4),        # NUL
    ("x＋y", 1),             # fullwidth plus
]


@pytest.mark.parametrize("text, where", LOOKALIKES)
def test_unicode_lookalikes_get_a_caret_under_them(text, where):
    error = clean(lambda: matcalc.parse(text))
    assert isinstance(error, ParseError), (text, error)
    assert error.span[0] == where, (text, error.span)
    assert "unexpected character" in error.message


def test_values_are_not_evaluated(tmp_path):
    sentinel = tmp_path / "pwned"
    r = matcalc.diff("x'*x", "x")
    with watching_eval() as seen:
        result = clean(lambda: r.evaluate({"x": f"__import__('os').system('touch {sentinel}')"}))
        assert isinstance(result, MatcalcError)
        result = clean(lambda: r.evaluate({"x": [f"open('{sentinel}','w')", "1"]}))
        assert isinstance(result, MatcalcError)
    assert not sentinel.exists()
    assert not [source for source in seen if str(sentinel) in source]


@pytest.mark.parametrize("vars", ["x=vector", [("x", "vector")], 42])
def test_declarations_of_the_wrong_type_are_a_clean_error(vars):
    # a string or a list reached vars.items() in parse.py: an internal error
    result = clean(lambda: matcalc.diff("x'*x", "x", vars=vars))
    assert isinstance(result, MatcalcError)


@pytest.mark.parametrize("text", ["g(x) + ∇g(x)'*x", "lambda'*x", "\"}, \"evil\": 1, {\""])
def test_json_output_stays_json_for_hostile_input(text):
    code, out, err = run_cli(["diff", text, "x", "--format", "json"])
    assert json.loads(out)["input"] == text
    if code != 0:
        assert set(json.loads(out)) == {"input", "wrt", "kind", "vars", "error"}
        assert err.startswith("matcalc: ")


SOURCE_PATTERNS = {
    "eval/exec call": re.compile(r"(?<![\w.])(eval|exec)\s*\("),
    "compile call": re.compile(r"(?<![\w.])compile\s*\("),
    "dynamic import": re.compile(r"__import__|importlib\.import_module"),
    "SymPy string parsing": re.compile(r"\b(sympify|parse_expr|S\s*\(\s*['\"])"),
    "shell": re.compile(r"\b(os\.system|subprocess|os\.popen)\b"),
    "pickle": re.compile(r"\b(pickle|marshal|shelve)\b"),
}


#: The one reviewed place where matcalc runs code: ``build_function`` compiles the
#: module that matcalc itself printed from the expression tree (names sanitised by
#: python_name, texts as escaped literals).  Any other hit, or a second copy, fails.
REVIEWED = {("codegen/__init__.py", 'exec(compile(source, filename, "exec"), namespace)'):
            ("eval/exec call", "compile call")}


@pytest.mark.parametrize("what", list(SOURCE_PATTERNS))
def test_the_package_source_has_no_way_to_run_text(what):
    pattern = SOURCE_PATTERNS[what]
    hits = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            if pattern.search(code):
                hits.append((path.relative_to(PACKAGE).as_posix(), line.strip(), number))
    reviewed = [h for h in hits if what in REVIEWED.get(h[:2], ())]
    assert len(reviewed) <= 1, reviewed
    assert not [h for h in hits if h not in reviewed], hits
    if what in ("eval/exec call", "compile call"):
        assert reviewed, "the reviewed call site moved: review it again and update REVIEWED"


def test_build_function_compiles_only_the_generated_module(tmp_path):
    # names that are Python keywords and builtins, and a payload-shaped declaration
    r = matcalc.diff("lambda'*exec*lambda + sum(exp(import))", "lambda",
                     vars={"exec": "matrix"})
    r.numpy_code()               # the code generator's modules are imported before
    with watching_eval() as seen:
        f = r.build_function()
    assert seen == [r.numpy_code()]
    import numpy as np
    x, A = np.array([1.0, 2.0]), np.array([[2.0, 1.0], [0.0, 3.0]])
    value, gradient = f(exec_=A, import_=np.zeros(3), lambda_=x)
    assert np.isclose(value, x @ A @ x + 3.0) and np.allclose(gradient, (A + A.T) @ x)
