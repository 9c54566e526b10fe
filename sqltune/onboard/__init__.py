"""Onboarding: one command from a database URL to a tunable project with a draft evalset.

:func:`onboard` introspects the database into ``SQLTUNE_HOME/projects/<name>/``, generates
verified question/SQL pairs with a coverage report, and drafts an evalset skeleton
(``evalsets/draft/``: a balanced easy/medium/hard sample of the generated SQL, every case
``reviewed: false``). The drafted SQL is held out of training: its pairs go to
``pairs/heldout.jsonl``, not ``pairs/pairs.jsonl``, and :func:`training_pairs` filters again
against every evalset of the project. Graders skip unreviewed cases until an expert accepts
them (:func:`review`, ``sqltune evalset review``).

Re-running it after the database changed reports the drift and regenerates only the pairs of
the tables that changed; reviewed evalset cases are never overwritten. Every step can be
interrupted and re-run; every file carries the generation config, the schema fingerprint and a
data hash (``onboard.json``, the ``pairs.jsonl`` header, ``coverage.json``, the draft header).

Modules: ``run`` (:func:`onboard`), ``basis`` (per-table signatures and data hashes), ``regen``
(partial regeneration, coverage), ``draft`` (the evalset skeleton), ``holdout`` (keeping golds
out of training), ``review`` (accept / edit / drop), ``files``.

>>> from sqltune.onboard import onboard, OnboardResult, training_pairs, review
"""

from __future__ import annotations

from sqltune.onboard.draft import DRAFT
from sqltune.onboard.holdout import training_pairs
from sqltune.onboard.review import CaseFile, ReviewOutcome, review
from sqltune.onboard.run import OnboardResult, onboard

__all__ = ["DRAFT", "CaseFile", "OnboardResult", "ReviewOutcome", "onboard", "review", "training_pairs"]


from sqltune.callable_module import make_callable as _make_callable  # noqa: E402

_make_callable(__name__, "onboard")  # sqltune.onboard(...) calls onboard() (see sqltune.callable_module)
