"""The verdicts and the one rule that gives them: shared by the numbers (:mod:`claims`) and the statements.

Every verdict, in report order, with the CSS class the report colours it by, and
:data:`RULE` in words, live here once.
"""

from __future__ import annotations

__all__ = ["API_MISUSE", "ARITHMETIC", "BAND", "DOES_NOT_RUN", "FAILS", "HOLDS", "NOT_MEASURABLE", "NOT_MEASURED",
           "NO_EFFECT", "OUT_OF_DATE", "PARTLY", "PREMISE", "RULE", "UNSAFE", "VERDICTS", "VERDICT_CLASS", "WRONG"]

BAND = 0.05  # the one uniform band: arithmetic, bytes, and numbers recorded without a spread
HOLDS, PARTLY, NO_EFFECT = "holds", "partly holds", "no measurable effect here"
FAILS, ARITHMETIC = "does not hold at this scale", "the guide's arithmetic is wrong"
PREMISE = "wrong premise"  # the arithmetic may hold; what it is applied to does not
WRONG, OUT_OF_DATE, DOES_NOT_RUN = "the guide is wrong", "out of date", "the guide's code does not run"
API_MISUSE, UNSAFE = "API used wrongly", "unsafe advice"
NOT_MEASURABLE, NOT_MEASURED = "not measurable here", "not measured yet"
VERDICTS = (HOLDS, PARTLY, NO_EFFECT, FAILS, ARITHMETIC, PREMISE, WRONG, OUT_OF_DATE, DOES_NOT_RUN, API_MISUSE,
            UNSAFE, NOT_MEASURABLE, NOT_MEASURED)
VERDICT_CLASS = {HOLDS: "holds", PARTLY: "partly", NO_EFFECT: "noeffect", FAILS: "fails", ARITHMETIC: "fails",
                 PREMISE: "fails", WRONG: "fails", OUT_OF_DATE: "fails", DOES_NOT_RUN: "fails", API_MISUSE: "fails",
                 UNSAFE: "fails", NOT_MEASURABLE: "na", NOT_MEASURED: "na"}
RULE = (
    "One verdict rule for every claim. Time reductions r are compared as speedups 1/(1−r). An at-least claim holds "
    "only when the measured value reaches the stated bound (the low end of a range); below it but clearly above no "
    "effect it partly holds, with the fraction of the claim reached. Arithmetic and byte claims hold within one "
    f"uniform band of {BAND:.0%}; where the guide's own arithmetic is wrong the verdict says so. A measured ratio "
    f"carries the spread of its runs (a number with no spread carries the {BAND:.0%} band); when the spread includes "
    "no effect (1.0), the verdict is \"no measurable effect here\". A bound a sweep never crossed is shown as "
    "\"≥ value\". A number whose premise is wrong (the right arithmetic on the wrong price or fact) is \"wrong "
    "premise\", whatever its arithmetic gives. A statement without a number is checked in its notebook (a plan, an "
    "assertion, a count): it holds when the check passes; when the check refutes it, the verdict names what is "
    "wrong (the guide is wrong, out of date, its code does not run, an API used wrongly, a wrong premise, unsafe "
    "advice); a statement no run can check is judged from its public source, which the report names.")
