"""Slack: the Block Kit messages sent to incoming webhooks, and the clicks Slack sends back.

A message about a new pending action can carry Approve and Reject controls. Approve is a button
whose value is `<action id>:<version>`; Reject is a menu of the active reason codes of kind
`reject`, each option's value `<action id>:<version>:<reason code>` (Slack sends the click as soon
as one is picked). The version makes a click on an action changed since the message was sent a
refusal, not a decision on params nobody in Slack saw. Notifications sits below approvals, so the
reason codes come through a hook approvals sets at start-up (`set_reject_reasons`).

A click arrives at `POST /integrations/slack/interactions/` (the view is approvals', which makes
it an ordinary decision): `request_verify` checks Slack's v0 signature, the five-minute window and
that the request was not seen before; `click_read` reads what was clicked; `respond` posts the
ephemeral answer to the click's `response_url`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import redis
from django.conf import settings

from config import clock
from config.errors import ApplicationError, Code, InvalidInput, NotFound
from config.outbound import USER_AGENT

logger = logging.getLogger(__name__)

APPROVE = "countersign.approve"
REJECT = "countersign.reject"
OPEN = "countersign.open"
# Slack refuses requests older than this; so do we, and we remember signatures this long.
TOLERANCE_SECONDS = 5 * 60
# Block Kit limits: a menu holds at most 100 options, an option's text 75 characters.
_MAX_OPTIONS = 100
_OPTION_TEXT = 75
_SECTION_TEXT = 3000
_RESPOND_TIMEOUT_SECONDS = 2.0

# ---------------------------------------------------------------------------------------------
# the reason codes a Reject menu offers (approvals sets the source at start-up)

_reject_reasons: Callable[[], list[tuple[str, str]]] | None = None


def set_reject_reasons(source: Callable[[], list[tuple[str, str]]]) -> None:
    """`source()` gives the active reason codes of kind `reject` as (code, label) pairs."""
    global _reject_reasons
    _reject_reasons = source


def reject_reasons() -> list[tuple[str, str]]:
    return list(_reject_reasons()) if _reject_reasons is not None else []


# ---------------------------------------------------------------------------------------------
# messages


def _escaped(text: str) -> str:
    # Slack's mrkdwn reads &, < and > as markup: escaped, text from anyone stays text.
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _plain(text: str, limit: int = _OPTION_TEXT) -> dict[str, Any]:
    text = str(text)
    return {"type": "plain_text", "text": text if len(text) <= limit else text[: limit - 1] + "…"}


def _controls(payload: Mapping[str, Any], reasons: list[tuple[str, str]]) -> list[dict]:
    action_id = payload["action_id"]
    version = payload.get("action_version") or ""
    elements: list[dict[str, Any]] = [
        {
            "type": "button",
            "action_id": APPROVE,
            "style": "primary",
            "text": _plain("Approve"),
            "value": f"{action_id}:{version}",
            "confirm": {
                "title": _plain("Approve this action?"),
                "text": _plain(payload.get("subject") or "Approve", 300),
                "confirm": _plain("Approve"),
                "deny": _plain("Cancel"),
            },
        }
    ]
    if reasons:
        elements.append(
            {
                "type": "static_select",
                "action_id": REJECT,
                "placeholder": _plain("Reject with reason…"),
                "options": [
                    {"text": _plain(label or code), "value": f"{action_id}:{version}:{code}"}
                    for code, label in reasons[:_MAX_OPTIONS]
                ],
            }
        )
    return elements


def message(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The Block Kit message of one notification: its subject linked to the page, its text, and,
    when it asks for buttons, Approve and a Reject menu; always a button that opens the page."""
    subject, url = payload.get("subject") or "Countersign", payload.get("url") or ""
    heading = f"*<{url}|{_escaped(subject)}>*" if url else f"*{_escaped(subject)}*"
    body = f"{heading}\n{_escaped(payload.get('text') or '')}".strip()[:_SECTION_TEXT]
    elements: list[dict[str, Any]] = []
    if payload.get("buttons") and payload.get("action_id"):
        elements.extend(_controls(payload, reject_reasons()))
    if url:
        elements.append({"type": "button", "action_id": OPEN, "text": _plain("Open"), "url": url})
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": body}}]
    if elements:
        blocks.append({"type": "actions", "block_id": "countersign", "elements": elements})
    # `text` is what notifications and screen readers show: the subject, plain.
    return {"text": subject, "blocks": blocks}


# ---------------------------------------------------------------------------------------------
# verifying a request from Slack


def _secret() -> str:
    return settings.COUNTERSIGN["SLACK_SIGNING_SECRET"]


def is_configured() -> bool:
    return bool(_secret())


def signature_of(secret: str, timestamp: str | int, body: bytes) -> str:
    """Slack's v0 signature: `v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{body}`."""
    base = b"v0:" + str(timestamp).encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


_redis_lock = threading.Lock()
_redis: tuple[int, redis.Redis] | None = None


def _redis_client() -> redis.Redis:
    global _redis
    if _redis is None or _redis[0] != os.getpid():
        with _redis_lock:
            if _redis is None or _redis[0] != os.getpid():
                client = redis.Redis.from_url(
                    settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2
                )
                _redis = (os.getpid(), client)
    return _redis[1]


def _seen_key(signature: str) -> str:
    # The channel layer's prefix, so parallel deployments (and test runs) never share a key.
    prefix = settings.CHANNEL_LAYERS["default"].get("CONFIG", {}).get("prefix", "countersign")
    return f"{prefix}:slack:seen:{signature}"


def _first_sighting(signature: str) -> bool:
    """Remember `signature` for as long as its timestamp could pass; False if it was seen."""
    return bool(_redis_client().set(_seen_key(signature), b"1", nx=True, ex=2 * TOLERANCE_SECONDS))


def request_verify(*, headers: Mapping[str, str], body: bytes) -> None:
    """Refuse a request that is not Slack's: 404 when no signing secret is set (the integration
    is off), 401 for a missing or wrong signature or a timestamp more than five minutes from now,
    403 for a request seen before (a replay within the window)."""
    secret = _secret()
    if not secret:
        raise NotFound("Slack interactions are not set up here.")
    timestamp = headers.get("X-Slack-Request-Timestamp") or ""
    signature = headers.get("X-Slack-Signature") or ""
    try:
        sent_at = int(timestamp)
    except ValueError as exc:
        raise ApplicationError(
            "The request has no valid Slack timestamp.", code=Code.INVALID_SIGNATURE
        ) from exc
    if abs(clock.now().timestamp() - sent_at) > TOLERANCE_SECONDS:
        raise ApplicationError(
            "The request's timestamp is more than five minutes from now.", code=Code.STALE_REQUEST
        )
    if not hmac.compare_digest(signature_of(secret, timestamp, body), signature):
        raise ApplicationError(
            "The request's Slack signature does not match.", code=Code.INVALID_SIGNATURE
        )
    if not _first_sighting(signature):
        raise ApplicationError("This request was already received.", code=Code.REPLAYED_REQUEST)


# ---------------------------------------------------------------------------------------------
# reading a click


@dataclass(frozen=True)
class Click:
    """What a person clicked in Slack: approve or reject an action (at a version)."""

    team_id: str
    slack_user_id: str
    kind: str  # "approve" or "reject"
    action_id: str
    action_version: int | None
    reason_code: str
    response_url: str


def _version(raw: str) -> int | None:
    return int(raw) if raw.isdigit() else None


def click_read(body: bytes) -> Click | None:
    """The decision a verified interaction asks for, or None when it asks for none (the Open
    button, another kind of interaction)."""
    try:
        fields = parse_qs(body.decode(), strict_parsing=False)
        payload = json.loads(fields["payload"][0])
    except (UnicodeDecodeError, KeyError, IndexError, ValueError) as exc:
        raise InvalidInput("The interaction has no readable payload.") from exc
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        return None
    user = payload.get("user") or {}
    team = payload.get("team") or {}
    team_id = str(team.get("id") or user.get("team_id") or "")
    clicked = next(
        (a for a in payload.get("actions") or [] if a.get("action_id") in (APPROVE, REJECT)),
        None,
    )
    if clicked is None:
        return None
    if clicked["action_id"] == APPROVE:
        action_id, _, version = str(clicked.get("value") or "").partition(":")
        kind, reason_code = "approve", ""
    else:
        value = str((clicked.get("selected_option") or {}).get("value") or "")
        action_id, version, reason_code = ([*value.split(":", 2), "", ""])[:3]
        kind = "reject"
    return Click(
        team_id=team_id,
        slack_user_id=str(user.get("id") or ""),
        kind=kind,
        action_id=action_id,
        action_version=_version(version),
        reason_code=reason_code,
        response_url=str(payload.get("response_url") or ""),
    )


# ---------------------------------------------------------------------------------------------
# answering a click


def _response_url_allowed(url: str) -> bool:
    parts = urlsplit(url or "")
    allowed = {h.lower() for h in settings.COUNTERSIGN["SLACK_RESPONSE_HOSTS"]}
    return parts.scheme in ("https", "http") and (parts.hostname or "").lower() in allowed


def respond(response_url: str, text: str) -> bool:
    """Tell the person who clicked, and only them (an ephemeral message), what came of it; whether
    Slack took it. Only response URLs on `SLACK_RESPONSE_HOSTS` are called: the URL comes in the
    request body, and a signed request must not make Countersign call anywhere else."""
    if not _response_url_allowed(response_url):
        logger.warning("slack response URL refused: not on SLACK_RESPONSE_HOSTS")
        return False
    body = {"response_type": "ephemeral", "replace_original": False, "text": text}
    try:
        # Short: it runs before the interaction is answered, which Slack wants within 3 s.
        with httpx.Client(timeout=_RESPOND_TIMEOUT_SECONDS, follow_redirects=False) as client:
            response = client.post(response_url, json=body, headers={"User-Agent": USER_AGENT})
    except httpx.HTTPError as exc:
        logger.warning("slack response failed: %s", type(exc).__name__)
        return False
    if not response.is_success:
        logger.warning("slack response refused: HTTP %s", response.status_code)
    return response.is_success
