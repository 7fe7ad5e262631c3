"""The tutorials in notebooks/ run from top to bottom, and say what they claim.

Each notebook asserts its own key facts, so a wrong derivative fails its run. On top of
that, this test reads the outputs of the fresh run: every notebook has markers that must
appear (the classic question prints `kron(x', eye(m))`), and numbers that must be small
or large enough (the final gradient norm of Newton's method, the drop of the training
loss). The notebooks are committed with their outputs, so that they render on GitHub.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))

# notebook -> (strings its outputs contain, {regex with one number: (bound, "<" or ">")},
#              modules it needs besides the test extra's notebook runner)
EXPECTED = {
    "tutorial.ipynb": (["∇g(W*x+b)*x'", "check passed", "kron(B', A)"], {}, []),
    "01_classic_question.ipynb": (
        ["kron(x', eye(m))", "shape of da/dW: (3, 3, 4)", "a = W*x + b", "p = ∇g(a)",
         "da = dW*x", "dL = p : dW*x = p*x' : dW", "∂L/∂W = p*x'", "softmax(W*x+b)*x'",
         "check passed"],
        {r"largest difference: (\S+)": (1e-8, "<")}, []),
    "02_matrix_cookbook.ipynb": (
        ["(49)  det(X)", "det(X)*inv(X)'", "(57)  logdet(X)", "(101)  tr(A*X*B)", "A'*B'",
         "(129)  norm2(x-a)", "kron(B', A)", "book agrees"],
        {r"(\d+) Cookbook identities: every one passed": (50, ">")}, []),
    "03_newton_logistic_regression.ipynb": (
        ["X'*(sigmoid(X*w)-y) + lam*w", "Newton's weights agree with scikit-learn's"],
        {r"final gradient norm (\S+)": (1e-8, "<"),
         r"largest difference between the weights: (\S+)": (1e-5, "<")}, ["sklearn"]),
    "04_train_a_network.ipynb": (
        ["∂L/∂b1 = 2*sum(G, 2)", "where H = tanh(W1*X+b1)"],
        {r"by a factor of ([\d,]+)": (1000, ">"),
         r"generated vs finite differences: relative difference (\S+)": (1e-6, "<")}, []),
}


def test_there_is_a_notebook():
    assert NOTEBOOKS


def test_every_notebook_says_what_to_expect_of_it():
    assert sorted(p.name for p in NOTEBOOKS) == sorted(EXPECTED)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_committed_executed(path):
    # GitHub shows the committed outputs; an unexecuted notebook renders as bare code
    cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    assert cells and all(c["execution_count"] for c in cells), f"{path.name} is not executed"
    assert any(c["outputs"] for c in cells), path.name
    errors = [o for c in cells for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors, errors


def output_text(nb) -> str:
    """Everything the code cells printed or displayed as text."""
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            parts.append(out.get("text", ""))
            parts.append(out.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    markers, numbers, needs = EXPECTED[path.name]
    for module in needs:
        pytest.importorskip(module, reason=f"{path.name} needs {module} (the test extra)")
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = output_text(nb)
    for marker in markers:
        assert marker in outputs, f"{path.name} does not print {marker!r}"
    for pattern, (bound, relation) in numbers.items():
        found = re.search(pattern, outputs)
        assert found, f"{path.name} does not print {pattern!r}"
        value = float(found.group(1).replace(",", ""))
        assert value < bound if relation == "<" else value > bound, (pattern, value)
