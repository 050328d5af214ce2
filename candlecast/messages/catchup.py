"""What /health asks of the catch-up after a restart."""

from __future__ import annotations

from candlecast.messages.base import Query


class GetCatchUpProgress(Query, frozen=True):
    """Answered with the catch-up's ``ProgressReport``, or None when there was nothing to catch up."""
