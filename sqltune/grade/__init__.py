"""The grader: is a predicted query's result exactly the gold's? Stricter than Spider/BIRD/sql-eval.

* :func:`grade` runs the prediction in the sandbox and returns a typed :class:`Verdict`
  (``CORRECT``, ``WRONG_RESULT``, ``EXEC_ERROR`` with a :class:`Subtype`, ``TIMEOUT``, ``UNSAFE``,
  ``EMPTY``) with strict and lenient outcomes and a reason in words;
* :class:`ComparisonPolicy` holds the rules (tolerances, dates, NaN, ties under ``LIMIT``);
* :func:`invented_identifiers` lists every table, column and categorical value a query invents;
* :func:`load_evalset` / :func:`validate_evalset` read and check the cases graded against;
* :func:`build_suite` / :func:`grade_suite`: test-suite accuracy on perturbed copies;
* :func:`evaluate_predictions` grades a whole evalset, :func:`write_reports` writes its reports.

>>> import duckdb, os, tempfile
>>> db = os.path.join(tempfile.mkdtemp(), "shop.duckdb")
>>> duckdb.connect(db).execute("CREATE TABLE t AS SELECT * FROM (VALUES (1, 'a'), (1, 'a'), (2, 'b')) v(id, k)").close()
>>> grade("SELECT k, id FROM t", "SELECT id, k AS name FROM t", db).status
<Status.CORRECT: 'CORRECT'>
>>> v = grade("SELECT DISTINCT id, k FROM t", "SELECT id, k FROM t", db)
>>> v.status, v.reason
(<Status.WRONG_RESULT: 'WRONG_RESULT'>, '1 row missing, 0 extra')
"""

from __future__ import annotations

from sqltune.evalset import EvalCase, Evalset, EvalsetError, ValidationReport, load_evalset, validate_evalset
from sqltune.grade.compare import Expected, Segment, compare
from sqltune.grade.grader import GoldError, grade
from sqltune.grade.invented import Invented, invented_identifiers
from sqltune.grade.policy import POLICY_VERSION, ComparisonPolicy
from sqltune.grade.verdict import Status, Subtype, Verdict, error_subtype
from sqltune.grade.suite import SuiteOptions, SuiteVerdict, build_suite, grade_suite, suite_manifest
from sqltune.grade.run import GradeRun, PredictionsError, evaluate_predictions, load_predictions
from sqltune.grade.report import ResultsError, load_results, write_reports

__all__ = [
    "POLICY_VERSION", "ComparisonPolicy", "EvalCase", "Evalset", "EvalsetError", "Expected", "GoldError", "Invented",
    "Segment", "Status", "Subtype", "ValidationReport", "Verdict", "compare", "error_subtype", "grade",
    "invented_identifiers", "load_evalset", "validate_evalset",
    # test-suite accuracy, grading a whole evalset, reports
    "GradeRun", "PredictionsError", "ResultsError", "SuiteOptions", "SuiteVerdict", "build_suite",
    "evaluate_predictions", "grade_suite", "load_predictions", "load_results", "suite_manifest", "write_reports",
]  # fmt: skip


from sqltune.callable_module import make_callable as _make_callable  # noqa: E402

_make_callable(__name__, "grade")  # sqltune.grade(...) calls grade() (see sqltune.callable_module)
