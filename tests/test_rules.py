"""Session-error rules: defaults, user additions, overrides, bad files."""

from __future__ import annotations

import pytest

from sessionlens.errors import RulesError
from sessionlens.ingestion.rules import default_rules, load_rules

from .conftest import ingest_text, rows

LINES = (
    '10.0.0.1 - - [19/Sep/2023:16:09:12 +0000] "GET /api/items HTTP/1.1" 403 10 "-" "x"\n'
    '10.0.0.2 - - [19/Sep/2023:16:09:13 +0000] "POST /works/1/kudos HTTP/1.1" 422 10 "-" "x"\n'
    '10.0.0.3 - - [19/Sep/2023:16:09:14 +0000] "GET /login?reason=expired HTTP/1.1" 200 10 "-" "x"\n'
)


def test_default_rules_cover_the_spec():
    names = {r.name for r in default_rules().rules}
    for needed in ("rails-invalid-authenticity-token", "rails-csrf-422-form-post", "devise-session-expired", "devise-401",
                   "django-csrf", "django-suspicious-session", "laravel-419", "laravel-token-mismatch",
                   "login-redirect-expired", "app-event-session-expired", "app-event-session-invalid"):
        assert needed in names


def test_user_rules_add_override_and_disable(tmp_path):
    rules = tmp_path / "rules.toml"
    rules.write_text('''
[[rule]]
name = "api-403-expired"
kind = "expired"
status = [403]
path = "^/api/"

[[rule]]
name = "rails-csrf-422-form-post"
kind = "csrf"
enabled = false
''')
    lake, _ = ingest_text(tmp_path, LINES, fmt="nginx-combined", rules_file=rules)
    got = [(r["path"], r["error_kind"], r["error_rule"]) for r in rows(lake, order="ts")]
    assert got == [("/api/items", "expired", "api-403-expired"), ("/works/1/kudos", None, None),
                   ("/login", "expired", "login-redirect-expired")]
    # without the file, the defaults apply
    (tmp_path / "b").mkdir()
    lake2, _ = ingest_text(tmp_path / "b", LINES, fmt="nginx-combined")
    got2 = [r["error_kind"] for r in rows(lake2, order="ts")]
    assert got2 == [None, "csrf", "expired"]


@pytest.mark.parametrize("text,needle", [
    ("[[rule]]\nkind = 'x'\n", "name and a kind"),
    ("[[rule]]\nname = 'a'\nkind = 'x'\npath = '('\n", "bad path regex"),
    ("[[rule]]\nname = 'a'\nkind = 'x'\ncolour = 'red'\n", "unknown key"),
    ("not toml [", "not valid TOML"),
])
def test_bad_rule_files_are_named(tmp_path, text, needle):
    f = tmp_path / "r.toml"
    f.write_text(text)
    with pytest.raises(RulesError, match=needle):
        load_rules(f)


def test_missing_rule_file(tmp_path):
    with pytest.raises(RulesError, match="no such rules file"):
        load_rules(tmp_path / "nope.toml")
