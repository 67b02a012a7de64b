"""A non-streamed answer's models built by the core with its dicts (``NativeChat.answer``,
issue 11: S1): every read, dump, comparison and pickle of a completion from the core is the
one a completion built in Python from the same body gives, for usual bodies and for parts of
another shape (which the core leaves to the getters). Bodies whose ``choices`` is not a list
of objects are refused by the core's check before this point."""

from __future__ import annotations

import json
import pickle
from typing import Any

import fastrouter
import pytest
from fastrouter.testing import MockServer, Raw
from fastrouter.types import ChatCompletion, ChatCompletionMessage, Choice, CompletionUsage

MODEL = "openai/gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "hi"}]
JSON = {"Content-Type": "application/json"}
MESSAGE = {"role": "assistant", "content": "hi"}
CHOICE = {"index": 0, "message": MESSAGE, "finish_reason": "stop"}
USAGE = {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9, "cost": 0.5}
CALL = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}


def _body(**top: Any) -> str:
    body: dict[str, Any] = {"id": "gen-1", "object": "chat.completion", "created": 1, "model": MODEL}
    body.update({"choices": [CHOICE], "usage": USAGE}, **top)
    return json.dumps({key: value for key, value in body.items() if value is not ...})


BODIES = {
    "usual": _body(),
    "tool calls": _body(choices=[{**CHOICE, "message": {**MESSAGE, "content": None, "tool_calls": [CALL]}}]),
    "two choices": _body(choices=[CHOICE, {**CHOICE, "index": 1, "message": {"role": "assistant", "content": "b"}}]),
    "no choices": _body(choices=[]),
    "choices absent": _body(choices=...),
    "a message absent": _body(choices=[CHOICE, {"index": 1, "finish_reason": "stop"}]),
    "a message null": _body(choices=[{**CHOICE, "message": None}]),
    "a message a string": _body(choices=[{**CHOICE, "message": "hi"}]),
    "usage absent": _body(usage=...),
    "usage null": _body(usage=None),
    "unknown fields": _body(extra={"a": [1, {"b": None}]}, choices=[{**CHOICE, "x": 1}]),
}


def _reads(completion: ChatCompletion) -> list[Any]:
    """What a caller reads (a part of the wrong shape reads as the error it raises)."""

    def read(get: Any) -> Any:
        try:
            value = get()
        except TypeError as err:
            return ("TypeError", str(err))
        if isinstance(value, list):
            return [(type(item), item._data) for item in value]
        return (type(value), value._data) if isinstance(value, fastrouter.types._Model) else value

    def message(index: int) -> Any:
        return completion.choices[index].message

    reads = [read(lambda: completion.choices), read(lambda: completion.usage)]
    try:
        count = len(completion.choices)
    except TypeError:
        count = 0
    for index in range(count):
        reads.append(read(lambda index=index: message(index)))
        reads.append(read(lambda index=index: message(index).content))
        reads.append(read(lambda index=index: message(index).tool_calls))
        reads.append(read(lambda index=index: completion.choices[index].finish_reason))
    return reads


def _answer(server: MockServer, body: str) -> ChatCompletion:
    server.script(MODEL, Raw(body=body, headers=JSON))
    with fastrouter.Client(base_url=server.base_url, api_key="k", max_retries=0) as client:
        return client.chat.completions.create(model=MODEL, messages=MESSAGES)


@pytest.mark.parametrize("name", list(BODIES))
def test_a_completion_from_the_core_reads_as_one_built_in_python(server: MockServer, name: str) -> None:
    body = BODIES[name]
    answer = _answer(server, body)
    built = ChatCompletion(json.loads(body))
    assert answer._data == built._data == json.loads(body)
    assert _reads(answer) == _reads(built)
    assert answer == built
    assert repr(answer) == repr(built)
    assert answer.to_dict() == built.to_dict() and answer.model_dump() == built.model_dump()
    assert answer.model_dump_json() == built.model_dump_json()
    again = pickle.loads(pickle.dumps(answer))
    assert again == answer and _reads(again) == _reads(answer)


def test_the_usual_parts_come_built_over_the_answers_own_dicts(server: MockServer) -> None:
    answer = _answer(server, BODIES["two choices"])
    cache = answer._cache
    assert cache is not None and set(cache) == {"choices", "usage"}  # built by the core
    choices, usage = answer.choices, answer.usage
    assert [type(choice) for choice in choices] == [Choice, Choice]
    assert all(choice._data is raw for choice, raw in zip(choices, answer._data["choices"], strict=True))
    assert all(type(choice.message) is ChatCompletionMessage for choice in choices)
    assert choices[1].message._data is answer._data["choices"][1]["message"]
    assert type(usage) is CompletionUsage and usage._data is answer._data["usage"]
    assert answer.choices is choices and choices[0].message is choices[0].message  # kept
    assert usage.total_tokens == 9 and choices[1].message.content == "b"


@pytest.mark.parametrize(
    ("name", "left"),
    [
        ("a message absent", "choices"),
        ("a message null", "choices"),
        ("a message a string", "choices"),
        ("usage null", "usage"),
    ],
)
def test_a_part_of_another_shape_is_left_to_its_getter(server: MockServer, name: str, left: str) -> None:
    cache = _answer(server, BODIES[name])._cache
    assert cache is not None and left not in cache and len(cache) == 1


def test_a_model_class_made_at_run_time_that_refers_to_itself_is_collected() -> None:
    # Its field's getter holds a converter holding the class: a cycle through the core's
    # getter, which the collector must see.
    import gc
    import sys
    import types
    import weakref

    from fastrouter.types import _finalize_models, _Model

    def make() -> weakref.ref[type]:
        module = types.ModuleType("fastrouter_test_dynamic")
        code = "from __future__ import annotations\nclass Node(_Model):\n    name: str\n    child: Node\n"
        exec(code, {"_Model": _Model, "__name__": module.__name__}, module.__dict__)  # noqa: S102
        node = module.__dict__["Node"]
        sys.modules[module.__name__] = module
        try:
            _finalize_models(node)
        finally:
            del sys.modules[module.__name__]
        assert node({"name": "a", "child": {"name": "b"}}).child.name == "b"
        return weakref.ref(node)

    made = make()
    gc.collect()
    assert made() is None


def test_a_thread_that_ends_releases_the_short_strings_it_made(server: MockServer) -> None:
    # Each thread keeps the answers' keys and short values as Python strings: released
    # when it ends, so a thread per request does not grow the process.
    import gc
    import sys
    import threading

    body = BODIES["two choices"]
    with fastrouter.Client(base_url=server.base_url, api_key="k", max_retries=0) as client:

        def one() -> None:
            server.script(MODEL, Raw(body=body, headers=JSON))
            assert client.chat.completions.create(model=MODEL, messages=MESSAGES).choices[1].message.content == "b"

        def threads(count: int) -> None:
            for _ in range(count):
                thread = threading.Thread(target=one)
                thread.start()
                thread.join()
            one()  # this thread attached: the ended threads' releases are done
            gc.collect()

        threads(20)
        before = sys.getallocatedblocks()
        count = 300
        threads(count)
        kept = (sys.getallocatedblocks() - before) / count
    assert kept < 4, f"{kept:.2f} blocks kept per ended thread"
