"""The one SQL quoting layer: every awkward value survives a round trip through DuckDB, templates fill strictly."""

from __future__ import annotations

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sessionlens.ingestion.normalise import ROUTE_SQL, route_sql
from sessionlens.sqltext import fill, ident, literal, literal_list, placeholders

AWKWARD = ["", "plain", "O'Brien", "''", "'; DROP TABLE x; --", "back\\slash", "\\'", 'dou"ble', "$1 $name",
           "{{ table }}", "{{", "}}", "ünïcødé ✓ 日本", "tab\tnew\nline", "%_*?", "emoji 🐘"]
# Any text a SQL string can hold: every character but NUL (and lone surrogates, which no UTF-8 text holds).
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))


@pytest.fixture(scope="module")
def con():
    c = duckdb.connect()
    yield c
    c.close()


@pytest.mark.parametrize("value", AWKWARD)
def test_literal_round_trips(con, value):
    assert con.execute(f"SELECT {literal(value)}").fetchone()[0] == value


@settings(max_examples=200, deadline=None)
@given(value=TEXT)
def test_literal_round_trips_any_text(con, value):
    assert con.execute(f"SELECT {literal(value)}").fetchone()[0] == value


@settings(max_examples=100, deadline=None)
@given(values=st.lists(TEXT, max_size=5))
def test_literal_list_round_trips(con, values):
    assert con.execute(f"SELECT {literal_list(values)}::VARCHAR[]").fetchone()[0] == values


def test_literal_list_of_awkward_values(con):
    assert con.execute(f"SELECT {literal_list(AWKWARD)}").fetchone()[0] == AWKWARD


def test_literal_takes_any_value_as_text(con):
    assert con.execute(f"SELECT {literal(42)}, {literal(None)}").fetchone() == ("42", "None")


@pytest.mark.parametrize("name", ["at", "end", "select", 'a"b', "with space", "ünï", "$x", "{{ y }}", "O'Brien"])
def test_ident_names_any_column(con, name):
    rel = con.execute(f"SELECT 1 AS {ident(name)}")
    assert [d[0] for d in rel.description] == [name]
    assert con.execute(f"SELECT {ident(name)} FROM (SELECT 7 AS {ident(name)})").fetchone()[0] == 7


@settings(max_examples=100, deadline=None)
@given(name=TEXT.filter(bool))
def test_ident_round_trips_any_name(con, name):
    rel = con.execute(f"SELECT 1 AS {ident(name)}")
    assert rel.description[0][0] == name


def test_nul_is_refused():
    with pytest.raises(ValueError, match="NUL"):
        literal("a\x00b")
    with pytest.raises(ValueError, match="NUL"):
        literal_list(["ok", "a\x00b"])
    with pytest.raises(ValueError, match="NUL"):
        ident("a\x00b")


def test_fill_replaces_every_hole(con):
    template = "SELECT {{ a }} AS x, {{b}} AS y, {{ a }} || '-' AS z"
    assert placeholders(template) == {"a", "b"}
    sql = fill(template, a=literal("it's"), b="41 + 1")
    assert con.execute(sql).fetchone() == ("it's", 42, "it's-")


@pytest.mark.parametrize("value", AWKWARD)
def test_fill_puts_parts_in_as_they_are(con, value):
    """A part holding ``{{ name }}``, '$' or backslashes is not read again as a template."""
    sql = fill("SELECT {{ v }} AS v, {{ w }} AS w", v=literal(value), w=literal("{{ v }}"))
    assert con.execute(sql).fetchone() == (value, "{{ v }}")


def test_fill_refuses_a_missing_name():
    with pytest.raises(ValueError, match="no value for b"):
        fill("SELECT {{ a }}, {{ b }}", a="1")


def test_fill_refuses_an_unknown_name():
    with pytest.raises(ValueError, match="no hole for c"):
        fill("SELECT {{ a }}", a="1", c="2")


def test_fill_leaves_single_braces_alone(con):
    """Regex quantifiers and JSON objects in SQL are not holes."""
    sql = fill("SELECT regexp_full_match({{ s }}, '[0-9]{3}'), '{\"k\": 1}'", s=literal("123"))
    assert con.execute(sql).fetchone() == (True, '{"k": 1}')


def test_route_template_fills_a_path(con):
    assert placeholders(ROUTE_SQL) == {"path", "id_segment"}
    assert con.execute(f"SELECT {route_sql(literal('/works/123/kudos/42'))}").fetchone()[0] == "/works/:id/kudos/:id"
