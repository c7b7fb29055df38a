"""One registry type for every "built from a name" family (models, losses, detectors, samplers, datasets, recipes).

The behaviour is the same everywhere, so it is written once:
- registering a name twice raises (a silent overwrite hides which definition wins);
- an unknown name raises ``ConfigError`` listing the valid names;
- ``build`` checks the options against the builder's signature first, so only a wrong option becomes
  "bad options"; an error raised *inside* a builder propagates untouched, with its traceback.

A family's metadata (a dataset's protocols and format description, a detector's notes) is declared
with its registration: ``@REG.register("name", protocols=("kfold10",))`` and read back with
``REG.metadata("name")``.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Generic, Iterator, TypeVar

from ferkit.errors import ConfigError

T = TypeVar("T")


class DuplicateNameError(ConfigError, ValueError):
    """A name was registered twice in the same registry."""


class Registry(Generic[T]):
    """A named collection of builders (or plain objects), with metadata per name."""

    def __init__(self, kind: str) -> None:
        self.kind = kind  # used in messages: "unknown {kind} 'x'; available {kind}s: ..."
        self._entries: dict[str, T] = {}
        self._metadata: dict[str, dict[str, Any]] = {}

    def register(self, name: str, obj: T | None = None, **metadata: Any) -> Any:
        """Add ``obj`` under ``name``; without ``obj`` returns a decorator."""

        def add(item: T) -> T:
            if name in self._entries:
                raise DuplicateNameError(f"{self.kind} {name!r} registered twice")
            self._entries[name] = item
            self._metadata[name] = dict(metadata)
            return item

        return add if obj is None else add(obj)

    def get(self, name: str) -> T:
        if name not in self._entries:
            raise ConfigError(f"unknown {self.kind} {name!r}; available {self.kind}s: {', '.join(self.names()) or '(none)'}")
        return self._entries[name]

    def metadata(self, name: str) -> dict[str, Any]:
        self.get(name)
        return self._metadata[name]

    def names(self) -> list[str]:
        return sorted(self._entries)

    def build(self, name: str, /, *args: Any, **options: Any) -> Any:
        """Call the builder registered as ``name``; options it does not accept raise ``ConfigError``."""
        builder: Callable[..., Any] = self.get(name)  # type: ignore[assignment]
        try:
            inspect.signature(builder).bind(*args, **options)
        except TypeError as exc:
            raise ConfigError(f"bad options for {self.kind} {name!r}: {exc}") from None
        except ValueError:  # builtins without a signature: let the call itself decide
            pass
        return builder(*args, **options)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self)} entries)"
