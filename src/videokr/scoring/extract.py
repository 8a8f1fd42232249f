"""Strict answer extraction: what did the model finally answer?

Scores are only as good as the extractor in front of them. Common extractors read the first
capital letter they meet, so "A man walks in. The answer is C" scores as A, "I cannot
determine the answer" scores as option I, and "a piston … the answer is: C" matches gold A
on the article. This module reads a model's *final stated* answer and nothing else:

1. If the output has ``<answer>…</answer>`` blocks, the last non-empty block is the answer,
   and it is read with the rules below (a block may itself say "The answer is B").
2. Otherwise, when the output has ``</think>``, only the text after the last ``</think>``
   counts (what was said while thinking was not the answer).
3. In that text the *last* explicit answer statement that names an answer wins:
   ``\\boxed{…}``, "Therefore, the final answer is: X", "The best answer is X", "The
   answer is X", "Answer: X", "Final: X", "Option X is correct".
4. With no statement, the whole text, or else its last line, counts only when it is nothing
   but an answer: "B", "(B)", "B.", "B) text", "B. text", or an option's exact text.
5. Otherwise there is no answer: ``None``, never a guess.

Formats read (letters A–J, 2 to 10 options):

============================================  =====================  ==========
output                                        source                 choice
============================================  =====================  ==========
``<think>…</think><answer>B</answer>``        ``answer_tag``         B
``<answer>(B) vertical integration</answer>`` ``answer_tag``         B
``\\boxed{C}``, ``$\\boxed{\\text{C}}$``        ``boxed``              C
``Therefore, the final answer is: $D$``       ``statement``          D
``The best answer is: A``                     ``statement``          A
``The correct answer is (E).``                ``statement``          E
``Answer: J``                                 ``statement``          J
``Option B is correct.``                      ``statement``          B
``B`` / ``(B)`` / ``B.`` / ``B)``             ``bare``               B
``B. vertical integration``                   ``bare``               B
``vertical integration`` (an option's text)   ``bare``               B
``…reasoning…\\nB`` (last line)               ``last_line``          B
``I cannot determine the answer``             —                      None
``A man walks in.`` (no statement)            —                      None
============================================  =====================  ==========

Traps handled: the article "a"/"A" and the pronoun "I" are options only when written as
options — alone, bracketed, followed by ``.``/``:``/``)``/``,``, followed by that option's
own text, or followed by a clause word ("because", "since", …). Letters mentioned while
reasoning never count; only answer statements do, and the last one wins. A letter beyond
the offered options makes the answer invalid (``None``), it does not fall back to an
earlier statement.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

LETTERS = "ABCDEFGHIJ"

_ANSWER_BLOCK = re.compile(r"<answer>(.*?)</answer>", re.IGNORECASE | re.DOTALL)
_ANSWER_OPEN_TAIL = re.compile(r"<answer>((?:(?!</?answer>).)*)\Z", re.IGNORECASE | re.DOTALL)
_THINK_CLOSE = re.compile(r"</think>", re.IGNORECASE)
_BOXED = re.compile(r"\\boxed\s*\{", re.IGNORECASE)

# Answer statements. Each ends where the stated answer begins. Ordered only for reading;
# which one wins is decided by position (the last in the text).
_STATEMENTS = re.compile(
    r"""
    (?:
        \bfinal\s+answer\s*(?:is|was|would\s+be|should\s+be|will\s+be|[:：])\s*[:：]?
      | \b(?:best|correct|right|most\s+(?:likely|appropriate|suitable|plausible)|final)\s+
        (?:answer|option|choice)\s*(?:is|would\s+be|should\s+be|must\s+be|[:：])\s*[:：]?
      | \banswer\s*(?:is|would\s+be|should\s+be|must\s+be|will\s+be)\s*[:：]?
      | (?:^|(?<=[\s*#>]))(?:answer|final|prediction)\s*[:：]
      | \bi\s+(?:choose|select|pick)
    )
    [\s*]*
    """,
    re.IGNORECASE | re.VERBOSE | re.MULTILINE,
)
_OPTION_IS_CORRECT = re.compile(
    r"\b(?:option|choice)\s*[\(\[]?([A-J])[\)\]]?\s+(?:is|seems|appears)\s+(?:the\s+)?"
    r"(?:correct|right|best|most\s+(?:likely|appropriate|suitable|plausible))",
    re.IGNORECASE,
)

_CLAUSE_WORDS = {"because", "since", "as", "which", "given", "due"}
_WRAPPERS = re.compile(r"^\s*(?:\\(?:text|textbf|mathrm|mathbf)\s*\{(.*)\}|\$+(.*?)\$+|\*\*(.*?)\*\*)\s*$", re.S)
_LEADING_NOISE = re.compile(
    r"^(?:[\s:：\-–—*\"'`]|\\\(|\\\[|\$)+|^(?:the\s+)?(?:option|choice|letter)\s*(?=[\(\[]?[A-Ja-j](?:\W|$))", re.IGNORECASE
)
_BRACKETED = re.compile(r"^[\(\[]\s*([A-Ja-j])\s*[\)\]]")
_LONE = re.compile(r"^([A-Ja-j])\s*[.:)\]]?\s*$")
_LETTER_PUNCT = re.compile(r"^([A-J])\s*[.:)]\s*(.*)$", re.S)
_LETTER_NEWLINE = re.compile(r"^([A-J])[ \t]*\n")
_LETTER_COMMA = re.compile(r"^([A-J])\s*[,;]\s*(.*)$", re.S)
_LETTER_SPACE = re.compile(r"^([A-J])(?:\s+|\s*[-–—]\s*)(.*)$", re.S)
_MULTI = re.compile(r"^\s*(?:and|or|&|/)\s*[\(\[]?[A-J]\b", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=\w\w)[.!?;](?=\s|$)|\n")
_OPTION_PREFIX = re.compile(r"^\s*[\(\[]?([A-J])[\)\].:]\s+")
_NORMALISE = re.compile(r"[^0-9a-z]+")


@dataclass(frozen=True, slots=True)
class Extraction:
    """The final stated answer. ``choice`` is a letter for multiple choice, else None."""

    text: str | None
    choice: str | None = None
    source: str | None = None  # answer_tag | boxed | statement | bare | last_line


def option_texts(options: Sequence[str] | dict | None) -> list[str]:
    """Option texts without letters, from ``["A. x", …]``, ``["x", …]`` or ``{"A": "x"}``."""
    if not options:
        return []
    if isinstance(options, dict):
        return [str(options[k]).strip() for k in sorted(options)]
    texts = [str(o).strip() for o in options]
    prefixed = [_OPTION_PREFIX.match(t) for t in texts]
    if all(m and m.group(1) == LETTERS[i] for i, m in enumerate(prefixed)):
        return [t[m.end():].strip() for t, m in zip(texts, prefixed)]  # type: ignore[union-attr]
    return texts


def _norm(text: str) -> str:
    return " ".join(_NORMALISE.sub(" ", text.lower()).split())


def _final_region(output: str) -> tuple[str, str | None]:
    """The text that may hold the final answer, and where it came from."""
    blocks = [b for b in _ANSWER_BLOCK.findall(output) if b.strip()]
    if blocks:
        return blocks[-1], "answer_tag"
    tail = _ANSWER_OPEN_TAIL.search(output)  # cut off after <answer>: what is there is the answer
    if tail and tail.group(1).strip():
        return tail.group(1), "answer_tag"
    closes = list(_THINK_CLOSE.finditer(output))
    if closes:
        return output[closes[-1].end():], None
    return output, None


def _boxed_spans(text: str) -> list[tuple[int, str]]:
    spans = []
    for match in _BOXED.finditer(text):
        depth, i = 1, match.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        if depth == 0:
            spans.append((match.start(), text[match.end(): i - 1]))
    return spans


def _clean(span: str) -> str:
    span = span.strip()
    for _ in range(4):
        m = _WRAPPERS.match(span)
        if m:
            span = next(g for g in m.groups() if g is not None).strip()
            continue
        boxed = _boxed_spans(span)
        if boxed and boxed[0][0] == 0:
            span = boxed[0][1].strip()
            continue
        stripped = _LEADING_NOISE.sub("", span, count=1).strip()
        if stripped == span:
            break
        span = stripped
    return span.strip().strip("*$`\"'").strip()


class _Invalid(Exception):
    """A span that states a letter the question does not offer."""


def _match_option_text(span: str, texts: Sequence[str], *, bare: bool) -> str | None:
    """The one option whose text the span states, if exactly one (a longer text beats its parts).

    A bare span must *be* an option's text; a stated span may also contain it in its first
    sentence ("the answer is vertical integration, because …").
    """
    if not texts:
        return None
    head = _SENTENCE_END.split(span, maxsplit=1)[0]
    candidates = {_norm(head), _norm(span)}
    normed = [_norm(t) for t in texts]
    exact = [i for i, t in enumerate(normed) if t and t in candidates]
    if len(exact) == 1:
        return LETTERS[exact[0]]
    if bare:
        return None
    hay = f" {_norm(head)} "
    found = [i for i, t in enumerate(normed) if len(t) >= 3 and f" {t} " in hay]
    found = [i for i in found if not any(j != i and normed[i] in normed[j] for j in found)]
    return LETTERS[found[0]] if len(found) == 1 else None


def _letter_from_span(span: str, texts: Sequence[str], n_options: int, *, bare: bool) -> str | None:
    """Read one stated answer; ``bare`` spans (no statement or tag around them) are read strictly.

    Raises _Invalid when the span clearly states a letter the question does not offer.
    """
    span = _clean(span.replace("$", "").replace("**", ""))
    if not span:
        return None

    def valid(letter: str) -> str:
        letter = letter.upper()
        if LETTERS.index(letter) >= n_options:
            raise _Invalid(letter)
        return letter

    def rest_is_option(letter: str, rest: str) -> bool:
        idx = LETTERS.index(letter)
        if idx >= len(texts):
            return False
        want = _norm(texts[idx])
        return bool(want) and _norm(rest).startswith(want)

    if m := _BRACKETED.match(span):
        return None if _MULTI.match(span[m.end():]) else valid(m.group(1))
    if m := _LONE.match(span):
        letter = m.group(1)
        if letter.islower() and bare and letter in "ai":
            return None  # a lone lowercase "a"/"i" is a word, not a stated option
        return valid(letter)
    if m := _LETTER_NEWLINE.match(span):
        return valid(m.group(1))
    if m := _LETTER_PUNCT.match(span):  # "B. text", "B) text", "B: text": the way options are written
        return valid(m.group(1))
    if m := _LETTER_COMMA.match(span):
        letter, rest = m.group(1), m.group(2)
        if _MULTI.match(rest) or re.match(r"^[\(\[]?[A-J]\b", rest):
            return None  # "B, C" is not one answer
        if letter not in "AI" or rest_is_option(letter, rest):
            return valid(letter)
    if m := _LETTER_SPACE.match(span):
        letter, rest = m.group(1), m.group(2)
        if _MULTI.match(rest):
            return None
        if rest_is_option(letter, rest):
            return valid(letter)
        if not bare:
            first_word = rest.split(maxsplit=1)[0].lower().strip(",.;:") if rest.strip() else ""
            if letter not in "AI" or first_word in _CLAUSE_WORDS:
                return valid(letter)  # "the answer is C because …"; C is no English word
    return _match_option_text(span, texts, bare=bare)


def extract(
    output: str | None,
    options: Sequence[str] | dict | None = None,
    *,
    n_options: int | None = None,
) -> Extraction:
    """The final stated answer of ``output``; for multiple choice pass ``options`` or ``n_options``.

    >>> extract("<think>A looks tempting, but…</think><answer>B</answer>", n_options=4).choice
    'B'
    >>> extract("I cannot determine the answer.", n_options=10).choice is None
    True
    """
    text = "" if output is None else str(output)
    texts = option_texts(options)
    n = n_options if n_options is not None else (len(texts) if texts else len(LETTERS))
    multiple_choice = bool(texts) or n_options is not None
    region, source = _final_region(text)
    if not region.strip():
        return Extraction(None)

    statements = _statements(region)
    answer_text = statements[-1][2] if statements else None
    if not multiple_choice:
        if answer_text is not None:
            return Extraction(_first_line(answer_text) or None, None, source or statements[-1][1])
        stripped = region.strip()
        return Extraction(stripped or None, None, source or "bare")

    try:
        for _, kind, span in reversed(statements):  # the last statement that names an answer wins
            letter = _letter_from_span(span, texts, n, bare=False)
            if letter:
                return Extraction(_clean(span), letter, source or kind)
        if m := _last(_OPTION_IS_CORRECT.finditer(region)):
            letter = m.group(1).upper()
            if LETTERS.index(letter) >= n:
                raise _Invalid(letter)
            return Extraction(letter, letter, source or "statement")
        whole = region.strip()
        letter = _letter_from_span(whole, texts, n, bare=source is None)
        if letter:
            return Extraction(_clean(whole), letter, source or "bare")
        lines = [ln.strip() for ln in whole.splitlines() if ln.strip()]
        if source is None and len(lines) > 1 and _is_bare_letter(lines[-1]):
            letter = _letter_from_span(lines[-1], texts, n, bare=True)
            if letter:
                return Extraction(_clean(lines[-1]), letter, "last_line")
    except _Invalid:
        return Extraction(answer_text, None, source or "statement")
    return Extraction(answer_text if answer_text is not None else (region.strip() if source else None), None, source)


def _is_bare_letter(line: str) -> bool:
    """A line that is nothing but a letter: "B", "(B)", "B.", "**B**"."""
    return bool(_LONE.match(_clean(line.replace("**", "").replace("$", ""))) or _BRACKETED.fullmatch(_clean(line)))


def extract_choice(output: str | None, options: Sequence[str] | dict | None = None, *, n_options: int | None = None) -> str | None:
    """The letter of the final stated answer, or None when there is none (or it is not offered)."""
    if not options and n_options is None:
        n_options = len(LETTERS)
    return extract(output, options, n_options=n_options).choice


def extract_text(output: str | None) -> str | None:
    """The final stated answer as text, for open-ended questions."""
    return extract(output).text


def _statements(region: str) -> list[tuple[int, str, str]]:
    """(position, kind, stated span) for every answer statement, in text order."""
    boxed = _boxed_spans(region)
    found: list[tuple[int, str, str]] = [(pos, "boxed", inner) for pos, inner in boxed]
    for m in _STATEMENTS.finditer(region):
        span = _first_line(region[m.end():])
        if _BOXED.match(span.lstrip("$ ")):
            continue  # "the final answer is $\\boxed{X}$": the boxed entry already holds it
        found.append((m.start(), "statement", span))
    found.sort(key=lambda item: item[0])
    return [f for f in found if f[2].strip()]


def _first_line(span: str) -> str:
    span = span.lstrip(" \t:：*")
    if span.startswith("\n"):
        span = span.lstrip()
    return span.split("\n", 1)[0].strip()


def _last(iterator):  # type: ignore[no-untyped-def]
    item = None
    for item in iterator:
        pass
    return item
