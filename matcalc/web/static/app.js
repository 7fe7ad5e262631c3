// The page of `matcalc serve`: reads the expression, lists its variables (POST
// /api/inspect), computes (POST /api/diff) and shows the answer.
// Safety: user text and server text are only ever set with textContent; the only
// HTML that is built from data is KaTeX's rendering of LaTeX (trust: false). Nothing
// is evaluated, and the page loads nothing but this server's own files.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const KINDS = ["scalar", "vector", "matrix", "symmetric"];
  const GREEK = new Set(("alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta " +
    "iota kappa lambda mu nu xi pi varpi rho varrho sigma varsigma tau upsilon phi varphi " +
    "chi psi omega Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega").split(" "));
  const EXAMPLES = [
    {expr: "g(W*x+b)", wrt: "W"},
    {expr: "tr(A*X*B)", wrt: "X"},
    {expr: "x'*S*x", wrt: "x", let: ["S=symmetric"]},
    {expr: "log(det(X))", wrt: "X"},
    {expr: "-y'*log(softmax(W*x))", wrt: "W"},
    {expr: "softmax(z)", wrt: "z", kind: "jacobian"},
    {expr: "sum(log(vector(1)+exp(X*w))) - y'*X*w", wrt: "w", kind: "hessian"},
  ];

  const state = {
    found: {},        // the last inspect: name -> {kind, shape, declaration}
    exprKind: null,   // kind of the whole expression (scalar, vector, ...)
    decl: {},         // name -> {kind, sizes}: what the user declared in the table
    wrt: [],          // the variables to differentiate by, in the order picked
    answer: null,     // the last /api/diff answer
    backend: null,    // the code tab shown
  };
  let inspectSeq = 0;
  let computeSeq = 0;
  let inspectTimer = null;
  let inspectPending = false;  // typed since the variables were last listed

  // ---------------------------------------------------------------- helpers
  function el(tag, props = {}, children = []) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (key === "text") node.textContent = value;
      else if (key === "className") node.className = value;
      else node.setAttribute(key, value);
    }
    for (const child of children) node.append(child);
    return node;
  }

  async function post(path, body) {
    let response;
    try {
      response = await fetch(path, {
        method: "POST",
        headers: {"Content-Type": "application/json"},
        body: JSON.stringify(body),
      });
    } catch (err) {
      return {error: {type: "NetworkError", message: "the matcalc server does not answer; is `matcalc serve` still running?"}};
    }
    try {
      return await response.json();
    } catch (err) {
      return {error: {type: "ServerError", message: `the server answered ${response.status} without JSON`}};
    }
  }

  function renderTex(tex, node, display = true) {
    node.textContent = "";
    if (window.katex) {
      window.katex.render(tex, node, {
        displayMode: display, throwOnError: false, trust: false, strict: "ignore",
        maxSize: 100, maxExpand: 1000,
      });
    } else {
      node.textContent = tex; // KaTeX did not load: show the source
    }
  }

  function texName(name) {
    // mirrors the engine's latex_name: W1 -> W_{1}, lam -> \lambda, W_out -> W_{\mathit{out}}
    const word = (w) => GREEK.has(w) ? "\\" + w : w === "lam" ? "\\lambda" :
      w.length === 1 ? w : "\\mathit{" + w.replace(/_/g, "\\_") + "}";
    if (GREEK.has(name) || name === "lam") return word(name);
    let stem = name, sub = "";
    const i = name.indexOf("_");
    if (i > 0 && i < name.length - 1) { stem = name.slice(0, i); sub = name.slice(i + 1); }
    else if (i < 0) {
      const m = /^([A-Za-z][A-Za-z0-9]*?)([0-9]+)$/.exec(name);
      if (m) { stem = m[1]; sub = m[2]; }
    }
    if (!sub) return word(name);
    const subTex = /^[0-9]+$/.test(sub) ? sub : /^[A-Za-z]/.test(sub) ? texName(sub) : word(sub);
    return `${word(stem)}_{${subTex}}`;
  }

  function leftSide(kind, wrt) {
    const found = (name) => (state.found[name] || {}).kind || "vector";
    const isMatrix = (name) => ["matrix", "symmetric"].includes(found(name));
    const [x, y] = wrt.map(texName);
    if (kind === "gradient") return `\\frac{\\partial L}{\\partial ${x}}`;
    if (kind === "jacobian") {
      if (isMatrix(wrt[0]) || ["matrix", "symmetric"].includes(state.exprKind)) {
        return `\\frac{\\partial \\operatorname{vec}(F)}{\\partial \\operatorname{vec}(${x})^\\top}`;
      }
      return `\\frac{\\partial F}{\\partial ${x}}`;
    }
    if (wrt.length === 2) return `\\frac{\\partial^2 L}{\\partial ${x}\\,\\partial ${y}^\\top}`;
    if (isMatrix(wrt[0])) {
      return `\\frac{\\partial \\operatorname{vec}(\\nabla L)}{\\partial \\operatorname{vec}(${x})^\\top}`;
    }
    return `\\frac{\\partial^2 L}{\\partial ${x}\\,\\partial ${x}^\\top}`;
  }

  async function copyText(text, button) {
    let ok = false;
    try {
      await navigator.clipboard.writeText(text);
      ok = true;
    } catch (err) {
      const area = el("textarea", {"aria-hidden": "true"});
      area.value = text;
      area.style.position = "fixed";
      area.style.left = "-9999px";
      document.body.append(area);
      area.select();
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      area.remove();
    }
    const label = button.dataset.label || button.textContent;
    button.dataset.label = label;
    button.textContent = ok ? "Copied" : "Copy failed: select and copy by hand";
    setTimeout(() => { button.textContent = label; }, 1500);
  }

  // ------------------------------------------------------------ the inputs
  function kind() {
    return document.querySelector("input[name=kind]:checked").value;
  }

  function declarations() {
    const vars = {};
    for (const token of $("extra-decl").value.trim().split(/\s+/)) {
      const i = token.indexOf("=");
      if (i > 0 && i < token.length - 1) vars[token.slice(0, i)] = token.slice(i + 1);
    }
    for (const [name, d] of Object.entries(state.decl)) {
      if (!(name in state.found) && Object.keys(state.found).length) continue;
      const k = d.kind || (d.sizes ? (state.found[name] || {}).kind : "");
      if (!k) continue;
      vars[name] = d.sizes && k !== "scalar" ? `${k}(${d.sizes})` : k;
    }
    return vars;
  }

  function showError(error) {
    const box = $("input-error");
    if (!error) {
      box.hidden = true;
      $("caret-line").hidden = true;
      $("expr").removeAttribute("aria-invalid");
      return;
    }
    $("error-type").textContent = (error.type || "Error") + ":";
    $("error-message").textContent = error.message || "";
    $("error-caret").textContent = error.caret || "";
    // The caret goes right under the typed characters when the whole input is in
    // view; a long (scrolled) input gets the engine's caret lines in the box instead.
    const input = $("expr");
    const under = Array.isArray(error.span) && input.value === error.input_text &&
      input.scrollWidth <= input.clientWidth;
    $("caret-line").textContent = under ? caretLine(error.span) : "";
    $("caret-line").hidden = !under;
    $("error-caret").hidden = under || !error.caret;
    box.hidden = false;
    if (error.span) input.setAttribute("aria-invalid", "true");
  }

  function caretLine([start, end]) {
    return " ".repeat(Math.max(0, start)) + "^".repeat(Math.max(1, end - start));
  }

  function setStatus(text, bad = false) {
    $("status").textContent = text;
    $("status").classList.toggle("bad", bad);
  }

  // ---------------------------------------------------------- variables
  function scheduleInspect() {
    clearTimeout(inspectTimer);
    inspectTimer = setTimeout(inspect, 250);
    inspectPending = true;
  }

  async function inspect() {
    clearTimeout(inspectTimer);
    inspectPending = false;
    const input = $("expr").value;
    const seq = ++inspectSeq;
    if (!input.trim()) {
      state.found = {};
      renderVariables();
      showError(null);
      return {};
    }
    const answer = await post("/api/inspect", {input, vars: declarations()});
    if (seq !== inspectSeq) return answer; // a newer keystroke has its own answer coming
    if (answer.error) {
      showError({...answer.error, input_text: input});
      for (const row of $("var-rows").children) row.classList.add("stale");
      return answer;
    }
    showError(null);
    state.found = answer.variables || {};
    state.exprKind = answer.kind;
    state.wrt = state.wrt.filter((name) => name in state.found);
    renderVariables();
    return answer;
  }

  function shapeText(shape) {
    return shape && shape.length === 2 ? `${shape[0]}×${shape[1]}` : "";
  }

  function renderVariables() {
    const rows = $("var-rows");
    rows.textContent = "";
    const names = Object.keys(state.found);
    $("var-table").hidden = names.length === 0;
    $("no-variables").hidden = names.length > 0;
    for (const name of names) {
      const info = state.found[name];
      const d = state.decl[name] || {kind: "", sizes: ""};
      const by = el("input", {type: "checkbox", id: `by-${name}`, "aria-label": `differentiate by ${name}`});
      by.checked = state.wrt.includes(name);
      by.addEventListener("change", () => pick(name, by.checked));
      const select = el("select", {"aria-label": `declare ${name} as`});
      select.append(el("option", {value: "", text: "as found"}));
      for (const k of KINDS) select.append(el("option", {value: k, text: k}));
      select.value = d.kind;
      const sizes = el("input", {type: "text", "aria-label": `sizes of ${name}`,
        // the sizes a declaration takes: vector(n), symmetric(n), matrix(m,n)
        placeholder: info.kind === "scalar" ? "" :
          info.kind === "matrix" ? info.shape.join(",") : String(info.shape[0])});
      sizes.value = d.sizes;
      const changed = () => {
        state.decl[name] = {kind: select.value, sizes: sizes.value.replace(/\s+/g, "")};
        inspect().then(() => { if (state.wrt.length) compute(); });
      };
      select.addEventListener("change", changed);
      sizes.addEventListener("change", changed);
      const label = el("label", {for: `by-${name}`, text: name});
      rows.append(el("tr", {}, [
        el("td", {}, [by]),
        el("td", {className: "name"}, [label]),
        el("td", {className: "found", text: `${info.kind} ${info.kind === "scalar" ? "" : shapeText(info.shape)}`}),
        el("td", {}, [select]),
        el("td", {}, [sizes]),
      ]));
    }
  }

  function pick(name, on) {
    state.wrt = state.wrt.filter((n) => n !== name);
    if (on) {
      state.wrt.push(name);
      const most = kind() === "jacobian" ? 1 : kind() === "hessian" ? 2 : Infinity;
      state.wrt = state.wrt.slice(-most);
    }
    for (const box of $("var-rows").querySelectorAll("input[type=checkbox]")) {
      box.checked = state.wrt.includes(box.id.slice(3));
    }
    if (state.wrt.length) compute();
  }

  // ------------------------------------------------------------ compute
  function writeUrl() {
    const params = new URLSearchParams();
    params.set("expr", $("expr").value);
    if (state.wrt.length) params.set("wrt", state.wrt.join(","));
    if (kind() !== "gradient") params.set("kind", kind());
    if (!$("check").checked) params.set("check", "0");
    for (const [name, decl] of Object.entries(declarations())) params.append("let", `${name}=${decl}`);
    history.replaceState(null, "", `${location.pathname}?${params}`);
  }

  async function compute() {
    const input = $("expr").value;
    if (!input.trim()) {
      setStatus("Type an expression first, for example g(W*x+b).", true);
      return;
    }
    // the variables of what was typed last decide what can be differentiated
    const found = inspectPending || !state.wrt.length ? await inspect() : {};
    if (!state.wrt.length) {
      if (found.error) {
        setStatus("No result: see the error above.", true);
        return;
      }
      const first = Object.keys(state.found)[0];
      if (!first) {
        setStatus("The expression has no variable to differentiate by.", true);
        return;
      }
      pick(first, true);
      return; // pick() computes
    }
    const seq = ++computeSeq;
    setStatus("computing…");
    writeUrl();
    const body = {input, wrt: state.wrt.length === 1 ? state.wrt[0] : state.wrt, kind: kind(),
      vars: declarations(), check: $("check").checked, code: true};
    const answer = await post("/api/diff", body);
    if (seq !== computeSeq) return;
    if (answer.error) {
      showError({...answer.error, input_text: input});
      setStatus("No result: see the error above.", true);
      $("result").hidden = true;
      return;
    }
    showError(null);
    setStatus("");
    state.answer = answer;
    renderAnswer(answer);
  }

  function renderAnswer(answer) {
    const results = answer.results ||
      [{wrt: answer.wrt, text: answer.result.text, latex: answer.result.latex}];
    const math = $("result-math");
    math.textContent = "";
    const sources = [];
    for (const r of results) {
      const wrt = Array.isArray(r.wrt) ? r.wrt : [r.wrt];
      const tex = /\\frac\{\\partial/.test(r.latex) ? r.latex : `${leftSide(answer.kind, wrt)} = ${r.latex}`;
      sources.push(tex);
      const node = el("div", {className: "result-line"});
      math.append(node);
      renderTex(tex, node);
    }
    $("result-text").textContent = results.map((r) => r.text).join("\n");
    const flat = answer.result && answer.result.flat;  // the flat form, where the engine has one
    $("result-flat").textContent = flat || "";
    $("flat-form").hidden = !flat || flat === answer.result.text;
    $("latex-source").textContent = sources.join("\n");
    renderSteps(answer);
    renderCheck(answer);
    renderCode(answer);
    $("result").hidden = false;
  }

  function renderSteps(answer) {
    const box = $("steps");
    box.textContent = "";
    if (Array.isArray(answer.steps_latex) && answer.steps_latex.length) {
      const list = el("ol");
      for (const line of answer.steps_latex) {
        const item = el("li");
        list.append(item);
        renderTex(line, item, false);
      }
      box.append(list);
    }
    box.append(el("pre", {text: (answer.steps || []).join("\n"), "aria-label": "steps as text"}));
  }

  function renderCheck(answer) {
    const p = $("check-verdict");
    p.className = "verdict";
    const c = answer.check;
    if (answer.check_error) {
      p.textContent = `numeric check not possible: ${answer.check_error.message}`;
      p.classList.add("bad");
    } else if (c) {
      const sizes = Object.entries(c.sizes || {}).map(([k, v]) => `${k}=${v}`).join(", ");
      const worst = c.worst_error === null ? "not a number" : Number(c.worst_error).toExponential(1);
      p.textContent = `${c.passed ? "✓ check passed" : "✗ check FAILED"}: worst error ${worst} ` +
        `(tolerance ${Number(c.tolerance).toExponential(0)}) at ${c.points} random points${sizes ? "; sizes " + sizes : ""}`;
      p.classList.add(c.passed ? "good" : "bad");
    }
    p.hidden = !(c || answer.check_error);
  }

  function renderCode(answer) {
    const tabs = $("code-tabs");
    tabs.textContent = "";
    const code = answer.code || {};
    const names = Object.keys(code);
    $("code-box").hidden = names.length === 0;
    if (!names.length) return;
    if (!names.includes(state.backend)) state.backend = names[0];
    for (const name of names) {
      const tab = el("button", {type: "button", role: "tab", text: name,
        "aria-selected": String(name === state.backend)});
      tab.addEventListener("click", () => { state.backend = name; renderCode(answer); });
      tabs.append(tab);
    }
    const chosen = code[state.backend];
    $("code-source").textContent = chosen.source !== undefined ? chosen.source :
      `# ${state.backend} code is not available for this derivative: ${chosen.error.message}`;
    $("download-code").disabled = chosen.source === undefined;
    $("copy-code").disabled = chosen.source === undefined;
  }

  function download() {
    const source = $("code-source").textContent;
    const name = `matcalc_${state.answer.kind}_${[].concat(state.answer.wrt).join("_")}_${state.backend}.py`;
    const url = URL.createObjectURL(new Blob([source], {type: "text/x-python"}));
    const link = el("a", {href: url, download: name});
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  // -------------------------------------------------------------- start
  function readUrl() {
    const params = new URLSearchParams(location.search);
    $("expr").value = params.get("expr") || "";
    const k = params.get("kind");
    if (["gradient", "jacobian", "hessian"].includes(k)) {
      document.querySelector(`input[name=kind][value=${k}]`).checked = true;
    }
    $("check").checked = params.get("check") !== "0";
    const extra = [];
    for (const item of params.getAll("let")) {
      const i = item.indexOf("=");
      if (i <= 0) continue;
      const name = item.slice(0, i);
      const m = /^(scalar|vector|matrix|symmetric)(?:\((.*)\))?$/.exec(item.slice(i + 1));
      if (m) state.decl[name] = {kind: m[1], sizes: m[2] || ""};
      else extra.push(item);
    }
    $("extra-decl").value = extra.join(" ");
    state.wrt = (params.get("wrt") || "").split(",").filter(Boolean);
    return Boolean(params.get("expr"));
  }

  function showExamples() {
    const p = el("p", {className: "hint", id: "examples"}, ["Examples: "]);
    EXAMPLES.forEach((ex, i) => {
      const params = new URLSearchParams({expr: ex.expr, wrt: ex.wrt});
      if (ex.kind) params.set("kind", ex.kind);
      for (const l of ex.let || []) params.append("let", l);
      if (i) p.append(" · ");
      p.append(el("a", {href: `/?${params}`}, [el("code", {text: ex.expr})]));
    });
    $("hint").after(p);
  }

  async function start() {
    $("form").addEventListener("submit", (event) => { event.preventDefault(); compute(); });
    $("expr").addEventListener("input", () => { $("caret-line").hidden = true; scheduleInspect(); });
    $("extra-decl").addEventListener("change", () => inspect());
    for (const radio of document.querySelectorAll("input[name=kind]")) {
      radio.addEventListener("change", () => {
        const most = kind() === "jacobian" ? 1 : kind() === "hessian" ? 2 : Infinity;
        if (state.wrt.length > most) pick(state.wrt[state.wrt.length - 1], true);
        else if (state.wrt.length) compute();
      });
    }
    $("check").addEventListener("change", () => { if (state.wrt.length) compute(); });
    $("copy-latex").addEventListener("click", (e) => copyText($("latex-source").textContent, e.target));
    $("copy-code").addEventListener("click", (e) => copyText($("code-source").textContent, e.target));
    $("download-code").addEventListener("click", download);
    $("copy-link").addEventListener("click", (e) => copyText(location.href, e.target));
    showExamples();
    fetch("/api/info").then((r) => r.json()).then((info) => { $("version").textContent = info.version; })
      .catch(() => {});
    if (readUrl()) {
      await inspect();
      if (state.wrt.length) {
        renderVariables();
        await compute();
      }
    }
    document.body.dataset.ready = "true";
  }

  document.addEventListener("DOMContentLoaded", start);
})();
