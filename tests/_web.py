"""A real uvicorn server on a free loopback port, over a database filled by real ingests.

Shared by the web tests (API and feeds over HTTP, schemathesis, headless Chromium): the seed
article and an article full of markup are read, extracted and stored by the flow's own steps
(`flows/_steps.py`, the steps of `newswatch ingest`, without a Prefect server), then the app
of `newswatch web` is served by uvicorn in a thread.
"""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SEED = REPO / "seeds" / "000_30228fdb78730024.txt"
#: A channel with a password and a token: no response of the web view may show either.
SECRET_CHANNEL = "json://watcher:hunter2-secret@127.0.0.1:9/hook?token=tok-abc-123"
SECRETS = ("hunter2-secret", "tok-abc-123")
#: An article whose headline, byline and demands hold markup and scripts (a hostile page
#: saved as text, or a feed that quotes HTML): every page must show it as text.
XSS_ARTICLE = """\
<script>window.__xss_title = 1</script> Russia demands <b>NATO</b> halt drills
By <img src=x onerror="window.__xss_byline=1">
MOSCOW — Russia on Friday demanded that NATO stop <script>window.__xss_body=1</script> drills near the Baltic <img src=x onerror="window.__xss_img=1"> borders.
The Kremlin urged Ukraine to abandon its bid to join NATO <iframe src="javascript:alert(1)"></iframe> at once.
"""
SEED_DEMAND = "deny membership to Ukraine and other ex-Soviet countries"


def fill_database(url: str, folder: Path, nlp: Any, embedder: Any) -> None:
    """Migrate `url` and ingest the seed article, then the markup article with a secret channel."""
    from newswatch.db.migrate import upgrade
    from newswatch.flows import _steps
    from newswatch.pipeline import analysis
    from newswatch.pipeline.settings import Settings
    from newswatch.pipeline.sources import read_article

    upgrade(url)
    hostile = folder / "markup.txt"
    hostile.write_text(XSS_ARTICLE, encoding="utf-8")
    for path, day, notify in ((SEED, dt.date(2021, 12, 17), ""), (hostile, dt.date(2021, 12, 18), SECRET_CHANNEL)):
        settings = Settings(database_url=url, notify=notify)
        topics = analysis.read_topics(settings)
        article = read_article(str(path), published=day)
        extracted = analysis.extract(nlp, [article], settings, topics, embedder)
        _steps.store(extracted, settings, topics=topics, embedder=embedder)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve(url: str, root_path: str = "") -> Iterator[str]:
    """Serve `newswatch web`'s app over `url` on 127.0.0.1; yield its base URL (no trailing /)."""
    import uvicorn

    from newswatch.pipeline.settings import Settings
    from newswatch.web import create_app

    settings = Settings(database_url=url)
    app = create_app(url, topics=settings.topics, actors=settings.actors)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="on", root_path=root_path))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the web server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
