"""The error types of matcalc's public API, and the caret display they share.

Every error a user can cause is a :class:`MatcalcError`; each one that concerns the
input text carries the text and a span, and its message ends with the input line and
a caret under the offending part.
"""
from __future__ import annotations


class MatcalcError(Exception):
    """Base class of every error matcalc raises for bad input or an impossible request."""

    def __init__(self, message: str, text: str | None = None,
                 span: tuple[int, int] | None = None):
        self.message = message
        self.text = text
        self.span = span
        super().__init__(self.__str__())

    def __str__(self) -> str:
        if self.text is None or self.span is None:
            return self.message
        return f"{self.message}\n{caret_lines(self.text, self.span)}"

    def to_json(self) -> dict:
        """The error as JSON: its type, message, the span in the input and the caret
        lines (``null`` when the error does not point into the input)."""
        located = self.text is not None and self.span is not None
        return {
            "type": type(self).__name__,
            "message": self.message,
            "span": list(self.span) if located else None,
            "caret": caret_lines(self.text, self.span) if located else None,
        }


class ParseError(MatcalcError):
    """The input is not a sentence of the language (syntax, unknown name, arity)."""


class ShapeError(MatcalcError, ValueError):
    """Operand shapes do not fit an operator or function."""


class NotDifferentiableError(MatcalcError):
    """The engine cannot produce this derivative in closed form (it never guesses)."""


class EvaluationError(MatcalcError):
    """Numeric evaluation failed: missing values, inconsistent sizes, bad callables."""


class LimitError(MatcalcError):
    """An input or a result exceeds one of matcalc's documented size limits."""


class InternalError(MatcalcError):
    """A bug in matcalc met by this input (never a traceback: please report the input)."""


def caret_lines(text: str, span: tuple[int, int]) -> str:
    """The line of ``text`` holding ``span`` and a caret line under the span.

    >>> print(caret_lines("x + A", (2, 3)))
      x + A
        ^
    """
    start, end = span
    start = max(0, min(start, len(text)))
    end = max(start + 1, min(end, max(len(text), start + 1)))
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", start)
    if line_end == -1:
        line_end = len(text)
    line = text[line_start:line_end]
    col = start - line_start
    width = max(1, min(end, line_end) - start)
    # Long inputs: show a window around the caret, so the message stays one paragraph.
    if len(line) > 100:
        width = min(width, 60)  # a caret under a whole long input: show its start
        lo = max(0, col - 40)
        hi = min(len(line), col + width + 40)
        prefix = "..." if lo > 0 else ""
        suffix = "..." if hi < len(line) else ""
        line = prefix + line[lo:hi] + suffix
        col = col - lo + len(prefix)
        width = max(1, min(width, hi - lo - (col - len(prefix))))
    return f"  {line}\n  {' ' * col}{'^' * max(1, width)}"
