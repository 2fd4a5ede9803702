"""One registry per model kind: a backend registers its loader under a name; the resources
offer exactly the registered names (as an Enum, so the launchpad rejects a typo before a run).

Adding a backend is one new file in ``backends/<kind>/`` that decorates its loader::

    @SPEAKER_ENCODERS.register("mine", default_model="org/model")
    def load(model: str, device: str, batch_size: int) -> SpeakerEncoder: ...

and one import line in that kind's ``__init__.py``. Heavy libraries are imported inside the loader.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Backend:
    name: str
    load: Callable[..., Any]
    default_model: str = ""


class Registry:
    def __init__(self, kind: str):
        self.kind = kind
        self._backends: dict[str, Backend] = {}

    def register(self, name: str, *, default_model: str = "") -> Callable:
        def decorate(load: Callable) -> Callable:
            if name in self._backends:
                raise ValueError(f"{self.kind} backend {name!r} is registered twice")
            self._backends[name] = Backend(name, load, default_model)
            return load

        return decorate

    def names(self) -> tuple[str, ...]:
        return tuple(self._backends)

    def get(self, name: str | enum.Enum) -> Backend:
        name = name.value if isinstance(name, enum.Enum) else name
        if name not in self._backends:
            raise ValueError(f"unknown {self.kind} backend {name!r}; expected one of {', '.join(self._backends)}")
        return self._backends[name]

    def enum(self, cls_name: str) -> type[enum.Enum]:
        """The registered names as a string Enum (for typed resource fields)."""
        return enum.Enum(cls_name, {n: n for n in self._backends}, type=str)
