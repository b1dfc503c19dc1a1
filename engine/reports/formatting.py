"""Numbers for people: thousands separators, percentages, money in the workspace's currency."""

from __future__ import annotations

SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CAD": "CA$", "AUD": "A$", "INR": "₹", "CHF": "CHF "}
NO_CENTS = {"JPY", "KRW"}


def count(n: int | float | None) -> str:
    return "–" if n is None else f"{n:,.0f}"


def percent(rate: float | None, places: int = 1) -> str:
    return "–" if rate is None else f"{rate * 100:.{places}f}%"


def points(difference: float) -> str:
    """A difference of two rates, in percentage points."""
    return f"{difference * 100:+.1f} pts"


def money(amount: float | None, currency: str = "USD") -> str:
    if amount is None:
        return "–"
    places = 0 if currency in NO_CENTS else 2
    sign = "-" if amount < 0 else ""
    symbol = SYMBOLS.get(currency)
    number = f"{abs(amount):,.{places}f}"
    return f"{sign}{symbol}{number}" if symbol else f"{sign}{number} {currency}"
