"""Size limits that keep every request bounded in time and memory.

They are plain attributes of the module-level ``LIMITS`` object, so a caller can adjust
them (``matcalc.LIMITS.max_depth = 5000``).  Hitting one raises ``LimitError`` naming it.
"""
from __future__ import annotations


class Limits:
    """The limits, as attributes; ``as_dict()`` lists them (to save and restore)."""

    #: longest accepted input text, in characters (Lark parses about 60,000 tokens a
    #: second, so this keeps parsing under a second or two)
    max_input_chars: int = 50_000
    #: deepest accepted nesting of parentheses, signs or transposes
    max_depth: int = 200
    #: largest derivative, in tokens of its human form (each shared piece counted once)
    max_result_tokens: int = 25_000
    #: most distinct new pieces (nodes) one derivative may build along the way
    max_nodes: int = 200_000
    #: largest exponent of a matrix power X^k that is expanded in a derivative
    max_matrix_power: int = 64
    #: largest size of a dimension that check() draws random values for (it takes
    #: central differences along every entry of the variable)
    max_check_size: int = 64
    #: most digits in a number literal
    max_number_digits: int = 100
    #: numbers lie within 1e-300 .. 1e300 in magnitude (or are 0), as floats do
    max_number_exponent: int = 300


    NAMES = ("max_input_chars", "max_depth", "max_result_tokens", "max_nodes",
             "max_matrix_power", "max_check_size", "max_number_digits", "max_number_exponent")

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.NAMES}

    def __repr__(self) -> str:
        return "Limits(" + ", ".join(f"{k}={v!r}" for k, v in self.as_dict().items()) + ")"


LIMITS = Limits()
