"""A non-streamed answer's body is read once, by the core, into a tape its dicts are built
from (issue 11, S1): the dicts are exactly ``json.loads``' (every type, every value, key
order, a repeated key's last value), the core's facts are those of its full check, and a
body the tape leaves (a lone surrogate, ``1e400``, ``-0``, a big integer, deep nesting) is
read by ``json.loads`` itself."""

from __future__ import annotations

import json
from decimal import Decimal

import fastrouter
import pytest
from fastrouter.testing import MockServer, Raw
from json_helpers import typed

MODEL = "openai/gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "hi"}]
JSON = {"Content-Type": "application/json"}
HEAD = '"id":"gen-1","object":"chat.completion","created":1,"model":"m"'
CHOICES = '"choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}]'
USAGE = '"usage":{"prompt_tokens":7,"completion_tokens":2,"total_tokens":9,"cost":0.5}'


BODIES = {
    "usual": f"{{{HEAD},{CHOICES},{USAGE}}}",
    "escapes": (
        f'{{{HEAD},{CHOICES},{USAGE},"x":"\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u0000 \\u00e9 \\ud83d\\ude00 é 😀"}}'
    ),
    "escaped keys": f'{{{HEAD},{CHOICES},{USAGE},"\\u0063ontent":1,"a\\nb":2,"":3}}',
    "numbers": (
        f'{{{HEAD},{CHOICES},{USAGE},"n":[0,-1,18446744073709551615,-9223372036854775808,'
        "1.5e-7,1E2,-0.0,0.1,2.5e+3,1.7976931348623157e308,5e-324,12.0]}"
    ),
    "literals and nesting": f'{{{HEAD},{CHOICES},{USAGE},"x":[true,false,null,{{}},[],[[{{"a":[{{}}]}}]]]}}',
    "repeated keys": f'{{{HEAD},{CHOICES},{USAGE},"x":1,"y":2,"x":3,"z":{{"k":1,"k":[2]}}}}',
    "whitespace": f" \n\t{{ {HEAD} , {CHOICES} ,\r\n {USAGE} }} \n",
    "lone surrogate": f'{{{HEAD},{CHOICES},{USAGE},"x":"\\ud800 alone"}}',
    "cost past float range": f'{{{HEAD},{CHOICES},"usage":{{"prompt_tokens":1,"completion_tokens":2,"cost":1e400}}}}',
    # The general path is json.loads' own reading: -0 an int, integers past 64 bits exact.
    "integers the tape leaves to json.loads": (
        f'{{{HEAD},{CHOICES},{USAGE},"n":[-0,18446744073709551616,-9223372036854775809,1{"0" * 40}]}}'
    ),
    "nesting past the tape's depth": f'{{{HEAD},{CHOICES},{USAGE},"x":{"[" * 120}{"]" * 120}}}',
}


@pytest.mark.parametrize("name", list(BODIES))
def test_the_answers_dicts_are_json_loads(server: MockServer, name: str) -> None:
    body = BODIES[name]
    server.script(MODEL, Raw(body=body, headers=JSON))
    with fastrouter.Client(base_url=server.base_url, api_key="k", max_retries=0) as client:
        answer = client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert typed(answer.to_dict()) == typed(json.loads(body))
    assert answer.choices[0].message.content == "hi"


def test_the_core_reads_the_usual_facts_from_the_tape(server: MockServer) -> None:
    body = (
        f'{{{HEAD},"provider":"P",{CHOICES},"usage":{{"prompt_tokens":7,"completion_tokens":2,'
        '"cost":1.50E-7,"is_byok":true,"prompt_tokens_details":{"cached_tokens":3},'
        '"completion_tokens_details":{"reasoning_tokens":1}}}'
    )
    server.script(MODEL, Raw(body=body, headers=JSON))
    with fastrouter.Client(base_url=server.base_url, api_key="k", max_retries=0) as client:
        answer = client.chat.completions.create(model=MODEL, messages=MESSAGES)
        (entry,) = client.usage.entries
    assert answer.cost == Decimal("1.50E-7")  # the text as sent
    assert answer.attempts[-1].provider == "P"
    assert (entry.generation_id, entry.provider, entry.prompt_tokens, entry.completion_tokens) == ("gen-1", "P", 7, 2)
    assert (entry.cost, entry.cached_tokens, entry.reasoning_tokens, entry.byok) == (Decimal("1.50E-7"), 3, 1, True)
