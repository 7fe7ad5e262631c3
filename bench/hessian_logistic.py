"""Benchmark: the Hessian of the logistic loss, as one closed form versus column by column.

    python bench/hessian_logistic.py [--n 2000] [--repeat 3]

matcalc's Hessian of sum(log(1+exp(X*w))) - y'*X*w is X'*diag(s-s.^2)*X with
s = sigmoid(X*w): one matrix product.  An autodiff framework builds the same n×n matrix
from n Hessian-vector products (jacfwd of grad).  The script times, side by side:

* one matrix product X'*X (the unit),
* matcalc's generated NumPy code and Result.evaluate,
* the peer: n Hessian-vector products with NumPy (each one forward and one backward
  matrix-vector product, as autodiff does), and torch.autograd.functional.hessian when
  PyTorch is installed (vectorize=False: n backward passes, and vectorize=True).

It prints each time and its ratio to one matrix product.  Not part of the test suite.
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import matcalc  # noqa: E402

LOSS = "sum(log(vector(1)+exp(X*w))) - y'*X*w"


def best_of(repeat: int, fn) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="rows and columns of X")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    n = args.n
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, n)) / np.sqrt(n)
    w = rng.normal(size=n)
    y = (rng.random(n) > 0.5).astype(float)

    r = matcalc.hessian(LOSS, "w")
    print(f"matcalc: hessian = {r}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "hessian_code.py"
        path.write_text(r.numpy_code(), encoding="utf-8")
        spec = importlib.util.spec_from_file_location("hessian_code", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)

    s = 1 / (1 + np.exp(-X @ w))
    d = s * (1 - s)

    def hvp_columns():
        # what jacfwd(grad) does: one Hessian-vector product per column
        H = np.empty((n, n))
        for i in range(n):
            e = np.zeros(n)
            e[i] = 1.0
            H[:, i] = X.T @ (d * (X @ e))
        return H

    reference = X.T @ (d[:, None] * X)
    assert np.allclose(module.f(X, w, y)[1], reference)
    assert np.allclose(r.evaluate({"X": X, "w": w, "y": y}), reference)

    rows = [("one matrix product X'*X", best_of(args.repeat, lambda: X.T @ X)),
            ("matcalc generated NumPy code", best_of(args.repeat, lambda: module.f(X, w, y))),
            ("matcalc Result.evaluate", best_of(args.repeat,
                                                lambda: r.evaluate({"X": X, "w": w, "y": y}))),
            (f"peer: {n} Hessian-vector products (NumPy)", best_of(1, hvp_columns))]
    try:
        import torch
    except ImportError:
        print("(PyTorch is not installed: its rows are skipped)")
    else:
        Xt, yt = torch.tensor(X), torch.tensor(y)

        def loss(v):
            z = Xt @ v
            return torch.nn.functional.softplus(z).sum() - yt @ z

        wt = torch.tensor(w)
        for vectorize in (False, True):
            seconds = best_of(1, lambda: torch.autograd.functional.hessian(
                loss, wt, vectorize=vectorize))
            rows.append((f"peer: torch hessian (vectorize={vectorize})", seconds))
    unit = rows[0][1]
    print(f"\nn = {n}")
    for name, seconds in rows:
        print(f"  {name:44s} {seconds * 1e3:10.1f} ms   {seconds / unit:8.1f} × X'*X")
    return 0


if __name__ == "__main__":
    sys.exit(main())
