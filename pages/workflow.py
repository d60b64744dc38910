"""Review: propose a plan, comment, approve or reject, publish, and the publications kept.

The workflow's rules live in :mod:`terrmap.store.workflow` (four eyes, which
status allows what); who may press which button in
:mod:`terrmap.playbook.roles`. Every action happens in a button callback and
is signed by the signed-in user (the sidebar's name without sign-in). Names,
notes and comments come from users: they reach the screen through
``st.dataframe``, widget options or ``escape_markdown``.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from pages import _auth, _state
from terrmap.io.safe import escape_markdown
from terrmap.playbook.roles import claim_accounts
from terrmap.store.errors import ScenarioError

FLASH = "review_flash"
PICK = "review_pick"
PROPOSE_NOTE = "review_propose_note"
COMMENT_TEXT = "review_comment_text"
COMMENT_ON = "review_comment_on"
DECISION_NOTE = "review_decision_note"
EFFECTIVE = "review_effective_date"
RESTORE_PICK = "review_restore_pick"
CLAIM_IDS = "review_claim_ids"
CLAIM_NOTE = "review_claim_note"
CLAIM_TERRITORY = "review_claim_territory"

_state.page_setup()
store = _state.store_or_stop()
ss = st.session_state
user = _auth.current_user()
actor = _state.author()


def _flash(kind: str, text: str) -> None:
    ss[FLASH] = (kind, text)


def _quote(text: object) -> str:
    return f"“{escape_markdown(text)}”"


def _act(what, success: str) -> None:
    try:
        what()
    except (ScenarioError, ValueError, KeyError, PermissionError) as error:
        _flash("error", escape_markdown(error.args[0] if error.args else error))
        return
    _flash("success", success)


# --------------------------------------------------------------------------- callbacks


def _propose(scenario_id: str, name: str) -> None:
    _act(
        lambda: store.propose(scenario_id, actor, ss.get(PROPOSE_NOTE)),
        f"Proposed {_quote(name)} for review.",
    )
    ss[PROPOSE_NOTE] = ""


def _comment(scenario_id: str) -> None:
    move = ss.get(COMMENT_ON)
    _act(
        lambda: store.comment(scenario_id, actor, ss.get(COMMENT_TEXT, ""), move),
        "Comment added.",
    )
    ss[COMMENT_TEXT] = ""


def _review(scenario_id: str, name: str, decision: str) -> None:
    done = "Approved" if decision == "approve" else "Rejected"
    _act(
        lambda: store.review(scenario_id, actor, decision, ss.get(DECISION_NOTE)),
        f"{done} {_quote(name)}.",
    )
    ss[DECISION_NOTE] = ""


def _publish(scenario_id: str, name: str) -> None:
    day = ss.get(EFFECTIVE) or dt.date.today()
    _act(
        lambda: store.publish(scenario_id, actor, day),
        f"Published {_quote(name)}, in force from {day.isoformat()}.",
    )


def _restore() -> None:
    publication_id = ss.get(RESTORE_PICK)
    _act(
        lambda: store.restore_publication(int(publication_id), actor),
        f"Publication {publication_id} restored: it is the plan in force from today.",
    )


def _claim(territories: list[str]) -> None:
    ids = [part.strip() for part in str(ss.get(CLAIM_IDS, "")).replace(";", ",").split(",")]
    note = str(ss.get(CLAIM_NOTE) or "").strip() or None

    def ask() -> None:
        territory = ss.get(CLAIM_TERRITORY) if len(territories) > 1 else None
        request = claim_accounts(_state.plan(), user, [i for i in ids if i], territory, note=note)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
        info = store.save(
            request,
            dataset_id=_state.dataset_id(),
            name=f"Request by {user.display_name} {stamp}",
            author=actor,
            note=note,
        )
        store.propose(info.scenario_id, actor, note)

    _act(ask, "Your request is proposed for review.")
    ss[CLAIM_IDS] = ""


# --------------------------------------------------------------------------- page

st.title("Review")
flash = ss.pop(FLASH, None)
if flash is not None:
    getattr(st, flash[0])(flash[1])
if actor is None:
    st.info(
        "Type your name in the sidebar: proposals, reviews and publications are signed with it."
    )

in_force = store.published()
if in_force is None:
    st.caption("No plan is published yet: the starting plan of the data is used.")
else:
    st.markdown(
        f"Plan in force: {_quote(in_force.scenario_name)} version {in_force.version}, "
        f"from {in_force.effective_date.isoformat()}, published by "
        f"{escape_markdown(in_force.published_by)}."
    )

if user is not None and user.role == "rep":
    ctx = _state.plan().context
    mine = [
        str(t)
        for t, rep in zip(ctx.territory_ids, ctx.territory_reps, strict=True)
        if rep is not None and str(rep) == user.rep_id
    ]
    with st.container(border=True):
        st.subheader("Ask for accounts")
        st.caption(
            "Accounts that should be yours: their ids from the CRM, separated by commas. "
            "Your request is proposed to leadership with your note."
        )
        st.text_input("Account ids", key=CLAIM_IDS, placeholder="e.g. ACC-000123, ACC-000456")
        if len(mine) > 1:
            st.selectbox("Into territory", mine, key=CLAIM_TERRITORY)
        st.text_area("Why", key=CLAIM_NOTE, height=80, placeholder="e.g. I already serve them")
        st.button(
            "Ask for these accounts",
            type="primary",
            on_click=_claim,
            args=(mine,),
            disabled=not mine,
            key="review_claim",
        )

scenarios = store.list()
if not _auth.may("see_all"):
    scenarios = [s for s in scenarios if s.author == actor]
if not scenarios:
    st.info("No scenario to review yet: save one on the Scenarios page.")
    st.stop()

by_id = {s.scenario_id: s for s in scenarios}
if ss.get(PICK) not in by_id:
    ss.pop(PICK, None)
picked = st.selectbox(
    "Scenario",
    list(by_id),
    format_func=lambda sid: f"{by_id[sid].name} (v{by_id[sid].version})",
    key=PICK,
)
info = by_id[picked]
status = info.status
st.markdown(
    f"**{escape_markdown(info.name)}** is **{status}** (version {info.version}, "
    f"{info.n_moves} moves, saved by {escape_markdown(info.updated_by or info.author or '–')})."
)
history = store.reviews(picked)
if len(history):
    st.dataframe(
        history[["at", "kind", "actor", "note", "version"]].rename(
            columns={"at": "When", "kind": "What", "actor": "Who", "note": "Note"}
        ),
        hide_index=True,
        width="stretch",
    )

actions, talk = st.columns(2, gap="large")
with actions:
    if status in ("draft", "rejected") and _auth.may("propose"):
        st.text_area("Note for the reviewers", key=PROPOSE_NOTE, height=80)
        st.button(
            "Propose for review",
            type="primary",
            on_click=_propose,
            args=(picked, info.name),
            disabled=actor is None,
            key="review_propose",
        )
    if status == "proposed" and _auth.may("review"):
        st.text_area("Decision note (required to reject)", key=DECISION_NOTE, height=80)
        approve, reject = st.columns(2)
        approve.button(
            "Approve",
            type="primary",
            on_click=_review,
            args=(picked, info.name, "approve"),
            disabled=actor is None,
            key="review_approve",
            width="stretch",
        )
        reject.button(
            "Reject",
            on_click=_review,
            args=(picked, info.name, "reject"),
            disabled=actor is None,
            key="review_reject",
            width="stretch",
        )
    if status == "approved" and _auth.may("publish"):
        st.date_input("In force from", value=dt.date.today(), key=EFFECTIVE)
        st.button(
            "Publish",
            type="primary",
            on_click=_publish,
            args=(picked, info.name),
            disabled=actor is None,
            key="review_publish",
        )

with talk:
    st.subheader("Comments")
    moves = store.load(picked).moves
    labels = {None: "The whole plan"}
    for index, move in enumerate(moves):
        target = move.target or "white space"
        labels[index] = f"Move {index + 1}: {len(move)} account(s) to {target}"
    comments = store.comments(picked)
    if len(comments):
        shown = comments.assign(
            on=comments["move_index"].map(lambda m: labels.get(None if pd.isna(m) else int(m), ""))
        )
        st.dataframe(
            shown[["at", "author", "on", "text"]].rename(
                columns={"at": "When", "author": "Who", "on": "On", "text": "Comment"}
            ),
            hide_index=True,
            width="stretch",
        )
    else:
        st.caption("No comments yet.")
    if _auth.may("comment"):
        st.selectbox("On", list(labels), format_func=labels.get, key=COMMENT_ON)
        st.text_area("Comment", key=COMMENT_TEXT, height=80)
        st.button(
            "Add comment",
            on_click=_comment,
            args=(picked,),
            disabled=actor is None,
            key="review_comment",
        )

if _auth.may("see_all"):
    st.subheader("Publications")
    publications = store.publications()
    if publications.empty:
        st.caption("Nothing published yet.")
    else:
        st.dataframe(
            publications.rename(
                columns={
                    "publication_id": "#",
                    "scenario_name": "Scenario",
                    "version": "Version",
                    "effective_date": "In force from",
                    "published_by": "By",
                    "published_at": "When",
                    "restored_from": "Restores #",
                }
            ).drop(columns=["scenario_id"]),
            hide_index=True,
            width="stretch",
        )
        if _auth.may("publish"):
            ids = publications["publication_id"].tolist()[::-1]
            left, right = st.columns([2, 1], vertical_alignment="bottom")
            left.selectbox(
                "Publication to restore",
                ids,
                format_func=lambda p: (
                    f"#{p}: "
                    + str(publications.set_index("publication_id").loc[p, "scenario_name"])
                ),
                key=RESTORE_PICK,
            )
            right.button(
                "Restore (in force from today)",
                on_click=_restore,
                disabled=actor is None,
                key="review_restore",
            )
