"""The supported subset of AWS Glue's DQDL: :class:`Rule`, Python constructors (:class:`rules`), and a parser.

:func:`parse_dqdl` reads ``Rules = [ ... ]`` text into :class:`Rule` objects, the same ones the constructors of
:class:`rules` build; a text that does not parse raises :class:`DQDLSyntaxError` with a caret under the problem.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from labkit.topics.dq.errors import DQDLSyntaxError

__all__ = ["Rule", "parse_dqdl", "rules"]


@dataclass(frozen=True)
class Rule:
    """One data-quality rule: a dataset metric, a threshold, and (when it has one) a row-level violation."""

    text: str  # the rule as DQDL, used as its name in reports and in dq_failures
    kind: str
    columns: tuple[str, ...] = ()
    op: str = ""
    value: Any = None
    threshold: float = 1.0  # share of rows that must pass (Completeness) or the bound (RowCount)
    reference: str = ""  # ReferentialIntegrity: "table.column"


_OPS = {">": "__gt__", ">=": "__ge__", "<": "__lt__", "<=": "__le__", "=": "__eq__", "!=": "__ne__"}
_RULE_OPS = {"Completeness": tuple(_OPS), "RowCount": (*_OPS, "between"),
             "ColumnValues": (*_OPS, "between", "in", "matches")}
# the type names ColumnDataType accepts: Spark SQL's own names (each is parsed by Spark in the tests), nothing else
_TYPE_NAME = re.compile(r"BOOLEAN|TINYINT|BYTE|SMALLINT|SHORT|INT|INTEGER|BIGINT|LONG|FLOAT|REAL|DOUBLE|DATE|"
                        r"TIMESTAMP|TIMESTAMP_NTZ|TIMESTAMP_LTZ|STRING|BINARY|"
                        r"(?:DECIMAL|DEC|NUMERIC)(?:\(\d{1,2}(?:,\d{1,2})?\))?|(?:VARCHAR|CHAR)\(\d{1,5}\)")


def _checked_op(kind: str, op: Any, value: Any) -> None:
    """Raise :class:`DQDLSyntaxError` unless ``op`` is one of the operators ``kind`` takes and ``value`` fits it."""
    allowed = _RULE_OPS[kind]
    if op not in allowed:
        raise DQDLSyntaxError(f"{kind}: operator {op!r} is not allowed; {kind} takes {' '.join(allowed)}")
    number = (int, float)
    if op == "between":
        ok = isinstance(value, (tuple, list)) and len(value) == 2 and value[0] is not None and value[1] is not None \
            and not value[1] < value[0]
    elif op == "in":
        ok = isinstance(value, (tuple, list)) and len(value) > 0
    elif op == "matches":
        ok = isinstance(value, str)
    elif kind == "ColumnValues":
        ok = isinstance(value, (*number, str)) and not isinstance(value, bool)
    else:
        ok = isinstance(value, number) and not isinstance(value, bool)
    if not ok:
        shape = {"between": "(low, high) with low <= high", "in": "a non-empty list", "matches": "a regex string"}
        plain = "a number, a string or now()" if kind == "ColumnValues" else "a number"
        raise DQDLSyntaxError(f"{kind} {op}: expected {shape.get(op, plain)}, got {value!r}")


def _q(text: str) -> str:
    """A DQDL string literal."""
    return '"' + text.replace('"', '\\"') + '"'


class rules:  # noqa: N801 - a namespace of constructors, used as rules.is_complete(...)
    """Plain Python constructors for the supported DQDL rules (each returns a :class:`Rule`)."""

    @staticmethod
    def is_complete(column: str) -> Rule:
        """No nulls in ``column``."""
        return Rule(f"IsComplete {_q(column)}", "IsComplete", (column,))

    @staticmethod
    def completeness(column: str, op: str, share: float) -> Rule:
        """The share of non-null values compared with ``share`` (dataset level); ``op`` is >, >=, <, <=, = or !=."""
        _checked_op("Completeness", op, share)
        return Rule(f"Completeness {_q(column)} {op} {share}", "Completeness", (column,), op, share)

    @staticmethod
    def is_unique(*columns: str) -> Rule:
        """No two rows share the values (nulls count as values: a null key is a duplicate of another null)."""
        return Rule(f"IsUnique {' '.join(map(_q, columns))}", "IsUnique", tuple(columns))

    @staticmethod
    def is_primary_key(*columns: str) -> Rule:
        """Unique and complete."""
        return Rule(f"IsPrimaryKey {' '.join(map(_q, columns))}", "IsPrimaryKey", tuple(columns))

    @staticmethod
    def column_values(column: str, op: str, value: Any) -> Rule:
        """A comparison (>, >=, <, <=, =, !=), ``between`` (value = (lo, hi)), ``in`` (a list), ``matches`` (regex).

        ``value="now()"`` with ``<=`` is "not in the future". Nulls do not fail
        value rules (IsComplete covers them).

        Raises
        ------
        DQDLSyntaxError
            For an operator ColumnValues does not take (naming the ones it takes), or a value of the wrong shape.
        """
        _checked_op("ColumnValues", op, value)
        shown = {"between": lambda v: f"between {v[0]} and {v[1]}", "in": lambda v: "in [" + ", ".join(
            _q(str(x)) for x in v) + "]", "matches": lambda v: f"matches {_q(v)}"}.get(
            op, lambda v: f"{op} {v if isinstance(v, (int, float)) or v == 'now()' else _q(str(v))}")(value)
        return Rule(f"ColumnValues {_q(column)} {shown}", "ColumnValues", (column,), op, value)

    @staticmethod
    def castable(column: str, type_name: str) -> Rule:
        """Every non-null value converts to ``type_name`` (INTEGER, DOUBLE, DATE, DECIMAL(10,2), ...) with try_cast.

        Raises
        ------
        DQDLSyntaxError
            When ``type_name`` is not one of Spark's type names: it is never pasted into SQL.
        """
        name = re.sub(r"\s+", "", type_name.upper()) if isinstance(type_name, str) else ""
        if not _TYPE_NAME.fullmatch(name):
            raise DQDLSyntaxError(f"ColumnDataType: {type_name!r} is not a type name Spark parses (e.g. INTEGER, "
                                  "BIGINT, DOUBLE, DECIMAL(10,2), DATE, TIMESTAMP, STRING, BOOLEAN)")
        return Rule(f"ColumnDataType {_q(column)} = {_q(name)}", "ColumnDataType", (column,), "=", name)

    @staticmethod
    def referential_integrity(column: str, reference: str) -> Rule:
        """Every non-null value of ``column`` exists in ``reference`` ("table.column", a DataFrame passed by name)."""
        return Rule(f"ReferentialIntegrity {_q(column)} {_q(reference)} = 1.0", "ReferentialIntegrity", (column,),
                    reference=reference)

    @staticmethod
    def outliers(column: str, z: float = 3.0) -> Rule:
        """No value more than ``z`` standard deviations from the mean (a lab extension of DQDL)."""
        return Rule(f"ZScore {_q(column)} <= {z}", "ZScore", (column,), "<=", z)

    @staticmethod
    def row_count(op: str, value: Any) -> Rule:
        """The number of rows compared with ``value`` (``between`` takes (lo, hi))."""
        _checked_op("RowCount", op, value)
        shown = f"between {value[0]} and {value[1]}" if op == "between" else f"{op} {value}"
        return Rule(f"RowCount {shown}", "RowCount", (), op, value)


_TOKEN = re.compile(r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<num>-?\d+(?:\.\d+)?)|(?P<op>>=|<=|!=|=|>|<)|'
                    r'(?P<punct>[\[\],()])|(?P<word>[A-Za-z_][A-Za-z_0-9]*))')


class _Parser:
    """A recursive-descent parser for the supported subset of DQDL."""

    def __init__(self, text: str):
        self.text, self.pos, self.tokens = text, 0, []
        while True:
            m = _TOKEN.match(text, self.pos)
            if not m or m.end() == self.pos:
                if text[self.pos:].strip():
                    self._fail("a string, a number, an operator or a word")
                break
            kind = m.lastgroup
            self.tokens.append((kind, m.group(kind), m.start(kind)))
            self.pos = m.end()
        self.i = 0

    def _fail(self, expected: str, at: int | None = None):
        at = self.pos if at is None else at
        raise DQDLSyntaxError(f"DQDL: expected {expected} at position {at}:\n  {self.text}\n  {' ' * at}^")

    def peek(self):
        return self.tokens[self.i] if self.i < len(self.tokens) else ("end", "", len(self.text))

    def take(self, kind: str, value: str | None = None, expected: str = ""):
        tok = self.peek()
        if tok[0] != kind or (value is not None and tok[1] != value):
            self._fail(expected or (repr(value) if value else kind), tok[2])
        self.i += 1
        return tok[1]

    def string(self) -> str:
        return self.take("str", expected="a quoted column name")[1:-1].replace('\\"', '"')

    def number(self) -> float:
        tok = self.peek()
        if tok[0] == "word" and tok[1] == "now":
            self.take("word", "now"), self.take("punct", "("), self.take("punct", ")")
            return "now()"
        v = float(self.take("num", expected="a number"))
        return int(v) if v.is_integer() else v

    def rules(self) -> list[Rule]:
        if self.peek()[0] == "word":  # "Rules = [ ... ]"; a bare "[ ... ]" is accepted too
            self.take("word", "Rules", "'Rules'")
            self.take("op", "=", "'='")
        self.take("punct", "[", "'Rules = [' or '['")
        out = [self.rule()]
        while self.peek()[1] == ",":
            self.take("punct", ",")
            out.append(self.rule())
        self.take("punct", "]", "',' or ']'")
        if self.peek()[0] != "end":
            self._fail("the end of the rules", self.peek()[2])
        return out

    def rule(self) -> Rule:
        tok = self.peek()
        name = self.take("word", expected="a rule name")
        handler = getattr(self, f"_r_{name}", None)
        if handler is None:
            self._fail("one of IsComplete, Completeness, IsUnique, IsPrimaryKey, ColumnValues, ColumnDataType, "
                       "ReferentialIntegrity, ZScore, RowCount", tok[2])
        try:
            return handler()
        except DQDLSyntaxError as err:
            if str(err).startswith("DQDL:"):  # the parser's own error, with its caret
                raise
            raise DQDLSyntaxError(f"DQDL: {err}, in the rule at position {tok[2]}:\n  {self.text}\n  "
                                  f"{' ' * tok[2]}^") from None

    def _columns(self) -> list[str]:
        cols = [self.string()]
        while self.peek()[0] == "str":
            cols.append(self.string())
        return cols

    def _compare(self):
        tok = self.peek()
        if tok[0] == "word" and tok[1] == "between":
            self.take("word")
            lo = self.number()
            self.take("word", "and", "'and'")
            return "between", (lo, self.number())
        op = self.take("op", expected="an operator (>, >=, <, <=, =, !=) or 'between'")
        return op, self.number()

    def _r_IsComplete(self):
        return rules.is_complete(self.string())

    def _r_Completeness(self):
        col = self.string()
        op, v = self._compare()
        return rules.completeness(col, op, v)

    def _r_IsUnique(self):
        return rules.is_unique(*self._columns())

    def _r_IsPrimaryKey(self):
        return rules.is_primary_key(*self._columns())

    def _r_ColumnValues(self):
        col = self.string()
        tok = self.peek()
        if tok[1] == "in":
            self.take("word")
            self.take("punct", "[", "'['")
            values = [self.string() if self.peek()[0] == "str" else self.number()]
            while self.peek()[1] == ",":
                self.take("punct", ",")
                values.append(self.string() if self.peek()[0] == "str" else self.number())
            self.take("punct", "]", "',' or ']'")
            return rules.column_values(col, "in", values)
        if tok[1] == "matches":
            self.take("word")
            return rules.column_values(col, "matches", self.string())
        if tok[0] == "op" and self.tokens[self.i + 1][0] == "str" if self.i + 1 < len(self.tokens) else False:
            op = self.take("op")
            return rules.column_values(col, op, self.string())
        op, v = self._compare()
        return rules.column_values(col, op, v)

    def _r_ColumnDataType(self):
        col = self.string()
        self.take("op", "=", "'='")
        return rules.castable(col, self.string())

    def _r_ReferentialIntegrity(self):
        col, ref = self.string(), self.string()
        if "." not in ref:
            self._fail("a reference written \"table.column\"", self.tokens[self.i - 1][2])
        self.take("op", "=", "'='")
        self.number()
        return rules.referential_integrity(col, ref)

    def _r_ZScore(self):
        col = self.string()
        self.take("op", "<=", "'<='")
        return rules.outliers(col, float(self.number()))

    def _r_RowCount(self):
        op, v = self._compare()
        return rules.row_count(op, v)


def parse_dqdl(text: str) -> list[Rule]:
    """Parse ``Rules = [ ... ]`` (or a bare ``[ ... ]``) in the supported subset of AWS Glue's DQDL.

    Supported: ``IsComplete "c"``, ``Completeness "c" >= 0.95``, ``IsUnique "c" ["d" ...]``,
    ``IsPrimaryKey "c"``, ``ColumnValues "c"`` with ``> >= < <= = !=`` a number, a string or ``now()``,
    ``between A and B``, ``in [..]`` or ``matches "regex"``, ``ColumnDataType "c" = "DATE"``,
    ``ReferentialIntegrity "c" "table.column" = 1.0``, ``RowCount`` comparisons, and the lab's
    ``ZScore "c" <= 3``.

    Raises
    ------
    DQDLSyntaxError
        With the position of the problem and a caret under it.

    Examples
    --------
    >>> [r.kind for r in parse_dqdl('Rules = [ IsComplete "id", ColumnValues "amount" >= 0 ]')]
    ['IsComplete', 'ColumnValues']
    """
    return _Parser(text).rules()

