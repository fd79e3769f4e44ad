"""Requests build their responses a few at a time; slow ones stop counting (wegent/asgi_http.py)."""

from __future__ import annotations

import asyncio

import pytest

from wegent import asgi_http


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_at_most_limit_turns_at_once_and_the_next_waits_in_order():
    async def scenario() -> list[str]:
        turns = asgi_http._Turns(2)
        order: list[str] = []
        end_a = await turns.take()
        end_b = await turns.take()

        async def wait(name: str) -> None:
            end = await turns.take()
            order.append(name)
            end()

        third = asyncio.ensure_future(wait("c"))
        fourth = asyncio.ensure_future(wait("d"))
        await _settle()
        assert order == []  # both wait while two turns are held
        end_a()
        end_a()  # ending twice gives back one turn, not two
        await asyncio.wait_for(asyncio.gather(third, fourth), 5)
        end_b()
        return order

    assert asyncio.run(scenario()) == ["c", "d"]


def test_a_turn_held_past_the_slow_mark_stops_counting(monkeypatch):
    monkeypatch.setattr(asgi_http, "SLOW_SECONDS", 0.01)

    async def scenario() -> None:
        turns = asgi_http._Turns(1)
        end_slow = await turns.take()
        # The slow holder never ends its turn; the next request still gets one.
        end_next = await asyncio.wait_for(turns.take(), 5)
        end_slow()  # the slow request ends later: its turn was already given back
        end_next()
        # One turn again, not two: a second holder waits until the first ends.
        end_first = await turns.take()
        monkeypatch.setattr(asgi_http, "SLOW_SECONDS", 60)
        waiting = asyncio.ensure_future(turns.take())
        await _settle()
        assert not waiting.done()
        end_first()
        (await asyncio.wait_for(waiting, 5))()

    asyncio.run(scenario())


@pytest.mark.parametrize("active, threads, expected", [(4, 8, 4), (None, 8, 8), (20, 8, 8), (0, 3, 3)])
def test_the_active_limit_is_between_one_and_the_thread_count(active, threads, expected):
    assert asgi_http.PooledThreadASGIHandler(threads=threads, active=active)._active == expected
