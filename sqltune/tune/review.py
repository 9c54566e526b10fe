"""Spaced review: an item the model already reproduces exactly comes back less often.

Memory tuning trains each fact until greedy decoding reproduces it. On a CPU budget every step
should go to what is not memorised yet, while what is memorised must not silently fade. So each
visit of an item decides its *level*: up by one when the model reproduced the item exactly in that
step's own forward pass (the teacher-forced greedy check of
:attr:`sqltune.tune.loss.LossStats.recalled`, taken before the update), back to 0 when it did not.
An item at level ``n`` is due again ``2 ** n`` epochs after its visit: a missed item next epoch, a
reproduced one after 2, 4, 8 … epochs (a Leitner schedule), so memorised items are still checked
now and then and relearned when forgotten. An epoch trains the due items only.

>>> r = Review.start(3)
>>> r.due(0)
(0, 1, 2)
>>> r = r.visit(0, 0, True).visit(1, 0, True).visit(2, 0, False)
>>> r.due(1), r.due(2), r.all_recalled()
((2,), (0, 1, 2), False)
>>> r = r.visit(2, 1, True)
>>> r.all_recalled(), r.due(1), r.next_epoch(1)  # nothing due in epoch 1 any more: skip to 2
(True, (), 2)
>>> Review.from_dict(r.to_dict()) == r
True
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass


@dataclass(frozen=True)
class Review:
    """Per item: its level (-1: never visited) and the epoch it is due in."""

    levels: tuple[int, ...]
    due_at: tuple[int, ...]

    @classmethod
    def start(cls, n: int) -> Review:
        return cls((-1,) * n, (0,) * n)

    def due(self, epoch: int) -> tuple[int, ...]:
        """The items an epoch trains, in index order."""
        return tuple(i for i, d in enumerate(self.due_at) if d <= epoch)

    def next_epoch(self, epoch: int) -> int:
        """The first epoch from ``epoch`` on in which some item is due."""
        return max(epoch, min(self.due_at)) if self.due_at else epoch

    def visit(self, item: int, epoch: int, recalled: bool, every: int = 0) -> Review:
        """The item's visit in ``epoch``; ``every`` (if set) caps the wait before its next visit.

        >>> Review.start(1).visit(0, 0, True).visit(0, 2, True).due_at, Review.start(1).visit(0, 0, True, 1).due_at
        ((6,), (1,))
        """
        level = max(self.levels[item] + 1, 1) if recalled else 0
        gap = min(2 ** level, every) if every else 2 ** level
        return Review(self.levels[:item] + (level,) + self.levels[item + 1:],
                      self.due_at[:item] + (epoch + gap,) + self.due_at[item + 1:])

    def all_recalled(self) -> bool:
        """Every item was reproduced exactly at its last visit."""
        return bool(self.levels) and all(level >= 1 for level in self.levels)

    def recalled_share(self) -> float:
        return sum(level >= 1 for level in self.levels) / max(len(self.levels), 1)

    def to_dict(self) -> dict[str, t.Any]:
        return {"levels": list(self.levels), "due_at": list(self.due_at)}

    @classmethod
    def from_dict(cls, d: t.Mapping[str, t.Any]) -> Review:
        return cls(tuple(d["levels"]), tuple(d["due_at"]))
