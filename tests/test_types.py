"""Unit tests for ``fastrouter.types`` (lazy typed response wrappers).

Response bodies below are real recorded OpenRouter traffic from
``tests/fixtures/openrouter-traffic/`` (very long strings shortened);
the ones marked *synthetic* follow the documented OpenRouter wire format for
shapes the recordings do not cover (non-streamed tool calls, logprobs, account
endpoints).
"""

from __future__ import annotations

import copy
import importlib.util
import json
import pickle
import sys
from pathlib import Path
from typing import Any

import pytest

try:
    from fastrouter import types as T
except ImportError:  # package not built/installed yet: load the source file
    _path = Path(__file__).resolve().parents[1] / "python" / "fastrouter" / "types.py"
    _spec = importlib.util.spec_from_file_location("_fastrouter_types_src", _path)
    assert _spec is not None and _spec.loader is not None
    T = importlib.util.module_from_spec(_spec)
    sys.modules[_spec.name] = T
    _spec.loader.exec_module(T)

Annotation = T.Annotation
ChatCompletion = T.ChatCompletion
ChatCompletionChunk = T.ChatCompletionChunk
ChatCompletionMessage = T.ChatCompletionMessage
ChatCompletionMessageToolCall = T.ChatCompletionMessageToolCall
Choice = T.Choice
ChoiceDelta = T.ChoiceDelta
ChoiceDeltaToolCall = T.ChoiceDeltaToolCall
ChoiceDeltaToolCallFunction = T.ChoiceDeltaToolCallFunction
ChoiceError = T.ChoiceError
ChoiceLogprobs = T.ChoiceLogprobs
ChunkChoice = T.ChunkChoice
CompletionTokensDetails = T.CompletionTokensDetails
CompletionUsage = T.CompletionUsage
CostDetails = T.CostDetails
Credits = T.Credits
Function = T.Function
Generation = T.Generation
KeyInfo = T.KeyInfo
PromptTokensDetails = T.PromptTokensDetails
ReasoningDetail = T.ReasoningDetail
TokenLogprob = T.TokenLogprob
TopLogprob = T.TopLogprob
URLCitation = T.URLCitation

# ---------------------------------------------------------------------------
# Recorded responses
# ---------------------------------------------------------------------------

# ai-sdk-provider__nonstream_200_leading_whitespace_keepalive.response.json
BEDROCK = r"""{"id":"gen-1767762639-byPo1nLGYezoxgy9LpRt","provider":"Amazon Bedrock","model":"anthropic/claude-sonnet-4","object":"chat.completion","created":1767762641,"choices":[{"logprobs":null,"finish_reason":"stop","native_finish_reason":"stop","index":0,"message":{"role":"assistant","content":"Google logo","refusal":null,"reasoning":null}}],"usage":{"prompt_tokens":163,"completion_tokens":5,"total_tokens":168,"cost":0.000564,"is_byok":false,"prompt_tokens_details":{"cached_tokens":0,"cache_write_tokens":0,"audio_tokens":0,"video_tokens":0},"cost_details":{"upstream_inference_cost":null,"upstream_inference_prompt_cost":0.000489,"upstream_inference_completions_cost":0.000075},"completion_tokens_details":{"reasoning_tokens":0,"image_tokens":0}}}"""

# pydantic-ai__nonstream_usage_with_and_without_usage_include.vcr.yaml, 1st
# interaction (request without usage.include: no cost fields).
VENUS_NO_USAGE_INCLUDE = r"""{
  "choices": [
    {
      "finish_reason": "stop",
      "index": 0,
      "logprobs": null,
      "message": {
        "content": "Brief summary\n- Venus is the second planet from the Sun and is similar to Earth in size an",
        "reasoning": "**Exploring Venus**\n\nThe user wants a concise yet informative overview of Venus, including",
        "reasoning_details": [
          {
            "format": "openai-responses-v1",
            "index": 0,
            "summary": "**Exploring Venus**\n\nThe user wants a concise yet informativ",
            "type": "reasoning.summary"
          },
          {
            "data": "gAAAAABpEglaDlqr6W69WezzCt54Qx62tf-AJZM0xE2p63O61dV-B1dp9Cxh",
            "format": "openai-responses-v1",
            "id": "rs_0f2864c6e4889623016912094071dc81979635e33414ef8729",
            "index": 0,
            "type": "reasoning.encrypted"
          }
        ],
        "refusal": null,
        "role": "assistant"
      },
      "native_finish_reason": "completed"
    }
  ],
  "created": 1762789695,
  "id": "gen-1762789695-8IngOktYUifJqeBs0mwc",
  "model": "openai/gpt-5-mini",
  "object": "chat.completion",
  "provider": "OpenAI",
  "usage": {
    "completion_tokens": 1515,
    "completion_tokens_details": {
      "reasoning_tokens": 704
    },
    "prompt_tokens": 17,
    "total_tokens": 1532
  }
}"""

# Same cassette, 2nd interaction (with usage accounting: cost + details).
MARS_USAGE_INCLUDE = r"""{
  "choices": [
    {
      "finish_reason": "stop",
      "index": 0,
      "logprobs": null,
      "message": {
        "content": "Here’s a concise but thorough overview of Mars — the fourth planet from the Sun and Earth’",
        "reasoning": "**Exploring Mars Overview**\n\nThe user wants a comprehensive overview of Mars, covering phy",
        "reasoning_details": [
          {
            "format": "openai-responses-v1",
            "index": 0,
            "summary": "**Exploring Mars Overview**\n\nThe user wants a comprehensive ",
            "type": "reasoning.summary"
          },
          {
            "data": "gAAAAABpEgl8ot_t1C45G8kTxU_Ea0ea-6M2Azibgi8FPFCsAoNtOggfC3Tg",
            "format": "openai-responses-v1",
            "id": "rs_029b1b33873fe02b0169120967d9a88197af3d9f4db7a92055",
            "index": 0,
            "type": "reasoning.encrypted"
          }
        ],
        "refusal": null,
        "role": "assistant"
      },
      "native_finish_reason": "completed"
    }
  ],
  "created": 1762789734,
  "id": "gen-1762789734-sxYWfPfn343ZvBkw9zV9",
  "model": "openai/gpt-5-mini",
  "object": "chat.completion",
  "provider": "OpenAI",
  "usage": {
    "completion_tokens": 2177,
    "completion_tokens_details": {
      "image_tokens": 0,
      "reasoning_tokens": 960
    },
    "cost": 0.00435825,
    "cost_details": {
      "upstream_inference_completions_cost": 0.004354,
      "upstream_inference_cost": null,
      "upstream_inference_prompt_cost": 4.25e-06
    },
    "is_byok": false,
    "prompt_tokens": 17,
    "prompt_tokens_details": {
      "audio_tokens": 0,
      "cached_tokens": 0,
      "video_tokens": 0
    },
    "total_tokens": 2194
  }
}"""

# pydantic-ai__nonstream_web_search_annotations.vcr.yaml (2 of 5 annotations).
WEB_SEARCH = r"""{
  "choices": [
    {
      "finish_reason": "stop",
      "index": 0,
      "logprobs": null,
      "message": {
        "annotations": [
          {
            "type": "url_citation",
            "url_citation": {
              "content": "# pydantic/pydantic-ai\n\n...\n\n- Stars: 19265\n- Forks: 2514\n- Watchers: ",
              "end_index": 0,
              "start_index": 0,
              "title": "AI Agent Framework, the Pydantic way",
              "url": "https://github.com/pydantic/pydantic-ai"
            }
          },
          {
            "type": "url_citation",
            "url_citation": {
              "content": "Get started: https://pydantic.dev/docs/ai/overview/ · GitHub: https://",
              "end_index": 0,
              "start_index": 0,
              "title": "",
              "url": "https://pydantic.dev/pydantic-ai"
            }
          }
        ],
        "content": "https://github.com/pydantic/pydantic-ai",
        "reasoning": null,
        "refusal": null,
        "role": "assistant"
      },
      "native_finish_reason": "stop"
    }
  ],
  "created": 1786680756,
  "id": "gen-1786680756-Fmq0SbiQ50hlHCCn30d5",
  "model": "deepseek/deepseek-chat",
  "object": "chat.completion",
  "provider": "OpenAI",
  "service_tier": null,
  "system_fingerprint": null,
  "usage": {
    "completion_tokens": 40,
    "completion_tokens_details": {
      "audio_tokens": 0,
      "image_tokens": 0,
      "reasoning_tokens": 0
    },
    "cost": 0.007637029,
    "cost_details": {
      "upstream_inference_completions_cost": 4.1148e-05,
      "upstream_inference_cost": 0.000637029,
      "upstream_inference_prompt_cost": 0.000595881
    },
    "prompt_tokens": 2315,
    "prompt_tokens_details": {
      "audio_tokens": 0,
      "cache_write_tokens": 0,
      "cached_tokens": 0,
      "video_tokens": 0
    },
    "server_tool_use_details": {
      "tool_calls_executed": 1,
      "tool_calls_requested": 1,
      "web_search_requests": 1
    },
    "total_tokens": 2355
  }
}"""

# llm-openrouter__chat_stream_tool_call_then_answer.interaction1.sse (verbatim)
TOOL_CALL_SSE = r""": OPENROUTER PROCESSING

data: {"id":"gen-1754441566-QNLn11ywo16tGzus0Wix","provider":"OpenAI","model":"openai/gpt-4.1-mini","object":"chat.completion.chunk","created":1754441566,"choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_o4OCgtJrNoZTmoCRvmlfoHfj","type":"function","function":{"name":"llm_version","arguments":""}}]},"finish_reason":null,"native_finish_reason":null,"logprobs":null}],"system_fingerprint":"fp_6f2eabb9a5"}

data: {"id":"gen-1754441566-QNLn11ywo16tGzus0Wix","provider":"OpenAI","model":"openai/gpt-4.1-mini","object":"chat.completion.chunk","created":1754441566,"choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"function":{"arguments":"{}"},"type":"function"}]},"finish_reason":null,"native_finish_reason":null,"logprobs":null}],"system_fingerprint":"fp_6f2eabb9a5"}

data: {"id":"gen-1754441566-QNLn11ywo16tGzus0Wix","provider":"OpenAI","model":"openai/gpt-4.1-mini","object":"chat.completion.chunk","created":1754441566,"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":"tool_calls","native_finish_reason":"tool_calls","logprobs":null}],"system_fingerprint":"fp_6f2eabb9a5"}

data: {"id":"gen-1754441566-QNLn11ywo16tGzus0Wix","provider":"OpenAI","model":"openai/gpt-4.1-mini","object":"chat.completion.chunk","created":1754441566,"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null,"native_finish_reason":null,"logprobs":null}],"usage":{"prompt_tokens":48,"completion_tokens":11,"total_tokens":59,"cost":0.0000368,"is_byok":false,"prompt_tokens_details":{"cached_tokens":0},"cost_details":{"upstream_inference_cost":null},"completion_tokens_details":{"reasoning_tokens":0}}}

data: [DONE]

"""

# pydantic-ai__stream_reasoning_anthropic_via_vertex.interaction0.sse (verbatim)
REASONING_SSE = r""": OPENROUTER PROCESSING

: OPENROUTER PROCESSING

data: {"id":"gen-1765226419-AGrwjunAftQIAgweibL8","provider":"Google","model":"anthropic/claude-sonnet-4.5","object":"chat.completion.chunk","created":1765226419,"choices":[{"index":0,"delta":{"role":"assistant","content":"","reasoning":null,"reasoning_details":[]},"finish_reason":null,"native_finish_reason":null,"logprobs":null}]}

data: {"id":"gen-1765226419-AGrwjunAftQIAgweibL8","provider":"Google","model":"anthropic/claude-sonnet-4.5","object":"chat.completion.chunk","created":1765226419,"choices":[{"index":0,"delta":{"role":"assistant","content":"","reasoning":null,"reasoning_details":[{"type":"reasoning.text","text":"","signature":"","format":"anthropic-claude-v1","index":0}]},"finish_reason":null,"native_finish_reason":null,"logprobs":null}]}

data: {"id":"gen-1765226419-AGrwjunAftQIAgweibL8","provider":"Google","model":"anthropic/claude-sonnet-4.5","object":"chat.completion.chunk","created":1765226419,"choices":[{"index":0,"delta":{"role":"assistant","content":"","reasoning":"This","reasoning_details":[{"type":"reasoning.text","text":"This","format":"anthropic-claude-v1","index":0}]},"finish_reason":null,"native_finish_reason":null,"logprobs":null}]}

: OPENROUTER PROCESSING

: OPENROUTER PROCESSING

data: {"id":"gen-1765226419-AGrwjunAftQIAgweibL8","provider":"Google","model":"anthropic/claude-sonnet-4.5","object":"chat.completion.chunk","created":1765226419,"choices":[{"index":0,"delta":{"role":"assistant","content":"","reasoning":" is a simple arithmetic question. ","reasoning_details":[{"type":"reasoning.text","text":" is a simple arithmetic question. ","format":"anthropic-claude-v1","index":0}]},"finish_reason":null,"native_finish_reason":null,"logprobs":null}]}

data: {"id":"gen-1765226419-AGrwjunAftQIAgweibL8","provider":"Google","model":"anthropic/claude-sonnet-4.5","object":"chat.completion.chunk","created":1765226419,"choices":[{"index":0,"delta":{"role":"assistant","content":"","reasoning":"2+2 equals 4.","reasoning_details":[{"type":"reasoning.text","text":"2+2 equals 4.","format":"anthropic-claude-v1","index":0}]},"finish_reason":null,"native_finish_reason":null,"logprobs":null}]}

data: {"id":"gen-1765226419-AGrwjunAftQIAgweibL8","provider":"Google","model":"anthropic/claude-sonnet-4.5","object":"chat.completion.chunk","created":1765226419,"choices":[{"index":0,"delta":{"role":"assistant","content":"","reasoning":null,"reasoning_details":[{"type":"reasoning.text","text":"","format":"anthropic-claude-v1","index":0}]},"finish_reason":null,"native_finish_reason":null,"logprobs":null}]}

data: {"id":"gen-1765226419-AGrwjunAftQIAgweibL8","provider":"Google","model":"anthropic/claude-sonnet-4.5","object":"chat.completion.chunk","created":1765226419,"choices":[{"index":0,"delta":{"role":"assistant","content":"","reasoning":null,"reasoning_details":[{"type":"reasoning.text","signature":"Et0BCkgIChACGAIqQA2s7h7tA7IG35fbwVkou9PM2hANVJNUwcEM4q12fTRDK6y3v6YoEvJ+7bko8wnW/GLsQFXadaJPAEMCpLkhI9ISDLjFkeR1aVUIvdCtyBoMrUTovh0jwk+wpnZWIjANV3e6VVdgbGSsEyyTHO6KMmVtqqs79f9blnVdJmmMIwMyTi6bEtG59+jTU7v1zlsqQ2IKGZILOlr6adh0Aam7zYttvisys+wjyZZXU1y/Srz0nmp1cFgVOJe1BLKQI3SSRrjsqQC0uAEUZy0GX0Rq1AXjvIcYAQ==","format":"anthropic-claude-v1","index":0}]},"finish_reason":null,"native_finish_reason":null,"logprobs":null}]}

data: {"id":"gen-1765226419-AGrwjunAftQIAgweibL8","provider":"Google","model":"anthropic/claude-sonnet-4.5","object":"chat.completion.chunk","created":1765226419,"choices":[{"index":0,"delta":{"role":"assistant","content":"","reasoning":null,"reasoning_details":[]},"finish_reason":null,"native_finish_reason":null,"logprobs":null}]}

data: {"id":"gen-1765226419-AGrwjunAftQIAgweibL8","provider":"Google","model":"anthropic/claude-sonnet-4.5","object":"chat.completion.chunk","created":1765226419,"choices":[{"index":0,"delta":{"role":"assistant","content":"","reasoning":null,"reasoning_details":[]},"finish_reason":null,"native_finish_reason":null,"logprobs":null}]}

data: {"id":"gen-1765226419-AGrwjunAftQIAgweibL8","provider":"Google","model":"anthropic/claude-sonnet-4.5","object":"chat.completion.chunk","created":1765226419,"choices":[{"index":0,"delta":{"role":"assistant","content":"2 ","reasoning":null,"reasoning_details":[]},"finish_reason":null,"native_finish_reason":null,"logprobs":null}]}

data: {"id":"gen-1765226419-AGrwjunAftQIAgweibL8","provider":"Google","model":"anthropic/claude-sonnet-4.5","object":"chat.completion.chunk","created":1765226419,"choices":[{"index":0,"delta":{"role":"assistant","content":"+ 2 = 4","reasoning":null,"reasoning_details":[]},"finish_reason":null,"native_finish_reason":null,"logprobs":null}]}

data: {"id":"gen-1765226419-AGrwjunAftQIAgweibL8","provider":"Google","model":"anthropic/claude-sonnet-4.5","object":"chat.completion.chunk","created":1765226419,"choices":[{"index":0,"delta":{"role":"assistant","content":"","reasoning":null,"reasoning_details":[]},"finish_reason":null,"native_finish_reason":null,"logprobs":null}]}

data: {"id":"gen-1765226419-AGrwjunAftQIAgweibL8","provider":"Google","model":"anthropic/claude-sonnet-4.5","object":"chat.completion.chunk","created":1765226419,"choices":[{"index":0,"delta":{"role":"assistant","content":"","reasoning":null,"reasoning_details":[]},"finish_reason":"stop","native_finish_reason":"stop","logprobs":null}]}

data: {"id":"gen-1765226419-AGrwjunAftQIAgweibL8","provider":"Google","model":"anthropic/claude-sonnet-4.5","object":"chat.completion.chunk","created":1765226419,"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null,"native_finish_reason":null,"logprobs":null}],"usage":{"prompt_tokens":43,"completion_tokens":36,"total_tokens":79,"cost":0.000669,"is_byok":false,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0,"video_tokens":0},"cost_details":{"upstream_inference_cost":null,"upstream_inference_prompt_cost":0.000129,"upstream_inference_completions_cost":0.00054},"completion_tokens_details":{"reasoning_tokens":13,"image_tokens":0}}}

data: [DONE]

"""

# pydantic-ai__stream_midstream_error_minimax_free.interaction0.sse (error event)
MIDSTREAM_ERROR_LINE = r"""data: {"id":"gen-1762179802-UN8pkJI4AGZvryk0kFnb","provider":"Minimax","error":{"code":400,"message":"Token limit reached"},"model":"minimax/minimax-m2:free","object":"chat.completion.chunk","created":1762179802,"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null,"native_finish_reason":null,"logprobs":null}],"usage":{"prompt_tokens":43,"completion_tokens":10,"total_tokens":53,"cost":0,"is_byok":false,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"cost_details":{"upstream_inference_cost":null,"upstream_inference_prompt_cost":0,"upstream_inference_completions_cost":0},"completion_tokens_details":{"reasoning_tokens":11,"image_tokens":0}}}"""

# pydantic-ai__stream_web_search_server_tool_usage.interaction0.sse (usage event)
WEB_SEARCH_USAGE_LINE = r"""data: {"id":"gen-1786465029-CAkqUciXgQW34RmFaTck","object":"chat.completion.chunk","created":1786465029,"model":"openai/gpt-4.1-mini","provider":"OpenAI","service_tier":"default","choices":[{"index":0,"delta":{"content":"","role":"assistant"},"finish_reason":"stop","native_finish_reason":"completed"}],"usage":{"prompt_tokens":8174,"completion_tokens":30,"total_tokens":8204,"cost":0.0133176,"is_byok":false,"prompt_tokens_details":{"cached_tokens":0,"cache_write_tokens":0,"audio_tokens":0,"video_tokens":0},"cost_details":{"upstream_inference_cost":0.0133176,"upstream_inference_prompt_cost":0.0032696,"upstream_inference_completions_cost":0.000048},"completion_tokens_details":{"reasoning_tokens":0,"image_tokens":0,"audio_tokens":0},"server_tool_use_details":{"web_search_requests":1}}}"""

# Real GET /api/v1/generation body (recorded fixture of the `openrouter` crate).
GENERATION = r"""{
  "data": {
    "id": "gen-1737842317-9ifH6Yzo5icEdfD0I8SI",
    "upstream_id": null,
    "total_cost": 0,
    "cache_discount": null,
    "provider_name": "Google AI Studio",
    "created_at": "2025-01-25T21:58:42.249238+00:00",
    "model": "google/gemini-2.0-flash-thinking-exp-01-21:free",
    "app_id": 167635,
    "streamed": true,
    "cancelled": false,
    "latency": 3134,
    "moderation_latency": null,
    "generation_time": 1,
    "tokens_prompt": 10,
    "tokens_completion": 30,
    "native_tokens_prompt": 4,
    "native_tokens_completion": 521,
    "native_tokens_reasoning": null,
    "num_media_prompt": null,
    "num_media_completion": null,
    "num_search_results": null,
    "origin": "https://openrouter.ai/",
    "is_byok": false,
    "finish_reason": "stop",
    "native_finish_reason": "STOP",
    "usage": 0
  }
}"""

# Synthetic, shaped like the documented GET /api/v1/key example.
KEY_INFO = r"""{
  "data": {
    "byok_usage": 17.38,
    "byok_usage_daily": 17.38,
    "creator_user_id": "user_2dHFtVWx2n56w6HkM0000000000",
    "expires_at": "2027-12-31T23:59:59Z",
    "include_byok_in_limit": false,
    "is_free_tier": false,
    "is_management_key": false,
    "is_provisioning_key": false,
    "label": "sk-or-v1-au7...890",
    "limit": 100,
    "limit_remaining": 74.5,
    "limit_reset": "monthly",
    "rate_limit": {"interval": "1h", "requests": 1000},
    "usage": 25.5,
    "usage_daily": 25.5,
    "usage_weekly": 25.5,
    "usage_monthly": 25.5
  }
}"""

# Synthetic: non-streamed version of the TOOL_CALL_SSE turn, plus logprobs.
TOOL_CALL_NONSTREAM = r"""{
  "id": "gen-1754441566-QNLn11ywo16tGzus0Wix",
  "provider": "OpenAI",
  "model": "openai/gpt-4.1-mini",
  "object": "chat.completion",
  "created": 1754441566,
  "system_fingerprint": "fp_6f2eabb9a5",
  "choices": [
    {
      "logprobs": {
        "content": [
          {
            "token": "Hi",
            "logprob": -0.0019,
            "bytes": [72, 105],
            "top_logprobs": [
              {"token": "Hi", "logprob": -0.0019, "bytes": [72, 105]},
              {"token": "Hello", "logprob": -6.25, "bytes": null}
            ]
          }
        ],
        "refusal": null
      },
      "finish_reason": "tool_calls",
      "native_finish_reason": "tool_calls",
      "index": 0,
      "message": {
        "role": "assistant",
        "content": "",
        "refusal": null,
        "reasoning": null,
        "tool_calls": [
          {
            "id": "call_o4OCgtJrNoZTmoCRvmlfoHfj",
            "index": 0,
            "type": "function",
            "function": {"name": "llm_version", "arguments": "{\"verbose\": true}"}
          }
        ]
      }
    }
  ],
  "usage": {"prompt_tokens": 48, "completion_tokens": 11, "total_tokens": 59}
}"""


def load(text: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(text)
    return data


def sse_events(text: str) -> list[dict[str, Any]]:
    """The JSON payloads of an SSE transcript (comments and [DONE] skipped)."""
    return [json.loads(line[len("data: ") :]) for line in text.splitlines() if line.startswith("data: {")]


# ---------------------------------------------------------------------------
# Non-streaming chat completions
# ---------------------------------------------------------------------------


def test_nonstream_scalar_and_nested_access() -> None:
    resp = ChatCompletion(load(BEDROCK))
    assert resp.id == "gen-1767762639-byPo1nLGYezoxgy9LpRt"
    assert resp.object == "chat.completion"
    assert resp.created == 1767762641
    assert resp.model == "anthropic/claude-sonnet-4"
    assert resp.provider == "Amazon Bedrock"
    assert len(resp.choices) == 1
    choice = resp.choices[0]
    assert isinstance(choice, Choice)
    assert choice.index == 0
    assert choice.finish_reason == "stop"
    assert choice.native_finish_reason == "stop"
    assert choice.logprobs is None
    assert choice.error is None
    message = choice.message
    assert isinstance(message, ChatCompletionMessage)
    assert message.role == "assistant"
    assert message.content == "Google logo"
    assert message.refusal is None
    assert message.reasoning is None
    assert resp.choices[0].message.content == "Google logo"


def test_nonstream_usage_with_cost_details() -> None:
    usage = ChatCompletion(load(BEDROCK)).usage
    assert isinstance(usage, CompletionUsage)
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (
        163,
        5,
        168,
    )
    assert usage.cost == pytest.approx(0.000564)
    assert usage.is_byok is False
    ptd = usage.prompt_tokens_details
    assert isinstance(ptd, PromptTokensDetails)
    assert ptd.cached_tokens == 0
    assert ptd.cache_write_tokens == 0
    assert ptd.audio_tokens == 0
    assert ptd.video_tokens == 0
    ctd = usage.completion_tokens_details
    assert isinstance(ctd, CompletionTokensDetails)
    assert ctd.reasoning_tokens == 0
    assert ctd.image_tokens == 0
    assert ctd.audio_tokens is None
    assert ctd.accepted_prediction_tokens is None
    cd = usage.cost_details
    assert isinstance(cd, CostDetails)
    assert cd.upstream_inference_cost is None
    assert cd.upstream_inference_prompt_cost == pytest.approx(0.000489)
    assert cd.upstream_inference_completions_cost == pytest.approx(0.000075)
    assert usage.server_tool_use_details is None


def test_usage_without_usage_include_has_no_cost_fields() -> None:
    resp = ChatCompletion(load(VENUS_NO_USAGE_INCLUDE))
    usage = resp.usage
    assert usage is not None
    assert usage.total_tokens == 1532
    assert usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == 704
    assert usage.cost is None
    assert usage.is_byok is None
    assert usage.cost_details is None
    assert usage.prompt_tokens_details is None
    assert resp.system_fingerprint is None
    assert resp.service_tier is None


def test_reasoning_details() -> None:
    resp = ChatCompletion(load(MARS_USAGE_INCLUDE))
    message = resp.choices[0].message
    assert message.reasoning is not None
    assert message.reasoning.startswith("**Exploring Mars Overview**")
    details = message.reasoning_details
    assert details is not None
    assert [type(d) for d in details] == [ReasoningDetail, ReasoningDetail]
    summary, encrypted = details
    assert summary.type == "reasoning.summary"
    assert summary.format == "openai-responses-v1"
    assert summary.index == 0
    assert summary.summary is not None
    assert summary.summary.startswith("**Exploring Mars Overview**")
    assert summary.data is None
    assert summary.text is None
    assert encrypted.type == "reasoning.encrypted"
    assert encrypted.id == "rs_029b1b33873fe02b0169120967d9a88197af3d9f4db7a92055"
    assert encrypted.data is not None
    assert encrypted.data.startswith("gAAAAABpEgl8")
    assert encrypted.signature is None
    assert resp.choices[0].native_finish_reason == "completed"
    assert resp.usage is not None
    assert resp.usage.cost == pytest.approx(0.00435825)
    assert resp.usage.prompt_tokens_details is not None
    assert resp.usage.prompt_tokens_details.cached_tokens == 0
    assert resp.usage.prompt_tokens_details.cache_write_tokens is None


def test_web_search_annotations_and_server_tool_use() -> None:
    resp = ChatCompletion(load(WEB_SEARCH))
    message = resp.choices[0].message
    assert message.content == "https://github.com/pydantic/pydantic-ai"
    annotations = message.annotations
    assert annotations is not None
    assert len(annotations) == 2
    first = annotations[0]
    assert isinstance(first, Annotation)
    assert first.type == "url_citation"
    citation = first.url_citation
    assert isinstance(citation, URLCitation)
    assert citation.url == "https://github.com/pydantic/pydantic-ai"
    assert citation.title == "AI Agent Framework, the Pydantic way"
    assert citation.start_index == 0
    assert citation.end_index == 0
    assert citation.content is not None
    assert citation.content.startswith("# pydantic/pydantic-ai")
    second = annotations[1].url_citation
    assert second is not None
    assert second.url == "https://pydantic.dev/pydantic-ai"
    assert second.title == ""
    assert resp.choices[0].message.annotations[0].url_citation.url == ("https://github.com/pydantic/pydantic-ai")
    # present-but-null vs value
    assert resp.service_tier is None
    assert resp.system_fingerprint is None
    assert "service_tier" in resp.to_dict()
    usage = resp.usage
    assert usage is not None
    assert usage.server_tool_use_details == {
        "tool_calls_executed": 1,
        "tool_calls_requested": 1,
        "web_search_requests": 1,
    }
    assert usage.cost_details is not None
    assert usage.cost_details.upstream_inference_cost == pytest.approx(0.000637029)


def test_tool_calls_and_logprobs() -> None:
    resp = ChatCompletion(load(TOOL_CALL_NONSTREAM))
    choice = resp.choices[0]
    assert choice.finish_reason == "tool_calls"
    tool_calls = choice.message.tool_calls
    assert tool_calls is not None
    call = tool_calls[0]
    assert isinstance(call, ChatCompletionMessageToolCall)
    assert call.id == "call_o4OCgtJrNoZTmoCRvmlfoHfj"
    assert call.type == "function"
    assert call.index == 0
    assert isinstance(call.function, Function)
    assert call.function.name == "llm_version"
    assert call.function.arguments == '{"verbose": true}'
    assert json.loads(resp.choices[0].message.tool_calls[0].function.arguments) == {"verbose": True}
    logprobs = choice.logprobs
    assert isinstance(logprobs, ChoiceLogprobs)
    assert logprobs.refusal is None
    assert logprobs.content is not None
    token = logprobs.content[0]
    assert isinstance(token, TokenLogprob)
    assert token.token == "Hi"
    assert token.logprob == pytest.approx(-0.0019)
    assert token.bytes == [72, 105]
    assert [type(t) for t in token.top_logprobs] == [TopLogprob, TopLogprob]
    assert [t.token for t in token.top_logprobs] == ["Hi", "Hello"]
    assert token.top_logprobs[1].logprob == pytest.approx(-6.25)
    assert token.top_logprobs[1].bytes is None
    assert resp.system_fingerprint == "fp_6f2eabb9a5"
    assert resp.usage is not None
    assert resp.usage.cost is None


def test_choice_error() -> None:
    resp = ChatCompletion(
        {
            "id": "gen-1",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "error",
                    "message": {"role": "assistant", "content": ""},
                    "error": {
                        "code": 502,
                        "message": "Upstream error",
                        "metadata": {"provider_name": "Minimax"},
                    },
                }
            ],
        }
    )
    error = resp.choices[0].error
    assert isinstance(error, ChoiceError)
    assert error.code == 502
    assert error.message == "Upstream error"
    assert error.metadata == {"provider_name": "Minimax"}
    assert ChoiceError({"code": "server_error"}).code == "server_error"
    assert ChoiceError({"code": 400}).metadata is None


# ---------------------------------------------------------------------------
# Missing / unknown fields
# ---------------------------------------------------------------------------


def test_missing_fields() -> None:
    resp = ChatCompletion({})
    assert resp.id is None
    assert resp.created is None
    assert resp.usage is None
    assert resp.choices == []  # non-optional list -> empty list
    choice = Choice({"index": 0})
    # non-optional nested model -> empty model, optional -> None
    assert isinstance(choice.message, ChatCompletionMessage)
    assert choice.message.content is None
    assert choice.message.to_dict() == {}
    assert choice.logprobs is None
    assert choice.error is None
    message = ChatCompletionMessage({"role": "assistant"})
    assert message.tool_calls is None
    assert message.reasoning_details is None
    assert message.annotations is None
    assert message.images is None
    assert message.audio is None
    assert TokenLogprob({"token": "a", "logprob": 0.0}).top_logprobs == []
    # explicit JSON null behaves like absence
    assert ChatCompletion({"usage": None, "choices": None}).usage is None
    assert ChatCompletion({"usage": None, "choices": None}).choices == []
    assert ChunkChoice({"delta": None}).delta.content is None


def test_unknown_fields_are_kept() -> None:
    data = load(BEDROCK)
    data["brand_new_field"] = {"nested": [1, 2, 3]}
    data["choices"][0]["message"]["future_thing"] = "x"
    resp = ChatCompletion(data)
    assert resp.brand_new_field == {"nested": [1, 2, 3]}
    assert resp.choices[0].message.future_thing == "x"
    assert resp.to_dict()["brand_new_field"] == {"nested": [1, 2, 3]}
    assert resp.to_dict()["choices"][0]["message"]["future_thing"] == "x"
    assert not hasattr(resp, "definitely_missing")
    with pytest.raises(AttributeError, match="definitely_missing"):
        _ = resp.definitely_missing
    # dunder lookups never consult the data
    assert getattr(ChatCompletion({"__len__": 1}), "__len__", None) is None


def test_objects_are_read_only_and_dict_free() -> None:
    resp = ChatCompletion(load(BEDROCK))
    with pytest.raises(AttributeError):
        resp.id = "other"
    with pytest.raises(AttributeError):
        resp.not_a_field = 1
    assert not hasattr(resp, "__dict__")
    for name in T.__all__:
        cls = getattr(T, name)
        assert "__slots__" in vars(cls), name
        assert cls.__doc__, name


# ---------------------------------------------------------------------------
# Serialization, equality, repr, caching
# ---------------------------------------------------------------------------


def test_to_dict_is_a_deep_copy() -> None:
    data = load(WEB_SEARCH)
    resp = ChatCompletion(data)
    dumped = resp.to_dict()
    assert dumped == json.loads(WEB_SEARCH)
    assert dumped is not data
    dumped["choices"][0]["message"]["content"] = "changed"
    dumped["usage"]["server_tool_use_details"]["web_search_requests"] = 99
    assert resp.choices[0].message.content == "https://github.com/pydantic/pydantic-ai"
    assert data["usage"]["server_tool_use_details"]["web_search_requests"] == 1
    assert resp.model_dump(exclude_unset=True) == json.loads(WEB_SEARCH)
    assert resp.choices[0].to_dict() == json.loads(WEB_SEARCH)["choices"][0]


def test_exclude_none() -> None:
    resp = ChatCompletion(load(WEB_SEARCH))
    dumped = resp.to_dict(exclude_none=True)
    assert "service_tier" not in dumped
    assert "refusal" not in dumped["choices"][0]["message"]
    assert "upstream_inference_cost" in dumped["usage"]["cost_details"]
    assert resp.model_dump(exclude_none=True, exclude_unset=True) == dumped
    assert json.loads(resp.model_dump_json(exclude_none=True, exclude_unset=True)) == dumped


def test_to_json_round_trip() -> None:
    for text in (BEDROCK, MARS_USAGE_INCLUDE, WEB_SEARCH):
        resp = ChatCompletion(load(text))
        assert json.loads(resp.to_json()) == json.loads(text)
        assert ChatCompletion(json.loads(resp.to_json())) == resp
        assert json.loads(resp.model_dump_json(exclude_unset=True)) == json.loads(text)
    resp = ChatCompletion(load(MARS_USAGE_INCLUDE))
    assert "\n" not in resp.to_json(indent=None)
    pretty = resp.to_json()  # indented by 2 like openai's
    assert pretty.startswith('{\n  "choices"')
    assert json.loads(pretty) == json.loads(MARS_USAGE_INCLUDE)
    assert resp.model_dump_json(indent=2, exclude_unset=True) == pretty
    assert "Here’s" in resp.to_json()  # non-ASCII kept as-is


def test_equality() -> None:
    a = ChatCompletion(load(BEDROCK))
    b = ChatCompletion(load(BEDROCK))
    assert a == b
    assert (a != b) is False
    assert a != ChatCompletion(load(WEB_SEARCH))
    assert a != ChatCompletionChunk(load(BEDROCK))  # same data, other class
    assert a != load(BEDROCK)
    assert a.choices[0] == b.choices[0]
    assert a.usage == b.usage
    with pytest.raises(TypeError):
        hash(a)


def test_repr() -> None:
    resp = ChatCompletion(load(BEDROCK))
    assert repr(resp) == (
        "ChatCompletion(id='gen-1767762639-byPo1nLGYezoxgy9LpRt', "
        "object='chat.completion', created=1767762641, "
        "model='anthropic/claude-sonnet-4', provider='Amazon Bedrock', ...)"
    )
    assert repr(resp.choices[0].message) == ("ChatCompletionMessage(role='assistant', content='Google logo')")
    assert repr(Credits({"total_credits": 10, "total_usage": 2.5})) == ("Credits(total_credits=10, total_usage=2.5)")
    assert repr(ChatCompletion({})) == "ChatCompletion()"
    assert repr(ChatCompletion({"foo": 1})) == "ChatCompletion(...)"


def test_repr_truncates_long_strings_and_many_fields() -> None:
    message = ChatCompletion(load(MARS_USAGE_INCLUDE)).choices[0].message
    text = repr(message)
    assert text.startswith("ChatCompletionMessage(role='assistant', content='Here’s")
    assert "...'" in text
    assert "Earth’" not in text  # the tail of the 90-char content is cut
    assert len(text) < 200
    gen = Generation(load(GENERATION)["data"])
    gen_repr = repr(gen)
    assert gen_repr.startswith("Generation(id='gen-1737842317-9ifH6Yzo5icEdfD0I8SI'")
    assert gen_repr.endswith(", ...)")
    assert gen_repr.count("=") <= 10


def test_nested_objects_are_cached() -> None:
    resp = ChatCompletion(load(TOOL_CALL_NONSTREAM))
    assert resp.choices is resp.choices
    assert resp.choices[0] is resp.choices[0]
    assert resp.choices[0].message is resp.choices[0].message
    assert resp.usage is resp.usage
    msg = resp.choices[0].message
    assert msg.tool_calls is msg.tool_calls
    assert msg.tool_calls is not None
    assert msg.tool_calls[0].function is msg.tool_calls[0].function
    empty = ChatCompletion({})
    assert empty.choices is empty.choices
    # wrappers share the parent's data (no copies)
    assert resp.choices[0].message.to_dict() == resp.to_dict()["choices"][0]["message"]


def test_construction_is_lazy() -> None:
    class Spy(dict):
        touched = 0

        def __getitem__(self, key: Any) -> Any:
            Spy.touched += 1
            return super().__getitem__(key)

        def get(self, key: Any, default: Any = None) -> Any:
            Spy.touched += 1
            return super().get(key, default)

    spy = Spy(load(BEDROCK))
    resp = ChatCompletion(spy)
    assert Spy.touched == 0
    assert resp.model == "anthropic/claude-sonnet-4"
    assert Spy.touched == 1

    # malformed nested values only fail when (and where) they are accessed
    broken = ChatCompletion({"id": "gen-x", "choices": "not-a-list", "usage": [1, 2], "created": 1})
    assert broken.id == "gen-x"
    assert broken.created == 1
    with pytest.raises(TypeError, match=r"ChatCompletion\.choices"):
        _ = broken.choices
    with pytest.raises(TypeError, match=r"ChatCompletion\.usage"):
        _ = broken.usage
    bad_item = ChatCompletion({"choices": [{"index": 0}, "oops"]})
    with pytest.raises(TypeError, match="expected a JSON object, got str"):
        _ = bad_item.choices
    bad_message = Choice({"message": "oops"})
    assert bad_message.index is None
    with pytest.raises(TypeError):
        _ = bad_message.message


def test_pickle_and_copy() -> None:
    resp = ChatCompletion(load(MARS_USAGE_INCLUDE))
    _ = resp.choices  # populate cache; must not leak into the copies
    clone = pickle.loads(pickle.dumps(resp))
    assert clone == resp
    assert type(clone) is ChatCompletion
    assert clone.choices[0].message.reasoning_details[1].type == "reasoning.encrypted"
    deep = copy.deepcopy(resp)
    assert deep == resp
    assert deep.to_dict() == resp.to_dict()
    assert copy.copy(resp) == resp


# ---------------------------------------------------------------------------
# Streaming chunks
# ---------------------------------------------------------------------------


def test_stream_tool_call_chunks() -> None:
    chunks = [ChatCompletionChunk(event) for event in sse_events(TOOL_CALL_SSE)]
    assert len(chunks) == 4
    first = chunks[0]
    assert first.id == "gen-1754441566-QNLn11ywo16tGzus0Wix"
    assert first.object == "chat.completion.chunk"
    assert first.provider == "OpenAI"
    assert first.system_fingerprint == "fp_6f2eabb9a5"
    assert first.usage is None
    assert first.error is None
    choice = first.choices[0]
    assert isinstance(choice, ChunkChoice)
    assert isinstance(choice.delta, ChoiceDelta)
    assert choice.delta.role == "assistant"
    assert choice.delta.content is None
    call = choice.delta.tool_calls[0]
    assert isinstance(call, ChoiceDeltaToolCall)
    assert (call.index, call.id, call.type) == (
        0,
        "call_o4OCgtJrNoZTmoCRvmlfoHfj",
        "function",
    )
    assert isinstance(call.function, ChoiceDeltaToolCallFunction)
    assert call.function.name == "llm_version"
    assert call.function.arguments == ""
    second = chunks[1].choices[0].delta.tool_calls[0]
    assert second.id is None
    assert second.function is not None
    assert second.function.name is None
    assert second.function.arguments == "{}"

    # accumulate like a client would
    names: dict[int, str] = {}
    args: dict[int, str] = {}
    for chunk in chunks:
        for c in chunk.choices:
            for tc in c.delta.tool_calls or []:
                if tc.function is not None:
                    if tc.function.name:
                        names[tc.index] = tc.function.name
                    args[tc.index] = args.get(tc.index, "") + (tc.function.arguments or "")
    assert names == {0: "llm_version"}
    assert args == {0: "{}"}
    assert [c.choices[0].finish_reason for c in chunks] == [
        None,
        None,
        "tool_calls",
        None,
    ]
    last = chunks[-1]
    assert last.usage is not None
    assert last.usage.total_tokens == 59
    assert last.usage.cost == pytest.approx(0.0000368)
    assert last.usage.cost_details is not None
    assert last.usage.cost_details.upstream_inference_cost is None


def test_stream_reasoning_chunks_with_signature() -> None:
    chunks = [ChatCompletionChunk(event) for event in sse_events(REASONING_SSE)]
    assert len(chunks) == 14
    reasoning = "".join(c.choices[0].delta.reasoning or "" for c in chunks)
    content = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert reasoning == "This is a simple arithmetic question. 2+2 equals 4."
    assert content == "2 + 2 = 4"
    details = [d for c in chunks for d in c.choices[0].delta.reasoning_details or []]
    assert all(isinstance(d, ReasoningDetail) for d in details)
    assert {d.format for d in details} == {"anthropic-claude-v1"}
    signatures = [d.signature for d in details if d.signature]
    assert len(signatures) == 1
    assert signatures[0].startswith("Et0BCkgIChACGAIqQA2s")
    text = "".join(d.text or "" for d in details if d.type == "reasoning.text")
    assert text == reasoning
    assert chunks[0].choices[0].delta.reasoning_details == []
    usage = chunks[-1].usage
    assert usage is not None
    assert usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == 13
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.video_tokens == 0


def test_stream_midstream_error_chunk() -> None:
    chunk = ChatCompletionChunk(load(MIDSTREAM_ERROR_LINE[len("data: ") :]))
    assert chunk.provider == "Minimax"
    assert isinstance(chunk.error, ChoiceError)
    assert chunk.error.code == 400
    assert chunk.error.message == "Token limit reached"
    assert chunk.error.metadata is None
    assert chunk.choices[0].finish_reason is None
    assert chunk.choices[0].error is None
    assert chunk.choices[0].delta.content == ""
    assert chunk.usage is not None
    assert chunk.usage.cost == 0
    assert chunk.usage.completion_tokens_details is not None
    assert chunk.usage.completion_tokens_details.reasoning_tokens == 11


def test_stream_usage_chunk_with_service_tier() -> None:
    chunk = ChatCompletionChunk(load(WEB_SEARCH_USAGE_LINE[len("data: ") :]))
    assert chunk.service_tier == "default"
    assert chunk.choices[0].finish_reason == "stop"
    assert chunk.choices[0].native_finish_reason == "completed"
    usage = chunk.usage
    assert usage is not None
    assert usage.prompt_tokens == 8174
    assert usage.server_tool_use_details == {"web_search_requests": 1}
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cache_write_tokens == 0
    assert usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.audio_tokens == 0
    assert chunk.to_dict() == load(WEB_SEARCH_USAGE_LINE[len("data: ") :])


# ---------------------------------------------------------------------------
# Account endpoints
# ---------------------------------------------------------------------------


def test_generation() -> None:
    gen = Generation(load(GENERATION)["data"])
    assert gen.id == "gen-1737842317-9ifH6Yzo5icEdfD0I8SI"
    assert gen.upstream_id is None
    assert gen.total_cost == 0
    assert gen.usage == 0  # a number (credits), not a usage object
    assert gen.cache_discount is None
    assert gen.provider_name == "Google AI Studio"
    assert gen.created_at == "2025-01-25T21:58:42.249238+00:00"
    assert gen.model == "google/gemini-2.0-flash-thinking-exp-01-21:free"
    assert gen.streamed is True
    assert gen.cancelled is False
    assert gen.latency == 3134
    assert gen.generation_time == 1
    assert gen.moderation_latency is None
    assert (gen.tokens_prompt, gen.tokens_completion) == (10, 30)
    assert (gen.native_tokens_prompt, gen.native_tokens_completion) == (4, 521)
    assert gen.native_tokens_reasoning is None
    assert gen.native_tokens_cached is None
    assert gen.is_byok is False
    assert gen.finish_reason == "stop"
    assert gen.native_finish_reason == "STOP"
    assert gen.provider_responses is None
    assert gen.api_type is None
    assert gen.request_id is None
    assert gen.app_id == 167635  # undeclared field
    assert Generation({"provider_responses": [{"status": 200}]}).provider_responses == [{"status": 200}]


def test_credits() -> None:
    credits = Credits({"total_credits": 15.5, "total_usage": 3.25})
    assert credits.total_credits == 15.5
    assert credits.total_usage == 3.25
    assert credits.remaining == pytest.approx(12.25)
    assert Credits({"total_credits": 10, "total_usage": 10}).remaining == 0


def test_key_info() -> None:
    key = KeyInfo(load(KEY_INFO)["data"])
    assert key.label == "sk-or-v1-au7...890"
    assert key.limit == 100
    assert key.limit_remaining == 74.5
    assert key.limit_reset == "monthly"
    assert key.include_byok_in_limit is False
    assert key.usage == 25.5
    assert (key.usage_daily, key.usage_weekly, key.usage_monthly) == (25.5, 25.5, 25.5)
    assert key.byok_usage == 17.38
    assert key.is_free_tier is False
    assert key.is_management_key is False
    assert key.expires_at == "2027-12-31T23:59:59Z"
    assert key.rate_limit == {"interval": "1h", "requests": 1000}
    assert key.is_provisioning_key is False  # undeclared field
    unlimited = KeyInfo({"label": "k", "limit": None})
    assert unlimited.limit is None
    assert unlimited.expires_at is None
    assert unlimited.rate_limit is None


def test_public_api() -> None:
    assert sorted(T.__all__) == sorted(
        [
            "Annotation",
            "ChatCompletion",
            "ChatCompletionChunk",
            "ChatCompletionMessage",
            "ChatCompletionMessageToolCall",
            "Choice",
            "ChoiceDelta",
            "ChoiceDeltaToolCall",
            "ChoiceDeltaToolCallFunction",
            "ChoiceError",
            "ChoiceLogprobs",
            "ChunkChoice",
            "CompletionTokensDetails",
            "CompletionUsage",
            "CostDetails",
            "Credits",
            "Function",
            "Generation",
            "KeyInfo",
            "PromptTokensDetails",
            "ReasoningDetail",
            "TokenLogprob",
            "TopLogprob",
            "URLCitation",
        ]
    )
    # every declared field became a descriptor on the class
    for name in T.__all__:
        cls = getattr(T, name)
        for field in cls._fields:
            assert isinstance(getattr(cls, field), property), (name, field)
    assert ChatCompletion._fields == (
        "id",
        "object",
        "created",
        "model",
        "provider",
        "system_fingerprint",
        "service_tier",
        "choices",
        "usage",
    )
