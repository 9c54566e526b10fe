"""A verification worker process: ``python -m sqltune.generate._worker DB``.

Reads one JSON :class:`~sqltune.generate.verify.Plan` per line on stdin and writes one JSON
:class:`~sqltune.generate.verify.Outcome` per line on stdout, checking each in its own sandbox.
Kept apart from :mod:`sqltune.generate` so that running it does not import the package twice.
"""

from __future__ import annotations

import json
import sys

from sqltune.generate.verify import Plan, check
from sqltune.sandbox import Sandbox


def serve(db: str) -> None:
    box = Sandbox(db)
    try:
        for line in sys.stdin:
            out = check(box, Plan.from_dict(json.loads(line)))
            sys.stdout.write(json.dumps({"reason": out.reason, "row_count": out.row_count,
                                         "fingerprint": out.fingerprint, "elapsed_s": out.elapsed_s,
                                         "error": out.error}) + "\n")
            sys.stdout.flush()
    finally:
        box.close()


if __name__ == "__main__":
    serve(sys.argv[1])
