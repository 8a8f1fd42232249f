"""§3.2 local sources: videos the user already has the rights to join the chain without a search.

A manifest (YAML: a list, or a mapping with `videos:`; or JSON Lines) lists one video per
entry:

    - path: lectures/titration.mp4        # relative to the manifest's folder; or
      url: https://example.org/a.mp4      # fetched by the download step's code (yt-dlp)
      licence: CC-BY-4.0                  # required: without it the video cannot be used
      title: Titration by hand            # optional: title, description, channel, source_url, id
      channel: Chemistry Dept.
      knowledge_points: [chem/analytical/titration, {subject: Chemistry, term: Titration}]

Local files are probed and hashed where they lie; URLs are downloaded into
`<out>/url/<xx>/<key>.mp4` through the same code path as YouTube downloads (temporary name,
sha256 and probe, atomic rename, shared backoff). Each entry becomes a `Video` (source
`local` or `url`, id `local-<sha256[:16]>` unless the entry gives one) carrying its licence,
channel and source for attribution.

Each entry is linked to every scenario of its declared knowledge points, and `enter_at`
says which judge first decides those links:

- `visual` (the default) skips the metadata judge: the user's declaration that the video
  shows the knowledge point stands in for it, written as one
  `RelevanceJudgement(judge="metadata", model=None, reason="declared in FILE:LINE")` per
  (video, scenario), id `metadata:<video id>:<scenario id>` — the shape the metadata judge
  writes, so the visual judge reads both alike;
- `metadata`: the entry's `VideoMetadata` (its title — the file's name when the manifest
  gives none —, description, channel, licence, source and probed duration) and one
  `VideoLink` per (video, scenario), origin `manifest`, which the metadata judge decides like
  a search's links. Its relevant judgements lead to the visual judge; `download` never sees
  them (the file is here already). The recipe must then run this step before
  `metadata_relevance`, which is checked when the step is built.

Rejections: `no_licence`, `file_missing`, `unreadable`, `bad_line` (not an object, neither
path nor url), `duplicate` (the same path or URL twice), `no_knowledge_point`,
`unknown_knowledge_point`; a declared knowledge point without a scenario yet is
quarantined (retried once the scenarios step has run): either judge needs the scenarios.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field

from videokr.collect.download import DownloadFailure, Fetched, video_file, verify
from videokr.errors import Transient, Verdict
from videokr.hashing import digest, digest_json
from videokr.jsonlines import json_lines
from videokr.pipeline.recipe import RecipeError, register
from videokr.pipeline.step import Result
from videokr.records import RelevanceJudgement, Video, VideoLink, VideoMetadata
from videokr.steps.download import BlockedDownload, FetchConfig, FetchingStep, failure, stored_path
from videokr.store import Store
from videokr.video.probe import file_state

STEP = "local_sources"
KNOWLEDGE_POINT_STEP = "knowledge_points"
SCENARIO_STEP = "scenarios"
METADATA_JUDGE = "metadata_relevance"  # the judge the videos meet first with `enter_at: metadata`
DEFAULT_ENTER_AT = "visual"
ENTRY_FIELDS = frozenset({"path", "url", "licence", "license", "title", "description", "channel", "source_url",
                          "id", "knowledge_points"})


class LocalSourcesConfig(FetchConfig):
    """The local_sources step's section of videokr.yaml (download settings apply to URL entries)."""

    RUN_ONLY: ClassVar[frozenset[str]] = FetchConfig.RUN_ONLY | {"manifest"}  # each entry's file is in its id

    manifest: str | None = Field(default=None, description="YAML or JSON Lines manifest, relative to the workspace")
    enter_at: Literal["metadata", "visual"] = Field(default=DEFAULT_ENTER_AT,
                                                    description="which judge the videos meet first")


class LocalEntry(BaseModel):
    """One manifest entry with everything its outcome depends on, resolved in the driver."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    item_id: str
    where: str = Field(description="FILE:LINE, for messages")
    data: dict[str, Any] | None
    problem: str | None = None
    file: str | None = Field(default=None, description="a local entry's resolved path")
    file_state: str | None = Field(default=None, description="size:mtime, so a changed file is probed again")
    links: tuple[tuple[str, str], ...] = Field(default=(), description="(knowledge point id, scenario id)")
    kp_problem: str | None = None
    kp_waiting: tuple[str, ...] = Field(default=(), description="declared knowledge points without a scenario yet")


def read_manifest(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """(line or position, entry, problem) for each entry of a YAML or JSON Lines manifest."""
    if not path.is_file():
        raise FileNotFoundError(f"steps.{STEP}.manifest: {path}: no such file")
    if path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        for line in json_lines(path, arrays=True):
            yield line.number, line.value, line.problem
        return
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a readable YAML manifest: {exc}") from None
    if isinstance(data, dict) and "videos" in data:
        data = data["videos"]
    if data is None:
        return
    if not isinstance(data, list):
        raise ValueError(f"{path}: a manifest is a list of videos (or a mapping with `videos:`), "
                         f"got {type(data).__name__}")
    for number, entry in enumerate(data, 1):
        if isinstance(entry, dict):
            yield number, entry, None
        else:
            yield number, None, f"entry {number} is not a mapping (got {type(entry).__name__})"


def _norm(text: Any) -> str:
    return " ".join(str(text).split()).casefold()


class KnowledgeIndex:
    """Live knowledge points and their live scenarios, to resolve what an entry declares."""

    def __init__(self, store: Store) -> None:
        self.points = {kp.id: kp for kp in store.live_outputs(KNOWLEDGE_POINT_STEP, "knowledge_point")}
        self.by_term: dict[tuple[str, str], list[str]] = {}
        for kp in self.points.values():
            self.by_term.setdefault((_norm(kp.subject), _norm(kp.term)), []).append(kp.id)  # type: ignore[attr-defined]
        self.scenarios: dict[str, list[str]] = {}
        for scenario in store.live_outputs(SCENARIO_STEP, "scenario"):
            self.scenarios.setdefault(scenario.knowledge_point_id, []).append(scenario.id)  # type: ignore[attr-defined]

    def resolve(self, declared: Any) -> tuple[list[str], str | None]:
        """Knowledge point ids for an entry's `knowledge_points`, or a problem naming what is unknown."""
        if declared is None or declared == []:
            return [], None
        if not isinstance(declared, list):
            declared = [declared]
        ids: list[str] = []
        for ref in declared:
            if isinstance(ref, str):
                if ref not in self.points:
                    return [], f"knowledge point {ref!r} is not among the live knowledge points"
                ids.append(ref)
            elif isinstance(ref, dict) and set(ref) == {"subject", "term"}:
                found = self.by_term.get((_norm(ref["subject"]), _norm(ref["term"])), [])
                if not found:
                    return [], f"no live knowledge point has subject {ref['subject']!r} and term {ref['term']!r}"
                ids.extend(found)
            else:
                return [], f"a knowledge point is an id or {{subject, term}}, got {ref!r}"
        return sorted(set(ids)), None


@register
class LocalSourcesStep(FetchingStep):
    name = STEP
    version = "1"
    Config = LocalSourcesConfig
    after = (KNOWLEDGE_POINT_STEP, SCENARIO_STEP)
    writes = ("video", "relevance", "video_metadata", "video_link")
    source = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        recipe = self.context.recipe
        if self.local_config.enter_at == "metadata" and recipe and STEP in recipe and (
                METADATA_JUDGE not in recipe or recipe.index(METADATA_JUDGE) < recipe.index(STEP)):
            # Otherwise the links would wait for a judge that has already run, or never runs.
            raise RecipeError(f"steps.{STEP}.enter_at: metadata: put {STEP} before {METADATA_JUDGE} in the recipe "
                              f"(now: {', '.join(recipe)}), or enter at the visual judge (enter_at: visual)")

    @property
    def local_config(self) -> LocalSourcesConfig:
        assert isinstance(self.config, LocalSourcesConfig)
        return self.config

    def describe(self) -> str:
        manifest = self.local_config.manifest
        source = f"the manifest {manifest}" if manifest else "no manifest (steps.local_sources.manifest is unset)"
        return f"{self.name}: reads {source}; writes {', '.join(self.writes)}"

    # -- items ------------------------------------------------------------------------------

    def inputs(self, store: Store) -> Iterator[LocalEntry]:
        if not self.local_config.manifest:
            return iter(())
        manifest = Path(self.local_config.manifest)
        manifest = manifest if manifest.is_absolute() else self.context.root / manifest
        return self._entries(manifest, KnowledgeIndex(store))

    def _entries(self, manifest: Path, index: KnowledgeIndex) -> Iterator[LocalEntry]:
        label = _label(manifest, self.context.root)
        seen: dict[str, str] = {}
        for number, data, problem in read_manifest(manifest):
            where = f"{label}:{number}"
            if data is None or problem is not None:
                yield LocalEntry(item_id=where, where=where, data=None, problem=problem or "not an object")
                continue
            key, file, state = self._key(data, manifest.parent)
            if key is None:
                yield LocalEntry(item_id=where, where=where, data=data, problem="an entry needs `path` or `url`")
                continue
            if key in seen:
                yield LocalEntry(item_id=where, where=where, data=data,
                                 problem=f"{key.split(':', 1)[1]} is listed already at {seen[key]}")
                continue
            seen[key] = where
            kps, kp_problem = index.resolve(data.get("knowledge_points"))
            links = tuple((kp, s) for kp in kps for s in sorted(index.scenarios.get(kp, [])))
            waiting = tuple(kp for kp in kps if not index.scenarios.get(kp))
            yield LocalEntry(item_id=key, where=where, data=data, file=file, file_state=state, links=links,
                             kp_problem=kp_problem, kp_waiting=waiting)

    @staticmethod
    def _key(data: dict[str, Any], folder: Path) -> tuple[str | None, str | None, str | None]:
        if data.get("path"):
            path = Path(str(data["path"])).expanduser()
            path = path if path.is_absolute() else folder / path
            state = file_state(path)
            return f"local:{path.resolve().as_posix()}", str(path), state
        if data.get("url"):
            return f"url:{data['url']}", None, None
        return None, None, None

    def item_id(self, item: LocalEntry) -> str:
        return item.item_id

    def item_fingerprint(self, item: LocalEntry) -> str:
        return digest_json({**item.model_dump(mode="json", exclude={"where"}),
                            "enter_at": self.local_config.enter_at})

    # -- work -----------------------------------------------------------------------------------

    def _check(self, item: LocalEntry) -> dict[str, Any]:
        """The entry's data, or a Verdict saying what is wrong with it (before any file is touched)."""
        if item.problem is not None or item.data is None:
            code = "duplicate" if item.problem and "listed already" in item.problem else "bad_line"
            raise Verdict(f"{item.where}: {item.problem}", code=code)
        data = item.data
        unknown = sorted(set(data) - ENTRY_FIELDS)
        if unknown:
            raise Verdict(f"{item.where}: unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(ENTRY_FIELDS))}",
                          code="bad_line")
        if not str(data.get("licence") or data.get("license") or "").strip():
            raise Verdict(f"{item.where}: no licence: only videos with a known licence may be used", code="no_licence")
        if item.kp_problem is not None:
            raise Verdict(f"{item.where}: {item.kp_problem}", code="unknown_knowledge_point")
        if not data.get("knowledge_points"):
            raise Verdict(f"{item.where}: no knowledge point: say which knowledge points the video is for",
                          code="no_knowledge_point")
        if item.kp_waiting:
            raise Transient(f"{item.where}: knowledge point(s) {', '.join(item.kp_waiting)} have no scenario yet; "
                            "run the scenarios step first")
        return data

    def _local(self, item: LocalEntry) -> Fetched:
        from videokr.video.probe import VideoError

        assert item.file is not None
        path = Path(item.file)
        if not path.is_file():
            raise Verdict(f"{item.where}: file not found: {path}", code="file_missing")
        try:
            return verify(path)
        except VideoError as exc:
            raise Verdict(f"{item.where}: {exc}", code="unreadable") from None

    def _url_target(self, url: str) -> Path:
        return video_file(self.fetch_config.out_dir(self.context.root), "url", digest(url, 16))

    def _records(self, item: LocalEntry, data: dict[str, Any], fetched: Fetched) -> Result:
        url = data.get("url")
        video_id = str(data.get("id") or f"local-{fetched.sha256[:16]}")
        video = Video(
            id=video_id, path=stored_path(fetched.path, self.context), source="url" if url else "local",
            licence=str(data.get("licence") or data.get("license")).strip(), channel=data.get("channel"),
            source_url=data.get("source_url") or url, title=data.get("title"), duration_s=fetched.duration_s,
            sha256=fetched.sha256, width=fetched.width, height=fetched.height, fps=fetched.fps,
        )
        records: list[Any] = [video]
        if self.local_config.enter_at == "visual":
            records += [
                RelevanceJudgement(id=f"metadata:{video_id}:{scenario}", judge="metadata", video_id=video_id,
                                   knowledge_point_id=kp, scenario_id=scenario, relevant=True,
                                   reason=f"declared by the user in {item.where}", model=None)
                for kp, scenario in item.links
            ]
        else:  # the metadata judge decides each link from what the manifest says about the video
            title = str(data.get("title") or "").strip() or _file_name(data)
            records.append(VideoMetadata(id=video_id, title=title, description=str(data.get("description") or ""),
                                         channel=video.channel, duration_s=fetched.duration_s,
                                         licence=str(video.licence), source_url=video.source_url))
            records += [VideoLink(id=f"{video_id}:{scenario}", video_id=video_id, scenario_id=scenario,
                                  knowledge_point_id=kp, origin="manifest", source=item.where)
                        for kp, scenario in item.links]
        return Result.accept(*records, detail={"entry": item.where, "adopted": fetched.adopted})

    def process(self, item: LocalEntry) -> Result:
        data = self._check(item)
        try:
            if data.get("path"):
                fetched = self._local(item)
            else:
                fetched = self.fetch_to(str(data["url"]), self._url_target(str(data["url"])), None)
        except Verdict as exc:
            raise _located(exc, item.where) from None
        except (BlockedDownload, DownloadFailure) as exc:
            return _with_where(failure(exc), item.where)
        return self._records(item, data, fetched)

    async def aprocess(self, item: LocalEntry) -> Result:
        data = self._check(item)
        try:
            if data.get("path"):
                fetched = await asyncio.to_thread(self._local, item)
            else:
                fetched = await self.afetch_to(str(data["url"]), self._url_target(str(data["url"])), None)
        except Verdict as exc:
            raise _located(exc, item.where) from None
        except (BlockedDownload, DownloadFailure) as exc:
            return _with_where(failure(exc), item.where)
        return self._records(item, data, fetched)


def _located(exc: Verdict, where: str) -> Verdict:
    """The verdict with the manifest line in front, once."""
    message = str(exc)
    return Verdict(message if message.startswith(where) else f"{where}: {message}", code=exc.code)


def _with_where(result: Result, where: str) -> Result:
    result.reason = f"{where}: {result.reason}"
    return result


def _file_name(data: dict[str, Any]) -> str:
    """What an entry without a title is called: its file's name (a URL's last part), as a person would read it."""
    where = str(data.get("path") or urlsplit(str(data.get("url"))).path or data.get("url"))
    return Path(where.rstrip("/")).name or str(data.get("url"))


def _label(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.resolve().as_posix()
