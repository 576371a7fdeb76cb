"""The one error a bad problem raises: every fault, each naming its record and field."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Fault:
    """One thing wrong with the input: where (record, field) and what."""

    record: str
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.record}: {self.field}" if self.field else self.record
        return f"{where}: {self.message}"


class ProblemError(ValueError):
    """Raised before anything is solved when the input is not a valid problem.

    ``code`` is stable for machines ("invalid_problem"); ``faults`` lists every fault found, so a Hub Lead
    fixes a file in one go rather than one error per run.
    """

    code = "invalid_problem"

    def __init__(self, faults: Sequence[Fault]):
        self.faults = tuple(faults)
        more = f" (and {len(self.faults) - 1} more)" if len(self.faults) > 1 else ""
        super().__init__(f"{self.faults[0]}{more}" if self.faults else "invalid problem")

    def __reduce__(self) -> tuple[type[ProblemError], tuple[tuple[Fault, ...]]]:
        """Pickle by faults: the default rebuilds the error from its message, as if that were the list of faults
        (garbling ``str``). The CLI validates in a child process and hands errors back this way."""
        return ProblemError, (self.faults,)

    def as_dict(self) -> dict[str, Any]:
        """The JSON error shape shared by the CLI and the API."""
        return {
            "code": self.code,
            "message": str(self),
            "details": [{"record": f.record, "field": f.field, "message": f.message} for f in self.faults],
        }


def record_name(collection: str, index: int, raw: Any) -> str:
    """``schools[3] (URN119685)``: the position for machines, the id for people."""
    rid = raw.get("id") if isinstance(raw, Mapping) else None
    if rid is None and isinstance(raw, Mapping) and "school" in raw:
        rid = f"{raw.get('school')}~{raw.get('partner')}"
    return f"{collection}[{index}] ({rid})" if rid is not None else f"{collection}[{index}]"


def faults_from_marshmallow(messages: Any, data: Any, path: str = "") -> list[Fault]:
    """Flatten marshmallow's nested error dict into faults that name the record by position and id."""
    faults: list[Fault] = []
    if isinstance(messages, Mapping):
        for key, sub in messages.items():
            if isinstance(key, int):
                raw = data[key] if isinstance(data, Sequence) and 0 <= key < len(data) else None
                name = record_name(path, key, raw)
                faults += _leaf_or_nested(sub, raw, name)
            else:
                child = data.get(key) if isinstance(data, Mapping) else None
                faults += _field_faults(sub, child, path, str(key))
    else:
        faults.append(Fault(path or "problem", "", _text(messages)))
    return faults


def _field_faults(sub: Any, child: Any, record: str, field: str) -> list[Fault]:
    if isinstance(sub, Mapping) and any(isinstance(k, int) for k in sub):
        return faults_from_marshmallow(sub, child, f"{record}.{field}" if record else field)
    if isinstance(sub, Mapping):
        return [
            Fault(record or "problem", f"{field}.{f.field}" if f.field else field, f.message)
            for f in faults_from_marshmallow(sub, child, "")
        ]
    return [Fault(record or "problem", field, _text(sub))]


def _leaf_or_nested(sub: Any, raw: Any, name: str) -> list[Fault]:
    if isinstance(sub, Mapping):
        faults: list[Fault] = []
        for field, msg in sub.items():
            child = raw.get(field) if isinstance(raw, Mapping) else None
            faults += _field_faults(msg, child, name, str(field))
        return faults
    return [Fault(name, "", _text(sub))]


def _text(messages: Any) -> str:
    if isinstance(messages, list | tuple):
        return " ".join(_text(m) for m in messages)
    if isinstance(messages, Mapping):
        return " ".join(f"{k}: {_text(v)}" for k, v in messages.items())
    return str(messages)
