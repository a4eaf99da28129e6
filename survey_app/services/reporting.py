"""Read helpers for the dashboard: figures per campaign, computed in SQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from survey_app.extensions import db
from survey_app.models import Campaign, CampaignEvent, CampaignVerdict, Invitation, Response


@dataclass(frozen=True)
class CampaignRow:
    campaign: Campaign
    clickers: int
    invited: int
    answered: int
    flagged: bool | None
    last_activity: datetime | None

    @property
    def response_rate(self) -> float | None:
        return self.answered / self.invited if self.invited else None


def campaign_overview() -> list[CampaignRow]:
    """Return every campaign with its funnel counts and current verdict, flagged ones first."""
    clickers = (
        select(CampaignEvent.campaign_id, func.count(func.distinct(CampaignEvent.customer_id)).label("n"))
        .where(CampaignEvent.type == "clicked")
        .group_by(CampaignEvent.campaign_id)
        .subquery()
    )
    invited = (
        select(
            Invitation.campaign_id,
            func.count(Invitation.id).label("invited"),
            func.count(Response.id).label("answered"),
            func.max(Response.updated_at).label("last_answer"),
        )
        .outerjoin(Response, Response.invitation_id == Invitation.id)
        .group_by(Invitation.campaign_id)
        .subquery()
    )
    newest = (
        select(CampaignVerdict.campaign_id, func.max(CampaignVerdict.id).label("verdict_id"))
        .group_by(CampaignVerdict.campaign_id)
        .subquery()
    )
    query = (
        select(
            Campaign,
            func.coalesce(clickers.c.n, 0),
            func.coalesce(invited.c.invited, 0),
            func.coalesce(invited.c.answered, 0),
            CampaignVerdict.flagged,
            invited.c.last_answer,
        )
        .outerjoin(clickers, clickers.c.campaign_id == Campaign.id)
        .outerjoin(invited, invited.c.campaign_id == Campaign.id)
        .outerjoin(newest, newest.c.campaign_id == Campaign.id)
        .outerjoin(CampaignVerdict, CampaignVerdict.id == newest.c.verdict_id)
        .order_by(func.coalesce(CampaignVerdict.flagged, False).desc(), Campaign.sent_at.desc(), Campaign.id)
    )
    return [CampaignRow(*row) for row in db.session.execute(query)]
