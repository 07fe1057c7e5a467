"""The one error of reference-catalogue access: one line naming the file or query and the problem."""

from __future__ import annotations

from typing import Any

from lco_core.errors import LcoError


class CatalogError(LcoError):
    """A reference catalogue cannot be read, queried or found in the cache.

    ``str(error)`` is ``"{where}: {problem}"`` on one line, e.g.
    ``refcat.csv: no magnitude column (columns: ra, dec, flux)``.

    Parameters
    ----------
    where : str
        The file or query.
    problem : str
        What went wrong, one line.
    """

    def __init__(self, where: str, problem: str) -> None:
        self.where = where
        self.problem = problem
        super().__init__(f"{where}: {problem}")

    def __reduce__(self) -> tuple[Any, ...]:
        # Process pools pickle errors: rebuild from the fields, not from the formatted message.
        return (type(self), (self.where, self.problem))


def one_line(error: BaseException) -> str:
    """The first line of an exception's message (its type name when the message is empty).

    Parameters
    ----------
    error : BaseException
        Any exception.

    Returns
    -------
    str
    """
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
