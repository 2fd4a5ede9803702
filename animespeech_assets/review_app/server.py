"""The review page's web server: Starlette (it comes with Dagster's webserver), served by uvicorn.

Safe by default: bound to 127.0.0.1 by the command, requests for any other ``Host`` refused (a web
page elsewhere cannot reach it through DNS rebinding), POSTs only as JSON from the page's own origin,
and every episode key and line id checked against what the pipeline produced before a file is read.
"""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from animespeech_assets.core.layout import DataLayout
from animespeech_assets.core.naming import EpisodeError, character_key
from animespeech_assets.review_app.queue import EpisodeFiles, ReviewError, clip_wav, page_data
from animespeech_assets.review_app.refresh import Refresher
from animespeech_assets.review_app.saving import Change, SaveConflict, save
from animespeech_assets.speakers.annotations import AnnotationError

STATIC = Path(__file__).parent / "static"
MAX_CHANGES = 20_000


def create_app(layout: DataLayout, hosts: list[str], refresher: Refresher | None = None) -> Starlette:
    files = EpisodeFiles(layout)

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    async def lines(request: Request) -> Response:
        episode = request.query_params.get("episode") or None
        data = page_data(files, episode)
        data["refresh"] = refresher.state() if refresher else {"enabled": False}
        data["annotations"] = str(layout.annotations)
        return JSONResponse(data)

    async def state(request: Request) -> Response:
        return JSONResponse({
            "versions": {ep: files.version(ep) for ep in files.episodes()},
            "refresh": refresher.state() if refresher else {"enabled": False},
        })

    def audio(request: Request) -> Response:
        episode, line_id = request.path_params["episode"], request.path_params["line_id"]
        return Response(clip_wav(files, episode, line_id), media_type="audio/wav", headers={"Cache-Control": "private, max-age=60"})

    async def save_labels(request: Request) -> Response:
        if not _same_origin(request):
            return JSONResponse({"error": "saving is allowed only from the review page itself"}, status_code=403)
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return JSONResponse({"error": "send the labels as application/json"}, status_code=415)
        body = await request.json()
        episode = files.episode(str(body.get("episode", "")))
        changes = _changes(body.get("changes"))
        result = save(layout, episode, files.predictions(episode), changes)  # saves are serialised by its file lock
        if refresher:
            refresher.request(episode)
        return JSONResponse({"path": str(result.path), "history": str(result.history or ""), "labelled": result.labelled,
                             "changed": result.changed, "refresh": refresher.state() if refresher else {"enabled": False}})

    async def review_error(request: Request, exc: Exception) -> Response:
        status = 409 if isinstance(exc, SaveConflict) else 404 if isinstance(exc, ReviewError) else 400
        return JSONResponse({"error": str(exc)}, status_code=status)

    routes = [
        Route("/", index),
        Route("/api/lines", lines),
        Route("/api/state", state),
        Route("/api/save", save_labels, methods=["POST"]),
        Route("/audio/{episode}/{line_id:int}.wav", audio),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    handlers = {exc: review_error for exc in (ReviewError, SaveConflict, AnnotationError, ValueError)}
    return Starlette(routes=routes, middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=hosts)], exception_handlers=handlers)


def _same_origin(request: Request) -> bool:
    """The browser's ``Origin`` of a POST must be this server (scheme + the Host it was reached by)."""
    origin = request.headers.get("origin")
    site = request.headers.get("sec-fetch-site")
    if site is not None and site != "same-origin":
        return False
    return origin == f"{request.url.scheme}://{request.headers.get('host')}"


def _changes(raw) -> list[Change]:
    if not isinstance(raw, list) or not raw or len(raw) > MAX_CHANGES:
        raise ValueError(f"'changes' must be a list of 1 to {MAX_CHANGES} lines")
    out = []
    for c in raw:
        if not isinstance(c, dict) or not isinstance(c.get("line_id"), int) or not isinstance(c.get("character", ""), str):
            raise ValueError(f"a change must give an integer line_id and a character name: {str(c)[:200]}")
        text = c.get("text")
        character = c.get("character", "").strip()
        if len(character) > 200 or (text is not None and (not isinstance(text, str) or len(text) > 2000)):
            raise ValueError(f"line {c['line_id']}: character or text too long")
        if character:
            try:
                character_key(character)  # it becomes a partition key and a folder name
            except EpisodeError as exc:
                raise ValueError(f"line {c['line_id']}: character name {character!r} is not usable: {exc}") from exc
        out.append(Change(c["line_id"], character, str(c.get("seen") or ""), text, bool(c.get("confirmed"))))
    return out
