"""Newest-first pages without COUNT(*): one row more than a page tells whether an older
page exists, so a page costs the same with a hundred jobs or a hundred thousand."""

from __future__ import annotations

from dataclasses import dataclass

MAX_PAGE = 10_000


@dataclass(frozen=True)
class Page:
    items: list
    number: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    def __iter__(self):
        return iter(self.items)


def page_of(queryset, number, per_page: int) -> Page:
    try:
        number = min(max(int(number), 1), MAX_PAGE)
    except (TypeError, ValueError):
        number = 1
    start = (number - 1) * per_page
    rows = list(queryset[start: start + per_page + 1])
    return Page(items=rows[:per_page], number=number, has_next=len(rows) > per_page)
