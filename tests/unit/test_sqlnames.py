"""Qualified names typed by people are read as PostgreSQL's parse_ident() reads them."""

from __future__ import annotations

import pytest

from noa_lib.errors import ParameterError
from noa_lib.ops.backup.scratch import _extension
from noa_lib.ops.backup.snapshot import split_column
from noa_lib.ops.sqlnames import parse_qualified


def _parse(text: str) -> tuple[str, ...]:
    return parse_qualified(text, name="name", accepted="a.b")


def test_quoted_parts_keep_dots_spaces_quotes_and_case() -> None:
    assert _parse('"Über Schema"."a.b"."quote""inside"') == ("Über Schema", "a.b", 'quote"inside')
    assert _parse('public . "select"') == ("public", "select")
    assert _parse("日本語.Tbl") == ("日本語", "tbl")  # unquoted: ASCII folded, like PostgreSQL


@pytest.mark.parametrize("bad", ["", "a..b", '"open', '"a"b', "a.", "a b"])
def test_malformed_names_are_refused_with_the_accepted_form(bad: str) -> None:
    with pytest.raises(ParameterError) as info:
        _parse(bad)
    assert "accepted: a.b" in str(info.value)


def test_split_column_defaults_the_schema_and_counts_parts() -> None:
    assert split_column("events.created_at") == ("public", "events", "created_at")
    assert split_column('"My.Schema"."Events".created_at') == ("My.Schema", "Events", "created_at")
    with pytest.raises(ParameterError):
        split_column("a.b.c.d")
    with pytest.raises(ParameterError):
        split_column("created_at")


def test_restore_list_names_extensions_unquoted() -> None:
    """pg_restore --list quotes an extension's name in its comment's tag only."""
    assert _extension("2; 3079 16747 EXTENSION - uuid-ossp ") == "uuid-ossp"
    assert _extension('3450; 0 0 COMMENT - EXTENSION "uuid-ossp" ') == "uuid-ossp"
    assert _extension('3451; 0 0 COMMENT - EXTENSION "odd""name"') == 'odd"name'
    assert _extension("3449; 0 0 COMMENT - EXTENSION hstore ") == "hstore"
    assert _extension("215; 1259 16760 TABLE public users noa") is None
