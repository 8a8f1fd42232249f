"""The LLM judge for answers a rule cannot settle, with the official prompts.

The judge talks to any OpenAI-compatible chat endpoint through a ``complete`` function
(messages → reply text), so the same code runs against a provider, a local vLLM server or
a loopback test server. Verdicts are cached by request fingerprint: re-scoring an evaluation
never pays for the same judgement twice. A reply that is neither "1" nor "0", or a failed
call, leaves the item unscored with the reason — it is not counted wrong.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, MutableMapping, Sequence

from videokr.hashing import digest
from videokr.scoring.extract import option_texts
from videokr.scoring.judge_prompts import (
    JUDGE_DEFAULT_MODEL,
    JUDGE_MAX_TOKENS,
    JUDGE_TEMPERATURE,
    MULTIPLE_CHOICE_JUDGE_PROMPT,
    OPEN_ENDED_JUDGE_PROMPT,
)
from videokr.scoring.reward import MULTIPLE_CHOICE, normalise_problem_type

Messages = list[dict[str, Any]]
Complete = Callable[[Messages, dict[str, Any]], str]


@dataclass(frozen=True, slots=True)
class Verdict:
    correct: bool | None
    reply: str | None = None
    error: str | None = None
    cached: bool = False


def judge_prediction(output: str) -> str:
    """What the official judge sees: the first non-empty ``<answer>`` content, else everything."""
    import re

    match = re.search(r"<answer>(.*?)</answer>", output, flags=re.IGNORECASE | re.DOTALL)
    if match and match.group(1).strip():
        return match.group(1).strip()
    return output


def full_question(question: str, options: Sequence[str] | dict | None) -> str:
    """The question with its options as "A. text" lines, as the official task builds it."""
    texts = option_texts(options)
    if not texts:
        return question
    letters = "ABCDEFGHIJ"
    return question + "\n" + "\n".join(f"{letters[i]}. {t}" for i, t in enumerate(texts))


def build_prompt(question: str, options: Sequence[str] | dict | None, answer: str, output: str, problem_type: str) -> str:
    template = (
        MULTIPLE_CHOICE_JUDGE_PROMPT
        if normalise_problem_type(problem_type) == MULTIPLE_CHOICE
        else OPEN_ENDED_JUDGE_PROMPT
    )
    return template.format(question=full_question(question, options), answer=answer, prediction=judge_prediction(output))


def parse_reply(reply: str) -> bool | None:
    """"1" → True, "0" → False; anything else is not a verdict."""
    text = reply.strip().strip("`*\"' .").strip()
    if text in ("1", "0"):
        return text == "1"
    return None


class Judge:
    """An LLM judge: ``Judge(complete, model)``; ``cache`` is any mutable mapping (the store's, or a dict)."""

    def __init__(
        self,
        complete: Complete,
        model: str = JUDGE_DEFAULT_MODEL,
        *,
        temperature: float = JUDGE_TEMPERATURE,
        max_tokens: int = JUDGE_MAX_TOKENS,
        cache: MutableMapping[str, str] | None = None,
    ) -> None:
        self.complete = complete
        self.model = model
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.cache: MutableMapping[str, str] = cache if cache is not None else {}

    def fingerprint(self, prompt: str) -> str:
        key = json.dumps([self.model, self.temperature, self.max_tokens, prompt], ensure_ascii=False)
        return digest(key, length=64)

    def judge(
        self, question: str, options: Sequence[str] | dict | None, answer: str, output: str, problem_type: str
    ) -> Verdict:
        prompt = build_prompt(question, options, answer, output, problem_type)
        key = self.fingerprint(prompt)
        if key in self.cache:
            reply = self.cache[key]
            return Verdict(parse_reply(reply), reply, None if parse_reply(reply) is not None else "not 1 or 0", True)
        messages: Messages = [{"role": "user", "content": prompt}]
        params = {"model": self.model, "temperature": self.temperature, "max_tokens": self.max_tokens}
        try:
            reply = self.complete(messages, params)
        except Exception as exc:  # a failed call leaves the item unscored, with the reason
            return Verdict(None, None, f"{type(exc).__name__}: {exc}")
        verdict = parse_reply(reply)
        if verdict is not None:
            self.cache[key] = reply
        return Verdict(verdict, reply, None if verdict is not None else f"judge replied {reply[:80]!r}, not 1 or 0")


def gateway_complete(models: dict[str, Any], store: Any, model: str) -> Complete:
    """A ``complete`` function through the model client: cached, rate-limited, accounted."""
    import asyncio

    from videokr.models.gateway import Gateway

    async def ask(messages: Messages, params: dict[str, Any]) -> str:
        async with Gateway(models, store) as gateway:
            body = {k: v for k, v in params.items() if k != "model"}
            reply = await gateway.chat(model, messages, params=body, step="judge", step_version="1")
        if not reply.ok or reply.content is None:
            raise RuntimeError(reply.error or f"status {reply.status_code}")
        return reply.content

    def complete(messages: Messages, params: dict[str, Any]) -> str:
        return asyncio.run(ask(messages, params))

    return complete


def openai_complete(base_url: str, api_key: str | None = None, timeout_s: float = 60.0) -> Complete:
    """A ``complete`` function for any OpenAI-compatible endpoint (uses the ``openai`` package)."""
    from openai import OpenAI

    client = OpenAI(base_url=base_url, api_key=api_key or "EMPTY", timeout=timeout_s, max_retries=2)

    def complete(messages: Messages, params: dict[str, Any]) -> str:
        response = client.chat.completions.create(messages=messages, **params)  # type: ignore[arg-type]
        return response.choices[0].message.content or ""

    return complete
