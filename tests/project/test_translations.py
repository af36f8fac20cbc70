"""The Russian catalogue is complete and current: every entry translated and not fuzzy, django.mo
compiled from this django.po, and makemessages finds no string the catalogue lacks.

Needs GNU gettext (msgfmt, msgattrib, xgettext), as makemessages and compilemessages do."""

import gettext
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

ROOT = Path(settings.BASE_DIR)
CATALOGUE = ROOT / "locale" / "ru" / "LC_MESSAGES"
# What makemessages reads: the product's own code and templates (docs/customer-status.md).
SOURCES = ("checks", "dashboard", "templates", "manage.py")


def gnu(tool: str) -> str:
    path = shutil.which(tool)
    if not path:
        pytest.fail(f"{tool} not found: apt-get install -y gettext")
    return path


def entries(po: Path, *flags: str) -> list[str]:
    """The msgids msgattrib selects with `flags` (the header excluded)."""
    out = subprocess.run([gnu("msgattrib"), *flags, str(po)], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if line.startswith("msgid ") and line != 'msgid ""']


def catalog(mo: Path) -> dict:
    with mo.open("rb") as f:
        return dict(gettext.GNUTranslations(f)._catalog)


def test_every_entry_is_translated_and_none_is_fuzzy():
    po = CATALOGUE / "django.po"
    assert entries(po, "--untranslated") == []
    assert entries(po, "--only-fuzzy") == []
    assert len(entries(po)) > 500  # the dashboard's strings are in it, not only the status page's


def test_the_mo_file_is_compiled_from_the_po_file(tmp_path):
    fresh = tmp_path / "django.mo"
    subprocess.run([gnu("msgfmt"), "--check-format", "-o", str(fresh), str(CATALOGUE / "django.po")], check=True)
    committed = catalog(CATALOGUE / "django.mo")
    assert committed == catalog(fresh), "run: manage.py compilemessages -l ru"


def test_makemessages_finds_no_string_the_catalogue_lacks(tmp_path, settings, monkeypatch):
    """makemessages over a copy of the sources: the same msgids as the committed catalogue (~2 s)."""
    gnu("xgettext")
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__", "static"))
        else:
            shutil.copy(source, tmp_path / name)
    copy = tmp_path / "locale" / "ru" / "LC_MESSAGES"
    copy.mkdir(parents=True)
    shutil.copy(CATALOGUE / "django.po", copy / "django.po")
    settings.LOCALE_PATHS = [tmp_path / "locale"]
    monkeypatch.chdir(tmp_path)
    call_command("makemessages", locale=["ru"], extensions=["html", "txt", "py"], no_location=True, verbosity=0)
    assert entries(copy / "django.po", "--untranslated") == [], "run makemessages and translate the new strings"
    assert entries(copy / "django.po", "--only-fuzzy") == []
    assert sorted(entries(copy / "django.po")) == sorted(entries(CATALOGUE / "django.po"))
