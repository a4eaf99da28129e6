"""Researchers create and edit campaigns and their promised items."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import login_required
from werkzeug.wrappers import Response

from survey_app import jobs
from survey_app.extensions import db
from survey_app.forms import BaseForm
from survey_app.forms.campaigns import CampaignForm, DeleteForm, PromisedItemForm
from survey_app.models import Campaign, PromisedItem
from survey_app.services import campaigns as service
from survey_app.services import invitations

bp = Blueprint("campaigns", __name__, url_prefix="/dashboard/campaigns")


@bp.before_request
@login_required
def require_login() -> None:
    """Every page here is for signed-in researchers."""


def campaign_input(form: CampaignForm) -> dict[str, Any]:
    sent_at = form.sent_at.data
    return {
        "key": form.key.data, "name": form.name.data, "promise": form.promise.data,
        "language": form.language.data, "channel": form.channel.data, "status": form.status.data,
        "sent_at": sent_at.isoformat() if sent_at else None,
        "conversion_window_hours": str(form.conversion_window_hours.data),
        "invitation_cap": str(form.invitation_cap.data) if form.invitation_cap.data else None,
        "email_subject": form.email_subject.data, "email_sender": form.email_sender.data,
    }


def show_problems(problems: list[str]) -> None:
    for problem in problems:
        flash(problem, "error")


@bp.route("/new", methods=["GET", "POST"])
def new() -> str | Response:
    form = CampaignForm()
    if form.validate_on_submit():
        data, problems = service.validate_campaign(campaign_input(form))
        if data is not None:
            try:
                campaign = service.save_campaign(data)
            except service.CampaignError as error:
                problems = error.problems
            else:
                flash("Campaign created. Add what it promised below.", "info")
                return redirect(url_for(".detail", campaign_id=campaign.id))
        show_problems(problems)
    return render_template("campaigns/edit.html", form=form, campaign=None)


@bp.get("/<int:campaign_id>")
def detail(campaign_id: int) -> str:
    campaign = db.get_or_404(Campaign, campaign_id)
    return render_template(
        "campaigns/detail.html", campaign=campaign, delete_form=DeleteForm(), send_form=BaseForm(),
        plan=invitations.plan_invitations(campaign.id), invitation_counts=invitations.invitation_counts(campaign.id),
    )


@bp.post("/<int:campaign_id>/send-invitations")
def send_invitations(campaign_id: int) -> Response:
    campaign = db.get_or_404(Campaign, campaign_id)
    if BaseForm().validate_on_submit():
        created = invitations.create_invitations(campaign.id)
        if jobs.has_broker():
            jobs.schedule_pending_invitations(campaign.id)
            flash(f"{created} invitations created; the workers are sending them.", "info")
        else:
            report = invitations.send_pending(campaign_id=campaign.id)
            flash(f"{created} invitations created; {report.sent} emails sent, {report.failed} failed, "
                  f"{report.deferred} left for a later run.", "error" if report.stopped else "info")
    return redirect(url_for(".detail", campaign_id=campaign.id))


@bp.route("/<int:campaign_id>/edit", methods=["GET", "POST"])
def edit(campaign_id: int) -> str | Response:
    campaign = db.get_or_404(Campaign, campaign_id)
    form = CampaignForm(obj=campaign)
    if form.is_submitted() is False and campaign.sent_at:
        form.sent_at.data = campaign.sent_at.astimezone(service.LOCAL_ZONE).replace(tzinfo=None)
    if form.validate_on_submit():
        data, problems = service.validate_campaign(campaign_input(form))
        if data is not None:
            try:
                service.save_campaign(data, campaign)
            except service.CampaignError as error:
                problems = error.problems
            else:
                flash("Campaign saved.", "info")
                return redirect(url_for(".detail", campaign_id=campaign.id))
        show_problems(problems)
    return render_template("campaigns/edit.html", form=form, campaign=campaign)


def item_input(form: PromisedItemForm) -> dict[str, Any]:
    return {name: getattr(form, name).data for name in service.ITEM_FIELDS}


@bp.route("/<int:campaign_id>/items/new", methods=["GET", "POST"])
@bp.route("/<int:campaign_id>/items/<int:item_id>/edit", methods=["GET", "POST"])
def edit_item(campaign_id: int, item_id: int | None = None) -> str | Response:
    campaign = db.get_or_404(Campaign, campaign_id)
    item = None
    if item_id is not None:
        item = db.get_or_404(PromisedItem, item_id)
        if item.campaign_id != campaign.id:
            return redirect(url_for(".detail", campaign_id=campaign.id))
    form = PromisedItemForm(obj=item)
    if item is not None and not form.is_submitted():
        form.aliases.data = service.ALIAS_SEPARATOR.join(item.aliases)
    if form.validate_on_submit():
        data, problems = service.validate_item(item_input(form), "item")
        if data is not None:
            try:
                service.save_item(campaign, data, item)
            except service.CampaignError as error:
                problems = error.problems
            else:
                flash("Promised item saved.", "info")
                return redirect(url_for(".detail", campaign_id=campaign.id))
        show_problems(problems)
    return render_template("campaigns/item.html", form=form, campaign=campaign, item=item)


@bp.post("/<int:campaign_id>/items/<int:item_id>/delete")
def delete_item(campaign_id: int, item_id: int) -> Response:
    item = db.get_or_404(PromisedItem, item_id)
    if item.campaign_id == campaign_id and DeleteForm().validate_on_submit():
        service.delete_item(item)
        flash("Promised item deleted.", "info")
    return redirect(url_for(".detail", campaign_id=campaign_id))
