"""``wegent.realtime.db.Coalesced``: calls made together run as one batch in the database thread."""

from __future__ import annotations

import asyncio
import threading

import pytest

from wegent.realtime.db import Coalesced


class Recorder:
    """A ``many`` function that records its batches; ``gate`` holds a batch in the thread."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()

    def __call__(self, items: list[int]) -> list[int | Exception]:
        self.batches.append(list(items))
        self.entered.set()
        self.gate.wait(10)
        return [ValueError(f"odd {item}") if item % 2 else item * 10 for item in items]


def test_calls_made_together_share_one_batch_and_get_their_own_answers() -> None:
    many = Recorder()
    call = Coalesced(many)

    async def scenario() -> list[object]:
        return await asyncio.gather(*(call(i) for i in range(6)), return_exceptions=True)

    answers = asyncio.run(scenario())

    assert many.batches == [[0, 1, 2, 3, 4, 5]]
    assert answers[0::2] == [0, 20, 40]
    # An exception entry goes to its own caller only.
    assert [str(a) for a in answers[1::2]] == ["odd 1", "odd 3", "odd 5"]


def test_calls_arriving_while_a_batch_runs_go_in_the_next_batch() -> None:
    many = Recorder()
    call = Coalesced(many)

    async def scenario() -> list[int]:
        many.gate.clear()
        first = asyncio.ensure_future(call(0))
        await asyncio.to_thread(many.entered.wait, 10)  # batch [0] holds the thread
        later = [asyncio.ensure_future(call(i)) for i in (2, 4, 6)]
        await asyncio.sleep(0.05)
        many.gate.set()
        return list(await asyncio.gather(first, *later))

    assert asyncio.run(scenario()) == [0, 20, 40, 60]
    assert many.batches == [[0], [2, 4, 6]]


def test_batches_are_capped_at_the_limit() -> None:
    many = Recorder()
    call = Coalesced(many, limit=4)

    async def scenario() -> list[int]:
        return list(await asyncio.gather(*(call(i * 2) for i in range(10))))

    assert asyncio.run(scenario()) == [i * 20 for i in range(10)]
    assert [len(batch) for batch in many.batches] == [4, 4, 2]


def test_a_failing_batch_fails_each_of_its_callers_and_the_next_batch_still_runs() -> None:
    calls = 0

    def many(items: list[int]) -> list[int | Exception]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database went away")
        return list(items)

    call = Coalesced(many)

    async def scenario() -> tuple[list[object], int]:
        failed = await asyncio.gather(call(1), call(2), return_exceptions=True)
        return failed, await call(3)

    failed, later = asyncio.run(scenario())

    assert [str(f) for f in failed] == ["database went away", "database went away"]
    assert later == 3


def test_a_caller_that_goes_away_does_not_disturb_the_others() -> None:
    many = Recorder()
    call = Coalesced(many)

    async def scenario() -> int:
        many.gate.clear()
        leaving = asyncio.ensure_future(call(2))
        staying = asyncio.ensure_future(call(4))
        await asyncio.to_thread(many.entered.wait, 10)
        leaving.cancel()
        many.gate.set()
        with pytest.raises(asyncio.CancelledError):
            await leaving
        return await staying

    assert asyncio.run(scenario()) == 40


def test_each_event_loop_gets_its_own_batches() -> None:
    """Servers in tests come and go with their loops: a batch held up on one loop does not hold
    up another loop's calls, and each loop's callers get their own answers."""
    many = Recorder()
    call = Coalesced(many)

    async def start_one() -> asyncio.Future[int]:
        many.gate.clear()
        held = asyncio.ensure_future(call(2))
        await asyncio.to_thread(many.entered.wait, 10)
        return held

    first_loop = asyncio.new_event_loop()
    try:
        held = first_loop.run_until_complete(start_one())  # its batch waits in the thread
        many.gate.set()
        assert asyncio.run(call(8)) == 80  # another loop, while the first one is not running
        assert first_loop.run_until_complete(held) == 20
    finally:
        first_loop.close()
    assert many.batches == [[2], [8]]
