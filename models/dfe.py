"""The DfE school register (Get Information About Schools, the "edubasealldata" export) as schools of a hub.

What each register column becomes is in docs/data.md. In short: ``URN`` -> id ``URN<urn>``; the position from
``Easting``/``Northing`` (British National Grid, converted with ``models.grid``), else the postcode's district;
``PhaseOfEducation (name)`` and ``TypeOfEstablishment (name)`` -> kind, primaries refused unless the hub admits
them; ``EstablishmentStatus (name)``: open in, "proposed to close" in and flagged, closed (and not yet open)
skipped. Suppressed numbers (``SUPP``, ``x``, ``c``, ``:``, empty) are unknown, not errors. Other columns are
ignored. Every skipped or flagged row is reported with its place in the file and its URN.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from models.grid import on_grid, to_wgs84
from models.sources import SourceRow

ID_PREFIX = "URN"
SUPPRESSED = frozenset({"supp", "x", "c", ":", "na", "n/a", "-"})
COLUMNS = {  # register column -> school field, for the cells named in an error
    "URN": "id",
    "EstablishmentName": "name",
    "Postcode": "postcode",
    "NumberOfPupils": "pupils",
    "PercentageFSM": "pct_fsm",
    "Easting": "lat",
    "Northing": "lon",
    "PhaseOfEducation (name)": "kind",
}
FIELD_COLUMNS = {field: column for column, field in COLUMNS.items()}
STATUS = "EstablishmentStatus (name)"
PHASE = "PhaseOfEducation (name)"
TYPE = "TypeOfEstablishment (name)"
PRIMARY_PHASES = frozenset({"primary", "middle deemed primary", "nursery"})
NOT_SERVED = frozenset({"higher education institutions", "welsh establishment", "british schools overseas",
                        "offshore schools", "online provider"})
CHUNK = 2_000


@dataclass(frozen=True)
class Note:
    """A register row that was skipped, or imported with a flag, and why."""

    place: str
    urn: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"place": self.place, "urn": self.urn, "reason": self.reason}


@dataclass
class Notes:
    skipped: list[Note]
    flagged: list[Note]

    @classmethod
    def empty(cls) -> Notes:
        return cls([], [])

    def as_dict(self) -> dict[str, list[dict[str, str]]]:
        return {"skipped": [n.as_dict() for n in self.skipped], "flagged": [n.as_dict() for n in self.flagged]}


def schools(rows: Iterable[SourceRow], notes: Notes, *, admit_primary: bool = False,
            kinds: frozenset[str] = frozenset()) -> Iterator[tuple[SourceRow, dict]]:
    """Each register row that is a school of the hub, with its problem-format record; skipped and flagged rows
    go to ``notes``. ``kinds`` are the school kinds the product knows (a kind named ``primary`` is used for
    admitted primaries when it is one of them, else ``mainstream``)."""
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, CHUNK)):
        kept = [(row, record) for row in chunk if (record := _record(row, notes, admit_primary, kinds)) is not None]
        _place(kept)
        yield from kept


def _record(row: SourceRow, notes: Notes, admit_primary: bool, kinds: frozenset[str]) -> dict | None:
    cells = row.cells
    urn = cells.get("URN", "")
    status = cells.get(STATUS, "Open").lower()
    skip = _skip_reason(status, cells)
    if skip is None:
        phase = cells.get(PHASE, "").lower()
        if phase in PRIMARY_PHASES and not admit_primary:
            skip = (f"a primary school (phase {cells[PHASE]!r}): the hub does not admit primaries; import with "
                    "primary=admit to include them")
    if skip is not None:
        notes.skipped.append(Note(row.place(), urn, skip))
        return None
    if "proposed to close" in status:
        notes.flagged.append(Note(row.place(), urn, f"{cells[STATUS]}: imported, check before pairing it"))
    record: dict = {}
    if urn:
        record["id"] = f"{ID_PREFIX}{urn}"
    for column in ("EstablishmentName", "Postcode"):
        if column in cells:
            record[COLUMNS[column]] = cells[column]
    for column in ("NumberOfPupils", "PercentageFSM"):
        value = cells.get(column, "")
        if value and value.lower() not in SUPPRESSED:
            record[COLUMNS[column]] = value
    record["kind"] = _kind(cells.get(PHASE, "").lower(), cells.get(TYPE, "").lower(), kinds)
    return record


def _skip_reason(status: str, cells: dict[str, str]) -> str | None:
    if status.startswith("closed"):
        closed = f" on {cells['CloseDate']}" if cells.get("CloseDate") else ""
        return f"closed{closed}"
    if status.startswith("proposed to open"):
        return "proposed to open: not open yet"
    kind = cells.get(TYPE, "").lower()
    if kind in NOT_SERVED:
        return f"not a school a Careers Hub serves ({cells[TYPE]})"
    return None


def _kind(phase: str, establishment: str, kinds: frozenset[str]) -> str:
    """The product's kind from the register's phase and type of establishment."""
    if "special" in establishment:
        return "send"
    if "pupil referral" in establishment or "alternative provision" in establishment:
        return "ap"
    if any(word in establishment for word in ("college", "sixth form", "further education", "16 to 19")):
        return "college"
    if phase == "16 plus":
        return "college"
    if phase in PRIMARY_PHASES and "primary" in kinds:
        return "primary"
    return "mainstream"


def _place(kept: list[tuple[SourceRow, dict]]) -> None:
    """Latitude and longitude from the grid reference of every row that has one (one vectorised conversion);
    a row without one (empty, suppressed, 0) keeps its postcode for the district centroid. A grid reference that
    is not a number is handed on as it is, for the schema to refuse by its cell."""
    located = []
    for row, record in kept:
        grid = _grid(row.cells)
        if isinstance(grid, tuple):
            located.append((record, grid))
        elif grid is not None:
            record["lat"], record["lon"] = grid, None
    if not located:
        return
    east, north = np.array([g for _, g in located], dtype=np.float64).T
    lat, lon = to_wgs84(east, north)
    for (record, _), la, lo in zip(located, lat.round(6), lon.round(6), strict=True):
        record["lat"], record["lon"] = float(la), float(lo)


def _grid(cells: dict[str, str]) -> tuple[float, float] | str | None:
    """The row's grid reference; None when it has none; the Easting's text when it is not a number."""
    texts = [cells.get("Easting", ""), cells.get("Northing", "")]
    if any(not t or t.lower() in SUPPRESSED for t in texts):
        return None
    try:
        east, north = float(texts[0]), float(texts[1])
    except ValueError:
        return texts[0]
    return (east, north) if on_grid(east, north) else None
