"""The LaTeX that matcalc writes renders in real renderers (issue 7).

* KaTeX, the renderer of the web page (vendored in ``matcalc/web/static/katex``), run
  by node: every printing case, every worked example's result and its steps, and a
  several-variable result, with ``throwOnError``.
* pdflatex with nothing but ``article`` and ``amsmath`` (``--standalone``), when it is
  installed (``.ci/run`` installs Debian's texlive-latex-base).
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

import matcalc
from helpers import load_examples
from test_printing import CASES, _parse
from matcalc.printing import latex

ROOT = Path(__file__).resolve().parent.parent
KATEX = ROOT / "matcalc" / "web" / "static" / "katex" / "katex.min.js"
COMPUTE = {"gradient": matcalc.diff, "jacobian": matcalc.jacobian,
           "hessian": matcalc.hessian}

RENDER = r"""
const katex = require(process.argv[1]);
let input = "";
process.stdin.on("data", d => input += d);
process.stdin.on("end", () => {
  const out = JSON.parse(input).map(tex => {
    try {
      const html = katex.renderToString(tex, {displayMode: true, throwOnError: true,
                                              strict: "error"});
      return html.includes("katex-error") ? "rendered an error box" : null;
    } catch (e) {
      return String(e.message || e);
    }
  });
  process.stdout.write(JSON.stringify(out));
});
"""


def every_latex() -> list[tuple[str, str]]:
    """(label, LaTeX) of everything the tests render."""
    out = [(f"case {text}", latex(_parse(text))) for text, _ in CASES]
    for case in load_examples():
        r = COMPUTE[case["kind"]](case["expr"], case["wrt"], vars=case["vars"])
        out.append((f"{case['name']}", r.latex()))
        out.append((f"{case['name']} steps", r.latex(steps=True)))
    rs = matcalc.diff("norm2(W2*tanh(W1*x+b1) - y)^2", ["W1", "b1", "W2"])
    out += [("several variables", rs.latex()), ("several variables steps",
                                                rs.latex(steps=True))]
    r = matcalc.diff("sum(softmax(Q*K'/sqrt(c), 2)*V .* G)", "Q")
    out += [("attention", r.latex()), ("attention steps", r.latex(steps=True))]
    return out


@pytest.fixture(scope="module")
def rendered_by_katex():
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed; .ci/run installs it (Debian's nodejs)")
    items = every_latex()
    done = subprocess.run([node, "-e", RENDER, str(KATEX)], input=json.dumps(
        [tex for _, tex in items]), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return list(zip(items, json.loads(done.stdout)))


def test_katex_renders_every_latex(rendered_by_katex):
    failures = [f"{label}: {error}\n  {tex}" for (label, tex), error in rendered_by_katex
                if error is not None]
    assert not failures, "\n".join(failures)
    assert len(rendered_by_katex) > 150


def test_katex_rejects_broken_latex():
    # the harness can fail: a LaTeX error is reported, not swallowed
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    done = subprocess.run([node, "-e", RENDER, str(KATEX)],
                          input=json.dumps([r"\frac{x", r"\undefinedcommand x", "x^\\top"]),
                          capture_output=True, text=True, timeout=60)
    errors = json.loads(done.stdout)
    assert errors[0] and errors[1] and errors[2] is None


def test_pdflatex_compiles_standalone_documents(tmp_path):
    pdflatex = shutil.which("pdflatex")
    if pdflatex is None:
        pytest.skip("pdflatex is not installed; .ci/run installs texlive-latex-base")
    bodies = [tex for _, tex in every_latex()]
    document = matcalc.diff("g(W*x+b)", "W").latex(standalone=True)
    head, tail = document.split("\\[", 1)[0], "\\end{document}\n"
    text = head + "".join(f"\\[\n{b}\n\\]\n" for b in bodies) + tail
    (tmp_path / "all.tex").write_text(text, encoding="utf-8")
    done = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error", "all.tex"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:]
    assert (tmp_path / "all.pdf").stat().st_size > 1000


def test_cli_standalone_document(tmp_path, capsys):
    from matcalc.cli import main
    assert main(["diff", "g(W*x+b)", "W", "--format", "latex", "--standalone", "--steps"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("\\documentclass{article}\n\\usepackage{amsmath}\n")
    assert "\\begin{aligned}" in out and out.rstrip().endswith("\\end{document}")
