"""A policy change: a partial policy merged over a round's policy, validated like any policy.

A Hub Lead asks "what would 40 km do?" with ``{"default_max_travel_km": 40}``, not a whole policy. The change is
merged key by key over the round's policy; ``weights`` and ``kinds`` one level deeper (a weight, a kind's rules
key by key), so a change never has to restate what it keeps. A full policy is the change that gives every key.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from marshmallow import ValidationError

from models.domain import Policy
from models.errors import ProblemError, faults_from_marshmallow
from models.schemas import PolicySchema

DEEPER = ("weights", "kinds")


def policy_dict(policy: Policy) -> dict[str, Any]:
    """The policy as the JSON of the problem format (tuples as lists); no ``kinds`` when it has no rules per kind,
    so that a policy of before them reads back as it was written."""
    document = json.loads(json.dumps(dataclasses.asdict(policy)))
    return document if document["kinds"] else {k: v for k, v in document.items() if k != "kinds"}


def merged(base: Mapping[str, Any], change: Mapping[str, Any]) -> dict[str, Any]:
    """``change`` over ``base``: key by key, and ``weights`` and each kind's rules of ``kinds`` key by key."""
    out = dict(base)
    for key, value in change.items():
        if key == "weights" and isinstance(value, Mapping) and isinstance(base.get(key), Mapping):
            out[key] = {**base[key], **value}
        elif key == "kinds" and isinstance(value, Mapping) and isinstance(base.get(key), Mapping):
            out[key] = {**base[key]}
            for kind, rules in value.items():
                old = base[key].get(kind)
                both = isinstance(rules, Mapping) and isinstance(old, Mapping)
                out[key][kind] = {**old, **rules} if both else rules
        else:
            out[key] = value
    return out


def changed_policy(policy: Policy, change: Mapping[str, Any]) -> Policy:
    """The policy with ``change`` merged over it; a bad change raises ProblemError naming ``policy.<field>``."""
    if not isinstance(change, Mapping):
        raise ProblemError(faults_from_marshmallow({"policy": ["Must be an object."]}, {}))
    document = merged(policy_dict(policy), change)
    try:
        return PolicySchema().load(document)
    except ValidationError as error:
        raise ProblemError(faults_from_marshmallow({"policy": error.messages}, {"policy": document})) from None
