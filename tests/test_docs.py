"""The documentation stays true to the code: the configuration table lists exactly the flags the
parser accepts, each with the code's default; the README stays a page; no relative link is broken."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pytest

from candlecast.settings import Settings, parse_settings

ROOT = Path(__file__).resolve().parent.parent
CONFIGURATION = ROOT / "docs" / "configuration.md"
README_MAX_LINES = 220

# One option of `run.py --help` on one line: the flag, then its help, which ends in
# "(...default: X; env CANDLECAST_Y)" for every flag that takes a value.
HELP_OPTION = re.compile(r"^\s+(--[a-z0-9-]+)(?:\s+[A-Z0-9_]+)?\s+(.*)$")
HELP_DEFAULT = re.compile(r"default: (.*); env (CANDLECAST_[A-Z0-9_]+)\)$")
TABLE_ROW = re.compile(r"^\| `(--[a-z0-9-]+)` \| ([^|]*) \| ([^|]*) \|")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def parser_options(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> dict[str, tuple[str, str]]:
    """Flag -> (default as the parser shows it, environment variable), read from the real parser's
    --help. A switch (no value) shows no default: its default is the Settings field's."""
    monkeypatch.setenv("COLUMNS", "1000")  # one line per option
    with pytest.raises(SystemExit):
        parse_settings(["--help"], environ={})
    options = {}
    for line in capsys.readouterr().out.splitlines():
        if not (match := HELP_OPTION.match(line)) or match[1] == "--help":
            continue
        flag, help_text = match[1], match[2]
        field = flag[2:].replace("-", "_")
        if default := HELP_DEFAULT.search(help_text):
            options[flag] = (default[1], default[2])
        else:
            options[flag] = (str(getattr(Settings(), field)), f"CANDLECAST_{field.upper()}")
    return options


def documented_options() -> dict[str, tuple[str, str]]:
    """Flag -> (default, environment variable) as docs/configuration.md's table has them."""
    rows = {}
    for line in CONFIGURATION.read_text().splitlines():
        if match := TABLE_ROW.match(line):
            assert match[1] not in rows, f"{match[1]} is listed twice"
            rows[match[1]] = (match[2].strip().strip("`"), match[3].strip().strip("`"))
    return rows


def same_default(documented: str, coded: str) -> bool:
    """The table writes defaults for people (`30` for 30.0, `off` for False, `any` for no CPUs, `empty` for "")."""
    words = {"off": "False", "false": "False", "on": "True", "true": "True", "empty": ""}
    documented = words.get(documented.lower(), documented)
    if documented == coded:
        return True
    try:
        return Decimal(documented) == Decimal(coded)
    except InvalidOperation:
        return False


def test_the_configuration_table_lists_every_flag_the_parser_accepts_and_no_other(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    coded = parser_options(capsys, monkeypatch)
    documented = documented_options()
    assert len(coded) > 40  # the help was read, not an empty page
    assert sorted(set(coded) - set(documented)) == [], "flags the table lacks"
    assert sorted(set(documented) - set(coded)) == [], "flags the code lacks"


def test_the_configuration_table_has_each_flag_s_default_and_variable_as_the_code_has_them(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    coded = parser_options(capsys, monkeypatch)
    documented = documented_options()
    wrong = {
        flag: (documented[flag], coded[flag])
        for flag in coded.keys() & documented.keys()
        if not same_default(documented[flag][0], coded[flag][0]) or documented[flag][1] != coded[flag][1]
    }
    assert wrong == {}, "flag: (documented, coded)"


def test_the_readme_stays_a_page() -> None:
    lines = len((ROOT / "README.md").read_text().splitlines())
    assert lines <= README_MAX_LINES


def test_the_readme_keeps_the_test_command_ci_runs() -> None:
    assert "python -m pytest -q" in (ROOT / "README.md").read_text()
    assert "python -m pytest -q" in (ROOT / ".ci" / "run").read_text()


@pytest.mark.parametrize(
    "document", [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))], ids=lambda path: path.name
)
def test_every_relative_link_points_to_a_file_that_exists(document: Path) -> None:
    broken = []
    for target in LINK.findall(document.read_text()):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue
        path = target.split("#", 1)[0]
        if not (document.parent / path).exists():
            broken.append(target)
    assert broken == []
