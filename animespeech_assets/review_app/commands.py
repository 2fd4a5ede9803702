"""``animespeech review``: serve the review page (127.0.0.1 unless ``--host`` says otherwise)."""

from __future__ import annotations

import argparse

from animespeech_assets.core.layout import DataLayout
from animespeech_assets.review_app import DEFAULT_PORT

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def add_parser(sub) -> None:
    s = sub.add_parser("review", help="serve the review page: listen, label with the keyboard, save annotations")
    s.add_argument("--port", type=int, default=DEFAULT_PORT)
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; another only when you mean it)")
    s.add_argument("--refresh", action="store_true",
                   help="after a save, rebuild the reference set and predictions here (not needed while `animespeech ui` "
                        "runs: its sensors do it)")
    s.set_defaults(func=cmd_review)


def allowed_hosts(host: str) -> list[str]:
    return sorted({host, *LOOPBACK} if host in LOOPBACK else {host})


def cmd_review(args: argparse.Namespace, layout: DataLayout) -> int:
    import uvicorn

    from animespeech_assets.core.environment import ensure_dagster_home
    from animespeech_assets.review_app.queue import EpisodeFiles
    from animespeech_assets.review_app.refresh import Refresher
    from animespeech_assets.review_app.server import create_app

    ensure_dagster_home()  # the refresh runs share the project's instance
    refresher = Refresher(EpisodeFiles(layout).episodes) if args.refresh else None
    app = create_app(layout, allowed_hosts(args.host), refresher)
    episodes = EpisodeFiles(layout).episodes()
    print(f"review page on http://{args.host}:{args.port}/ ({len(episodes)} episode(s) with predictions; "
          f"annotations saved to {layout.annotations})", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
