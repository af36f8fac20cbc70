"""CSV that is safe to open in a spreadsheet: formula cells neutralised, a plain ASCII file name.

Excel, LibreOffice and Google Sheets run a cell that starts with `=`, `+`, `-` or `@` as a
formula (and a leading tab or CR is skipped before looking), which can fetch URLs or, through
DDE, start programs (OWASP "CSV Injection"). Error descriptions come from portals and bot
codes from admins, so every text cell that starts so gets a leading apostrophe, which the
spreadsheet shows as text. `|` and `%` start DDE and macro syntax in some of them: neutralised
too. Numbers are written as they are: -5 is a number, not a formula.
"""

from collections.abc import Iterable

from django.utils.text import slugify

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "|", "%")


def safe_cell(value: object) -> object:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_row(values: Iterable[object]) -> list[object]:
    return [safe_cell(v) for v in values]


def download_name(*parts: str, suffix: str) -> str:
    """`acme-support-bot-history.csv`: each part slugified to ASCII, so no quote or newline reaches the header."""
    slugs = [slugify(part)[:60] or "export" for part in parts]
    return "-".join(slugs) + suffix
