"""Doc extension values across spaCy's worker processes (`nlp.pipe(n_process=...)`).

A worker process sends each Doc back as `Doc.to_bytes()`, which packs `doc.user_data` (where
`doc._.events`, `doc._.actors`, `doc._.dateline` and every `span._.actor` live) with srsly's
msgpack. That packer knows no dataclasses, so without this module every Doc with an actor or
an event fails in the worker (spaCy error E871). Registered once, on import, as srsly msgpack
encoder and decoder: `Actor` and `Event` travel as their field values and come back equal;
the `ActorIndex` (token positions of the actor mentions, read only by the components inside
the worker) is dropped, and `doc._.actor_index` is None in the parent.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import srsly.msgpack

from newswatch.pipeline.actors import ActorIndex
from newswatch.pipeline.records import Actor, Event, EventType

_KEY = "__newswatch__"
_KINDS: dict[str, type[Actor] | type[Event]] = {"actor": Actor, "event": Event}


def encode_record(obj: Any, chain: Callable[[Any], Any] | None = None) -> Any:
    """Pack an Actor or Event as `{"__newswatch__": kind, "v": [field values]}`; drop an ActorIndex."""
    if isinstance(obj, ActorIndex):
        return None
    for kind, cls in _KINDS.items():
        if type(obj) is cls:
            values = [getattr(obj, f.name) for f in dataclasses.fields(cls)]
            return {_KEY: kind, "v": [v.value if isinstance(v, EventType) else v for v in values]}
    return chain(obj) if chain is not None else obj


def decode_record(obj: Any, chain: Callable[[Any], Any] | None = None) -> Any:
    """Rebuild what `encode_record` packed (nested actors are rebuilt first by msgpack)."""
    if isinstance(obj, dict) and obj.get(_KEY) in _KINDS:
        cls = _KINDS[obj[_KEY]]
        values = list(obj["v"])
        if cls is Event:
            values[0] = EventType(values[0])
        return cls(*values)
    return chain(obj) if chain is not None else obj


srsly.msgpack.msgpack_encoders.register("newswatch_records", func=encode_record)
srsly.msgpack.msgpack_decoders.register("newswatch_records", func=decode_record)
