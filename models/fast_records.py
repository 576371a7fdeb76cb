"""The fast path of ``load_problem``: the bulk record lists checked a column at a time, by the schemas' own rules.

Marshmallow deserialises a national round's 10,000 records field by field (~135k field calls, most of half a
second). This module reads the same rules off the schemas' field objects (their types, ``required``,
``allow_none``, ``load_default`` and validators: the ranges stay in ``models.schemas``), checks each field over all
records in one pass, mirrors each schema's ``validates_schema`` and ``post_load``, and builds the domain records
directly.

It only ever accepts: on the first value it does not accept plainly (a wrong type, a number out of range, an
unknown or missing field, a postcode it cannot place...) it gives up on the whole document, and ``load_problem``
loads that with marshmallow, so every fault and its wording still come from the schemas. A schema that gains a
field type, a validator or a hook this module does not know makes importing it fail, rather than the two paths
drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from itertools import repeat
from typing import Any

import numpy as np
from marshmallow import Schema, ValidationError, fields, missing, validate
from marshmallow.decorators import POST_LOAD, PRE_LOAD, VALIDATES, VALIDATES_SCHEMA

from models.collector import collector_paused
from models.domain import Adviser, CornerstoneEmployer, Pair, Policy, Problem, School, Site, records_from_columns
from models.geocode import locate
from models.postcodes import normalise as normalise_postcode
from models.schemas import (
    _ID,
    BENCHMARKS,
    MAX_LIST_ITEM_LENGTH,
    PERCENT,
    AdviserSchema,
    EmployerSchema,
    HubSchema,
    Marks,
    Names,
    OneLine,
    PairSchema,
    PolicySchema,
    Postcode,
    SchoolSchema,
    SiteSchema,
    control_character,
)

Column = list[Any]
Convert = Callable[[Column], Column]
_MISSING, _NONE = type(missing), type(None)
_NUMBERS = frozenset({int, float})  # exact types: bool, and float or int subclasses, go to marshmallow
_BENCHMARKS = frozenset(BENCHMARKS)
_LOAD_HOOKS = (PRE_LOAD, VALIDATES, VALIDATES_SCHEMA, POST_LOAD)


class Refused(Exception):
    """A value the fast path does not accept plainly: marshmallow loads the whole document (and words the fault)."""


def fast_problem(raw: Mapping[str, Any]) -> Problem | None:
    """The Problem of ``raw`` when the fast path accepts all of it, else None (load it with marshmallow).

    The fields of the Problem are exactly those ``ProblemSchema`` builds; the hub and the policy, one record
    each, go through their schemas as they are. Checks across records are left to ``check_problem``, as on the
    marshmallow path.
    """
    if "hub" not in raw:
        return None
    try:
        # ~200k containers (records, their dicts and tuples) beside the parsed document's own would set off full
        # collections rescanning them all for nothing: 0.5 s with the collector running at 20,000 schools and
        # advisers, 0.3 s paused (``hubmatch solve`` runs with it off already)
        with collector_paused():
            schools = _record_list(raw, "schools", _SCHOOLS, required=True)
            advisers = _record_list(raw, "advisers", _ADVISERS)
            employers = _record_list(raw, "employers", _EMPLOYERS)
            pairs = _record_list(raw, "pairs", _PAIRS)
        hub = HubSchema().load(raw["hub"])
        policy = PolicySchema().load(raw["policy"]) if "policy" in raw else Policy()
    except (Refused, ValidationError):
        return None
    return Problem(hub=hub, policy=policy, schools=schools, advisers=advisers, employers=employers, pairs=pairs)


def fast_records(collection: str, raws: list) -> list | None:
    """The records of one collection (``schools``, ``advisers``, ``employers``) when the fast path accepts every
    one, else None (load them with marshmallow): an import's chunks of rows. Ids repeated within them are the
    caller's to find, as they are marshmallow's callers'."""
    try:
        with collector_paused():
            return _COLLECTIONS[collection](raws)
    except (Refused, ValidationError):
        return None


def _record_list(raw: Mapping[str, Any], key: str, load: Callable[[list], list], required: bool = False) -> tuple:
    """A list of records as ``fields.Nested(many=True)`` with ``load_default=list`` takes it."""
    value = raw.get(key, missing)
    if value is missing and not required:
        return ()
    if type(value) is not list:
        raise Refused(key)
    return tuple(load(value))


class _Records:
    """The records of one schema, ``Nested(many=True)`` style: each a dict of known keys (``unknown = RAISE``),
    each field loaded over the column of all records, then ``finish`` mirrors the schema's own hooks."""

    def __init__(self, schema: Schema, hooks: set[str], finish: Callable[[dict[str, Column]], list]):
        found = _load_hooks(schema)
        if found != hooks:
            raise TypeError(f"{type(schema).__name__} has the hooks {found}; the fast path mirrors {hooks}")
        self.keys = frozenset(schema.load_fields)
        self.loaders = {name: _field_loader(field) for name, field in schema.load_fields.items()}
        self.finish = finish

    def __call__(self, records: list) -> list:
        if not set(map(type, records)) <= {dict} or not all(map(self.keys.issuperset, records)):
            raise Refused("record")
        count = len(records)
        columns = {
            name: load(list(map(dict.get, records, repeat(name, count), repeat(missing, count))))
            for name, load in self.loaders.items()
        }
        return self.finish(columns)


def _load_hooks(schema: Schema) -> set[str]:
    """The names of the schema's decorated load methods, from marshmallow's own register of them (``_hooks``: in
    marshmallow 4 by tag, each a (name, many, options); in marshmallow 3 by (tag, many), each a name)."""
    found = set()
    for key, entries in schema._hooks.items():
        if (key[0] if isinstance(key, tuple) else key) in _LOAD_HOOKS:
            found |= {entry[0] if isinstance(entry, tuple) else entry for entry in entries}
    return found


def _field_loader(field: fields.Field) -> Convert:
    """The field over a column of raw values (``missing`` where a record lacks the key), as ``Field.deserialize``
    treats each: ``required``, then ``load_default`` for a missing key, None where ``allow_none``, else the
    value converted and validated by ``_converter``."""
    hooks = getattr(field, "pre_load", None) or getattr(field, "post_load", None)  # marshmallow 4's field hooks
    if field.data_key is not None or field.attribute is not None or hooks:
        raise TypeError(f"{field!r}: no fast path for renamed fields or field hooks")
    convert = _converter(field)
    required, allow_none, default = field.required, field.allow_none, field.load_default

    def load(values: Column) -> Column:
        kinds = set(map(type, values))
        if _MISSING not in kinds and _NONE not in kinds:
            return convert(values)
        if (_MISSING in kinds and required) or (_NONE in kinds and not allow_none):
            raise Refused(field.name)
        given = iter(convert([v for v in values if v is not None and v is not missing]))
        fresh = default if callable(default) else lambda: default  # list, dict: a new one per record
        return [None if v is None else fresh() if v is missing else next(given) for v in values]

    return load


def _converter(field: fields.Field) -> Convert:
    makers: dict[type, Callable[[Any], Convert]] = {
        fields.Float: _floats,
        fields.Integer: _integers,
        fields.Boolean: _booleans,
        fields.String: _strings,
        Postcode: _postcodes,
        Names: _names,
        Marks: _marks,
        fields.List: _nested_lists,
    }
    make = makers.get(type(field))
    if make is None:
        raise TypeError(f"{field!r}: no fast path for {type(field).__name__} fields")
    return make(field)


def _ranges(field: fields.Field) -> list[validate.Range]:
    """The field's validators, which must all be ranges (a number field)."""
    ranges = [v for v in field.validators if type(v) is validate.Range]
    if len(ranges) != len(field.validators):
        raise TypeError(f"{field!r}: a number field's validators must be ranges")
    return ranges


def _within(low: Any, high: Any, ranges: Sequence[validate.Range]) -> bool:
    """Whether every value between the column's lowest and highest lies in each range (``Range.__call__``)."""
    for r in ranges:
        if r.min is not None and (low < r.min if r.min_inclusive else low <= r.min):
            return False
        if r.max is not None and (high > r.max if r.max_inclusive else high >= r.max):
            return False
    return True


def _numbers(values: Column, name: str | None) -> np.ndarray:
    """The column as floats, when every value is an int or a float (not a bool) that a float can hold."""
    if not set(map(type, values)) <= _NUMBERS:
        raise Refused(name)
    try:
        return np.array(values, dtype=np.float64)
    except OverflowError:  # an int beyond any float: marshmallow's "Number too large."
        raise Refused(name) from None


def _floats(field: fields.Float) -> Convert:
    if field.allow_nan:
        raise TypeError(f"{field!r}: the fast path refuses every NaN")
    ranges = _ranges(field)

    def convert(values: Column) -> Column:
        column = _numbers(values, field.name)
        if column.size and not (
            np.isfinite(column).all() and _within(float(column.min()), float(column.max()), ranges)
        ):
            raise Refused(field.name)
        return column.tolist()  # float(value) of each, as Float._format_num

    return convert


def _integers(field: fields.Integer) -> Convert:
    if not field.strict:
        raise TypeError(f"{field!r}: the fast path takes strict integers only")
    ranges = _ranges(field)

    def convert(values: Column) -> Column:
        if not set(map(type, values)) <= {int} or (values and not _within(min(values), max(values), ranges)):
            raise Refused(field.name)
        return values

    return convert


def _booleans(field: fields.Boolean) -> Convert:
    if field.validators:
        raise TypeError(f"{field!r}: no fast path for validated booleans")

    def convert(values: Column) -> Column:
        if not set(map(type, values)) <= {bool}:  # 1, "true", "yes": marshmallow's to read
            raise Refused(field.name)
        return values

    return convert


def _text_check(validator: Any) -> Callable[[Column], bool]:
    """Whether every string of a column passes ``validator``, in one pass over the column."""
    if type(validator) is validate.Length and validator.equal is None:
        low, high = validator.min, validator.max
        return lambda texts: not texts or (
            (low is None or min(map(len, texts)) >= low) and (high is None or max(map(len, texts)) <= high)
        )
    if type(validator) is OneLine:
        return _one_line
    if type(validator) is validate.Regexp:
        return lambda texts: all(map(validator.regex.match, texts))
    if type(validator) is validate.OneOf:
        return lambda texts: set(texts) <= set(validator.choices)
    raise TypeError(f"no fast path for the validator {validator!r}")


def _one_line(texts: Column) -> bool:
    """``OneLine`` over a column at once: a space joins the texts, and a space is no control character."""
    return control_character(" ".join(texts)) is None


def _strings(field: fields.String) -> Convert:
    checks = [_text_check(v) for v in field.validators]

    def convert(values: Column) -> Column:
        if not set(map(type, values)) <= {str} or not all(check(values) for check in checks):
            raise Refused(field.name)
        return values

    return convert


def _postcodes(field: Postcode) -> Convert:
    """``Postcode._deserialize`` (one line, then the one written form) and then the field's validators."""
    checks = [_text_check(v) for v in field.validators]

    def convert(values: Column) -> Column:
        if not set(map(type, values)) <= {str} or not _one_line(values):
            raise Refused(field.name)
        written = list(map(normalise_postcode, values))
        if None in written or not all(check(written) for check in checks):
            raise Refused(field.name)
        return written

    return convert


def _names(field: Names) -> Convert:
    """``Names._deserialize`` over every item of every record's list at once."""
    if field.validators:
        raise TypeError(f"{field!r}: no fast path for validated names")

    def convert(values: Column) -> Column:
        if not set(map(type, values)) <= {list}:
            raise Refused(field.name)
        items = [item for value in values for item in value]
        if items and not (
            set(map(type, items)) <= {str}
            and min(map(len, items)) > 0
            and max(map(len, items)) <= MAX_LIST_ITEM_LENGTH
            and (all(map(_ID.match, items)) if field.ids else _one_line(items))
        ):
            raise Refused(field.name)
        return values

    return convert


def _marks(field: Marks) -> Convert:
    """``Marks._deserialize`` over every mark of every record at once."""
    if field.validators:
        raise TypeError(f"{field!r}: no fast path for validated marks")

    def convert(values: Column) -> Column:
        if not set(map(type, values)) <= {dict} or not all(marks.keys() <= _BENCHMARKS for marks in values):
            raise Refused(field.name)
        column = _numbers([number for marks in values for number in marks.values()], field.name)
        if not ((column >= PERCENT.min) & (column <= PERCENT.max)).all():  # NaN fails both
            raise Refused(field.name)
        return [dict(zip(marks, map(float, marks.values()), strict=True)) for marks in values]

    return convert


def _nested_lists(field: fields.List) -> Convert:
    """``List(Nested(schema))``: every record of every list loaded at once, then dealt back to its list."""
    inner = field.inner
    if type(inner) is not fields.Nested or inner.many or type(inner.schema) not in _NESTED:
        raise TypeError(f"{field!r}: no fast path for this list")
    load = _NESTED[type(inner.schema)]
    checks = [_text_check(v) for v in field.validators]  # a Length on a list works as on a text

    def convert(values: Column) -> Column:
        if not set(map(type, values)) <= {list} or not all(check(values) for check in checks):
            raise Refused(field.name)
        made = iter(load([item for value in values for item in value]))
        return [[next(made) for _ in value] for value in values]

    return convert


def _placed(columns: dict[str, Column]) -> None:
    """``_Located.place`` and ``_Located.placed``: coordinates, or both missing and a postcode whose district is
    known (placed at its centroid)."""
    lats, lons, postcodes = columns["lat"], columns["lon"], columns["postcode"]
    if None not in lats and None not in lons:
        return
    for index, (lat, lon) in enumerate(zip(lats, lons, strict=True)):
        if (lat is None) != (lon is None):
            raise Refused("lat")
        if lat is None:
            found = locate(postcodes[index]) if postcodes[index] else None
            if found is None:
                raise Refused("postcode")
            lats[index], lons[index] = found


def _tuples(columns: dict[str, Column], *keys: str, unique: Sequence[str] = ()) -> None:
    """Lists as the tuples the records hold; those in ``unique`` without repeats, first kept."""
    for key in keys:
        columns[key] = list(map(tuple, columns[key]))
    for key in unique:
        columns[key] = list(map(tuple, map(dict.fromkeys, columns[key])))


def _finish_schools(columns: dict[str, Column]) -> list[School]:
    """``SchoolSchema.make``: placed; an old file's one ``current_adviser`` first among the current advisers."""
    _placed(columns)
    legacy = columns.pop("current_adviser")
    if any(legacy):  # missing and None are falsy, as a legacy id of "" cannot be
        columns["current_advisers"] = [
            ([old] if old else []) + list(now) for old, now in zip(legacy, columns["current_advisers"], strict=True)
        ]
    _tuples(columns, "sectors", "needs", unique=("current_advisers", "current_cornerstones"))
    return records_from_columns(School, columns)


def _finish_advisers(columns: dict[str, Column]) -> list[Adviser]:
    """``AdviserSchema.make``: placed; the postcode only places the adviser."""
    _placed(columns)
    del columns["postcode"]
    _tuples(columns, "sectors", "skills", "conflicts")
    return records_from_columns(Adviser, columns)


def _finish_sites(columns: dict[str, Column]) -> list[Site]:
    return records_from_columns(Site, columns)


def _finish_employers(columns: dict[str, Column]) -> list[CornerstoneEmployer]:
    _tuples(columns, "sites", "sectors")
    return records_from_columns(CornerstoneEmployer, columns)


def _finish_pairs(columns: dict[str, Column]) -> list[Pair]:
    """``PairSchema.not_both`` and ``make``."""
    if any(locked and forbidden for locked, forbidden in zip(columns["locked"], columns["forbidden"], strict=True)):
        raise Refused("locked")
    return records_from_columns(Pair, columns)


_NESTED: dict[type[Schema], _Records] = {SiteSchema: _Records(SiteSchema(), {"make"}, _finish_sites)}
_SCHOOLS = _Records(SchoolSchema(), {"place", "make"}, _finish_schools)
_ADVISERS = _Records(AdviserSchema(), {"place", "make"}, _finish_advisers)
_EMPLOYERS = _Records(EmployerSchema(), {"make"}, _finish_employers)
_PAIRS = _Records(PairSchema(), {"not_both", "make"}, _finish_pairs)
_COLLECTIONS = {"schools": _SCHOOLS, "advisers": _ADVISERS, "employers": _EMPLOYERS}
