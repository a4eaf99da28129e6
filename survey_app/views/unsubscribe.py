"""One-click unsubscribe from survey emails (RFC 8058).

GET only shows a confirmation page, because mail scanners fetch every link. POST opts the
customer out: it is what a mail client sends for List-Unsubscribe-Post, so it carries no cookie,
no login and no CSRF token (the signed token in the URL is the authority), and it answers 200
directly, never with a redirect.
"""

from __future__ import annotations

from flask import Blueprint, g, render_template, request

from survey_app.extensions import csrf, limiter
from survey_app.services import invitations

bp = Blueprint("unsubscribe", __name__)
csrf.exempt(bp)


@bp.route("/u/<token>", methods=["GET", "POST"])
@limiter.limit("60 per minute")
def unsubscribe(token: str) -> str | tuple[str, int]:
    link = invitations.find_unsubscribe(token)
    if link is None:
        # Forged, unknown and erased links all get the same page.
        return render_template("unsubscribe/invalid.html"), 404
    g.locale = link.language
    if request.method == "POST":
        invitations.opt_out(link.customer_id)
        return render_template("unsubscribe/done.html")
    if link.opted_out:
        return render_template("unsubscribe/done.html")
    return render_template("unsubscribe/confirm.html", token=token)
