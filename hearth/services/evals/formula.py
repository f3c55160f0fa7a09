"""The ``multi`` grader's ``calculate_output``: arithmetic over sub-grader scores.

Numbers, grader names, ``+ - * /``, ``^`` (or ``**``) for powers, parentheses and the
functions ``min max abs floor ceil exp sqrt log`` (OpenAI graders guide, "Multigraders").
The formula is parsed with Python's ``ast`` and only those nodes are accepted; it is
evaluated by walking the tree in floating point, never with ``eval``.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Iterable

MAX_LENGTH = 1000
FUNCTIONS: dict[str, tuple[Callable[..., float], int, int | None]] = {
    # name: (function, fewest arguments, most arguments or None)
    "min": (lambda *a: min(a), 1, None),
    "max": (lambda *a: max(a), 1, None),
    "abs": (abs, 1, 1),
    "floor": (math.floor, 1, 1),
    "ceil": (math.ceil, 1, 1),
    "exp": (math.exp, 1, 1),
    "sqrt": (math.sqrt, 1, 1),
    "log": (math.log, 1, 2),
}
_BINARY: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: math.pow,
}  # math.pow: no complex results
_UNARY: dict[type[ast.unaryop], Callable[[float], float]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}
_ALLOWED = "numbers, grader names, + - * / ^, parentheses and the functions " + ", ".join(FUNCTIONS)


class FormulaError(ValueError):
    """A formula that is not allowed, or that cannot be computed for these scores."""


def parse(text: str, names: Iterable[str]) -> ast.Expression:
    """The checked syntax tree of ``text`` whose variables are ``names``; raises
    ``FormulaError`` naming the first construct that is not allowed."""
    if len(text) > MAX_LENGTH:
        raise FormulaError(f"calculate_output is longer than {MAX_LENGTH} characters.")
    try:
        tree = ast.parse(text.replace("^", "**").strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        detail = exc.msg if isinstance(exc, SyntaxError) else type(exc).__name__
        raise FormulaError(f"calculate_output is not a valid formula ({detail}).") from None
    _check(tree.body, frozenset(names))
    return tree


def evaluate(text: str, scores: dict[str, float]) -> float:
    """``text`` computed with each name bound to its score; raises ``FormulaError``
    (disallowed formula, division by zero, log of 0, overflow, non-finite result)."""
    tree = parse(text, scores)
    try:
        value = _value(tree.body, scores)
    except ZeroDivisionError:
        raise FormulaError("calculate_output divides by zero for these scores.") from None
    except (ValueError, OverflowError) as exc:
        raise FormulaError(
            f"calculate_output cannot be computed for these scores ({exc}).",
        ) from None
    if not math.isfinite(value):
        raise FormulaError("calculate_output is not a finite number for these scores.")
    return value


def _check(node: ast.expr, names: frozenset[str]) -> None:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return
    if isinstance(node, ast.Name):
        if node.id not in names:
            known = ", ".join(sorted(names)) or "none"
            raise FormulaError(
                f"calculate_output uses '{node.id}', which is not a grader "
                f"name (grader names: {known})."
            )
        return
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        _check(node.left, names)
        _check(node.right, names)
        return
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        _check(node.operand, names)
        return
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in FUNCTIONS
        and not node.keywords
        and not any(isinstance(a, ast.Starred) for a in node.args)
    ):
        _, fewest, most = FUNCTIONS[node.func.id]
        if len(node.args) < fewest or (most is not None and len(node.args) > most):
            raise FormulaError(
                f"calculate_output calls {node.func.id}() with {len(node.args)} argument(s)."
            )
        for arg in node.args:
            _check(arg, names)
        return
    raise FormulaError(
        f"calculate_output may only contain {_ALLOWED}; '{ast.unparse(node)}' is not allowed."
    )


def _value(node: ast.expr, scores: dict[str, float]) -> float:
    # only nodes _check accepted reach here
    if isinstance(node, ast.Constant):
        assert isinstance(node.value, int | float)
        return float(node.value)
    if isinstance(node, ast.Name):
        return float(scores[node.id])
    if isinstance(node, ast.BinOp):
        return _BINARY[type(node.op)](_value(node.left, scores), _value(node.right, scores))
    if isinstance(node, ast.UnaryOp):
        return _UNARY[type(node.op)](_value(node.operand, scores))
    assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    function = FUNCTIONS[node.func.id][0]
    return float(function(*(_value(a, scores) for a in node.args)))
