"""Finding a workspace: from the current directory upward, as git finds a repository."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from videokr.config import Config, dump_config, load_config
from videokr.store import Store

CONFIG_NAME = "videokr.yaml"


class WorkspaceError(RuntimeError):
    pass


@dataclass
class Workspace:
    root: Path
    config: Config

    @cached_property
    def store(self) -> Store:
        return Store(self.root / self.config.store)

    def video_root(self) -> Path | None:
        if self.config.video_root is None:
            return None
        root = Path(self.config.video_root)
        return root if root.is_absolute() else self.root / root

    def context(self) -> Any:
        """What the workspace's steps may know: its folders, its recipe, its store (driver only)."""
        from videokr.pipeline.step import StepContext

        return StepContext(root=self.root, video_root=self.video_root(), recipe=tuple(self.config.recipe),
                           settings={"models": self.config.models, "pool": self.config.pool},
                           store=self.store)

    def recipe(self) -> Any:
        """The workspace's recipe, each step built with its section of videokr.yaml."""
        from videokr.pipeline.recipe import build_recipe

        return build_recipe(self.config.recipe, self.config.steps, self.context())

    def step(self, name: str, **overrides: Any) -> Any:
        """One step with its section of videokr.yaml (plus overrides given on the command line)."""
        from videokr.pipeline.recipe import build_step

        return build_step(name, self.config.step_section(name), self.context(), overrides)

    @classmethod
    def init(cls, directory: Path, config: Config | None = None) -> "Workspace":
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / CONFIG_NAME
        if path.exists():
            raise WorkspaceError(f"{path} already exists; this is a workspace already")
        config = config or Config()
        path.write_text(dump_config(config), encoding="utf-8")
        workspace = cls(directory.resolve(), config)
        workspace.store  # create the store file now, so `init` leaves a complete workspace
        return workspace

    @classmethod
    def open(cls, directory: Path) -> "Workspace":
        path = directory / CONFIG_NAME
        if not path.is_file():
            raise WorkspaceError(f"{directory} is not a videokr workspace (no {CONFIG_NAME}); run `videokr init`")
        return cls(directory.resolve(), load_config(path))

    @classmethod
    def find(cls, start: Path | None = None) -> "Workspace":
        here = (start or Path.cwd()).resolve()
        for candidate in (here, *here.parents):
            if (candidate / CONFIG_NAME).is_file():
                return cls.open(candidate)
        raise WorkspaceError(
            f"no videokr workspace in {here} or any parent (looked for {CONFIG_NAME}); "
            "run `videokr init DIR` or pass --workspace DIR"
        )
