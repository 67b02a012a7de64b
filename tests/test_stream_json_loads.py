"""A streamed chunk's values are ``json.loads``' reading of its JSON, as a non-streamed
answer's are (``tests/test_answer_tape.py``): ``1e400`` is ``inf``, ``-0`` is 0, an integer
past 64 bits is exact and a lone surrogate is kept, wherever the chunk carries them
(unknown fields at every level, usage, logprobs, tool calls, reasoning details,
annotations, images), in ``to_dict``/``model_dump`` and in the accumulated completion;
nothing valid is refused for them. The core keeps these parts as JSON text, never as trees."""

from __future__ import annotations

import json
import math
import sys
from typing import Any

import fastrouter
import pytest
from fastrouter.testing import MockServer, Raw
from fastrouter.types import ChatCompletionChunk, ChoiceDelta, ChunkChoice, CompletionUsage
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from json_helpers import typed
from stream_helpers import drain, interrupt_once, open_stream

SSE = {"content-type": "text/event-stream"}
# Every value a serde tree reads differently from json.loads, or refuses.
ODD = f'[1e400,-1e400,-0,18446744073709551616,-9223372036854775809,1{"0" * 40},"\\ud800 alone",-0.0,1.5e-400]'


EXTRAS = (
    f'{{"id":"g","x":{ODD},"choices":[{{"index":0,"x":{ODD},"delta":{{"role":"assistant","content":"a","x":{ODD}}}}}]}}'
)
LISTS = (
    '{"id":"g","choices":[{"index":0,"delta":{"content":"b","reasoning":"r",'
    f'"reasoning_details":[{{"type":"reasoning.text","text":"r\\ud83d","index":0,"n":{ODD}}}],'
    f'"annotations":[{{"type":"url_citation","n":{ODD}}}],'
    f'"images":[{{"type":"image_url","image_url":{{"url":"data:,"}},"n":{ODD}}}],'
    '"tool_calls":[{"index":0,"id":"c1","type":"function","function":{"name":"f","arguments":"{}"},'
    f'"n":{ODD}}}]}},'
    f'"logprobs":{{"content":[{{"token":"b","logprob":-1e400,"n":{ODD}}}]}}}}]}}'
)
SCALARS = (
    '{"id":"g","created":-0,"x":1e400,"y":-0,"z":18446744073709551616,"choices":[{"index":-0,"delta":{"content":"c"}}]}'
)
MORE_DETAIL = '{"id":"g","choices":[{"index":0,"delta":{"reasoning_details":[{"type":"reasoning.text","text":"\\ude00","index":0,"signature":"s"}]}}]}'
USAGE = (
    '{"id":"g","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],'
    f'"usage":{{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3,"cost":1e400,"n":{ODD}}}}}'
)
CHUNKS = [EXTRAS, LISTS, SCALARS, MORE_DETAIL, USAGE]


def _sse(*chunks: str) -> Raw:
    return Raw("".join(f"data: {chunk}\n\n" for chunk in chunks) + "data: [DONE]\n\n", headers=SSE)


def _same(native: Any, data: dict[str, Any], model: type) -> None:
    """`native` (a core-built chunk, choice or delta) reads as json.loads' `data` does."""
    plain = model(data)
    assert typed(native.to_dict()) == typed(data) == typed(plain.to_dict())
    assert typed(native.model_dump()) == typed(plain.model_dump())
    assert repr(native) == repr(plain)


async def test_every_chunk_reads_as_json_loads_reads_it(server: MockServer, caller: Any) -> None:
    server.script("a/x", _sse(*CHUNKS))
    client = caller.client(server)
    stream = await open_stream(caller, client)
    chunks = await drain(stream)
    assert len(chunks) == len(CHUNKS)
    for chunk, text in zip(chunks, CHUNKS, strict=True):
        data = json.loads(text)
        _same(chunk, data, ChatCompletionChunk)
        for choice, choice_data in zip(chunk.choices, data["choices"], strict=True):
            _same(choice, choice_data, ChunkChoice)
            _same(choice.delta, choice_data["delta"], ChoiceDelta)
    extras, lists, scalars, _, usage = chunks
    odd = json.loads(ODD)
    # Unknown fields, read by name on every level.
    for owner in (extras, extras.choices[0], extras.choices[0].delta):
        assert typed(owner.x) == typed(odd)
    assert math.isinf(scalars.x) and scalars.y == 0 and type(scalars.y) is int and scalars.z == 2**64
    assert scalars.created == 0 and scalars.choices[0].index == 0
    # The typed nested models.
    delta = lists.choices[0].delta
    assert typed(delta.reasoning_details[0].to_dict()["n"]) == typed(odd)
    assert delta.reasoning_details[0].text == "r\ud83d"
    assert typed(delta.annotations[0].to_dict()["n"]) == typed(odd)
    assert typed(delta.images) == typed(json.loads(LISTS)["choices"][0]["delta"]["images"])
    assert typed(delta.tool_calls[0].to_dict()["n"]) == typed(odd)
    logprobs = lists.choices[0].logprobs
    assert logprobs is not None and logprobs.content is not None
    assert logprobs.content[0].logprob == -math.inf
    assert isinstance(usage.usage, CompletionUsage) and usage.usage == CompletionUsage(json.loads(USAGE)["usage"])
    assert typed(usage.usage.to_dict()) == typed(json.loads(USAGE)["usage"])
    # The accumulated completion carries them as sent, read by json.loads too.
    completion = stream.completion.to_dict()
    message = completion["choices"][0]["message"]
    lists_delta = json.loads(LISTS)["choices"][0]["delta"]
    assert message["content"] == "abc" and completion["created"] == 0
    assert typed(message["annotations"]) == typed(lists_delta["annotations"])
    assert typed(message["images"]) == typed(lists_delta["images"])
    (detail,) = message["reasoning_details"]
    # Two fragments of one block: their texts join (a surrogate pair split across them
    # joins into its character), the rest kept as sent.
    assert detail["text"] == "r\U0001f600" and detail["signature"] == "s"
    assert typed(detail["n"]) == typed(odd)
    logprob_tokens = completion["choices"][0]["logprobs"]["content"]
    assert typed(logprob_tokens) == typed(json.loads(LISTS)["choices"][0]["logprobs"]["content"])
    assert typed(completion["usage"]) == typed(json.loads(USAGE)["usage"])
    (entry,) = client.usage.entries
    assert entry.status == "ok"


async def test_an_in_band_error_serde_cannot_read_is_still_the_servers_error(server: MockServer, caller: Any) -> None:
    errors = []
    for metadata in ('{"n":1}', '{"n":1e400}'):
        error = f'{{"id":"g","error":{{"code":502,"message":"down","metadata":{metadata}}},"choices":[]}}'
        server.script("a/x", _sse('{"id":"g","choices":[{"index":0,"delta":{"content":"a"}}]}', error))
        stream = await open_stream(caller, caller.client(server))
        seen: list[Any] = []
        with pytest.raises(fastrouter.APIError, match="down") as info:
            await drain(stream, seen)
        assert [c.choices[0].delta.content for c in seen] == ["a"]
        errors.append((type(info.value), str(info.value).replace("1e400", "1")))
    assert errors[0] == errors[1]


async def test_an_in_band_errors_code_and_metadata_read_as_json_loads_reads_them(
    server: MockServer, caller: Any
) -> None:
    """The error's ``code`` and ``metadata`` are ``json.loads``' reading of what was sent, as
    an answer's values are; the ``error_type`` the core adds to ``metadata`` is kept."""
    odd = json.loads(ODD)
    cases = [
        ('{"code":-0,"message":"down","metadata":{"n":ODD}}'.replace("ODD", ODD), 0, {"n": odd}),
        (
            '{"code":18446744073709551616,"message":"down","metadata":{"z":-0,"m":{"x":1e400}}}',
            2**64,
            {"z": 0, "m": {"x": math.inf}},
        ),
        (
            '{"code":502,"message":"down","error_type":"provider_error","metadata":{"n":ODD}}'.replace("ODD", ODD),
            502,
            {"n": odd, "error_type": "provider_error"},
        ),
        ('{"code":1e400,"message":"down","error_type":"provider_error"}', math.inf, {"error_type": "provider_error"}),
    ]
    for error, code, metadata in cases:
        server.script("a/x", _sse('{"id":"g","choices":[{"index":0,"delta":{"content":"a"}}]}', f'{{"error":{error}}}'))
        stream = await open_stream(caller, caller.client(server))
        with pytest.raises(fastrouter.StreamError, match="down") as info:
            await drain(stream)
        assert typed(info.value.code) == typed(code), error
        assert typed(info.value.metadata) == typed(metadata), error


async def test_a_chunk_nested_past_the_bound_is_refusedtyped(server: MockServer, caller: Any) -> None:
    deep = "[" * 200 + "]" * 200
    fine = "[" * 100 + "]" * 100
    chunks = (
        '{"choices":[{"index":0,"delta":{"content":"a"}}],"x":' + fine + "}",
        '{"choices":[{"index":0,"delta":{"content":"b"}}],"x":' + deep + "}",
    )
    server.script("a/x", _sse(*chunks))
    stream = await open_stream(caller, caller.client(server))
    seen: list[Any] = []
    with pytest.raises(fastrouter.StreamError, match="nests deeper than 128 levels"):
        await drain(stream, seen)
    assert [c.choices[0].delta.content for c in seen] == ["a"]
    assert typed(seen[0].x) == typed(json.loads(fine))


# Numbers and strings as their JSON text: what serde trees refuse or read differently.
_NUMBER = st.one_of(
    st.integers().map(str),
    st.integers(min_value=2**63, max_value=2**200).map(lambda n: f"-{n}"),
    st.just("-0"),
    st.builds(
        lambda m, f, e: f"{m}.{f}e{e}",
        st.integers(-999, 999),
        st.integers(0, 99),
        st.integers(-500, 500),
    ),
)
_STRING = st.lists(
    st.sampled_from(["a", "é", "\\ud800", "\\udc00", "\\ud83d\\ude00", '\\"', "\\n", "\\u0000", "😀"]), max_size=4
).map(lambda parts: '"' + "".join(parts) + '"')
_SCALAR = st.one_of(_NUMBER, _STRING, st.sampled_from(["true", "false", "null"]))
_VALUE = st.recursive(
    _SCALAR,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda items: "[" + ",".join(items) + "]"),
        st.lists(st.tuples(st.sampled_from(["k", "n", "x"]), inner), max_size=3).map(
            lambda members: "{" + ",".join(f'"{k}":{v}' for k, v in members) + "}"
        ),
    ),
    max_leaves=6,
)


@st.composite
def _chunk(draw: st.DrawFn) -> str:
    """A chunk with odd values where the scanner skips them (scalars in unknown fields) and
    where serde reads the chunk (nested values, usage, logprobs, lists)."""
    top = draw(st.sampled_from(["x", "usage"]))
    top_value = draw(_SCALAR if top == "x" else _VALUE.filter(lambda v: v.startswith("{")))
    choice_extra = draw(_SCALAR)
    delta_extra = draw(_VALUE)
    annotation = draw(_VALUE)
    return (
        f'{{"id":"g","{top}":{top_value},"choices":[{{"index":0,"x":{choice_extra},'
        f'"delta":{{"content":"c","x":{delta_extra},"annotations":[{{"v":{annotation}}}]}}}}]}}'
    )


@pytest.mark.timeout(300)  # a mock server per example: shrinking a failure takes a while
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(st.lists(_chunk(), min_size=1, max_size=8))
def test_prop_generated_chunks_read_as_json_loads_reads_them(texts: list[str]) -> None:
    with MockServer() as server:
        server.script("a/x", _sse(*texts))
        with fastrouter.Client(base_url=server.base_url, api_key="k", max_retries=0) as client:
            stream = client.chat.completions.create(
                model="a/x", messages=[{"role": "user", "content": "hi"}], stream=True
            )
            chunks = list(stream)
            completion = stream.completion.to_dict()
    assert len(chunks) == len(texts)
    for chunk, text in zip(chunks, texts, strict=True):
        data = json.loads(text)
        assert typed(chunk.to_dict()) == typed(data)
        assert typed(chunk.x if "x" in data else None) == typed(data.get("x"))
        assert typed(chunk.choices[0].x) == typed(data["choices"][0]["x"])
        delta = chunk.choices[0].delta
        assert typed(delta.x) == typed(data["choices"][0]["delta"]["x"])
        assert typed([a.to_dict() for a in delta.annotations]) == typed(data["choices"][0]["delta"]["annotations"])
    annotations = [a for text in texts for a in json.loads(text)["choices"][0]["delta"]["annotations"]]
    assert typed(completion["choices"][0]["message"]["annotations"]) == typed(annotations)


@pytest.mark.parametrize(
    "chunk",
    [
        '{"choices":[{"index":0,"delta":{"content":"a\\ud800"}}]}',
        '{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\\udc00"}}]}}]}',
        '{"created":9223372036854775808,"choices":[{"index":0,"delta":{"content":"a"}}]}',
    ],
    ids=["lone surrogate in content", "lone surrogate in arguments", "created past 64 bits"],
)
async def test_the_fields_the_core_reads_itself_staytyped(server: MockServer, caller: Any, chunk: str) -> None:
    # Where json.loads and the stream still differ, on purpose: the core joins content,
    # reasoning and tool-call arguments across chunks into the completion, as UTF-8 text
    # (a lone surrogate has no UTF-8 form), and reads `created` and the indexes as
    # integers (a time or an index past 64 bits is no time or index). Such a chunk is a
    # typed error, never a wrong value.
    server.script("a/x", _sse('{"choices":[{"index":0,"delta":{"content":"ok"}}]}', chunk))
    client = caller.client(server)
    stream = await open_stream(caller, client)
    seen: list[Any] = []
    with pytest.raises(fastrouter.StreamError, match="not a JSON chunk"):
        await drain(stream, seen)
    assert [c.choices[0].delta.content for c in seen] == ["ok"]
    (entry,) = client.usage.entries
    assert entry.status == "stream_error"


# An integer of more digits than json.loads converts (sys.get_int_max_str_digits()),
# wherever a chunk carries one: the scan's fields, the lists serde reads in place, the
# parts serde keeps as text.
_LONG = "1" + "0" * sys.get_int_max_str_digits()
_WITHIN = "-1" + "0" * (sys.get_int_max_str_digits() - 1)
_PLACES = {
    "top-level unknown": '{"id":"g","x":%s,"choices":[{"index":0,"delta":{"content":"b"}}]}',
    "choice unknown": '{"choices":[{"index":0,"x":%s,"delta":{"content":"b"}}]}',
    "delta unknown": '{"choices":[{"index":0,"delta":{"content":"b","x":%s}}]}',
    "nested unknown": '{"x":{"y":[%s]},"choices":[{"index":0,"delta":{"content":"b"}}]}',
    "annotation": '{"choices":[{"index":0,"delta":{"content":"b","annotations":[{"n":%s}]}}]}',
    "image": '{"choices":[{"index":0,"delta":{"content":"b","images":[{"type":"image_url","n":%s}]}}]}',
    "reasoning detail": '{"choices":[{"index":0,"delta":{"reasoning_details":[{"type":"t","n":%s}]}}]}',
    "tool call": '{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c","n":%s}]}}]}',
    "logprobs": '{"choices":[{"index":0,"delta":{"content":"b"},"logprobs":{"content":[],"n":%s}}]}',
    "usage": '{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2,"n":%s}}',
}


@pytest.mark.parametrize("place", list(_PLACES))
async def test_an_integer_json_loads_refuses_is_a_typed_stream_error(
    server: MockServer, caller: Any, place: str
) -> None:
    chunk = _PLACES[place]
    # As long as json.loads converts is read exactly.
    server.script("a/x", _sse(chunk % _WITHIN))
    client = caller.client(server)
    stream = await open_stream(caller, client)
    (within,) = await drain(stream)
    assert json.loads(chunk % _WITHIN) == within.to_dict()
    assert stream.completion is not None
    # One digit more is the server's bad chunk, as a non-streamed answer's would be.
    server.script("a/x", _sse('{"choices":[{"index":0,"delta":{"content":"ok"}}]}', chunk % _LONG))
    client = caller.client(server)
    stream = await open_stream(caller, client)
    seen: list[Any] = []
    with pytest.raises(fastrouter.StreamError, match="not a JSON chunk: number out of range"):
        await drain(stream, seen)
    assert [c.choices[0].delta.content for c in seen] == ["ok"]
    assert stream.completion.choices[0].message.content == "ok"
    (entry,) = client.usage.entries
    assert entry.status == "stream_error"


async def test_a_completion_python_no_longer_reads_still_has_its_entry(server: MockServer, caller: Any) -> None:
    # Python's limit lowered after fastrouter read it: the core passes a chunk json.loads
    # then refuses. Its parts and the completion are typed errors, the stream still has
    # exactly one ledger entry.
    chunk = '{"choices":[{"index":0,"delta":{"content":"a","annotations":[{"n":N}]},"x":N}]}'.replace("N", "9" * 700)
    server.script("a/x", _sse(chunk))
    client = caller.client(server)
    stream = await open_stream(caller, client)
    before = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(640)
    try:
        seen: list[Any] = []
        with pytest.raises(fastrouter.APIResponseValidationError, match="not JSON this Python reads"):
            await drain(stream, seen)
        (received,) = seen
        for read in (
            lambda: received.choices[0].x,
            lambda: received.to_dict(),
            lambda: received.choices[0].delta.annotations,
        ):
            with pytest.raises(fastrouter.APIResponseValidationError):
                read()
        with pytest.raises(fastrouter.APIResponseValidationError):
            stream.completion  # noqa: B018
    finally:
        sys.set_int_max_str_digits(before)
    (entry,) = client.usage.entries
    assert entry.status == "stream_error"
    assert stream.completion.choices[0].message.content == "a"


async def test_logprobs_with_a_name_that_has_no_utf8_form_keep_their_tokens(server: MockServer, caller: Any) -> None:
    chunk = (
        '{"choices":[{"index":0,"delta":{"content":"a"},'
        '"logprobs":{"\\ud800":1,"content":[{"token":"a","logprob":-1}]}}]}'
    )
    server.script("a/x", _sse(chunk))
    stream = await open_stream(caller, caller.client(server))
    (received,) = await drain(stream)
    sent = json.loads(chunk)["choices"][0]["logprobs"]
    assert received.choices[0].logprobs.to_dict() == sent
    assert stream.completion.to_dict()["choices"][0]["logprobs"]["content"] == sent["content"]


async def test_an_in_band_error_message_without_utf8_form_is_read_lossily(server: MockServer, caller: Any) -> None:
    error = '{"error":{"code":502,"message":"down\\ud800 here \\u00e9"},"choices":[]}'
    server.script("a/x", _sse('{"choices":[{"index":0,"delta":{"content":"a"}}]}', error))
    client = caller.client(server)
    stream = await open_stream(caller, client)
    with pytest.raises(fastrouter.StreamError) as info:
        await drain(stream)
    assert info.value.message.endswith("down\ufffd here \u00e9")
    (entry,) = client.usage.entries
    assert entry.status == "stream_error"


@pytest.mark.parametrize("limit", [0, 9000, 640])
async def test_a_limit_changed_after_import_counts_from_the_next_stream(
    server: MockServer, caller: Any, limit: int
) -> None:
    chunk = '{"choices":[{"index":0,"delta":{"content":"b","annotations":[{"n":%s}]}}]}' % ("7" * 5000)
    before = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(limit)
    try:
        server.script("a/x", _sse(chunk))
        client = caller.client(server)
        if limit in (0, 9000):  # no limit, or one past these digits: read exactly, as json.loads does
            stream = await open_stream(caller, client)
            (received,) = await drain(stream)
            assert received.to_dict() == json.loads(chunk)
            assert stream.completion.choices[0].message.content == "b"
            expected = "ok"
        else:  # refused by the core, typed, as json.loads would refuse it (the first chunk: at open)
            with pytest.raises(fastrouter.APIResponseValidationError, match="more than 640 digits"):
                await open_stream(caller, client)
            expected = "error"
    finally:
        sys.set_int_max_str_digits(before)
    assert [entry.status for entry in client.usage.entries] == [expected]


async def test_a_stream_closed_early_whose_completion_python_no_longer_reads_closes_quietly(
    server: MockServer, caller: Any
) -> None:
    chunk = '{"choices":[{"index":0,"delta":{"content":"a","annotations":[{"n":N}]}}]}'.replace("N", "9" * 700)
    server.script("a/x", _sse(chunk, '{"choices":[{"index":0,"delta":{"content":"b"}}]}'))
    client = caller.client(server)
    stream = await open_stream(caller, client)
    before = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(640)
    try:
        result = stream.close()  # nobody asked for the completion: no error
        if caller.mode == "async":
            await result
    finally:
        sys.set_int_max_str_digits(before)
    (entry,) = client.usage.entries
    assert entry.status == "cancelled"


@pytest.mark.parametrize("where", ["building the completion", "booking it"])
async def test_ctrl_c_while_a_finished_stream_is_booked_records_it_once_as_cancelled(
    server: MockServer, caller: Any, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    from fastrouter.types import ChatCompletion
    from fastrouter.usage.books import RequestBooks

    server.script("a/x", _sse('{"choices":[{"index":0,"delta":{"content":"a"}}]}'))
    client = caller.client(server)
    stream = await open_stream(caller, client)
    if where == "building the completion":
        interrupt_once(monkeypatch, ChatCompletion, "_from_native", staticmethod)
    else:
        interrupt_once(monkeypatch, RequestBooks, "_answer")
    with pytest.raises(KeyboardInterrupt):
        await drain(stream)
    monkeypatch.undo()
    assert [entry.status for entry in client.usage.entries] == ["cancelled"]


def test_the_availability_the_core_adds_to_metadata_reads_as_json_loads_reads_it() -> None:
    # `availability` is a member of the error object the core copies into `metadata`: its
    # values too are read as json.loads reads them.
    error = '{"code":503,"message":"down","availability":{"code":"no_capacity","n":1e400,"r":-0,"big":18446744073709551616}}'
    chunks = ['{"id":"g","choices":[{"index":0,"delta":{"content":"a"}}]}', f'{{"error":{error}}}', "[DONE]"]
    with MockServer() as mock:
        mock.script(
            "a/x", Raw("".join(f"data: {c}\n\n" for c in chunks), headers={"content-type": "text/event-stream"})
        )
        with fastrouter.Client(base_url=mock.base_url, api_key="k", max_retries=0) as client:
            with pytest.raises(fastrouter.StreamError) as info:
                list(
                    client.chat.completions.create(
                        model="a/x", messages=[{"role": "user", "content": "hi"}], stream=True
                    )
                )
    availability = info.value.metadata["availability"]
    want = json.loads(error)["availability"]
    assert [(k, type(v), v) for k, v in sorted(availability.items())] == [
        (k, type(v), v) for k, v in sorted(want.items())
    ]


def test_an_error_responses_code_and_metadata_read_as_json_loads_reads_them() -> None:
    # A non-2xx body's error object is read as a stream's in-band one (one way for both):
    # `-0` is 0, a big integer exact, `1e400` inf (before, it made the body "not JSON" and
    # the server's message and metadata were lost); the core's facts (status, message) stay.
    error = (
        '{"code":-0,"message":"no capacity","metadata":{"n":1e400,"big":18446744073709551616,'
        '"neg":-0},"availability":{"code":"no_capacity","retry_after":1e400}}'
    )
    with MockServer() as mock:
        mock.script("a/x", Raw(f'{{"error":{error}}}', status=503, headers={"content-type": "application/json"}))
        with fastrouter.Client(base_url=mock.base_url, api_key="k", max_retries=0) as client:
            with pytest.raises(fastrouter.APIStatusError) as info:
                client.chat.completions.create(model="a/x", messages=[{"role": "user", "content": "hi"}])
    failure = info.value
    assert failure.status_code == 503
    assert "no capacity" in str(failure)
    code = failure.code  # type: ignore[attr-defined]
    assert (type(code), code) == (int, 0)
    metadata = failure.metadata  # type: ignore[attr-defined]
    assert metadata["n"] == math.inf
    assert (type(metadata["big"]), metadata["big"]) == (int, 2**64)
    assert (type(metadata["neg"]), metadata["neg"]) == (int, 0)
    assert metadata["availability"]["retry_after"] == math.inf
