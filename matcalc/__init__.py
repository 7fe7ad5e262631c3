"""matcalc: symbolic matrix calculus, offline.

>>> import matcalc
>>> str(matcalc.diff("tr(A*X*B)", "X"))
"A'*B'"
"""
from .errors import (MatcalcError, ParseError, ShapeError, NotDifferentiableError,
                     EvaluationError, LimitError)
from .limits import LIMITS
from .api import Result, diff, gradient, hessian, inspect, jacobian, parse

__all__ = [
    "diff", "gradient", "jacobian", "hessian", "parse", "inspect", "Result", "LIMITS", "MatcalcError", "ParseError",
    "ShapeError", "NotDifferentiableError", "EvaluationError", "LimitError",
]
__version__ = "0.1.0"
