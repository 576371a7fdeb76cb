"""People's e-mail contacts, and the messages a publish sent them: the Hub Lead's side of notifications.

A contact is personal data: only admins and the hub's own Hub Lead read or change one (coordinators and read-only
tokens get 403, other hubs 404), and it lives apart from the records, so no record list, export or solve carries
it. A person is written to only with ``consent`` and without ``opted_out``; an address the mail server refused for
good is marked ``bounced_at`` and skipped until the Hub Lead gives a new one. ``coordinators`` are the people
who get each publish's digest; their ids are the hub's own.

``GET /rounds/{id}/messages`` is what was sent, to whom, and what bounced or was skipped (and why).
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import func, select

from api.auth import require, visible_hub, visible_round
from api.context import db
from api.errors import ApiError
from models import tables as t
from models.audit import Action, changed_fields, record_event
from models.schemas import text

contacts = Blueprint("contacts", __name__, description="People's e-mail contacts, consent and opt-outs (personal data)")
messages = Blueprint("messages", __name__, description="What a publish sent, to whom, and what bounced")
BLUEPRINTS = [contacts, messages]

KINDS = {"advisers": "adviser", "schools": "school", "employers": "employer", "coordinators": "coordinator"}
RECORDS: dict[str, Any] = {"adviser": t.Adviser, "school": t.School, "employer": t.Employer}
WHO = {"adviser": "adviser", "school": "school", "employer": "Cornerstone Employer", "coordinator": "coordinator"}


class ContactInSchema(Schema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    consent = fields.Boolean(required=True, metadata={"description": "the person agreed to be e-mailed"})
    opted_out = fields.Boolean(load_default=False, metadata={"description": "the person asked for no more e-mails"})
    name = text(200, 1, load_default=None, metadata={
        "description": "the person (a school's Careers Leader; required for a coordinator)"})


class ContactSchema(Schema):
    kind = fields.String()
    record_id = fields.String()
    name = fields.String(allow_none=True)
    email = fields.String()
    consent = fields.Boolean()
    opted_out = fields.Boolean()
    bounced_at = fields.DateTime(allow_none=True, metadata={"description": "when the mail server refused it"})
    bounce = fields.String(allow_none=True, metadata={"description": "the mail server's refusal"})
    updated_at = fields.DateTime()


class MessageSchema(Schema):
    id = fields.Integer()
    kind = fields.String(metadata={"description": "adviser, school, employer or coordinator (a digest)"})
    record_id = fields.String()
    name = fields.String()
    email = fields.String(allow_none=True)
    change = fields.String(metadata={"description": "what changed for the person, e.g. 'gained 1, lost 1'"})
    subject = fields.String()
    state = fields.String(metadata={"description": "pending, sending, sent, bounced, failed or skipped"})
    reason = fields.String(allow_none=True, metadata={"description": "why it was skipped, bounced or is retried"})
    attempts = fields.Integer()
    next_attempt_at = fields.DateTime(allow_none=True)
    sent_at = fields.DateTime(allow_none=True)
    has_invitation = fields.Boolean()


class MessagesSchema(Schema):
    counts = fields.Dict(keys=fields.String(), values=fields.Integer(), metadata={"description": "by state"})
    items = fields.List(fields.Nested(MessageSchema))


def _kind(collection: str) -> str:
    if collection not in KINDS:
        raise ApiError(404, f"No contacts of {collection!r}: they are of {', '.join(KINDS)}.")
    return KINDS[collection]


def _find(hub_id: str, kind: str, record_id: str) -> t.Contact | None:
    return db().scalar(select(t.Contact).where(t.Contact.hub_id == hub_id, t.Contact.kind == kind,
                                               t.Contact.record_id == record_id))


def _found(hub_id: str, kind: str, record_id: str) -> t.Contact:
    contact = _find(hub_id, kind, record_id)
    if contact is None:
        raise ApiError(404, f"The {WHO[kind]} {record_id!r} of hub {hub_id!r} has no contact.")
    return contact


@contacts.route("/hubs/<hub_id>/contacts")
class HubContacts(MethodView):
    @contacts.response(200, ContactSchema(many=True))
    def get(self, hub_id: str) -> list:
        """Every contact of the hub (admins and the hub's Hub Lead)."""
        visible_hub(db(), hub_id)
        require("hub_lead")
        return list(db().scalars(select(t.Contact).where(t.Contact.hub_id == hub_id)
                                 .order_by(t.Contact.kind, t.Contact.record_id)))


@contacts.route("/hubs/<hub_id>/contacts/<collection>/<record_id>")
class ContactItem(MethodView):
    @contacts.response(200, ContactSchema)
    def get(self, hub_id: str, collection: str, record_id: str) -> t.Contact:
        """One person's contact (admins and the hub's Hub Lead)."""
        visible_hub(db(), hub_id)
        require("hub_lead")
        return _found(hub_id, _kind(collection), record_id)

    @contacts.arguments(ContactInSchema)
    @contacts.response(200, ContactSchema)
    def put(self, body: dict, hub_id: str, collection: str, record_id: str) -> t.Contact:
        """Set a person's address, consent and opt-out (admins and the hub's Hub Lead). A new address clears a
        bounce; the audit log names the fields changed, never the address."""
        visible_hub(db(), hub_id)
        who = require("hub_lead")
        kind = _kind(collection)
        if kind in RECORDS and db().scalar(select(RECORDS[kind]).where(
                RECORDS[kind].hub_id == hub_id, RECORDS[kind].id == record_id)) is None:
            raise ApiError(404, f"No {WHO[kind]} {record_id!r} in hub {hub_id!r}.")
        if kind == "coordinator" and not body["name"]:
            raise ApiError(422, "A coordinator's contact needs their name.", details={"json": {"name": ["Required."]}})
        contact = _find(hub_id, kind, record_id)
        if contact is None:
            contact = t.Contact(hub_id=hub_id, kind=kind, record_id=record_id, email=body["email"])
            db().add(contact)
            changed = sorted(body)
        else:
            changed = changed_fields(contact, body)
        if contact.email != body["email"]:
            contact.bounced_at, contact.bounce = None, None
        for key, value in body.items():
            setattr(contact, key, value)
        if changed:
            record_event(db(), hub_id, who.name, Action.CONTACT_UPDATED, f"contacts/{kind}/{record_id}",
                         {"changed": changed})
        db().commit()
        return contact

    @contacts.response(204)
    def delete(self, hub_id: str, collection: str, record_id: str) -> None:
        """Forget a person's contact (admins and the hub's Hub Lead); messages already sent keep their address."""
        visible_hub(db(), hub_id)
        who = require("hub_lead")
        kind = _kind(collection)
        db().delete(_found(hub_id, kind, record_id))
        record_event(db(), hub_id, who.name, Action.CONTACT_DELETED, f"contacts/{kind}/{record_id}")
        db().commit()


@messages.route("/rounds/<int:round_id>/messages")
class RoundMessages(MethodView):
    @messages.response(200, MessagesSchema)
    def get(self, round_id: int) -> dict:
        """The messages the round's publish wrote: to whom, about what, and whether each was sent, bounced,
        skipped (and why) or waits for a retry (admins and the hub's Hub Lead)."""
        visible_round(round_id)
        require("hub_lead")
        rows = db().scalars(select(t.OutboxMessage).where(t.OutboxMessage.round_id == round_id)
                            .order_by(t.OutboxMessage.kind == "coordinator", t.OutboxMessage.kind,
                                      t.OutboxMessage.record_id))
        counts = dict(db().execute(select(t.OutboxMessage.state, func.count())
                                   .where(t.OutboxMessage.round_id == round_id)
                                   .group_by(t.OutboxMessage.state)).all())
        items = [{**{c.key: getattr(r, c.key) for c in t.OutboxMessage.__table__.columns},
                  "has_invitation": r.calendar is not None} for r in rows]
        return {"counts": counts, "items": items}
