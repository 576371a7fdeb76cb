"""What the round page adds for a Hub Lead: the policy before a solve, the last solve, the changes since last term
school by school, the round's audit log and the export links.

Plain reads for the page (``api.pages``); the buttons on the panel call the JSON API (solve, publish, policy
patch), so a Hub Lead's action from the page is exactly the same action through the API: checked and audited.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from api.context import db
from models import tables as t

LEADS = ("hub_lead", "admin")
AUDIT_ROWS = 100  # the newest decisions and events shown; the full log is the API's (paged)
# The export formats the round's export serves, as a link's label; the spreadsheet joins when the export has it.
EXPORTS = (("xlsx", "Excel workbook (pairings, unmatched, idle volunteers)"), ("csv", "CSV for a spreadsheet"),
           ("json", "JSON"))
POLICY_NUMBERS = {  # the policy's numbers a Hub Lead tunes before a solve, in the words of the page
    "default_max_travel_km": ("Travel radius (km) for advisers without their own", 1.0, 200.0, 0.5),
    "cornerstones_per_school": ("Cornerstone Employers per school", 0, 5, 1),
    "advisers_per_school": ("Advisers per school", 0, 2, 1),
    "max_schools_per_company": ("Schools per adviser's company (empty: no cap)", 0, 50, 1),
}
WEIGHTS = {"distance": "travel distance", "sector": "sector fit", "need": "school's need",
           "continuity": "keeping last term's partner"}


def leads(role: str) -> bool:
    """Whether the viewer sees the Hub Lead's panels (admins see everything a Hub Lead does)."""
    return role in LEADS


@dataclass(frozen=True)
class Change:
    """One school's partners in a role: last term's (published) against this round's live proposals."""

    school_id: str
    school: str
    role: str
    before: tuple[str, ...]
    now: tuple[str, ...]

    @property
    def kind(self) -> str:
        if set(self.before) == set(self.now):
            return "kept"
        if not self.before:
            return "new"
        return "ended" if not self.now else "changed"


def changes(rows: Iterable[Any], names: Mapping[str, str]) -> list[Change]:
    """Per school and role, last term's partners and this round's: the rows of the "since last term" table,
    changed ones first (new, changed, ended), kept ones last."""
    out = []
    for row in rows:
        for role in ("adviser", "cornerstone"):
            before = tuple(names.get(p, p) for p in row.school.partners(role))
            now = tuple(names.get(p["partner_id"], p["partner_id"]) for p in row.live if p["role"] == role)
            if before or now:
                out.append(Change(row.school.id, row.school.name, role, before, now))
    order = {"new": 0, "changed": 1, "ended": 2, "kept": 3}
    return sorted(out, key=lambda c: (order[c.kind], c.school))


def audit_log(round_: t.Round) -> list[dict[str, Any]]:
    """The round's decisions and the hub's events about it, newest first."""
    decisions = db().scalars(select(t.Decision).where(t.Decision.round_id == round_.id)
                             .order_by(t.Decision.id.desc()).limit(AUDIT_ROWS))
    events = db().scalars(select(t.Event).where(t.Event.hub_id == round_.hub_id,
                                                t.Event.subject == f"rounds/{round_.id}")
                          .order_by(t.Event.id.desc()).limit(AUDIT_ROWS))
    rows: list[dict[str, Any]] = [
        {"at": d.at, "actor": d.actor, "what": f"{d.action} {d.role} {d.partner_id} for {d.school_id}",
         "reason": d.reason or ""} for d in decisions]
    rows += [{"at": e.at, "actor": e.actor, "what": e.action.replace(".", " ").replace("_", " "), "reason": ""}
             for e in events]
    return sorted(rows, key=lambda r: r["at"], reverse=True)[:AUDIT_ROWS]


def last_solve(round_id: int) -> t.Job | None:
    """The round's newest solve job (running, done or failed)."""
    return db().scalar(select(t.Job).where(t.Job.round_id == round_id, t.Job.kind == "solve")
                       .order_by(t.Job.created_at.desc()).limit(1))


def policy_fields(policy: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The policy's tunable numbers and weights, each with its label, value and bounds, for the policy form."""
    fields = [{"name": name, "label": label, "value": policy.get(name), "min": lo, "max": hi, "step": step,
               "optional": name == "max_schools_per_company"}
              for name, (label, lo, hi, step) in POLICY_NUMBERS.items()]
    weights = policy.get("weights", {}) or {}
    fields += [{"name": f"weights.{name}", "label": f"Weight of {words}", "value": weights.get(name),
                "min": 0.0, "max": 10.0, "step": 0.05, "optional": False}
               for name, words in WEIGHTS.items() if name in weights]
    return fields


def panel(round_: t.Round, rows: Iterable[Any], names: Mapping[str, str]) -> dict[str, Any]:
    """What the Hub Lead's panel renders."""
    listed = changes(rows, names)
    return {"changes": listed, "changed_schools": len({c.school_id for c in listed if c.kind != "kept"}),
            "audit": audit_log(round_), "job": last_solve(round_.id),
            "policy_fields": policy_fields(round_.policy), "exports": EXPORTS,
            "rules": {k: v for k, v in round_.policy.items() if isinstance(v, bool)}}
