"""One exception base for everything a user can fix.

Each subclass names what the user must change; the CLI turns any ``PhyneoError`` into a one-line
message and exit code 2, and writes nothing to the database.
"""

from __future__ import annotations


class PhyneoError(Exception):
    """Base of every error the user can act on.

    ``field`` names the input that is wrong (a formulation key, a CLI option, a file); ``fix`` says
    what to do about it.
    """

    def __init__(self, message: str, *, field: str | None = None, fix: str | None = None):
        self.message = message
        self.field = field
        self.fix = fix
        text = message
        if field:
            text = f"{field}: {text}"
        if fix:
            text = f"{text} ({fix})"
        super().__init__(text)


class InputError(PhyneoError, ValueError):
    """A formulation, a CLI argument or an input file is invalid.

    It is a ``ValueError`` too, so pydantic validators can raise it and report where it happened.
    """


class UnitError(InputError):
    """A quantity carries a unit that is unknown or of the wrong dimension."""


class SpeciesError(InputError):
    """A species name is unknown or a SMILES string does not parse."""


class BoxPackingError(PhyneoError):
    """packmol could not pack the requested box."""


class EngineNotFoundError(PhyneoError):
    """An external program (psi4, packmol, ...) is not installed."""


class EngineError(PhyneoError):
    """An engine ran but failed (non-convergence, crash); the engine's message is attached."""


class StoreError(PhyneoError):
    """The result database cannot be reached or is misconfigured."""
