"""The read-only web view, JSON API and Atom feeds over the event database (`newswatch web`)."""

from newswatch.web.app import WebConfig, create_app

__all__ = ["WebConfig", "create_app"]
