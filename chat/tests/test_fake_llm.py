"""The fake LLM server itself: model-id grammar, non-streaming answers, model lists, auth."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx2
import openai
import pytest

from chat.tests.fake_llm import Behaviour, FakeLLMServer, answer, parse_model

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def fake_server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


@pytest.fixture
def llm(fake_server: FakeLLMServer) -> FakeLLMServer:
    fake_server.clear()
    return fake_server


@pytest.mark.parametrize(
    ("model_id", "expected"),
    [
        ("fake-n20-d50", Behaviour(chunks=20, delay=0.05)),
        ("fake-n2000-d0", Behaviour(chunks=2000, delay=0.0)),
        ("fake-error-500", Behaviour(error_status=500)),
        ("fake-error-401", Behaviour(error_status=401)),
        ("fake-error-502-text", Behaviour(error_status=502, error_as_text=True)),
        ("fake-midstream-error-n5", Behaviour(chunks=5, midstream="error")),
        ("fake-midstream-drop-n5", Behaviour(chunks=5, midstream="drop")),
        ("fake-hang", Behaviour(hang=True)),
        ("fake-h300-f200-n3", Behaviour(chunks=3, header_delay=0.3, first_delay=0.2)),
        ("FAKE-N3", Behaviour(chunks=3)),
        ("fake-bogus-token", Behaviour()),
        ("gpt-4o", Behaviour()),
        (None, Behaviour()),
    ],
)
def test_model_id_grammar(model_id: str | None, expected: Behaviour) -> None:
    assert parse_model(model_id) == expected


def test_answer_words() -> None:
    assert answer(3) == "w0 w1 w2"
    assert answer(0) == ""


def test_non_streaming_chat_completion_and_responses(llm: FakeLLMServer) -> None:
    async def go() -> tuple[str | None, str]:
        client = openai.AsyncOpenAI(api_key="k", base_url=llm.openai_base_url, max_retries=0)
        try:
            completion = await client.chat.completions.create(
                model="fake-n4", messages=[{"role": "user", "content": "hi"}]
            )
            response = await client.responses.create(model="fake-n3", input="hi")
        finally:
            await client.close()
        return completion.choices[0].message.content, response.output_text

    chat_text, responses_text = asyncio.run(go())

    assert chat_text == "w0 w1 w2 w3"
    assert responses_text == "w0 w1 w2"
    assert [r.path for r in llm.requests] == ["/v1/chat/completions", "/v1/responses"]


def test_non_streaming_anthropic_message(llm: FakeLLMServer) -> None:
    async def go() -> str:
        client = anthropic.AsyncAnthropic(api_key="k", base_url=llm.anthropic_base_url, max_retries=0)
        try:
            message = await client.messages.create(
                model="fake-n2", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
            )
        finally:
            await client.close()
        return "".join(block.text for block in message.content if block.type == "text")

    assert asyncio.run(go()) == "w0 w1"


def test_model_lists_for_both_sdks(llm: FakeLLMServer) -> None:
    async def go() -> tuple[list[str], list[str]]:
        oa = openai.AsyncOpenAI(api_key="k", base_url=llm.openai_base_url, max_retries=0)
        an = anthropic.AsyncAnthropic(api_key="k", base_url=llm.anthropic_base_url, max_retries=0)
        try:
            openai_ids = [model.id async for model in oa.models.list()]
            anthropic_ids = [model.id async for model in an.models.list()]
        finally:
            await oa.close()
            await an.close()
        return openai_ids, anthropic_ids

    openai_ids, anthropic_ids = asyncio.run(go())

    assert "fake-n20-d50" in openai_ids
    assert openai_ids == anthropic_ids


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/responses", "/v1/messages", "/v1/models"])
def test_requests_without_a_key_get_401_and_are_recorded(llm: FakeLLMServer, path: str) -> None:
    method = "GET" if path == "/v1/models" else "POST"
    response = httpx2.request(method, f"{llm.url}{path}", json=None if method == "GET" else {"model": "fake"})

    assert response.status_code == 401
    assert "Missing API key" in response.text
    assert [(r.method, r.path) for r in llm.requests] == [(method, path)]


def test_bad_key_is_refused_and_non_json_body_is_400(llm: FakeLLMServer) -> None:
    bad = httpx2.post(f"{llm.url}/v1/messages", headers={"x-api-key": "bad-key"}, json={"model": "fake"})
    broken = httpx2.post(
        f"{llm.url}/v1/chat/completions", headers={"Authorization": "Bearer k"}, content=b"{not json"
    )

    assert bad.status_code == 401
    assert bad.json()["error"]["type"] == "authentication_error"
    assert broken.status_code == 400
    assert llm.requests[1].body == "{not json"


def test_runs_standalone_from_the_command_line() -> None:
    with FakeLLMServer() as probe:  # borrow a free port, then release it
        port = probe.port
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "chat.tests.fake_llm", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        assert f"http://127.0.0.1:{port}" in banner
        response = httpx2.get(f"http://127.0.0.1:{port}/v1/models", headers={"Authorization": "Bearer k"})
        assert response.status_code == 200
        assert response.json()["object"] == "list"
    finally:
        process.terminate()
        process.wait(10)
