"""Token estimates for requests not yet sent (dry runs and tokens-per-minute limits).

The estimate is deliberately simple and documented, not a tokenizer: one token per four
characters of text (the usual rule of thumb for English with BPE tokenizers), a fixed number
of tokens per image (set per model: `image_tokens` in videokr.yaml), and for the reply the
request's `max_completion_tokens`/`max_tokens`, or `DEFAULT_OUTPUT_TOKENS` when it sets
neither. Real replies report their own usage, which is what the cost accounting uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CHARS_PER_TOKEN = 4
DEFAULT_OUTPUT_TOKENS = 512
PER_MESSAGE_TOKENS = 4  # role and separators


@dataclass(frozen=True)
class TokenEstimate:
    text_tokens: int
    images: int
    image_tokens: int
    output_tokens: int

    @property
    def input_tokens(self) -> int:
        return self.text_tokens + self.images * self.image_tokens

    @property
    def total(self) -> int:
        return self.input_tokens + self.output_tokens


def text_tokens(text: str) -> int:
    return (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


def estimate_request_tokens(body: dict[str, Any], *, image_tokens: int) -> TokenEstimate:
    chars = 0
    images = 0
    messages = body.get("messages") or []
    for message in messages:
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if isinstance(content, str):
            chars += len(content)
        elif isinstance(content, list):
            for part in content:
                if not isinstance(part, dict):
                    continue
                if part.get("type") == "text":
                    chars += len(part.get("text") or "")
                elif part.get("type") in ("image_url", "input_image", "image"):
                    images += 1
    response_format = body.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
        import json

        chars += len(json.dumps(response_format.get("json_schema", {})))
    text = (chars + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN + PER_MESSAGE_TOKENS * len(messages)
    output = body.get("max_completion_tokens") or body.get("max_tokens") or DEFAULT_OUTPUT_TOKENS
    return TokenEstimate(text, images, image_tokens, int(output))
