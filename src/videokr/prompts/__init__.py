"""The prompts of the text-model steps, one Markdown file per step, and the one loader.

Why files: a prompt is data that domain experts review and edit (§3.4's audits look at what
the models were asked), not code. `<step>.md` in this package is the text a step sends; a
step's `prompt:` setting in `videokr.yaml` replaces it for a workspace. The text in use is
part of the step's fingerprint, so editing either redoes exactly the items it asks about.

A placeholder is a lower-case name in braces, `{term}`; anything else in braces (a JSON
example, `{"relevant": true}`) is text. Rendering is a single pass, so a value that itself
contains `{term}` (a video description can) is never expanded again.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from importlib import resources

PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
SUFFIX = ".md"


class PromptError(ValueError):
    """A prompt that cannot be used: no such file, an unknown or an unfilled placeholder."""


def prompt_names() -> list[str]:
    """The steps that have a packaged prompt."""
    return sorted(p.name.removesuffix(SUFFIX) for p in resources.files(__name__).iterdir()
                  if p.name.endswith(SUFFIX))


def load_prompt(step: str) -> str:
    """The packaged prompt of `step` (its `<step>.md`)."""
    path = resources.files(__name__) / f"{step}{SUFFIX}"
    if not path.is_file():
        raise PromptError(f"no packaged prompt for step {step!r}; prompts: {', '.join(prompt_names())}")
    return path.read_text(encoding="utf-8")


def placeholders(template: str) -> set[str]:
    return set(PLACEHOLDER.findall(template))


def check_prompt(template: str, allowed: Iterable[str], *, where: str) -> None:
    """Raise naming `where` when the template uses a placeholder the step cannot fill."""
    known = set(allowed)
    unknown = sorted(placeholders(template) - known)
    if unknown:
        raise PromptError(f"{where}: unknown placeholder(s) {', '.join('{' + u + '}' for u in unknown)}; "
                          f"this step fills {', '.join('{' + k + '}' for k in sorted(known))}")


def render_prompt(template: str, values: Mapping[str, object]) -> str:
    """The template with every placeholder replaced by its value, in one pass."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise PromptError(f"prompt placeholder {{{name}}} has no value; given: {', '.join(sorted(values))}")
        return str(values[name])

    return PLACEHOLDER.sub(fill, template)
