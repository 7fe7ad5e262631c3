"""The worked examples written by hand as SymPy matrix expressions (the SymPy peer).

Each translation is a function of a namespace ``s`` whose attributes are the case's
variables: ``sympy.MatrixSymbol`` (matrices n×n, vectors n×1) or ``sympy.Symbol``
(scalars).  SymPy has no ``norm2``, ``sum`` or element-wise functions on matrix
symbols, so they are spelled the way SymPy can take them: ``norm2(v)^2`` as ``v'*v``
(a Frobenius norm as a trace), ``sum(M)`` as a product with all-ones matrices, and
``exp(M)`` as ``M.applyfunc(exp)``.  A case with no translation is one SymPy cannot
state (``hess_logdet_X`` asks for a 4-d Hessian).

Nothing here parses text: the translations are Python written once, by hand.
"""
from __future__ import annotations


def translations(sp) -> dict:
    """name -> (lambda s: SymPy expression).  ``sp`` is the sympy module."""
    one = sp.OneMatrix
    had = sp.hadamard_product

    def total(m):
        """sum of all entries"""
        rows, cols = m.shape
        return one(1, rows) * m * one(cols, 1) if cols != 1 else one(1, rows) * m

    def sq(v):
        """norm2(v)^2 (Frobenius for a matrix)"""
        return v.T * v if v.shape[1] == 1 else sp.Trace(v.T * v)

    def ew(fn, m):
        return m.applyfunc(fn)

    def softplus(m):
        return m.applyfunc(lambda z: sp.log(1 + sp.exp(z)))

    def lse(v):
        return sp.log(total(ew(sp.exp, v))[0, 0])

    def mlp2(s):
        return s.W2 * ew(sp.tanh, s.W1 * s.x + s.b1) + s.b2 - s.y

    det, tr, inv, log = sp.Determinant, sp.Trace, sp.Inverse, sp.log
    return {
        "cookbook_det_X": lambda s: det(s.X),
        "cookbook_det_XtAX_symA": lambda s: det(s.X.T * s.A * s.X),
        "cookbook_logdet_X": lambda s: log(det(s.X)),
        "cookbook_logdet_general_form": lambda s: log(det(s.A + s.t * s.B)),
        "cookbook_det_invX": lambda s: det(inv(s.X)),
        "cookbook_tr_X": lambda s: tr(s.X),
        "cookbook_aTXb": lambda s: s.a.T * s.X * s.b,
        "cookbook_aTXTa": lambda s: s.a.T * s.X.T * s.a,
        "cookbook_xTBx_general": lambda s: s.x.T * s.B * s.x,
        "cookbook_wls_s": lambda s: (s.x - s.A * s.s).T * s.W * (s.x - s.A * s.s),
        "cookbook_wls_x": lambda s: (s.x - s.A * s.s).T * s.W * (s.x - s.A * s.s),
        "cookbook_aT_XnT_Xn_b": lambda s: s.a.T * (s.X ** 2).T * s.X ** 2 * s.b,
        "cookbook_quad_plus_linear": lambda s: s.x.T * s.A * s.x + s.b.T * s.x,
        "cookbook_tr_AXtB": lambda s: tr(s.A * s.X.T * s.B),
        "cookbook_tr_kron_AX": lambda s: tr(s.A) * tr(s.X),
        "cookbook_tr_XtBX": lambda s: tr(s.X.T * s.B * s.X),
        "cookbook_tr_XBXt": lambda s: tr(s.X * s.B * s.X.T),
        "cookbook_tr_AXBX": lambda s: tr(s.A * s.X * s.B * s.X),
        "cookbook_tr_BtXtCXB": lambda s: tr(s.B.T * s.X.T * s.C * s.X * s.B),
        "cookbook_tr_AXBC_squared": lambda s: tr((s.A * s.X * s.B + s.C)
                                                 * (s.A * s.X * s.B + s.C).T),
        "cookbook_tr_AX3": lambda s: tr(s.A * s.X ** 3),
        "cookbook_tr_inv_XtCX_XtBX": lambda s: tr(inv(s.X.T * s.C * s.X)
                                                  * (s.X.T * s.B * s.X)),
        "cookbook_norm2_sq": lambda s: sq(s.x),
        "cookbook_det_symX": lambda s: det(s.X),
        "quad_sym_x": lambda s: s.x.T * s.S * s.x,
        "bilinear_y": lambda s: s.x.T * s.A * s.y,
        "det_AX": lambda s: det(s.A * s.X),
        "logdet_I_plus_XXt": lambda s: log(det(sp.Identity(s.n) + s.X * s.X.T)),
        "tr_AX2": lambda s: tr(s.A * s.X ** 2),
        "ew_sum_log": lambda s: total(ew(sp.log, s.x)),
        "ew_sum_sin_cos": lambda s: total(had(ew(sp.sin, s.x), ew(sp.cos, s.x))),
        "ew_norm1_residual": lambda s: total(ew(sp.Abs, s.A * s.x - s.b)),
        "ew_sum_exp_Ax": lambda s: total(ew(sp.exp, s.A * s.x)),
        "ew_exp_scalar": lambda s: ew(sp.exp, s.a.T * s.x),
        "ew_sqrt_xTx": lambda s: ew(sp.sqrt, s.x.T * s.x),
        "ew_tr_At_logX": lambda s: tr(s.A.T * ew(sp.log, s.X)),
        "ew_sum_exp_sx": lambda s: total(ew(sp.exp, s.s * s.x)),
        "seed_sum_exp_b": lambda s: total(ew(sp.exp, s.W * s.x + s.b)),
        "seed_norm2_sq_b": lambda s: sq(s.W * s.x + s.b),
        "seed_softplus_b": lambda s: total(softplus(s.W * s.x + s.b)),
        "seed_sum_tanh_b": lambda s: total(ew(sp.tanh, s.W * s.x + s.b)),
        "ml_least_squares_b": lambda s: sq(s.A * s.x - s.b),
        "ml_ridge_lam": lambda s: sq(s.A * s.x - s.b) + s.lam * sq(s.x),
        "ml_logistic_pm1": lambda s: total(softplus(-had(s.y, s.X * s.w))),
        "ml_mlp2_W2": lambda s: sq(mlp2(s)),
        "ml_mlp2_b1": lambda s: sq(mlp2(s)),
        "ml_gauss_nll_cov": lambda s: (sp.Rational(1, 2) * (s.x - s.mu).T * inv(s.S)
                                       * (s.x - s.mu))[0, 0]
        + sp.Rational(1, 2) * log(det(s.S)),
        "ml_pca_trace_symA": lambda s: tr(s.X.T * s.A * s.X),
        "ml_matfact_V": lambda s: sq(s.X - s.U * s.V.T),
        "ml_mahalanobis_general_mu": lambda s: (s.x - s.mu).T * s.A * (s.x - s.mu),
        "ml_rayleigh_generalized": lambda s: (s.x.T * s.A * s.x)[0, 0]
        / (s.x.T * s.B * s.x)[0, 0],
        "jac_exp": lambda s: ew(sp.exp, s.x),
        "jac_hadamard": lambda s: had(s.x, s.y),
        "jac_A_exp_Bx": lambda s: s.A * ew(sp.exp, s.B * s.x),
        "jac_softplus": lambda s: softplus(s.x),
        "hess_least_squares": lambda s: sq(s.A * s.x - s.b),
        "hess_sum_exp": lambda s: total(ew(sp.exp, s.x)),
        "hess_norm2": lambda s: ew(sp.sqrt, (s.x - s.a).T * (s.x - s.a)),
        "hess_tanh_layer": lambda s: total(ew(sp.tanh, s.W * s.x + s.b)),
        "hess_logdet_X": None,
        "ext_softmax_ce_lse_W": lambda s: lse(s.W * s.x) - (s.y.T * s.W * s.x)[0, 0],
        "ext_logsumexp_affine_A": lambda s: lse(s.A * s.x + s.b),
        "ext_logistic_sigmoid": lambda s: -(
            s.y.T * ew(lambda z: log(1 / (1 + sp.exp(-z))), s.X * s.w)
            + (one(s.n, 1) - s.y).T * ew(lambda z: log(1 - 1 / (1 + sp.exp(-z))), s.X * s.w)),
        "ext_mlp_relu_ce_W1": lambda s: lse(s.W2 * ew(lambda z: sp.Max(0, z), s.W1 * s.x))
        - (s.y.T * s.W2 * ew(lambda z: sp.Max(0, z), s.W1 * s.x))[0, 0],
        "ext_hess_logsumexp": lambda s: lse(s.x),
    }


class Symbols:
    """Attribute access gives the case's variables as SymPy symbols of size ``n``."""

    def __init__(self, sp, kinds: dict, n):
        self._sp, self._kinds, self.n = sp, kinds, n
        self._made: dict = {}

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in self._made:
            kind = self._kinds[name]
            if kind == "scalar":
                self._made[name] = self._sp.Symbol(name)
            elif kind == "vector":
                self._made[name] = self._sp.MatrixSymbol(name, self.n, 1)
            else:
                self._made[name] = self._sp.MatrixSymbol(name, self.n, self.n)
        return self._made[name]


def differentiate(sp, translation, kinds: dict, kind: str, wrt: str, n):
    """Build the case's expression and differentiate it as the case's ``kind`` asks."""
    s = Symbols(sp, kinds, n)
    e = translation(s)
    v = getattr(s, wrt)
    d = e.diff(v)
    return d.diff(v) if kind == "hessian" else d


def to_array(np, sp, value):
    """A SymPy result with numbers substituted -> NumPy array (raises if it is not
    fully numeric: an unevaluated ``Derivative`` cannot be turned into numbers)."""
    if hasattr(value, "as_explicit") and not isinstance(value, sp.MatrixBase):
        value = value.as_explicit()
    if isinstance(value, (sp.MatrixBase, sp.NDimArray)):
        return np.array(value.tolist(), dtype=float)
    return np.array(float(value))
