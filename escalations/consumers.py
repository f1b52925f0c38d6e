"""The escalation workspace's websocket: handlers get case rows as the cases of their tiers change.

It rides the process's one dashboard feed (`approvals.consumers.feed`, one Redis subscription per
process): the socket joins the group of each tier its person handles (`rulebook.handles`), or the
all-tiers group when they read every case (superusers, auditors). Each `case.changed` event comes
with the row rendered by the process that made the change, twice (for someone who may acknowledge
the case and for someone who may not) and with the case's facts: the rulebook picks the render
for this person, or says they no longer see the case (it moved to a tier they do not handle), so
nothing is rendered or read per socket. Events carry their group's sequence number; `hello` gives
the current ones, and a jump tells the page to resync from the database.
"""

from __future__ import annotations

from channels.db import database_sync_to_async

from approvals import rulebook
from approvals.consumers import CLOSE_FORBIDDEN, FeedConsumer
from approvals.realtime.feed import EventFrames
from escalations import selectors
from escalations.live import ALL_TIERS_GROUP, CASE_CHANGED, tier_group
from escalations.presenters import facts_from


def _workspace_of(user) -> tuple[rulebook.Person, selectors.Workspace]:
    person = rulebook.person_of(user)
    return person, selectors.workspace_of(person=person)


class WorkspaceConsumer(FeedConsumer):
    person: rulebook.Person | None = None

    async def connect(self) -> None:
        person, access = await database_sync_to_async(_workspace_of)(self.scope.get("user"))
        if not access.may_use:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.person = person
        if access.sees_all:
            groups = [ALL_TIERS_GROUP]
        else:
            groups = sorted(tier_group(key) for key in access.handled_keys)
        await self.join_feed(tuple(groups), groups)

    def page_event(self, event: dict, frames: EventFrames) -> None:
        if event.get("type") == CASE_CHANGED:
            frame = self._case_frame(event, frames)
            if frame:
                self.outbox.put(frame)

    def _case_frame(self, event: dict, frames: EventFrames) -> str:
        facts = facts_from(event.get("facts"))
        if facts is None or "html" not in event:
            # Its publisher could not render it: the page reads the row (or learns it is gone).
            return frames.frame("stale", lambda: _small("case.stale", event))
        if not rulebook.may_see_case(self.person, facts):
            return frames.frame("removed", lambda: _small("case.removed", event))
        acknowledges = bool(rulebook.may_acknowledge_case(self.person, facts))
        key = "html_ack" if acknowledges else "html"
        return frames.frame(key, lambda: _changed(event, event.get(key) or event["html"]))


def _small(kind: str, event: dict) -> dict:
    return {"type": kind, "case_id": event.get("case_id"), "group": event.get("group"),
            "seq": event.get("seq")}  # fmt: skip


def _changed(event: dict, html: str) -> dict:
    group = event.get("group", "")
    counts = event.get("counts") or {}
    # Each copy says only the counts of its own group's tier (all of them to the all-tiers group):
    # nobody learns the size of a tier they do not see.
    if group != ALL_TIERS_GROUP:
        counts = {key: n for key, n in counts.items() if tier_group(key) == group}
    return {
        "type": CASE_CHANGED,
        "case_id": event["case_id"],
        "status": event.get("status"),
        "tier": event.get("tier"),
        "previous_tier": event.get("previous_tier"),
        "version": event.get("version"),
        "group": group,
        "seq": event.get("seq"),
        "counts": counts,
        "html": html,
    }
