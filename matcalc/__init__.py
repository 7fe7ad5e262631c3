"""matcalc: symbolic matrix calculus, offline.

>>> import matcalc
>>> str(matcalc.diff("tr(A*X*B)", "X"))
"A'*B'"
"""
from .errors import (MatcalcError, ParseError, ShapeError, NotDifferentiableError,
                     EvaluationError, LimitError, InternalError)
from .limits import LIMITS
from .api import (Result, Results, ZeroDerivativeWarning, clear_caches, diff, from_sympy,
                  gradient, hessian, inspect, jacobian, parse, to_sympy)
from ._version import __version__

__all__ = [
    "diff", "gradient", "jacobian", "hessian", "parse", "inspect", "to_sympy", "from_sympy",
    "Result", "Results",
    "LIMITS", "clear_caches", "MatcalcError", "ParseError", "ShapeError", "NotDifferentiableError",
    "EvaluationError", "LimitError", "InternalError", "ZeroDerivativeWarning",
    "__version__",
]
