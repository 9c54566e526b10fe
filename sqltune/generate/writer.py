"""Files: resumable chunk parts and the final JSONL/JSON outputs, all written atomically.

Each verified chunk goes to ``<out>/.parts/<run_key>/chunk-NNNNN.jsonl`` in one atomic write; a
restarted run with the same key reads the finished chunks back and continues after them.

>>> import tempfile, pathlib
>>> out = pathlib.Path(tempfile.mkdtemp())
>>> parts = Parts(out, "k1")
>>> parts.save(0, [], {"duplicate": 2})
>>> [(i, len(items), rej) for i, items, rej in parts.load()]
[(0, 0, {'duplicate': 2})]
>>> parts.clear(); (out / ".parts").exists()
False
"""

from __future__ import annotations

import json
import shutil
import typing as t
from pathlib import Path

from sqltune import atomic
from sqltune.generate.records import VerifiedSql


def dumps(obj: t.Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=str)


class Parts:
    """The finished chunks of one run (nothing is kept when ``out`` is ``None``)."""

    def __init__(self, out: str | Path | None, run_key: str) -> None:
        self.run_key = run_key
        self.folder = Path(out) / ".parts" / run_key if out is not None else None

    def _path(self, i: int) -> Path:
        assert self.folder is not None
        return self.folder / f"chunk-{i:05d}.jsonl"

    def save(self, i: int, items: t.Sequence[VerifiedSql], rejected: t.Mapping[str, int]) -> None:
        if self.folder is None:
            return
        head = {"run_key": self.run_key, "chunk": i, "count": len(items), "rejected": dict(sorted(rejected.items()))}
        lines = [dumps(head)] + [dumps(x.to_dict()) for x in items]
        atomic.write_text(self._path(i), "\n".join(lines) + "\n")

    def load(self) -> list[tuple[int, list[VerifiedSql], dict[str, int]]]:
        """Finished chunks 0, 1, 2 … up to the first one missing or unreadable."""
        out: list[tuple[int, list[VerifiedSql], dict[str, int]]] = []
        if self.folder is None or not self.folder.is_dir():
            return out
        i = 0
        while self._path(i).is_file():
            try:
                lines = self._path(i).read_text(encoding="utf-8").splitlines()
                head = json.loads(lines[0])
                items = [VerifiedSql.from_dict(json.loads(x)) for x in lines[1:]]
            except (OSError, ValueError, KeyError, TypeError, IndexError):
                break
            if head.get("run_key") != self.run_key or head.get("count") != len(items):
                break
            out.append((i, items, {str(k): int(v) for k, v in head.get("rejected", {}).items()}))
            i += 1
        return out

    def clear(self) -> None:
        if self.folder is None:
            return
        shutil.rmtree(self.folder, ignore_errors=True)
        parent = self.folder.parent
        if parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()


def write_jsonl(path: Path, rows: t.Iterable[t.Any]) -> None:
    atomic.write_text(path, "".join(dumps(r) + "\n" for r in rows))


def write_json(path: Path, obj: t.Any) -> None:
    atomic.write_text(path, json.dumps(obj, ensure_ascii=False, indent=1, default=str) + "\n")
