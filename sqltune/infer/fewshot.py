"""Retrieval few-shot: the k verified training pairs most similar to a question.

The RAG baseline that memory tuning must beat. Similarity is TF-IDF cosine over words and
identifier pieces, with no external service or model.

>>> r = PairRetriever([("How many orders?", "SELECT count(*) FROM orders"),
...                    ("List brand names", "SELECT name FROM brand")])
>>> r.top("how many orders were placed", k=1)[0][1]
'SELECT count(*) FROM orders'
"""

from __future__ import annotations

import collections
import math
import re
import typing as t


def _terms(text: str) -> list[str]:
    words = re.findall(r"[a-z0-9]+", text.lower())
    return words + [f"{a}_{b}" for a, b in zip(words, words[1:])]


class PairRetriever:
    """An in-memory TF-IDF index over (question, SQL) pairs."""

    def __init__(self, pairs: t.Sequence[tuple[str, str]]) -> None:
        self.pairs = list(pairs)
        docs = [collections.Counter(_terms(q)) for q, _ in self.pairs]
        df: collections.Counter[str] = collections.Counter()
        for d in docs:
            df.update(d.keys())
        n = len(docs)
        self.idf = {w: math.log((1 + n) / (1 + c)) + 1.0 for w, c in df.items()}
        self.vectors = [self._vector(d) for d in docs]

    def _vector(self, counts: collections.Counter[str]) -> dict[str, float]:
        vec = {w: (1 + math.log(c)) * self.idf.get(w, 0.0) for w, c in counts.items()}
        norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
        return {w: v / norm for w, v in vec.items()}

    def top(self, question: str, k: int = 3) -> list[tuple[str, str]]:
        """The ``k`` most similar pairs, best first (ties broken by position, so results are stable)."""
        q = self._vector(collections.Counter(_terms(question)))
        scored = [(sum(q.get(w, 0.0) * v for w, v in vec.items()), -i) for i, vec in enumerate(self.vectors)]
        best = sorted(scored, reverse=True)[:k]
        return [self.pairs[-i] for score, i in best if score > 0]
