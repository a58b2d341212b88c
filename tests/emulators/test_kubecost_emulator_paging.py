"""Paging through the emulator: Kubecost honours ``offset``/``limit`` with idle on every page; OpenCost ignores them.

The "Done when" of issue 2: a client that pages with ``limit`` gets exactly the allocations of one unpaged request,
for every aggregation, with idle on and off. The paging client here is a deliberately tiny loop, not the product's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.fixtures.kubecost import CHAINS, TODAY, allocation_set, is_idle, query

if TYPE_CHECKING:
    from collections.abc import Callable

    from emulators.kubecost import KubecostEmulator

    Factory = Callable[..., KubecostEmulator]

LIMIT = 7


def _page_through(
    emulator: KubecostEmulator, limit: int, *, aggregate: str, idle: str
) -> list[dict[str, dict[str, Any]]]:
    """Pages until a page brings fewer than ``limit`` non-idle items (ten times more pages than needed at most)."""
    pages = []
    for page in range(10 * emulator.config.allocations_per_day // limit + 10):
        found = allocation_set(query(emulator, aggregate=aggregate, idle=idle, offset=page * limit, limit=limit))
        pages.append(found)
        if sum(not is_idle(name) for name in found) < limit:
            return pages
    raise AssertionError("paging did not end")


@pytest.mark.parametrize("idle", ["true", "false"])
@pytest.mark.parametrize("level", sorted(CHAINS))
def test_paging_with_limit_returns_exactly_the_unpaged_allocations(
    kubecost_emulator: Factory, level: str, idle: str
) -> None:
    # Given a Kubecost emulator and its unpaged answer
    emulator = kubecost_emulator(today=TODAY, allocations_per_day=60)
    unpaged = allocation_set(query(emulator, aggregate=CHAINS[level], idle=idle))
    # When a client pages through the same query with a small limit
    pages = _page_through(emulator, LIMIT, aggregate=CHAINS[level], idle=idle)
    # Then every non-idle item comes exactly once, identical to the unpaged one, and idle items are on every page
    paged = [(name, item) for found in pages for name, item in found.items() if not is_idle(name)]
    assert len(paged) == len({name for name, _ in paged})
    assert dict(paged) == {name: item for name, item in unpaged.items() if not is_idle(name)}
    idle_items = {name: item for name, item in unpaged.items() if is_idle(name)}
    assert (len(idle_items) > 0) is (idle == "true")
    for found in pages:
        assert {name: item for name, item in found.items() if is_idle(name)} == idle_items
    assert len(pages) > 2


def test_pages_are_sorted_by_total_cost_descending(kubecost_emulator: Factory) -> None:
    emulator = kubecost_emulator(today=TODAY, allocations_per_day=60)
    pages = _page_through(emulator, LIMIT, aggregate=CHAINS["pod"], idle="false")
    costs = [item["totalCost"] for found in pages for item in found.values()]
    assert costs == sorted(costs, reverse=True)


def test_page_beyond_the_end_holds_only_the_idle_items(kubecost_emulator: Factory) -> None:
    emulator = kubecost_emulator(today=TODAY, allocations_per_day=20)
    found = allocation_set(query(emulator, aggregate=CHAINS["pod"], offset=1000, limit=10))
    assert found
    assert all(is_idle(name) for name in found)


def test_idle_counted_in_limit_pages_the_whole_list(kubecost_emulator: Factory) -> None:
    # Given an emulator that counts idle items inside limit
    emulator = kubecost_emulator(today=TODAY, allocations_per_day=40, idle_in_limit=True)
    unpaged = allocation_set(query(emulator, aggregate=CHAINS["pod"], idle="true"))
    # When paging with a limit
    pages = []
    offset = 0
    while True:
        found = allocation_set(query(emulator, aggregate=CHAINS["pod"], idle="true", offset=offset, limit=LIMIT))
        pages.append(found)
        if len(found) < LIMIT:
            break
        offset += LIMIT
    # Then no page exceeds limit, and the pages together are the unpaged answer with each idle item once
    assert all(len(found) <= LIMIT for found in pages)
    names = [name for found in pages for name in found]
    assert len(names) == len(set(names))
    assert {name: item for found in pages for name, item in found.items()} == unpaged


def test_opencost_ignores_offset_and_limit(kubecost_emulator: Factory) -> None:
    # Given an OpenCost emulator with more items than a page
    emulator = kubecost_emulator(flavour="opencost", today=TODAY, allocations_per_day=60)
    unpaged = query(emulator, aggregate=CHAINS["pod"], includeIdle="true")
    # When a page is asked for
    paged = query(emulator, aggregate=CHAINS["pod"], includeIdle="true", offset=LIMIT, limit=LIMIT)
    # Then the full set comes back every time
    assert paged.content == unpaged.content
    assert len(allocation_set(paged)) > 60


def test_ignore_offset_honours_limit_but_answers_every_offset_with_the_first_page(kubecost_emulator: Factory) -> None:
    # Given a Kubecost emulator that ignores offset
    emulator = kubecost_emulator(today=TODAY, allocations_per_day=60, ignore_offset=True)
    first = query(emulator, aggregate=CHAINS["pod"], idle="true", offset=0, limit=LIMIT)
    # When a later page is asked for / Then it is the first page again, cut to limit (idle on top)
    later = query(emulator, aggregate=CHAINS["pod"], idle="true", offset=3 * LIMIT, limit=LIMIT)
    assert later.content == first.content
    assert sum(not is_idle(name) for name in allocation_set(later)) == LIMIT
    # And without limit the whole day comes back
    unpaged = allocation_set(query(emulator, aggregate=CHAINS["pod"], idle="true"))
    assert sum(not is_idle(name) for name in unpaged) == 60
