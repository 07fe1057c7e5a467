"""Header: an immutable, astropy-free copy of a FITS header, kept for pass-through and parsing."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeAlias, overload

import attrs

HeaderValue: TypeAlias = str | int | float | bool | None

#: Keywords that may repeat and carry free text; `Header.get` ignores them.
COMMENTARY_KEYWORDS = frozenset({"HISTORY", "COMMENT", ""})


@attrs.frozen
class HeaderCard:
    """One header card.

    Attributes
    ----------
    keyword : str
        Upper-case keyword ('' for a blank card; 'HISTORY' and 'COMMENT' may repeat).
    value : str, int, float, bool or None
        The value (None when undefined).
    comment : str
        The card's comment; ``[unit]`` at its start gives the unit, as LCO writes them.
    """

    keyword: str
    value: HeaderValue
    comment: str = ""


def _card_tuple(cards: Iterable[HeaderCard]) -> tuple[HeaderCard, ...]:
    return tuple(cards)


def _index(cards: tuple[HeaderCard, ...]) -> dict[str, HeaderValue]:
    index: dict[str, HeaderValue] = {}
    for card in cards:
        if card.keyword not in COMMENTARY_KEYWORDS:
            index.setdefault(card.keyword, card.value)
    return index


@attrs.frozen
class Header:
    """An ordered, immutable sequence of cards with keyword lookup (the first card wins).

    Only ``lco_core.io`` converts to and from ``astropy.io.fits.Header``; everything else sees
    this.

    Attributes
    ----------
    cards : tuple of HeaderCard
        The cards in order.
    """

    cards: tuple[HeaderCard, ...] = attrs.field(default=(), converter=_card_tuple)
    _lookup: dict[str, HeaderValue] = attrs.field(
        init=False,
        repr=False,
        eq=False,
        default=attrs.Factory(lambda self: _index(self.cards), takes_self=True),
    )

    @overload
    def get(self, keyword: str) -> HeaderValue: ...
    @overload
    def get(self, keyword: str, default: HeaderValue) -> HeaderValue: ...
    def get(self, keyword: str, default: HeaderValue = None) -> HeaderValue:
        """The value of the first card with ``keyword`` (case-insensitive), else ``default``.

        Parameters
        ----------
        keyword : str
            The keyword; commentary keywords (HISTORY, COMMENT) are never found.
        default : str, int, float, bool or None
            What to return when there is no such card.

        Returns
        -------
        str, int, float, bool or None
        """
        return self._lookup.get(keyword.upper(), default)

    def __contains__(self, keyword: object) -> bool:
        return isinstance(keyword, str) and keyword.upper() in self._lookup

    def __iter__(self) -> Iterator[HeaderCard]:
        return iter(self.cards)

    def __len__(self) -> int:
        return len(self.cards)

    def keywords(self) -> tuple[str, ...]:
        """The distinct non-commentary keywords, in order of first appearance.

        Returns
        -------
        tuple of str
        """
        return tuple(self._lookup)

    def updated(self, cards: tuple[HeaderCard, ...]) -> Header:
        """A new header with each card's keyword set to its value (replaced in place, else appended).

        Commentary cards (HISTORY, COMMENT) are always appended.

        Parameters
        ----------
        cards : tuple of HeaderCard
            The cards to set.

        Returns
        -------
        Header
        """
        replacements = {card.keyword: card for card in cards if card.keyword not in COMMENTARY_KEYWORDS}
        kept = []
        for card in self.cards:
            replacement = replacements.pop(card.keyword, None)
            kept.append(card if replacement is None else replacement)
        appended = [
            card for card in cards if card.keyword in COMMENTARY_KEYWORDS or card.keyword in replacements
        ]
        return Header((*kept, *appended))

    def without(self, keywords: frozenset[str]) -> Header:
        """A new header without any card whose keyword is in ``keywords``.

        Parameters
        ----------
        keywords : frozenset of str
            Upper-case keywords to drop.

        Returns
        -------
        Header
        """
        return Header(tuple(card for card in self.cards if card.keyword not in keywords))
