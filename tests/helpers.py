"""Shared helpers: numeric comparison of expressions at random points."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np

import matcalc
from matcalc.numeric import Evaluator, draw_points, dims_of
from matcalc.parse import parse_typed

ROOT = Path(__file__).resolve().parent.parent
#: the suite's own copy of ../shared/examples.json, so that a plain clone tests alone
EXAMPLES = Path(__file__).resolve().parent / "data" / "examples.json"


def load_examples() -> list[dict]:
    """The worked cases (expression, variable, declarations, expected form)."""
    return json.loads(EXAMPLES.read_text(encoding="utf-8"))


def token_count(text: str) -> int:
    from matcalc.expr import TOKEN_RE
    return len(TOKEN_RE.findall(text))


def values_equal(result: matcalc.Result, other_text: str, symmetric: bool = False,
                 points: int = 3, seed: int = 1) -> float:
    """Largest relative difference between ``result.expr`` and ``other_text`` (parsed with
    the result's declarations) at random points of the function's domain."""
    rng = np.random.default_rng(seed)
    pts = draw_points(result.differentiated, dict(result.variables), result.functions, rng,
                      points, extra_dims=dims_of(result.expr))
    worst = 0.0
    for p in pts:
        values = dict(p.values)
        a = np.atleast_1d(np.asarray(result.evaluate(values), dtype=float))
        # sizes the other text cannot infer (a lone eye) come from the result's value
        size = a.reshape(a.shape[0], -1).shape
        shape = tuple(d if d != 1 else 1 for d in size) if a.ndim == 2 else (size[0], 1)
        other = parse_typed(other_text, result.vars, shape=shape)
        b = Evaluator(values, other.variables)(other.expr)
        b = np.asarray(b, dtype=float).reshape(a.shape)
        if symmetric:
            a, b = (a + a.T) / 2, (b + b.T) / 2
        scale = max(1.0, float(np.abs(a).max()), float(np.abs(b).max()))
        worst = max(worst, float(np.abs(a - b).max()) / scale)
    return worst


def load_generated(code: str, tmp_path, name: str = "generated"):
    """Import a generated module from a file, as a user who pasted it would."""
    path = tmp_path / f"{name}.py"
    path.write_text(code, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
