"""The workspace configuration, `videokr.yaml`.

Every setting the paper fixes is a named default here or in the step that uses it, so a
user changes behaviour by writing YAML, never by editing constants. Unknown keys are an
error that names the key: a typo must not silently fall back to a default.

The file holds the recipe (which steps run, in order) and one section per step under
`steps:`, each validated by that step's own typed config; the model endpoints (`models:`)
and the pool (`pool:`) are validated by the model door's types. This module imports
neither the steps nor the model door at load time: each section is checked by its owner.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

# The main job on official files (§3.4–§3.5): the corpus steps of §3.1–§3.3 join in front of it.
DEFAULT_RECIPE = ["import", "videos", "probe", "decontam", "split", "export"]
# §3.1–§3.2: from the knowledge bank to safe, relevant Creative-Commons videos (the paper's corpus
# collection); `videokr init` writes it ahead of the main job, so `videokr run --until safety` is the
# whole collection.
CORPUS_COLLECTION = ["kb", "knowledge_points", "scenarios", "search_keywords", "youtube_search", "youtube_videos",
                     "local_sources", "metadata_relevance", "download", "visual_relevance", "safety"]
# §3.3: six examples per safe video from expert seeds, then the three validators; the last one writes
# the `Example`s the main job (videos → probe → decontam → split → export) takes with the official files'.
CORPUS_GENERATION = ["seeds", "example_generation", "self_consistency", "video_dependency", "cot_validation"]
# §4: VideoKR-Eval from the source benchmarks (nothing to do until `steps.benchmark_sources` names them,
# e.g. through `videokr benchmark build`); ahead of `videos`, so its videos are registered, probed and held
# against the training corpus by `decontam`.
BENCHMARK_CONSTRUCTION = ["benchmark_sources", "frame_probe", "reannotation", "benchmark", "benchmark_export"]
# §3.4's manual quality assessment: the review app's verdicts on the sampled SFT examples (after `split`).
QUALITY_ASSESSMENT = ["quality_review"]
PAPER_RECIPE = (CORPUS_COLLECTION + CORPUS_GENERATION + BENCHMARK_CONSTRUCTION + DEFAULT_RECIPE[:-1]
                + QUALITY_ASSESSMENT + DEFAULT_RECIPE[-1:])
RECIPES = {"paper": PAPER_RECIPE, "official": DEFAULT_RECIPE}


def _paper_models() -> dict[str, Any]:
    from videokr.models.config import paper_models

    return paper_models()


def _pool() -> Any:
    from videokr.models.config import PoolConfig

    return PoolConfig()


class Config(BaseModel):
    """What `videokr init` writes."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    store: str = Field(default="videokr.sqlite", description="store file, relative to the workspace")
    video_root: str | None = Field(default=None, description="where relative video paths are resolved")
    recipe: list[str] = Field(default_factory=lambda: list(DEFAULT_RECIPE), description="the steps `videokr run` runs, in order")
    steps: dict[str, dict[str, Any]] = Field(default_factory=dict, description="one section per step: its settings")
    models: dict[str, Any] = Field(default_factory=_paper_models, description="model endpoints by name (see `videokr models`)")
    pool: Any = Field(default_factory=_pool)
    train: dict[str, Any] = Field(default_factory=dict, description="training settings by stage (`sft`), see docs/training.md")

    @model_validator(mode="before")
    @classmethod
    def _old_split_section(cls, data: Any) -> Any:
        """Workspaces made before recipes kept the split's settings at the top level."""
        if isinstance(data, dict) and "split" in data:
            data = dict(data)
            split = data.pop("split") or {}
            steps = dict(data.get("steps") or {})
            steps["split"] = {**split, **(steps.get("split") or {})}
            data["steps"] = steps
        return data

    @model_validator(mode="after")
    def _model_sections(self) -> "Config":
        from videokr.models.config import ModelConfig, PoolConfig

        models = {}
        for name, section in self.models.items():
            try:
                models[name] = section if isinstance(section, ModelConfig) else ModelConfig.model_validate(section)
            except ValidationError as exc:
                raise ValueError(_problems(exc, f"models.{name}.")) from None
        self.models = models
        if not isinstance(self.pool, PoolConfig):
            try:
                self.pool = PoolConfig.model_validate(self.pool or {})
            except ValidationError as exc:
                raise ValueError(_problems(exc, "pool.")) from None
        return self

    @model_validator(mode="after")
    def _train_sections(self) -> "Config":
        """Each `train:` section by its stage's own type (`train.sft`: videokr.train.config.SFTConfig)."""
        if not self.train:
            return self
        from videokr.train.config import SECTIONS

        sections = {}
        for name, section in self.train.items():
            kind = SECTIONS.get(name)
            if kind is None:
                raise ValueError(f"train.{name}: unknown training section; known: {', '.join(SECTIONS)}")
            try:
                sections[name] = section if isinstance(section, kind) else kind.model_validate(section or {})
            except ValidationError as exc:
                raise ValueError(_problems(exc, f"train.{name}.")) from None
        self.train = sections
        return self

    def step_section(self, name: str) -> dict[str, Any]:
        return dict(self.steps.get(name) or {})


class ConfigError(ValueError):
    pass


def _problems(exc: ValidationError, prefix: str = "") -> str:
    """`section.key: what is wrong` for each error (a section's own validator already names its keys)."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        parts.append(f"{prefix}{where}: {message}" if where else message)
    return "; ".join(parts)


def load_config(path: Path) -> Config:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_problems(exc)}") from None
    check_steps(config, path)
    return config


def check_steps(config: Config, path: Path | None = None) -> None:
    """Validate the recipe and every step section with the steps' own types (names the key at fault)."""
    from videokr.pipeline.recipe import RecipeError, step_config, step_type

    where = f"{path}: " if path else ""
    try:
        for name in config.recipe:
            step_config(name, step_type(name, config.steps.get(name)), config.steps.get(name))
        for name, section in config.steps.items():
            if name not in config.recipe:
                step_config(name, step_type(name, section), section)
    except RecipeError as exc:
        raise ConfigError(f"{where}{exc}") from None


def dump_config(config: Config) -> str:
    header = "# videokr workspace configuration; see `videokr --help`.\n"
    data = config.model_dump(mode="json")
    return header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
