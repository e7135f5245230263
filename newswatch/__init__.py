"""newswatch: actors, demands and alerts from news articles and feeds.

The installed package holds the repository's folders under one name: `newswatch.pipeline`
(the work), `newswatch.db` (storage), `newswatch.flows` (Prefect orchestration),
`newswatch.migrations` (Alembic) and `newswatch.cli` (the command line).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("newswatch")
except PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
