"""The plan in force: the published scenario version, opened, and the publication before it.

The workflow (:mod:`terrmap.store.workflow`) records which scenario version is
published from which day; this module opens that version as a plan over its
data set, for the pages, the exports and the CLI, which use the published
plan by default.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd

from terrmap.core.plan import Plan
from terrmap.geo.workspace import Workspace
from terrmap.store.scenarios import ScenarioStore
from terrmap.store.workflow import Publication

__all__ = ["PublishedPlan", "open_publication", "plan_in_force", "publication_before"]


@dataclass(frozen=True)
class PublishedPlan:
    """A publication opened: its record, the data set and the plan.

    Attributes
    ----------
    publication : Publication
        Which scenario version, from when, by whom.
    workspace : Workspace
        The data set of the scenario.
    plan : Plan
        The published version replayed over it.
    """

    publication: Publication
    workspace: Workspace
    plan: Plan


def open_publication(
    store: ScenarioStore, publication: Publication, workspace: Workspace | None = None
) -> PublishedPlan:
    """Open a publication's scenario version.

    Parameters
    ----------
    store : ScenarioStore
        The store.
    publication : Publication
        The publication (e.g. from :meth:`ScenarioStore.published`).
    workspace : Workspace, optional
        Its data set if the caller has it; loaded from the store otherwise.

    Returns
    -------
    PublishedPlan
    """
    opened = store.open(publication.scenario_id, workspace, version=publication.version)
    return PublishedPlan(publication, opened.workspace, opened.plan)


def plan_in_force(
    store: ScenarioStore, as_of: date | datetime | str | None = None
) -> PublishedPlan | None:
    """Open the plan in force on a day (today by default); ``None`` before any publication."""
    publication = store.published(as_of)
    return None if publication is None else open_publication(store, publication)


def publication_before(store: ScenarioStore, publication: Publication) -> Publication | None:
    """Find the latest earlier publication of another plan (scenario or version), if any.

    The CRM delta of a publication is what changed since this one: a restore
    or a second publication of the same version changed nothing, so it is
    skipped.
    """
    frame = store.publications()
    earlier = frame[frame["publication_id"] < publication.publication_id]
    same = (earlier["scenario_id"] == publication.scenario_id) & (
        earlier["version"] == publication.version
    )
    earlier = earlier[~same]
    if earlier.empty:
        return None
    row = earlier.iloc[-1]
    return Publication(
        publication_id=int(row["publication_id"]),
        scenario_id=str(row["scenario_id"]),
        scenario_name=str(row["scenario_name"]),
        version=int(row["version"]),
        effective_date=row["effective_date"],
        published_by=str(row["published_by"]),
        published_at=row["published_at"].to_pydatetime(),
        restored_from=None if pd.isna(row["restored_from"]) else int(row["restored_from"]),
    )
