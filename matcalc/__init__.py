"""matcalc: symbolic matrix calculus, offline."""
from .errors import (MatcalcError, ParseError, ShapeError, NotDifferentiableError,
                     EvaluationError, LimitError)
from .limits import LIMITS
from .parse import parse
