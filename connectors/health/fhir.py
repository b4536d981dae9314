"""FHIR R4 files: a Bundle (or a single resource) as JSON, or bulk-data NDJSON.

NDJSON (what `$export` writes: one resource a line) streams line by line; a JSON document
is read whole, up to `MAX_DOCUMENT` bytes (32 MiB);
an NDJSON line is at most 1 MiB. Bundles are unpacked, nested Bundles too; a
history or transaction entry that deletes a resource removes it; a resource with no id takes
its entry's `urn:uuid:`, else one made of its content (`sha256-` and 40 hex digits). The mapping itself is
`fhir_mapping`, shared with the SMART on FHIR connector.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from connectors.sdk import Delete, Fragment, Importer, ImportFailed, InvalidRecord, Record
from connectors.sdk.limits import MAX_DOCUMENT_BYTES, bounded, check_document_size

from .fhir_mapping import CLINICAL, OBSERVATION, FhirInvalid, map_resource

MAX_DOCUMENT = MAX_DOCUMENT_BYTES
MAX_NESTING = 4
_SNIFF_RE = re.compile(rb'"resourceType"\s*:\s*"[A-Z][A-Za-z]+"')
_REFERENCE_RE = re.compile(r"^(?:.*/)?([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/.*)?$")


class FhirImporter(Importer):
    name = "fhir"
    title = "FHIR R4 files (Bundle JSON, bulk-data NDJSON)"
    category = "health"
    datasets = (OBSERVATION, CLINICAL)
    extensions = (".json", ".ndjson")
    description = "Health records from patient portals, Blue Button, Synthea or a FHIR $export."

    @classmethod
    def sniff(cls, head: bytes, filename: str) -> bool:
        text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
        return text.startswith(b"{") and _SNIFF_RE.search(text[:65536]) is not None

    def read(self, path: Path, settings: dict[str, Any]) -> Iterator[Record | Fragment | Delete]:
        with path.open("rb") as f:
            first, second = f.readline(), f.readline()
        try:
            orjson.loads(first)
        except orjson.JSONDecodeError:
            yield from _read_document(path)  # pretty-printed JSON: the first line is not a whole object
        else:
            yield from _read_ndjson(path) if second.strip() else _read_document(path)

    def normalize(self, fragment: Fragment) -> Record | list[Record] | None:
        """Re-map a stored Observation (its raw is the resource)."""
        try:
            return [item for item in map_resource(fragment.raw) if isinstance(item, Record)]
        except FhirInvalid as err:
            raise InvalidRecord(str(err)) from None


def _read_ndjson(path: Path) -> Iterator[Record | Delete]:
    with path.open("rb") as raw, bounded(raw, path.name, "lines") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                resource = orjson.loads(line)
            except orjson.JSONDecodeError as err:
                cut = "" if line.endswith(b"\n") else " (the file ends mid-line: was it cut short?)"
                raise ImportFailed(f"{path.name}: line {number:,} is not valid JSON{cut}: {err}") from None
            yield from _items(resource, f"{path.name}: line {number:,}")


def _read_document(path: Path) -> Iterator[Record | Delete]:
    check_document_size(
        path.stat().st_size, path.name, "export it as bulk-data NDJSON (one resource a line) instead", MAX_DOCUMENT
    )
    try:
        document = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as err:
        raise ImportFailed(f"{path.name}: not valid JSON ({err}); was the file cut short?") from None
    yield from _items(document, path.name)


def _items(resource: Any, where: str, depth: int = 0) -> Iterator[Record | Delete]:
    if isinstance(resource, dict) and resource.get("resourceType") == "Bundle":
        if depth >= MAX_NESTING:
            raise ImportFailed(f"{where}: Bundles nested more than {MAX_NESTING} deep")
        entries = resource.get("entry") or []
        if not isinstance(entries, list):
            raise ImportFailed(f"{where}: Bundle.entry is a list in FHIR R4, got {type(entries).__name__}")
        for i, entry in enumerate(entries):
            yield from _entry(entry, f"{where}: entry {i}", depth)
        return
    try:
        yield from map_resource(_with_content_id(resource))
    except (FhirInvalid, InvalidRecord) as err:  # a value its dataset refuses, too: say where it is
        raise ImportFailed(f"{where}: {err}") from None


def _entry(entry: Any, where: str, depth: int) -> Iterator[Record | Delete]:
    if not isinstance(entry, dict):
        raise ImportFailed(f"{where}: a Bundle entry must be an object")
    resource = entry.get("resource")
    search = entry.get("search")
    if isinstance(search, dict) and search.get("mode") == "outcome":
        return  # the server's notes about the search, not the patient's data
    request = entry.get("request")
    if resource is None:
        if isinstance(request, dict) and request.get("method") == "DELETE":
            m = _REFERENCE_RE.match(str(request.get("url", "")))
            if m:
                key = f"{m.group(1)}/{m.group(2)}"
                yield Delete(OBSERVATION, (key,))
                yield Delete(CLINICAL, (key,))
        return
    full_url = entry.get("fullUrl")
    if isinstance(resource, dict) and "id" not in resource and isinstance(full_url, str):
        if full_url.startswith("urn:uuid:"):
            # Transaction bundles name new resources by a UUID only: it becomes their id.
            resource = {**resource, "id": full_url.removeprefix("urn:uuid:")}
    yield from _items(resource, where, depth + 1)


def _with_content_id(resource: Any) -> Any:
    """A resource with no id at all (FHIR allows it outside a server: a collection Bundle's
    entries, a resource written to a file) gets one made of its content, so the same resource
    gives the same key on every import; a changed one is a new record."""
    if isinstance(resource, dict) and "id" not in resource and resource.get("resourceType") != "Bundle":
        digest = hashlib.sha256(orjson.dumps(resource, option=orjson.OPT_SORT_KEYS)).hexdigest()
        return {**resource, "id": f"sha256-{digest[:40]}"}
    return resource
