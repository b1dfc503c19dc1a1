"""How long the worker's next batch waits to fill: a batch costs a fixed part (the acknowledgements
awaited, a progress write and an outcome message per partition) beside its per-input part, so under a
backlog bigger batches go faster; a lone event must not wait longer for that."""

from __future__ import annotations


class FillWindow:
    """The short window unless the last batch was big enough to show a backlog (inputs arrive
    faster than batches are handled), then the long one, until a batch is small again."""

    def __init__(self, idle: float, backlog: float, backlog_at: int) -> None:
        self.idle, self.backlog, self.backlog_at = idle, backlog, backlog_at
        self.last = 0

    def took(self, inputs: int) -> None:
        self.last = inputs

    def __call__(self) -> float:
        return self.backlog if self.last >= self.backlog_at else self.idle
