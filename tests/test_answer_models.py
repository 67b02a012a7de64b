"""A non-streamed answer's models built by the core with its dicts (``NativeChat.completion``,
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
from plain_helpers import plain_chat

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


def _slots(cls: type) -> list[str]:
    return [name for klass in cls.__mro__ for name in getattr(klass, "__slots__", ())]


def test_the_core_writes_every_slot_of_the_models_it_makes(server: MockServer) -> None:
    # The core makes the completion and its usual models by writing their slots in place
    # (not through setattr): each slot is set, to what __init__ and the getters set.
    assert fastrouter._fastrouter._debug_answer_models_write_slots()
    answer = _answer(server, BODIES["usual"])
    made = [answer, answer.choices[0], answer.choices[0].message, answer.usage]
    assert [type(model) for model in made] == [ChatCompletion, Choice, ChatCompletionMessage, CompletionUsage]
    for model in made:
        missing = [name for name in _slots(type(model)) if not hasattr(model, name)]
        assert not missing, f"{type(model).__name__} lacks {missing}"
    assert (answer._priced_cost, answer._cascade, answer._cached) == (None, None, False)
    assert answer._answer_cost == "0.5" and answer.cost is not None
    assert len(answer._attempts) == 1 and answer.attempts[0].model == MODEL
    assert type(answer._http) is fastrouter._fastrouter.NativeHeaders
    assert "content-type: application/json" in (answer._header_block() or "")
    assert answer.choices[0]._cache == {"message": answer.choices[0].message} and answer.usage._cache is None
    # Slots written in place are still plain slots: settable and deletable as before.
    answer._cached = True
    del answer.choices[0].message._cache
    assert answer._cached is True and not hasattr(answer.choices[0].message, "_cache")


def test_the_core_made_completion_holds_its_parts_without_leaking(server: MockServer) -> None:
    # Each slot written in place takes its own reference: making and dropping completions
    # leaves the parts they share (the chat's attempts and headers) as they were.
    import sys

    server.script(MODEL, Raw(body=BODIES["two choices"], headers=JSON))
    with fastrouter.Client(base_url=server.base_url, api_key="k", max_retries=0) as client:
        plain = plain_chat(client, False, {"model": MODEL, "messages": MESSAGES})
        assert plain is not None
        native = client._inner.chat_blocking(*plain[0])
    attempts, headers = native.attempts, native.raw_headers
    counts = (sys.getrefcount(attempts), sys.getrefcount(headers))
    kept = [native.completion(ChatCompletion) for _ in range(100)]
    assert all(made is not None and made._attempts is attempts and made._http is headers for made in kept)
    assert sys.getrefcount(attempts) == counts[0] + 100
    del kept
    for _ in range(1000):
        made = native.completion(ChatCompletion)
        assert made is not None and made.choices[1].message.content == "b"
    del made
    assert (sys.getrefcount(attempts), sys.getrefcount(headers)) == counts


def test_a_class_that_does_not_qualify_is_made_the_general_way() -> None:
    # A class whose attribute is not a plain slot, or with its own __setattr__, is made
    # with object.__new__ and setattr (its setter runs); a slotted model with slots.
    from fastrouter._fastrouter import _debug_make_model

    class Slotted:
        __slots__ = ("a", "b")

    class Setter:
        __slots__ = ("a", "b", "seen")

        def __setattr__(self, name: str, value: Any) -> None:
            object.__setattr__(self, name, value)
            object.__setattr__(self, "seen", [*getattr(self, "seen", []), name])

    class Property:
        __slots__ = ("a", "_b")

        @property
        def b(self) -> Any:
            return self._b

        @b.setter
        def b(self, value: Any) -> None:
            self._b = ("set", value)

    made, in_place = _debug_make_model(Slotted, ("a", "b"), (1, 2))
    assert in_place and type(made) is Slotted and (made.a, made.b) == (1, 2)
    made, in_place = _debug_make_model(Setter, ("a", "b"), (1, 2))
    assert not in_place and (made.a, made.b, made.seen) == (1, 2, ["a", "b"])
    made, in_place = _debug_make_model(Property, ("a", "b"), (1, 2))
    assert not in_place and (made.a, made.b) == (1, ("set", 2))
    made, in_place = _debug_make_model(Choice, ("_json", "_cache"), ({"index": 0}, None))
    assert in_place and made.index == 0


def test_a_subclass_of_chatcompletion_is_made_with_every_slot(server: MockServer) -> None:
    # A subclass may type its fields otherwise: made in Python, with what the core sets.
    class Mine(ChatCompletion):
        __slots__ = ()

    server.script(MODEL, Raw(body=BODIES["usual"], headers=JSON))
    with fastrouter.Client(base_url=server.base_url, api_key="k", max_retries=0) as client:
        plain = plain_chat(client, False, {"model": MODEL, "messages": MESSAGES})
        assert plain is not None
        native = client._inner.chat_blocking(*plain[0])
    assert native.completion(Mine) is None  # the core makes ChatCompletion itself only
    mine, core = Mine._from_chat(native), ChatCompletion._from_chat(native)
    assert type(mine) is Mine and type(core) is ChatCompletion
    assert mine._data == core._data and mine.cost == core.cost and mine.attempts == core.attempts
    for name in ("_answer_cost", "_priced_cost", "_cascade", "_cached"):
        assert getattr(mine, name) == getattr(core, name)
    assert type(mine._json) is dict and mine._cache is None  # json.loads' dict, converted on read


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

        def kept_per_thread(count: int = 300) -> float:
            before = sys.getallocatedblocks()
            threads(count)
            return (sys.getallocatedblocks() - before) / count

        threads(20)
        # The count covers the whole process: a thread another test left running can add to
        # one measurement, but a leak per thread shows in every one.
        kept = min(kept_per_thread() for _ in range(3))
    assert kept < 4, f"{kept:.2f} blocks kept per ended thread"


# -- the answer's object left on the core's tape until the whole is asked for -----------------


def _left_on_the_tape(model: fastrouter.types._Model) -> bool:
    return type(model._json) is fastrouter._fastrouter.TapeObject


def test_fields_are_read_without_building_the_answers_dicts(server: MockServer) -> None:
    body = _body(system_fingerprint="fp", usage={**USAGE, "server_tool_use_details": {"web": 1}})
    answer = _answer(server, body)
    usage = answer.usage
    assert usage is not None and _left_on_the_tape(answer) and _left_on_the_tape(usage)
    reads = (answer.id, answer.created, answer.model, answer.system_fingerprint, answer.service_tier)
    assert reads == ("gen-1", 1, MODEL, "fp", None)
    assert (usage.total_tokens, usage.cost, usage.prompt_tokens_details) == (9, 0.5, None)
    details = usage.server_tool_use_details
    assert details == {"web": 1} and usage.server_tool_use_details is details  # one object
    assert answer.choices[0].message.content == "hi" and answer.cost is not None
    assert _left_on_the_tape(answer) and _left_on_the_tape(usage)  # nothing asked for the whole
    data = answer._data
    assert type(data) is dict and answer._json is data and data == json.loads(body)
    assert answer._data is data  # built once
    # Every part handed out before is that part of the dict.
    assert all(choice._data is raw for choice, raw in zip(answer.choices, data["choices"], strict=True))
    assert usage._data is data["usage"] and data["usage"]["server_tool_use_details"] is details


@pytest.mark.parametrize("name", list(BODIES))
def test_reads_before_the_whole_is_built_are_those_of_a_completion_built_in_python(
    server: MockServer, name: str
) -> None:
    body = BODIES[name]
    answer = _answer(server, body)
    built = ChatCompletion(json.loads(body))
    fields = [getattr(answer, field) for field in ChatCompletion._fields]
    assert _reads(answer) == _reads(built)
    assert repr(answer) == repr(built) and answer == built  # these build the whole
    assert [getattr(answer, field) for field in ChatCompletion._fields] == fields
    assert answer._data == json.loads(body)
    usage = answer._cache.get("usage") if answer._cache else None
    if usage is not None:
        assert usage._data is answer._data["usage"]


def test_the_whole_is_built_from_the_usage_first(server: MockServer) -> None:
    # A part's dict built first (the usage's, by its own `_data`) is the one the whole holds.
    answer = _answer(server, BODIES["usual"])
    usage = answer.usage
    assert usage is not None
    usage_data = usage._data
    assert _left_on_the_tape(answer) and usage_data == USAGE
    assert answer._data["usage"] is usage_data and usage.total_tokens == 9


def test_a_member_named_twice_reads_as_json_loads_keeps_it(server: MockServer) -> None:
    # The last value, at the first one's place; an escaped spelling of a field's name too.
    # (The core refuses a body naming its own facts twice, `id` or `usage`: not these.)
    body = _body(system_fingerprint="a", extra=1)[:-1] + ', "system_\\u0066ingerprint": "b", "extra": {"c": 2}}'
    answer = _answer(server, body)
    assert answer.system_fingerprint == "b" and _left_on_the_tape(answer)
    assert answer._data == json.loads(body) and list(answer._data) == list(json.loads(body))
    assert answer.system_fingerprint == "b" and answer._data["extra"] == {"c": 2}


def test_changes_to_the_built_dict_are_what_fields_read(server: MockServer) -> None:
    answer = _answer(server, BODIES["usual"])
    usage = answer.usage
    assert usage is not None and usage.total_tokens == 9
    answer._data["id"] = "changed"
    answer._data["usage"]["total_tokens"] = 99
    assert answer.id == "changed" and usage.total_tokens == 99


def test_an_unknown_field_reads_through_the_whole(server: MockServer) -> None:
    answer = _answer(server, BODIES["unknown fields"])
    assert answer.extra == {"a": [1, {"b": None}]}  # type: ignore[attr-defined]
    assert not _left_on_the_tape(answer) and answer._data["extra"] is answer.extra  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        answer.missing  # type: ignore[attr-defined]  # noqa: B018


def test_a_cycle_through_an_answer_left_on_the_tape_is_collected(server: MockServer) -> None:
    import gc
    import weakref

    class Marker:
        pass

    answer = _answer(server, BODIES["usual"])
    marker = Marker()
    # The answer -> its tape object -> the choices it handed out -> the answer.
    answer.choices[0]._data["answer"] = (answer, marker)
    assert _left_on_the_tape(answer)
    gone = weakref.ref(marker)
    del answer, marker
    gc.collect()
    assert gone() is None


def test_the_tape_an_answer_keeps_holds_neither_its_content_nor_after_the_build_anything(
    server: MockServer,
) -> None:
    # The choices (the content) are built with the answer: the tape kept for the other
    # fields, which a kept `usage` shares, does without them.
    content = "x" * 100_000
    body = _body(choices=[{**CHOICE, "message": {**MESSAGE, "content": content}}])
    answer = _answer(server, body)
    usage = answer.usage
    assert usage is not None and _left_on_the_tape(answer) and _left_on_the_tape(usage)
    assert 0 < answer._json.held_bytes < 4_000 and usage._json.held_bytes == answer._json.held_bytes
    assert answer.choices[0].message.content == content and usage.total_tokens == 9
    assert answer._data == json.loads(body)
    assert usage._json.held_bytes == 0  # built with the whole: the tape is let go


def test_a_kept_usage_holds_only_its_own_part_of_a_large_body(server: MockServer) -> None:
    body = _body(citations=["https://example.com/" + "x" * 50] * 1_000)
    answer = _answer(server, body)
    usage = answer.usage
    assert usage is not None and _left_on_the_tape(usage)
    assert usage._json.held_bytes < 1_000 < 50_000 < answer._json.held_bytes
    assert usage.total_tokens == 9 and answer._data == json.loads(body)
    assert usage._data is answer._data["usage"]


def test_data_can_be_set_as_before(server: MockServer) -> None:
    answer = _answer(server, BODIES["usual"])
    answer._data = {"id": "other"}
    assert answer.id == "other" and answer._json == {"id": "other"} and answer.choices != []


def test_python_run_while_an_answer_is_built_sees_one_object() -> None:
    # A collection can run Python code (a finalizer, a gc callback, another thread) while
    # the core makes Python objects off the tape: what it reads must be what the whole
    # holds, and it must not fail on the object being built.
    import gc

    details = {"upstream": 0.1, "x": [[1], {"a": {}}]}
    body = _body(usage={**USAGE, "cost_details": details, "server_tool_use_details": {"web": 1}})

    def during(action: Any, reenter: Any, nth: int) -> tuple[Any, list[BaseException]]:
        seen, errors = [0], []

        def callback(phase: str, info: Any) -> None:
            if phase == "start":
                seen[0] += 1
                if seen[0] == nth:
                    try:
                        reenter()
                    except Exception as err:  # noqa: BLE001 - reported below
                        errors.append(err)

        threshold = gc.get_threshold()
        gc.callbacks.append(callback)
        gc.set_threshold(1)
        try:
            return action(), errors
        finally:
            gc.callbacks.remove(callback)
            gc.set_threshold(*threshold)

    with MockServer() as server, fastrouter.Client(base_url=server.base_url, api_key="k", max_retries=0) as client:

        def answer() -> ChatCompletion:
            server.script(MODEL, Raw(body=body, headers=JSON))
            return client.chat.completions.create(model=MODEL, messages=MESSAGES)

        for nth in range(1, 6):
            one = answer()
            usage = one.usage
            assert usage is not None
            tools, errors = during(lambda: usage.server_tool_use_details, lambda: one._data, nth)  # noqa: B023
            assert not errors and tools is one._data["usage"]["server_tool_use_details"]

            one = answer()
            usage = one.usage
            assert usage is not None
            got: dict[str, Any] = {}
            _, errors = during(lambda: one._data, lambda: got.setdefault("part", usage.cost_details), nth)  # noqa: B023
            assert not errors
            if "part" in got:
                assert got["part"]._data is one._data["usage"]["cost_details"]

            one = answer()
            assert one._cache is not None
            one._cache.pop("usage")  # read again from the answer's own object
            _, errors = during(lambda: one.usage, lambda: one._data, nth)  # noqa: B023
            assert not errors and one.usage is not None and one.usage._data is one._data["usage"]
