"""UK postcodes as the register and the Royal Mail write them: upper case, one space before the inward code.

A postcode typed into a spreadsheet arrives as ``bb120ab``, `` BB12  0AB`` or ``BB12 0AB``; stored as typed, the
three never match a search for one another. ``normalise`` gives the one written form, and refuses text that is not
a full postcode in shape (outward code of 2 to 4 characters, a space, a digit and two letters), such as
``BB12 !!!`` or a district alone.
"""

from __future__ import annotations

import re

FULL_POSTCODE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?) ?([0-9][A-Z]{2})$")
RULE = "A UK postcode is an outward code, a space and an inward code, e.g. 'PR1 8JN' or 'BB12 0AB'."


def normalise(text: str) -> str | None:
    """``"bb120ab"`` -> ``"BB12 0AB"``; None when the text is not a full UK postcode."""
    compact = "".join(text.split()).upper()
    found = FULL_POSTCODE.match(compact)
    return None if found is None else f"{found.group(1)} {found.group(2)}"
