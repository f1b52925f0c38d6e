"""DRF authentication by `Authorization: Api-Key <key>`."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from rest_framework import authentication, exceptions

from agents.models import Agent
from agents.selectors import key_holder
from agents.services import KEY_PREFIX, _hash_key

KEYWORD = "Api-Key"


@dataclass(frozen=True)
class AgentPrincipal:
    """What `request.user` is for an agent: authenticated, never staff, carries its agent."""

    agent: Agent
    is_authenticated: bool = True
    is_active: bool = True
    is_staff: bool = False
    is_superuser: bool = False
    is_agent: bool = True

    @property
    def pk(self) -> int:
        return self.agent.pk

    def __str__(self) -> str:
        return f"agent:{self.agent.name}"


def agent_from_header(header: str | None) -> Agent | bool | None:
    """None when no Api-Key header is present; False when one is present but wrong."""
    if not header:
        return None
    keyword, _, raw = header.partition(" ")
    if keyword != KEYWORD:
        return None
    raw = raw.strip()
    agent = _agent_for_key(raw) if raw else None
    return agent or False


def _agent_for_key(raw_key: str) -> Agent | None:
    """The active agent a key belongs to, or None: `services.agent_for_key` in one query written
    as SQL (every agent request pays it). Constant-time comparison of the hash."""
    # The secret part is urlsafe base64 and may itself contain "_": split off the first two only.
    parts = raw_key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        return None
    found = key_holder(prefix=parts[1])
    if found is None:
        return None
    agent, hashed_key = found
    return agent if hmac.compare_digest(hashed_key, _hash_key(raw_key)) else None


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        agent = agent_from_header(request.headers.get("Authorization"))
        if agent is None:
            return None
        if agent is False:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        return AgentPrincipal(agent=agent), None

    def authenticate_header(self, request):
        return KEYWORD
