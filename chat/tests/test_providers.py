"""The SDK providers against the fake LLM server (real HTTP on loopback, real SDKs)."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import pytest

from chat.providers.anthropic_messages import AnthropicMessagesProvider
from chat.providers.base import ModelConfig, ProviderError
from chat.providers.common import aclose_http_client
from chat.providers.openai_chat import OpenAIChatProvider, max_tokens_param
from chat.providers.openai_responses import OpenAIResponsesProvider
from chat.providers.select import GEMINI_OPENAI_BASE_URL, api_label, provider_for, stream
from chat.tests.fake_llm import FakeLLMServer, RecordedRequest, answer

T = TypeVar("T")

SYSTEM = "<base_prompt>You are terse.</base_prompt>"
HISTORY = [
    {"role": "user", "content": "first question"},
    {"role": "assistant", "content": "first answer"},
    {"role": "user", "content": "second question"},
]
TINY_PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="

# One or more whole fake-LLM chunks ("w0", " w1", ...): deltas never split a chunk.
WHOLE_CHUNKS = re.compile(r"(?: ?w\d+)+")


@dataclass(frozen=True)
class Format:
    name: str
    provider: str
    api_format: str | None
    path: str
    anthropic: bool = False


CHAT = Format("chat", "openai", None, "/v1/chat/completions")
RESPONSES = Format("responses", "openai", "responses", "/v1/responses")
ANTHROPIC = Format("anthropic", "claude", None, "/v1/messages", anthropic=True)
FORMATS = [CHAT, RESPONSES, ANTHROPIC]


@pytest.fixture(scope="module")
def fake_server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


@pytest.fixture
def llm(fake_server: FakeLLMServer) -> FakeLLMServer:
    fake_server.clear()
    return fake_server


def config_for(
    server: FakeLLMServer, fmt: Format, model_id: str = "fake-n20-d0", **changes: Any
) -> ModelConfig:
    base = server.anthropic_base_url if fmt.anthropic else server.openai_base_url
    config = ModelConfig(
        provider=fmt.provider,
        model_id=model_id,
        api_key="sk-test-123",
        base_url=base,
        api_format=fmt.api_format,
    )
    return replace(config, **changes)


def run(make: Callable[[], Awaitable[T]]) -> T:
    """Run on a fresh loop and close that loop's pooled HTTP client afterwards."""

    async def main() -> T:
        try:
            return await make()
        finally:
            await aclose_http_client()

    return asyncio.run(main())


def collect(
    config: ModelConfig, system: str = SYSTEM, messages: list[dict[str, Any]] | None = None
) -> tuple[list[str], ProviderError | None]:
    """All deltas, and the ProviderError that ended the stream (None when it completed)."""

    async def go() -> tuple[list[str], ProviderError | None]:
        deltas: list[str] = []
        try:
            async for delta in stream(config, system, HISTORY if messages is None else messages):
                deltas.append(delta)
        except ProviderError as exc:
            return deltas, exc
        return deltas, None

    return run(go)


def only_request(server: FakeLLMServer) -> RecordedRequest:
    assert len(server.requests) == 1, server.requests
    return server.requests[0]


def credential_of(headers: dict[str, str]) -> str | None:
    # anthropic 2.x sends the API key as a bearer token; older SDKs and proxies use x-api-key.
    bearer = headers.get("authorization", "").removeprefix("Bearer ")
    return headers.get("x-api-key") or bearer or None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- streaming text ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_streams_the_answer_as_text_deltas(llm: FakeLLMServer, fmt: Format) -> None:
    deltas, error = collect(config_for(llm, fmt, "fake-n20-d0"))

    assert error is None
    # No empty deltas (role/ping chunks); the chunks one network read brings may come as one.
    assert deltas and all(WHOLE_CHUNKS.fullmatch(delta) for delta in deltas)
    assert (
        "".join(deltas)
        == answer(20)
        == "w0 w1 w2 w3 w4 w5 w6 w7 w8 w9 w10 w11 w12 w13 w14 w15 w16 w17 w18 w19"
    )
    request = only_request(llm)
    assert (request.method, request.path) == ("POST", fmt.path)
    assert request.body["model"] == "fake-n20-d0"
    assert request.body["stream"] is True
    assert llm.completed == 1


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_long_answers_arrive_whole(llm: FakeLLMServer, fmt: Format) -> None:
    deltas, error = collect(config_for(llm, fmt, "fake-n2000-d0"))

    assert error is None
    assert all(WHOLE_CHUNKS.fullmatch(delta) for delta in deltas)
    assert "".join(deltas) == answer(2000)


def test_chat_completions_gets_system_message_and_history(llm: FakeLLMServer) -> None:
    collect(config_for(llm, CHAT))

    assert only_request(llm).body["messages"] == [{"role": "system", "content": SYSTEM}, *HISTORY]


def test_chat_completions_without_system_prompt_sends_no_system_message(llm: FakeLLMServer) -> None:
    collect(config_for(llm, CHAT), system="")

    assert only_request(llm).body["messages"] == HISTORY


def test_responses_api_gets_instructions_and_input(llm: FakeLLMServer) -> None:
    collect(config_for(llm, RESPONSES))

    body = only_request(llm).body
    assert body["instructions"] == SYSTEM
    assert body["input"] == [{"type": "message", **message} for message in HISTORY]
    assert "messages" not in body


def test_anthropic_gets_system_parameter_and_history(llm: FakeLLMServer) -> None:
    collect(config_for(llm, ANTHROPIC))

    body = only_request(llm).body
    assert body["system"] == SYSTEM
    assert body["messages"] == HISTORY


def test_anthropic_moves_system_messages_and_drops_empty_turns(llm: FakeLLMServer) -> None:
    messages = [
        {"role": "system", "content": "extra rules"},
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": ""},
        {"role": "user", "content": "q2"},
    ]
    collect(config_for(llm, ANTHROPIC), messages=messages)

    body = only_request(llm).body
    assert body["system"] == f"{SYSTEM}\n\nextra rules"
    assert body["messages"] == [{"role": "user", "content": "q1"}, {"role": "user", "content": "q2"}]


# -- images -----------------------------------------------------------------------------------

IMAGE_MESSAGE = {
    "role": "user",
    "content": [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{TINY_PNG}"}},
    ],
}


def test_chat_completions_passes_image_parts_through(llm: FakeLLMServer) -> None:
    collect(config_for(llm, CHAT), messages=[IMAGE_MESSAGE])

    assert only_request(llm).body["messages"][1] == IMAGE_MESSAGE


def test_responses_api_converts_image_parts(llm: FakeLLMServer) -> None:
    history = [{"role": "assistant", "content": [{"type": "text", "text": "earlier"}]}, IMAGE_MESSAGE]
    collect(config_for(llm, RESPONSES), messages=history)

    assert only_request(llm).body["input"] == [
        {"type": "message", "role": "assistant", "content": "earlier"},
        {
            "type": "message",
            "role": "user",
            "content": [
                {"type": "input_text", "text": "what is this?"},
                {"type": "input_image", "image_url": f"data:image/png;base64,{TINY_PNG}", "detail": "auto"},
            ],
        },
    ]


def test_anthropic_converts_image_parts(llm: FakeLLMServer) -> None:
    remote = {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}
    message = {"role": "user", "content": [*IMAGE_MESSAGE["content"], remote]}
    collect(config_for(llm, ANTHROPIC), messages=[message])

    assert only_request(llm).body["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": TINY_PNG}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
            ],
        }
    ]


# -- headers, credentials, limits -------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_default_headers_and_credentials_are_sent(llm: FakeLLMServer, fmt: Format) -> None:
    collect(config_for(llm, fmt, default_headers={"X-Tenant": "acme", "X-Trace": "t-1"}))

    headers = only_request(llm).headers
    assert headers["x-tenant"] == "acme"
    assert headers["x-trace"] == "t-1"
    assert credential_of(headers) == "sk-test-123"
    assert ("anthropic-version" in headers) is fmt.anthropic


@pytest.mark.parametrize(
    ("fmt", "field"),
    [(CHAT, "max_tokens"), (RESPONSES, "max_output_tokens"), (ANTHROPIC, "max_tokens")],
    ids=lambda v: getattr(v, "name", v),
)
def test_max_output_tokens_is_passed(llm: FakeLLMServer, fmt: Format, field: str) -> None:
    collect(config_for(llm, fmt, max_output_tokens=321))

    assert only_request(llm).body[field] == 321


def test_no_token_limit_is_sent_unless_configured_except_anthropic_default(llm: FakeLLMServer) -> None:
    for fmt in FORMATS:
        collect(config_for(llm, fmt))
    chat, responses, anthropic = (request.body for request in llm.requests)

    assert "max_tokens" not in chat and "max_completion_tokens" not in chat
    assert "max_output_tokens" not in responses
    assert anthropic["max_tokens"] == 4096


def test_official_openai_endpoints_get_max_completion_tokens() -> None:
    assert max_tokens_param("https://api.openai.com/v1") == "max_completion_tokens"
    assert max_tokens_param("https://my-team.openai.azure.com/openai/v1") == "max_completion_tokens"
    assert max_tokens_param("http://127.0.0.1:8000/v1") == "max_tokens"
    assert max_tokens_param("http://[broken") == "max_tokens"


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_empty_api_key_sends_a_placeholder_not_the_environment_key(
    llm: FakeLLMServer, fmt: Format, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-operator-secret")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-operator-secret")
    deltas, error = collect(config_for(llm, fmt, "fake-n3-d0", api_key=""))

    assert error is None
    assert "".join(deltas) == "w0 w1 w2"
    headers = only_request(llm).headers
    assert "sk-operator-secret" not in str(headers)
    assert credential_of(headers) == "dummy"


def test_anthropic_base_url_with_v1_suffix_still_reaches_messages(llm: FakeLLMServer) -> None:
    deltas, error = collect(config_for(llm, ANTHROPIC, "fake-n3-d0", base_url=f"{llm.url}/v1/"))

    assert error is None
    assert "".join(deltas) == "w0 w1 w2"
    assert only_request(llm).path == "/v1/messages"


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_missing_model_id_is_a_provider_error(llm: FakeLLMServer, fmt: Format) -> None:
    deltas, error = collect(config_for(llm, fmt, "", model_name="my-model"))

    assert deltas == []
    assert error is not None
    assert error.message == "Model my-model has no model_id configured"
    assert llm.requests == []


# -- failures ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_bad_credentials_become_a_readable_error_without_the_key(llm: FakeLLMServer, fmt: Format) -> None:
    deltas, error = collect(config_for(llm, fmt, api_key="bad-key"))

    assert deltas == []
    assert error is not None
    assert error.message.startswith("Authentication failed (401): ")
    # The fake server quotes the key back like real providers; it must not reach the user or logs.
    for text in (error.message, str(error), repr(error)):
        assert "bad-key" not in text
    assert error.__cause__ is None and error.__suppress_context__


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_http_500_before_streaming(llm: FakeLLMServer, fmt: Format) -> None:
    deltas, error = collect(config_for(llm, fmt, "fake-error-500"))

    assert deltas == []
    assert error is not None
    assert error.message == "Provider returned HTTP 500: Fake upstream error 500"


@pytest.mark.parametrize(
    ("model_id", "expected"),
    [
        ("fake-error-429", "Rate limited (429): Fake upstream error 429"),
        ("fake-error-404", "Model or endpoint not found (404): Fake upstream error 404"),
        ("fake-error-400", "Provider rejected the request (HTTP 400): Fake upstream error 400"),
        ("fake-error-502-text", "Provider returned HTTP 502: upstream says: Fake upstream error 502"),
    ],
)
@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_other_http_errors(llm: FakeLLMServer, fmt: Format, model_id: str, expected: str) -> None:
    deltas, error = collect(config_for(llm, fmt, model_id))

    assert deltas == []
    assert error is not None
    assert error.message == expected


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_a_hanging_provider_times_out(llm: FakeLLMServer, fmt: Format) -> None:
    deltas, error = collect(config_for(llm, fmt, "fake-hang", timeout=0.5))

    assert deltas == []
    assert error is not None
    assert error.message == "Model request timed out after 0.5s"


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_slow_headers_time_out_too(llm: FakeLLMServer, fmt: Format) -> None:
    deltas, error = collect(config_for(llm, fmt, "fake-h3000-n3", timeout=0.3))

    assert deltas == []
    assert error is not None
    assert error.message == "Model request timed out after 0.3s"


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_connection_refused(fmt: Format) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}" + ("" if fmt.anthropic else "/v1")
    config = ModelConfig(fmt.provider, "fake-n3-d0", "sk-test-123", base_url=base, api_format=fmt.api_format)

    deltas, error = collect(config)

    assert deltas == []
    assert error is not None
    assert error.message == f"Could not connect to {base}"


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_error_event_in_the_middle_of_the_stream(llm: FakeLLMServer, fmt: Format) -> None:
    deltas, error = collect(config_for(llm, fmt, "fake-midstream-error-n5"))

    assert "".join(deltas) == "w0 w1 w2 w3 w4"
    assert error is not None
    assert error.message == "Provider stream error: Fake upstream failure after 5 chunks"


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_connection_cut_in_the_middle_of_the_stream(llm: FakeLLMServer, fmt: Format) -> None:
    deltas, error = collect(config_for(llm, fmt, "fake-midstream-drop-n5"))

    assert "".join(deltas) == "w0 w1 w2 w3 w4"
    assert error is not None
    assert error.message.startswith("Connection to http://127.0.0.1:")
    assert error.message.endswith("was lost mid-stream")


# -- cancellation -----------------------------------------------------------------------------


async def _wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_closing_the_generator_early_closes_the_upstream_connection(llm: FakeLLMServer, fmt: Format) -> None:
    # 1000 chunks 20 ms apart: the server would stream for 20 s if nobody hung up.
    config = config_for(llm, fmt, "fake-n1000-d20")

    async def go() -> tuple[list[str], bool]:
        deltas: list[str] = []
        answer_stream = stream(config, SYSTEM, HISTORY)
        async for delta in answer_stream:
            deltas.append(delta)
            if len(deltas) == 3:
                break
        await answer_stream.aclose()  # type: ignore[attr-defined]
        # Checked before the loop's connection pool is closed, so only aclose() can explain it.
        return deltas, await _wait_for(lambda: llm.disconnects >= 1)

    deltas, disconnected = run(go)

    # Three reads (a busy machine may deliver two 20 ms-apart chunks in one read).
    assert len(deltas) == 3 and "".join(deltas).startswith("w0 w1 w2")
    assert disconnected
    assert llm.completed == 0


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_cancelling_the_consuming_task_closes_the_upstream_connection(
    llm: FakeLLMServer, fmt: Format
) -> None:
    config = config_for(llm, fmt, "fake-n1000-d20")

    async def go() -> tuple[list[str], bool]:
        deltas: list[str] = []
        got_some = asyncio.Event()

        async def consume() -> None:
            async for delta in stream(config, SYSTEM, HISTORY):
                deltas.append(delta)
                got_some.set()

        task = asyncio.create_task(consume())
        await got_some.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return deltas, await _wait_for(lambda: llm.disconnects >= 1)

    deltas, disconnected = run(go)

    assert deltas[0] == "w0"
    assert disconnected
    assert llm.completed == 0


# -- selection --------------------------------------------------------------------------------


def _model(
    provider: str, model_id: str, api_format: str | None = None, protocol: str | None = None
) -> ModelConfig:
    return ModelConfig(provider, model_id, "k", api_format=api_format, protocol=protocol)


@pytest.mark.parametrize(
    ("config", "kind", "label"),
    [
        (_model("openai", "anything"), OpenAIChatProvider, "Chat Completions API"),
        (_model("OpenAI", "anything"), OpenAIChatProvider, "Chat Completions API"),
        (_model("gpt", "my-model"), OpenAIChatProvider, "Chat Completions API"),
        (_model("anthropic", "my-model"), AnthropicMessagesProvider, "Anthropic Messages API"),
        (_model("claude", "gpt-4o"), AnthropicMessagesProvider, "Anthropic Messages API"),
        (_model("openai", "claude-sonnet-4"), OpenAIChatProvider, "Chat Completions API"),
        (_model("", "gpt-4o"), OpenAIChatProvider, "Chat Completions API"),
        (_model("custom", "o1-mini"), OpenAIChatProvider, "Chat Completions API"),
        (_model("custom", "o3-mini"), OpenAIChatProvider, "Chat Completions API"),
        (_model("custom", "chatgpt-4o-latest"), OpenAIChatProvider, "Chat Completions API"),
        (_model("custom", "claude-3-5-haiku"), AnthropicMessagesProvider, "Anthropic Messages API"),
        (_model("custom", "Claude-3-opus"), AnthropicMessagesProvider, "Anthropic Messages API"),
        (_model("deepseek", "deepseek-chat"), OpenAIChatProvider, "Chat Completions API"),
        (_model("", "fake-n20-d50"), OpenAIChatProvider, "Chat Completions API"),
        (_model("openai", "gpt-4o", api_format="responses"), OpenAIResponsesProvider, "Responses API"),
        (_model("openai", "gpt-4o", protocol="openai-responses"), OpenAIResponsesProvider, "Responses API"),
        (_model("custom", "my-model", api_format="responses"), OpenAIResponsesProvider, "Responses API"),
        (
            _model("claude", "claude-sonnet-4", api_format="responses"),
            AnthropicMessagesProvider,
            "Anthropic Messages API",
        ),
        (_model("gemini", "gemini-2.5-pro"), OpenAIChatProvider, "Chat Completions API"),
        (_model("", "gemini-2.5-flash"), OpenAIChatProvider, "Chat Completions API"),
    ],
)
def test_provider_selection(config: ModelConfig, kind: type, label: str) -> None:
    provider = provider_for(config)

    assert type(provider) is kind
    assert api_label(config) == label


def test_gemini_defaults_to_googles_openai_endpoint_and_others_to_openai() -> None:
    assert provider_for(_model("google", "x")).default_base_url == GEMINI_OPENAI_BASE_URL  # type: ignore[attr-defined]
    assert provider_for(_model("", "gemini-pro")).default_base_url == GEMINI_OPENAI_BASE_URL  # type: ignore[attr-defined]
    assert provider_for(_model("openai", "x")).default_base_url == "https://api.openai.com/v1"  # type: ignore[attr-defined]
    assert provider_for(_model("", "my-model")).default_base_url == "https://api.openai.com/v1"  # type: ignore[attr-defined]


def test_sse_lines_join_lines_split_across_reads() -> None:
    from chat.providers.openai_chat import SSELines, chunk_texts

    lines = SSELines()
    first = b'data: {"choices":[{"delta":{"content":"he'
    second = b'llo"}}]}\r\n\r\ndata: {"choices":[{"delta":{"content":" you"}}]}\n\ndata: [DO'
    assert chunk_texts(lines.feed(first)) == ("", False, None)
    assert chunk_texts(lines.feed(second)) == ("hello you", False, None)
    assert chunk_texts(lines.feed(b"NE]\n\n")) == ("", True, None)


def test_sse_error_chunk_keeps_the_text_before_it() -> None:
    from chat.providers.openai_chat import SSELines, chunk_texts

    data = b'data: {"choices":[{"delta":{"content":"partial"}}]}\n\ndata: {"error":{"message":"boom"}}\n\n'
    text, finished, error = chunk_texts(SSELines().feed(data))
    assert (text, finished) == ("partial", True)
    assert error is not None and error.message == "Provider stream error: boom"
