"""One registry type for every "built from a name" family (models, losses, detectors, samplers, datasets, recipes).

The behaviour is the same everywhere, so it is written once:
- registering a name twice raises (a silent overwrite hides which definition wins);
- an unknown name raises ``ConfigError`` listing the valid names;
- ``build`` checks the options against the builder's signature first, so only a wrong option becomes
  "bad options"; an error raised *inside* a builder propagates untouched, with its traceback.

What a family needs to be found and checked is declared with its registration: small facts as
keywords, read back with ``metadata(name)`` (``register_loss("siamese", batch_layout="pairs")``);
a bundle of functions as the entry itself (a dataset family registers a ``DatasetFamily`` with its
splits, counter and layout detector).
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

    def __init__(self, kind: str, *, plural: str | None = None) -> None:
        self.kind = kind  # used in messages: "unknown {kind} 'x'; available {plural}: ..."
        self.plural = plural or f"{kind}s"
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

    def unregister(self, name: str) -> T:
        """Remove ``name`` and return what was registered (tests that add a temporary entry clean up with it)."""
        item = self.get(name)
        del self._entries[name], self._metadata[name]
        return item

    def get(self, name: str) -> T:
        if name not in self._entries:
            raise ConfigError(f"unknown {self.kind} {name!r}{self._suggestion(name)}; available {self.plural}: {', '.join(self.names()) or '(none)'}")
        return self._entries[name]

    def _suggestion(self, name: object) -> str:
        """"; did you mean 'resnet18'?" for a near miss (difflib), else nothing: long lists hide the one meant."""
        import difflib

        if not isinstance(name, str):
            return ""
        close = difflib.get_close_matches(name, self.names(), n=1, cutoff=0.75)
        return f"; did you mean {close[0]!r}?" if close else ""

    def metadata(self, name: str) -> dict[str, Any]:
        self.get(name)
        return self._metadata[name]

    def names(self) -> list[str]:
        return sorted(self._entries)

    def items(self) -> list[tuple[str, T]]:
        """(name, entry) pairs, sorted by name."""
        return [(name, self._entries[name]) for name in self.names()]

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
