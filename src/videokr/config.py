"""The workspace configuration, `videokr.yaml`.

Every setting the paper fixes is a named default here or in the module that uses it, so a
user changes behaviour by writing YAML, never by editing constants. Unknown keys are an
error that names the key: a typo must not silently fall back to a default.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from videokr.models.config import ModelConfig, PoolConfig, paper_models
from videokr.split import PAPER_SPLIT_RATIO


class SplitConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ratio: tuple[int, int] = Field(default=PAPER_SPLIT_RATIO, description="SFT : RL, by examples (§3.5)")
    seed: int = 0
    stratify: bool = True


class Config(BaseModel):
    """What `videokr init` writes; sections of later modules are added as fields here."""

    model_config = ConfigDict(extra="forbid")

    store: str = Field(default="videokr.sqlite", description="store file, relative to the workspace")
    video_root: str | None = Field(default=None, description="where relative video paths are resolved")
    split: SplitConfig = Field(default_factory=SplitConfig)
    models: dict[str, ModelConfig] = Field(
        default_factory=paper_models, description="model endpoints by name (see `videokr models`)"
    )
    pool: PoolConfig = Field(default_factory=PoolConfig)


class ConfigError(ValueError):
    pass


def load_config(path: Path) -> Config:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"{path}: {problems}") from None


def dump_config(config: Config) -> str:
    header = "# videokr workspace configuration; see `videokr --help`.\n"
    return header + yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
