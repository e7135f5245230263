"""Errors newswatch reports to its users.

    NewswatchError
    ├── SourceError
    │   ├── FetchError
    │   └── FeedParseError
    ├── DataFileError
    │   ├── PatternError
    │   └── TopicError
    ├── SettingsError
    ├── StoreError
    └── AlertError

Only `cli.py` turns these into output (`Error: <message>`, exit 1). Any other exception is a bug.
"""

from __future__ import annotations


class NewswatchError(Exception):
    """Something went wrong that the user can act on."""


class SourceError(NewswatchError):
    """An input (file, URL or feed) could not be read."""


class FetchError(SourceError):
    """A URL could not be fetched."""


class FeedParseError(SourceError):
    """A feed could not be parsed at all."""


class DataFileError(NewswatchError):
    """A data file (actors, triggers, topics) is malformed."""


class PatternError(DataFileError):
    """A pattern line in an actors or triggers file is invalid."""


class TopicError(DataFileError):
    """A topics file is invalid."""


class SettingsError(NewswatchError):
    """A setting names something that is not there or cannot be used."""


class StoreError(NewswatchError):
    """The database could not be read or written."""


class AlertError(NewswatchError):
    """An alert could not be delivered."""
