"""`videokr review`: one web app for every human queue (audit, seeds, quality, reannotation, syllabus).

Pages: the queue index (progress per queue and group, agreement between rounds, eligibility of
audited models), a queue's list (paged from the materialised `review_items` table), an item
(its video beside the question, jump buttons for every cited moment, frames with their times,
the queue's form). Verdicts are saved by POST only, each in one transaction; the app writes
nothing else but the `model_audits` label an audit verdict sets. Videos are served from the
items' own paths with exact HTTP byte ranges (videokr.httprange), so the browser can seek.
Security (token → cookie, Host and Origin checks) is in videokr.review.security.
"""

from __future__ import annotations

import json
import math
import urllib.parse
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from videokr.httprange import content_type, parse_range, range_headers
from videokr.review import catalog
from videokr.review.catalog import PAGE_SIZE, STATES
from videokr.review.forms import FormError, payload_from_form, save
from videokr.review.schema import QUEUES, ROUNDS, QueueName, ReviewItem, ReviewVerdict
from videokr.review.security import Guard
from videokr.review.verdicts import agreement, verdicts
from videokr.store import Store
from videokr.timestamps import format_timestamp
from videokr.workspace import Workspace

STATIC_DIR = Path(__file__).parent / "static"
CHUNK_BYTES = 256 * 1024
REVIEWER_COOKIE = "videokr_reviewer"

QUEUE_TITLES: dict[QueueName, str] = {
    "audit": "Model audits (A.4)",
    "seeds": "Seed curation (§3.3)",
    "quality": "Quality assessment (§3.4)",
    "reannotation": "Re-annotation (§4)",
    "syllabus": "Syllabus drafts (§3.1)",
}

SHORTCUTS = (
    ("1 … 9", "choose the n-th decision of the form"),
    ("s", "save (Ctrl+Enter inside a text box)"),
    ("n / p", "next / previous item"),
    ("[ / ]", "jump to the previous / next cited moment"),
    ("space", "play or pause the video"),
    ("← / →", "seek 5 s back / forward"),
    ("?", "show or hide this help"),
)


def _environment() -> Environment:
    env = Environment(loader=PackageLoader("videokr.review", "templates"), autoescape=select_autoescape(["html"]))
    env.filters["ts"] = format_timestamp
    env.filters["q"] = lambda value: urllib.parse.quote(str(value), safe="")
    env.filters["tojson_pretty"] = lambda value: json.dumps(value, indent=2, ensure_ascii=False)
    env.filters["yaml"] = lambda value: __import__("yaml").safe_dump(value, sort_keys=False, allow_unicode=True)
    return env


class ReviewApp:
    """The app's state: the workspace, its store, the default reviewer; `asgi()` is the guarded ASGI app."""

    def __init__(self, workspace: Workspace, *, reviewer: str | None = None) -> None:
        self.workspace = workspace
        self.store: Store = workspace.store
        self.reviewer = reviewer
        self.env = _environment()

    # -- building queues ----------------------------------------------------------------

    def refresh(self, queue: QueueName) -> int:
        from videokr.review.queues import queue_items

        return catalog.refresh(self.store, queue, queue_items(self.store, queue, self.workspace))

    def refresh_all(self) -> dict[QueueName, int]:
        return {queue: self.refresh(queue) for queue in QUEUES}

    # -- the ASGI app -------------------------------------------------------------------

    def starlette(self) -> Starlette:
        routes = [
            Route("/", self.index, methods=["GET"]),
            Route("/q/{queue}", self.queue_list, methods=["GET"]),
            Route("/q/{queue}/item", self.item_page, methods=["GET"]),
            Route("/q/{queue}/verdict", self.post_verdict, methods=["POST"]),
            Route("/q/{queue}/refresh", self.post_refresh, methods=["POST"]),
            Route("/reviewer", self.post_reviewer, methods=["POST"]),
            Route("/media/{queue}", self.media, methods=["GET", "HEAD"]),
            Route("/frame/{queue}/{n:int}", self.frame, methods=["GET", "HEAD"]),
            Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
        ]
        return Starlette(routes=routes, exception_handlers={_NotFound: _not_found})

    # -- helpers --------------------------------------------------------------------------

    def _render(self, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = self.env.get_template(name).render(queues=QUEUES, titles=QUEUE_TITLES, shortcuts=SHORTCUTS,
                                                  **context)
        return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})

    def _reviewer(self, request: Request) -> str:
        return request.cookies.get(REVIEWER_COOKIE) or self.reviewer or ""

    @staticmethod
    def _queue(request: Request) -> QueueName:
        queue = request.path_params["queue"]
        if queue not in QUEUES:
            raise _NotFound(f"no queue {queue!r}; queues: {', '.join(QUEUES)}")
        return queue  # type: ignore[no-any-return]

    def _item(self, queue: QueueName, item_id: str) -> tuple[ReviewItem, int]:
        found = catalog.item(self.store, queue, item_id)
        if found is None:
            raise _NotFound(f"no item {item_id!r} in the {queue} queue (refresh the queue?)")
        return found

    # -- pages ----------------------------------------------------------------------------

    async def index(self, request: Request) -> Response:
        sizes = catalog.queue_sizes(self.store)
        rows = {}
        for queue in QUEUES:
            groups = catalog.progress(self.store, queue)
            rows[queue] = {"groups": groups, "items": sizes[queue], "reviewed": sum(g.reviewed for g in groups),
                           "second": sum(g.second for g in groups), "agreement": agreement(self.store, queue),
                           "refreshed": catalog.refreshed_at(self.store, queue)}
        return self._render("index.html", rows=rows, eligibility=self._eligibility(),
                            reviewer=self._reviewer(request))

    def _eligibility(self) -> list[dict[str, Any]]:
        """Per audited (step, model): labelled, errors, rate, and eligibility against the pool's threshold."""
        from videokr.models.audit import audit_summaries, pool_with_audits

        config = self.workspace.config
        summaries = audit_summaries(self.store)
        pool = pool_with_audits(config.models, config.pool, self.store)
        out = []
        for (step, model), summary in sorted(summaries.items()):
            try:
                verdict = pool.verdict(step, model)
                mark, source = verdict.mark, verdict.source
            except KeyError:
                mark, source = "?", "not in videokr.yaml"
            out.append({"step": step, "model": model, "labelled": summary.labelled, "hard": summary.hard,
                        "soft": summary.soft, "rate": summary.error_rate if summary.labelled else None,
                        "needed": config.pool.audit_size, "threshold": config.pool.max_error_rate,
                        "eligible": summary.labelled > 0 and summary.error_rate <= config.pool.max_error_rate,
                        "complete": summary.labelled >= config.pool.audit_size, "mark": mark, "source": source})
        return out

    async def queue_list(self, request: Request) -> Response:
        queue = self._queue(request)
        group = request.query_params.get("group") or None
        state = request.query_params.get("state") or "all"
        if state not in STATES:
            state = "all"
        try:
            page_no = max(1, int(request.query_params.get("page") or 1))
        except ValueError:
            page_no = 1
        rows, total = catalog.page(self.store, queue, offset=(page_no - 1) * PAGE_SIZE, limit=PAGE_SIZE, group=group,
                                   state=state)  # type: ignore[arg-type]
        pages = max(1, math.ceil(total / PAGE_SIZE))
        return self._render("list.html", queue=queue, rows=rows, total=total, page=page_no, pages=pages, group=group,
                            state=state, states=STATES, reviewer=self._reviewer(request),
                            groups=[g.group for g in catalog.progress(self.store, queue)] if page_no == 1 and
                            not group else None)

    async def item_page(self, request: Request, *, error: str | None = None, form: dict[str, Any] | None = None,
                        status: int = 200) -> Response:
        queue = self._queue(request)
        item_id = request.query_params.get("id") or (form or {}).get("id") or ""
        item, position = self._item(queue, item_id)
        group = request.query_params.get("group") or None
        state = request.query_params.get("state") or "all"
        state = state if state in STATES else "all"
        reviewer = self._reviewer(request)
        try:
            round_ = int(request.query_params.get("round") or (form or {}).get("round") or 1)
        except ValueError:
            round_ = 1
        round_ = round_ if round_ in ROUNDS else 1
        given = verdicts(self.store, queue, item_id=item_id)
        mine = next((v for v in given if v.reviewer == reviewer and v.round == round_), None)
        # A second reviewer decides blind: first-round verdicts stay hidden until they have saved theirs.
        shown = [v for v in given if round_ == 1 or mine is not None or v.round == 2]
        frames = [{"t": f.get("t"), "n": n} for n, f in enumerate(item.frames)]
        nav = {"next": catalog.neighbour(self.store, queue, position, forward=True, group=group, state=state),
               "prev": catalog.neighbour(self.store, queue, position, forward=False, group=group, state=state)}
        video = None
        if item.video:
            video = item.video if item.video.startswith(("http://", "https://")) else \
                f"/media/{queue}?id={urllib.parse.quote(item.item_id, safe='')}"
        return self._render("item.html", status=status, queue=queue, item=item, position=position, video=video,
                            frames=frames, verdicts=shown, hidden=len(given) - len(shown), mine=mine,
                            reviewer=reviewer, round=round_, nav=nav, group=group, state=state, error=error,
                            form=form or {}, values=(mine.payload if mine else {}),
                            note=(form or {}).get("note", mine.note if mine else ""))

    # -- writes (POST only) -----------------------------------------------------------------

    async def post_verdict(self, request: Request) -> Response:
        queue = self._queue(request)
        form = dict(await request.form())
        item_id = str(form.get("id") or "")
        item, _ = self._item(queue, item_id)
        reviewer = str(form.get("reviewer") or "").strip()
        try:
            round_ = int(str(form.get("round") or "1"))
        except ValueError:
            round_ = 0
        try:
            if not reviewer:
                raise FormError("give your name as reviewer")
            if round_ not in ROUNDS:
                raise FormError(f"round must be one of {', '.join(map(str, ROUNDS))}")
            payload = payload_from_form(form, item, self.store)
            note = str(form.get("note") or "").strip() or None
            verdict = ReviewVerdict(queue=queue, item_id=item_id, reviewer=reviewer, round=round_, payload=payload,
                                    note=note)
        except FormError as exc:
            return await self.item_page(request, error=str(exc), form=form, status=422)
        except ValidationError as exc:
            problems = "; ".join(str(e.get("msg", "")).removeprefix("Value error, ") for e in exc.errors())
            return await self.item_page(request, error=problems, form=form, status=422)
        save(self.store, verdict)
        target = item_id
        if form.get("then") == "next":
            target = str(form.get("next") or "") or item_id
        query = {"id": target, "round": str(round_)}
        for key in ("group", "state"):
            if form.get(key):
                query[key] = str(form[key])
        response = RedirectResponse(f"/q/{queue}/item?{urllib.parse.urlencode(query)}", status_code=303)
        response.set_cookie(REVIEWER_COOKIE, reviewer, samesite="strict", path="/", max_age=365 * 24 * 3600)
        return response

    async def post_refresh(self, request: Request) -> Response:
        queue = self._queue(request)
        self.refresh(queue)
        return RedirectResponse(f"/q/{queue}", status_code=303)

    async def post_reviewer(self, request: Request) -> Response:
        form = await request.form()
        name = str(form.get("reviewer") or "").strip()
        response = RedirectResponse(str(form.get("back") or "/") if str(form.get("back") or "/").startswith("/")
                                    else "/", status_code=303)
        if name:
            response.set_cookie(REVIEWER_COOKIE, name, samesite="strict", path="/", max_age=365 * 24 * 3600)
        return response

    # -- media ------------------------------------------------------------------------------

    def _local_file(self, path: str | None) -> Path | None:
        if not path or path.startswith(("http://", "https://")):
            return None
        file = Path(path)
        if not file.is_absolute():
            file = self.workspace.root / file
        return file if file.is_file() else None

    async def media(self, request: Request) -> Response:
        """The item's own video (nothing else can be named), with exact byte ranges."""
        queue = self._queue(request)
        item, _ = self._item(queue, request.query_params.get("id") or "")
        file = self._local_file(item.video)
        if file is None:
            return PlainTextResponse("this item has no local video", status_code=404)
        return _ranged(file, request)

    async def frame(self, request: Request) -> Response:
        queue = self._queue(request)
        item, _ = self._item(queue, request.query_params.get("id") or "")
        n = request.path_params["n"]
        file = self._local_file(item.frames[n].get("path")) if 0 <= n < len(item.frames) else None
        if file is None:
            return PlainTextResponse("no such frame", status_code=404)
        return _ranged(file, request)


class _NotFound(Exception):
    pass


def _ranged(file: Path, request: Request) -> Response:
    size = file.stat().st_size
    status, headers, first, length = range_headers(parse_range(request.headers.get("range"), size), size)
    if status == 416:
        return Response(status_code=416, headers=headers)
    headers["Content-Type"] = content_type(file)
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers)

    def body() -> Any:
        with file.open("rb") as handle:
            handle.seek(first)
            left = length
            while left > 0:
                chunk = handle.read(min(CHUNK_BYTES, left))
                if not chunk:
                    break
                left -= len(chunk)
                yield chunk

    return StreamingResponse(body(), status_code=status, headers=headers)


def build_asgi(workspace: Workspace, *, token: str, host: str, port: int, reviewer: str | None = None,
               refresh: bool = True) -> tuple[ReviewApp, Any]:
    """The review app of a workspace (queues materialised first unless `refresh=False`) and its guarded ASGI app."""
    app = ReviewApp(workspace, reviewer=reviewer)
    if refresh:
        app.refresh_all()
    return app, Guard(app.starlette(), token=token, host=host, port=port)


async def _not_found(request: Request, exc: Exception) -> Response:
    return PlainTextResponse(str(exc), status_code=404)
