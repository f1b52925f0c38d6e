"""DRF authentication by `Authorization: Api-Key <key>`."""

from __future__ import annotations

from dataclasses import dataclass

from rest_framework import authentication, exceptions

from agents.models import Agent
from agents.services import agent_for_key

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
    agent = agent_for_key(raw_key=raw) if raw else None
    return agent or False


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
