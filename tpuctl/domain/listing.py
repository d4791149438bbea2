"""A listing of every zone comes back with the zones it could not reach."""

from __future__ import annotations

from typing import Iterable, TypeVar

T = TypeVar("T")


class Listing(list[T]):
    """The items found, plus the locations (`projects/P/locations/Z`) that did not answer.

    A list, so callers that only want the items use it as one; callers that act on absence
    (metering, the reaper) read `unreachable` and leave those zones alone.
    """

    def __init__(self, items: Iterable[T] = (), unreachable: Iterable[str] = ()):
        super().__init__(items)
        self.unreachable: tuple[str, ...] = tuple(unreachable)

    def __repr__(self) -> str:
        return f"Listing({list(self)!r}, unreachable={self.unreachable!r})"


def unreachable_zones(*listings: Listing) -> set[str]:
    """The zones some listing could not reach (from `projects/P/locations/Z`)."""
    return {location.rsplit("/", 1)[-1] for listing in listings for location in listing.unreachable}
