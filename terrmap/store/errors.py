"""What the scenario store raises (besides :class:`~terrmap.store.database.StoreUnavailableError`)."""

from __future__ import annotations

from datetime import datetime

__all__ = [
    "ScenarioConflictError",
    "ScenarioError",
    "ScenarioNotFoundError",
    "WorkflowError",
]


class ScenarioError(Exception):
    """A scenario cannot be saved or opened as asked."""


class ScenarioNotFoundError(ScenarioError, KeyError):
    """No scenario (or data set, or autosave, or publication) with that id."""

    def __str__(self) -> str:  # KeyError quotes its message; say it plainly
        return str(self.args[0]) if self.args else ""


class WorkflowError(ScenarioError):
    """A workflow step that the scenario's status does not allow (e.g. publish a rejected plan)."""


class ScenarioConflictError(ScenarioError):
    """The scenario was saved by someone else since it was opened.

    Attributes
    ----------
    name : str
        The scenario's name.
    expected_version : int
        The version the caller had opened.
    current_version : int
        The version in the database.
    saved_by : str or None
        Who saved the current version.
    saved_at : datetime
        When (UTC).
    """

    def __init__(
        self,
        name: str,
        expected_version: int,
        current_version: int,
        saved_by: str | None,
        saved_at: datetime,
    ) -> None:
        self.name = name
        self.expected_version = expected_version
        self.current_version = current_version
        self.saved_by = saved_by
        self.saved_at = saved_at
        who = saved_by or "someone"
        super().__init__(
            f"Scenario {name!r} changed since you opened it: {who} saved version "
            f"{current_version} at {saved_at:%Y-%m-%d %H:%M:%S} UTC (you opened version "
            f"{expected_version}). Open it again to see their changes, or save yours "
            "under a new name."
        )
