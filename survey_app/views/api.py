"""The machine-facing API: event webhooks from email service providers.

Exempt from CSRF because no browser session is involved: every delivery is authenticated by
an HMAC signature over its raw bytes instead. Every answer is JSON.
"""

from __future__ import annotations

import time

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from survey_app.extensions import csrf
from survey_app.services import webhooks

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)


@bp.errorhandler(HTTPException)
def json_error(error: HTTPException) -> ResponseReturnValue:
    return jsonify(error=error.description or error.name), error.code or 500


@bp.post("/events")
def receive_events() -> ResponseReturnValue:
    """Store a signed batch of events: 200 with counts, 401, 400, 413 or 422 with reasons."""
    config = current_app.config
    body = request.get_data(cache=True)
    try:
        source = webhooks.verify_delivery(
            source_name=request.headers.get(webhooks.SOURCE_HEADER),
            timestamp=request.headers.get(webhooks.TIMESTAMP_HEADER),
            signature=request.headers.get(webhooks.SIGNATURE_HEADER),
            body=body,
            secret_key=config["SECRET_KEY"],
            now=time.time(),
            tolerance=int(config.get("WEBHOOK_TIMESTAMP_TOLERANCE", webhooks.DEFAULT_TOLERANCE_SECONDS)),
        )
    except webhooks.Unauthorized as error:
        return jsonify(error=str(error)), 401
    try:
        events = webhooks.parse_batch(body, int(config.get("WEBHOOK_MAX_BATCH", webhooks.DEFAULT_MAX_BATCH)))
    except webhooks.BatchTooLarge as error:
        return jsonify(error=str(error)), 413
    except webhooks.BadBatch as error:
        return jsonify(error=str(error)), 400
    outcome = webhooks.ingest_batch(source, events, config.get("EVENTS_DEFAULT_TIMEZONE"))
    if outcome.result is None:
        return jsonify(error="invalid events; nothing of this batch was stored", errors=outcome.errors), 422
    result = outcome.result
    return jsonify(
        received=result.received, inserted=result.inserted, duplicates=result.duplicates,
        suppressed=result.suppressed,
    ), 200
