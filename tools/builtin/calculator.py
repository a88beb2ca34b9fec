"""``calculate``: arithmetic for the bill, through a whitelist of syntax (never ``eval``).

The expression is parsed with :func:`ast.parse` and only numbers, ``+ - * / // % **``, unary
signs and parentheses are evaluated; anything else is refused. Sizes are bounded so that no
expression can make the worker compute for long: the text is short, exponents are small, and
every intermediate value must stay below :data:`MAX_MAGNITUDE`.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal

from pydantic import BaseModel, Field

from tools import CleanText, ToolContext, ToolError, tool

MAX_EXPRESSION_CHARS = 200
MAX_EXPONENT = 100
MAX_MAGNITUDE = 1e15
"""No value, intermediate or final, may be larger than this (a bill never is)."""

Number = int | float


def _power(base: Number, exponent: Number) -> Number:
    if abs(exponent) > MAX_EXPONENT:
        raise ToolError(f"exponents are limited to {MAX_EXPONENT}")
    if base == 0 and exponent < 0:
        raise ToolError("division by zero")
    if abs(base) > 1 and exponent * math.log10(abs(base)) > math.log10(MAX_MAGNITUDE):
        raise ToolError(f"the numbers get too large (over {MAX_MAGNITUDE:,.0f})")
    result: Number = base**exponent  # may be complex ((-8) ** 0.5): _checked refuses it
    return result


_BINARY: dict[type[ast.operator], Callable[[Number, Number], Number]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: _power,
}
_UNARY: dict[type[ast.unaryop], Callable[[Number], Number]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}
# Multiplication, division and minus signs a model may copy from text.
_SYMBOLS = str.maketrans({"\u00d7": "*", "\u00f7": "/", "\u2212": "-"})
_ALLOWED = "+ - * / // % ** and parentheses"
_OPERATOR_SYMBOLS: dict[type[ast.AST], str] = {
    ast.Invert: "~",
    ast.Not: "not",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.BitAnd: "&",
    ast.MatMult: "@",
}
_KINDS: dict[type[ast.expr], str] = {
    ast.Call: "calling a function",
    ast.Attribute: "attribute access",
    ast.Subscript: "indexing",
    ast.Compare: "a comparison",
    ast.BoolOp: "and/or",
    ast.IfExp: "if/else",
    ast.Lambda: "a lambda",
    ast.List: "a list",
    ast.Tuple: "a tuple",
    ast.Set: "a set",
    ast.Dict: "a dict",
    ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a comprehension",
    ast.JoinedStr: "a string",
    ast.NamedExpr: "assignment",
    ast.Starred: "unpacking",
}


class CalculateArgs(BaseModel):
    """Arguments of :func:`calculate`."""

    expression: CleanText = Field(
        description=(
            "An arithmetic expression with numbers, + - * / // % ** and parentheses, "
            "e.g. '(84.50 * 1.10) / 3'. Percentages as multipliers: 10% tip is '* 1.10'"
        ),
    )


def _refuse(what: str) -> ToolError:
    return ToolError(f"only arithmetic is allowed: {what}")


def _checked(value: Number) -> Number:
    if isinstance(value, complex) or not math.isfinite(value):
        raise ToolError("the result is not a real number")
    if abs(value) > MAX_MAGNITUDE:
        raise ToolError(f"the numbers get too large (over {MAX_MAGNITUDE:,.0f})")
    return value


def _evaluate(node: ast.expr) -> Number:
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _refuse(f"{value!r} is not a number; use numbers, {_ALLOWED}")
        return _checked(value)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _checked(_UNARY[type(node.op)](_evaluate(node.operand)))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Div | ast.FloorDiv | ast.Mod) and right == 0:
            raise ToolError("division by zero")
        return _checked(_BINARY[type(node.op)](left, right))
    raise _refuse(f"{_describe(node)} is not allowed; use numbers, {_ALLOWED}")


def _describe(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return f"the name {node.id!r}"
    if isinstance(node, ast.BinOp | ast.UnaryOp):
        symbol = _OPERATOR_SYMBOLS.get(type(node.op), type(node.op).__name__)
        return f"the operator {symbol!r}"
    return _KINDS.get(type(node), type(node).__name__)


def evaluate(expression: str) -> Number:
    """The value of an arithmetic ``expression``; raises :class:`ToolError` for anything else."""
    text = expression.translate(_SYMBOLS).strip()
    if not text:
        raise ToolError("which calculation? Pass an expression such as '84.50 / 3'")
    if len(text) > MAX_EXPRESSION_CHARS:
        raise ToolError(f"the expression is too long (at most {MAX_EXPRESSION_CHARS} characters)")
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise _refuse(f"that is not a valid expression; use numbers, {_ALLOWED}") from None
    try:
        return _evaluate(tree.body)
    except (OverflowError, RecursionError):
        raise ToolError(f"the numbers get too large (over {MAX_MAGNITUDE:,.0f})") from None


def format_number(value: Number) -> str:
    """``value`` for a bill: whole numbers as they are, others to the cent (half up)."""
    if value == int(value):
        return str(int(value))
    if abs(value) < 0.01:
        return f"{value:.4g}"
    return str(Decimal(repr(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


@tool(responder_safe=True, latency="fast", timeout_s=2.0)
async def calculate(ctx: ToolContext, args: CalculateArgs) -> str:
    """Do arithmetic exactly instead of in your head: splitting the bill, adding a tip, totals.

    Pass one expression using numbers, + - * / // % ** and parentheses, e.g. '(84.50 * 1.10) / 3'
    for a bill of 84.50 with a 10% tip shared by three. No variables, units or currency signs.
    Returns "<expression> = <result>", the result rounded to cents unless it is a whole number.
    """
    value = evaluate(args.expression)
    return f"{args.expression.strip()} = {format_number(value)}"
