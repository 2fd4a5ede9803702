"""The browser review page: listen to lines, label them with the keyboard, save annotations.

``animespeech review`` serves it (``commands.py``); ``server.py`` is the web layer, ``queue.py``
what the page shows, ``saving.py`` the only code that writes a human-owned annotation file.
"""

import os

DEFAULT_PORT = 8700
URL_ENV = "ANIMESPEECH_REVIEW_URL"  # where the page is served, for the links in the Dagster UI


def page_url(episode: str = "") -> str:
    base = os.environ.get(URL_ENV) or f"http://127.0.0.1:{DEFAULT_PORT}"
    return base.rstrip("/") + "/" + (f"?episode={episode}" if episode else "")
