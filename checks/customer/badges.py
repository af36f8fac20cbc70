"""Shields-style SVG badges: a label on grey, a message on the colour of the state ("support_bot | up 99.9 %").

Widths are estimated from the characters (Verdana 11 px averages about 7 px a character), as the
badge services do without a font at hand; every text is escaped.
"""

from django.utils.html import escape

COLOURS = {"up": "#2e7d32", "warn": "#b26a00", "down": "#c62828", "unknown": "#6b6b6b"}
CHAR_PX, PADDING = 7, 10

SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="20" role="img" aria-label="{label}: {message}">'
    "<title>{label}: {message}</title>"
    '<rect width="{lw}" height="20" fill="#555"/>'
    '<rect x="{lw}" width="{mw}" height="20" fill="{colour}"/>'
    '<g fill="#fff" text-anchor="middle" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11">'
    '<text x="{lx}" y="14">{label}</text><text x="{mx}" y="14">{message}</text></g></svg>'
)


def percent(uptime: float | None) -> str:
    """99.9 % style, never rounded up to 100 % while a check failed."""
    if uptime is None:
        return "no data"
    tenths = int(uptime * 1000) / 10
    return f"{tenths:g} %"


def message_for(tone: str, uptime: float | None) -> str:
    word = {"up": "up", "warn": "degraded", "down": "down"}.get(tone, "unknown")
    return f"{word} {percent(uptime)}" if uptime is not None else word


def badge(label: str, message: str, tone: str) -> str:
    lw = len(label) * CHAR_PX + PADDING
    mw = len(message) * CHAR_PX + PADDING
    return SVG.format(
        width=lw + mw,
        lw=lw,
        mw=mw,
        lx=lw / 2,
        mx=lw + mw / 2,
        label=escape(label),
        message=escape(message),
        colour=COLOURS.get(tone, COLOURS["unknown"]),
    )
