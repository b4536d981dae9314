"""The two kinds of plugin: `Connector` (a live source) and `Importer` (a file format)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, ClassVar

from .context import Context
from .fields import Field
from .questions import Question
from .records import Checkpoint, Delete, Fragment, Notice, Original, Record

Item = Record | Fragment | Checkpoint | Delete | Original


class Plugin:
    """What connectors and importers share: a manifest of class attributes."""

    name: ClassVar[str]  # the entry point name, e.g. "octopus-energy"
    title: ClassVar[str]
    category: ClassVar[str]  # bank, energy, health, telecom, other
    datasets: ClassVar[tuple[str, ...]]
    fields: ClassVar[tuple[Field, ...]] = ()
    description: ClassVar[str] = ""

    def declares(self, dataset: str) -> bool:
        """Whether this plugin may yield records of `dataset`: the ones it lists, unless it says otherwise
        (a bridge's datasets come from the program it runs)."""
        return dataset in self.datasets

    def normalize(self, fragment: Fragment) -> Record | list[Record] | None:
        """Map a vendor fragment to normalised records: a pure function of the fragment,
        so `selfdata renormalize` can re-run it over stored `raw` when the mapping improves."""
        raise NotImplementedError(f"{type(self).__name__} yields fragments but has no normalize()")

    @classmethod
    def manifest(cls) -> dict[str, Any]:
        return {
            "name": cls.name,
            "title": cls.title,
            "category": cls.category,
            "datasets": list(cls.datasets),
            "fields": [f.describe() for f in cls.fields],
            "description": cls.description,
        }


class Connector(Plugin):
    """A live source. Subclasses set the manifest attributes and implement `fetch`."""

    kind: ClassVar[str] = "connector"
    schedule: ClassVar[str] = "daily"
    # Datasets read afresh at each sync (counters): exempt from "a second run adds nothing".
    sampled_datasets: ClassVar[tuple[str, ...]] = ()
    # True when the user must authorise in a browser (OAuth, PSD2 consent) before use.
    needs_authorization: ClassVar[bool] = False
    # True when the vendor may ask the user something during a login (a 2FA code): a run then
    # ends with UserActionNeeded, and `selfdata source authorize` calls question() and answer().
    asks_questions: ClassVar[bool] = False

    async def check(self, ctx: Context) -> None:
        """Prove the settings and credentials work (one cheap request); raise if not."""
        return None

    def fetch(self, ctx: Context, state: dict[str, Any]) -> AsyncIterator[Item]:
        """Yield records (or fragments) and, now and then, a Checkpoint to resume from."""
        raise NotImplementedError

    async def authorization_url(self, ctx: Context, redirect_uri: str) -> str:
        """The URL where the user consents (connectors with needs_authorization)."""
        raise NotImplementedError

    async def complete_authorization(self, ctx: Context, redirect_uri: str, code_or_url: str) -> None:
        """Exchange the code the user brings back; store tokens with ctx.update_secret."""
        raise NotImplementedError

    async def question(self, ctx: Context) -> Question | None:
        """The question the vendor waits an answer to (connectors with asks_questions): the one the
        last run met, else one a login started now makes the vendor ask (it sends the SMS).
        None: the vendor asks nothing now."""
        raise NotImplementedError

    async def answer(self, ctx: Context, question_id: str, answer: str) -> Question | None:
        """Keep `answer` for the next run (ctx.update_secret), which uses it once and forgets it
        (ctx.forget_secret). Returns the next question the vendor asked at the same time (it wants
        several values), or None: the run may start."""
        raise NotImplementedError

    @classmethod
    def manifest(cls) -> dict[str, Any]:
        return {**super().manifest(), "kind": "connector", "schedule": cls.schedule}


class Importer(Plugin):
    """A file format. `read` streams the file and runs in a worker thread."""

    kind: ClassVar[str] = "importer"
    extensions: ClassVar[tuple[str, ...]] = ()  # e.g. (".ofx", ".qfx"), for messages only

    @classmethod
    def sniff(cls, head: bytes, filename: str) -> bool:
        """Whether the file whose first bytes are `head` is in this format."""
        raise NotImplementedError

    def read(self, path: Path, settings: dict[str, Any]) -> Iterator[Record | Fragment | Delete | Notice]:
        raise NotImplementedError

    @classmethod
    def manifest(cls) -> dict[str, Any]:
        return {**super().manifest(), "kind": "importer", "extensions": list(cls.extensions)}
