"""A new conversation's model stream opens while its turn is stored (``EarlyStart``): what it
sends before the hand-over is published once, nothing is lost or repeated, and a stream that is
not taken over is closed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from chat.providers.base import ModelConfig, ProviderError
from chat.providers.common import aclose_http_client
from chat.providers.select import stream as provider_stream
from chat.streams import EarlyStart
from chat.tests.fake_llm import FakeLLMServer, answer


async def _words(
    count: int, gate: asyncio.Event | None = None, fail_at: int | None = None
) -> AsyncIterator[str]:
    for i in range(count):
        if i == fail_at:
            raise ProviderError("boom")
        if gate is not None and i == count // 2:
            await gate.wait()
        yield f"w{i} "


async def _rest(early: EarlyStart) -> list[str]:
    return [text async for text in early.iterator]


def test_hand_over_mid_stream_loses_and_repeats_nothing() -> None:
    async def scenario() -> tuple[list[str], list[str], bool]:
        gate = asyncio.Event()
        early = EarlyStart(_words(10, gate))
        await asyncio.sleep(0.01)  # the first half arrives while "the turn is stored"
        before = list(early.parts)
        taking = asyncio.ensure_future(early.take())
        await asyncio.sleep(0.01)
        assert not taking.done()  # waits for the read under way, which the gate holds
        gate.set()
        await taking
        return before, early.parts + await _rest(early), early.ended

    before, whole, ended = asyncio.run(scenario())

    assert before == [f"w{i} " for i in range(5)]
    assert whole == [f"w{i} " for i in range(10)] and not ended


def test_a_stream_that_ended_before_the_hand_over_reports_it() -> None:
    async def scenario() -> EarlyStart:
        early = EarlyStart(_words(3))
        await asyncio.sleep(0.01)
        await early.take()
        return early

    early = asyncio.run(scenario())

    assert early.parts == ["w0 ", "w1 ", "w2 "] and early.ended and early.error is None


def test_a_provider_error_before_the_hand_over_is_kept_for_the_relay() -> None:
    async def scenario() -> EarlyStart:
        early = EarlyStart(_words(5, fail_at=2))
        await asyncio.sleep(0.01)
        await early.take()
        return early

    early = asyncio.run(scenario())

    assert early.parts == ["w0 ", "w1 "]
    assert isinstance(early.error, ProviderError) and early.error.message == "boom"


def test_cancelling_the_hand_over_cancels_the_read_under_way() -> None:
    async def scenario() -> bool:
        early = EarlyStart(_words(10, asyncio.Event()))  # stops for good after 5 words
        await asyncio.sleep(0.01)
        taking = asyncio.ensure_future(early.take())
        await asyncio.sleep(0.01)
        taking.cancel()
        try:
            await taking
        except asyncio.CancelledError:
            return True
        return False

    assert asyncio.run(scenario())


def test_discard_closes_the_model_request() -> None:
    # The real provider against the fake LLM: a discarded early stream hangs up its request.
    with FakeLLMServer() as llm:
        config = ModelConfig("openai", "fake-n50-d20", "sk-test", base_url=llm.openai_base_url)

        async def scenario() -> list[str]:
            early = EarlyStart(provider_stream(config, "", [{"role": "user", "content": "hi"}]))
            try:
                for _ in range(500):  # the first call of the process imports the SDK
                    if early.parts:
                        break
                    await asyncio.sleep(0.02)
                seen = list(early.parts)
                await early.discard()
                return seen
            finally:
                await aclose_http_client()

        seen = asyncio.run(scenario())

        assert seen and answer(50).startswith("".join(seen))
        assert llm.wait_for_disconnects(1)
        assert llm.completed == 0
