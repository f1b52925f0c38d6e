"""Slack's interactions endpoint: a click on Approve or Reject in a Countersign message.

Slack POSTs the click form-encoded, signed with the app's signing secret. The request is verified
first (`notifications.slack.request_verify`: 404 while no secret is set, 401 for a bad signature or
a stale timestamp, 403 for a replay, in the usual JSON error shape), then the click is decided as
the linked person through the ordinary services, and the person is told the outcome in an
ephemeral message. A verified request is always answered 200 at once: Slack shows its own error
for anything else, and what came of the click is in the ephemeral message.
"""

from __future__ import annotations

from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from approvals import services
from config.api import json_error
from config.errors import ApplicationError
from config.http import request_id
from notifications import slack


# CSRF protection is for requests a browser sends with a person's cookies; this endpoint takes
# none (no session is read), and every request must carry Slack's HMAC signature over its body and
# a fresh timestamp, checked before anything else. That signature is what authenticates it, which
# is the only reason it is exempt.
@csrf_exempt
@require_POST
def slack_interactions(request):
    body = request.body  # the raw bytes: the signature is over them, before any parsing
    try:
        slack.request_verify(headers=request.headers, body=body)
        click = slack.click_read(body)
    except ApplicationError as exc:
        return json_error(exc.code, exc.message, exc.details)
    if click is None:
        return HttpResponse(status=200)  # the Open button, or nothing Countersign acts on
    outcome = services.action_decide_from_slack(
        team_id=click.team_id,
        slack_user_id=click.slack_user_id,
        kind=click.kind,
        action_id=click.action_id,
        action_version=click.action_version,
        reason_code=click.reason_code,
        request_id=request_id(request),
    )
    slack.respond(click.response_url, outcome.text)
    return HttpResponse(status=200)
