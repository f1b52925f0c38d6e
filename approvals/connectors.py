"""The HTTP connector: executes actions by calling the company's own backend with signed requests.

Each configured action type gets an `HttpConnector` (see `COUNTERSIGN["CONNECTORS"]` and the
README's "HTTP connector" section). A request is a JSON POST carrying the action id as its
`Idempotency-Key` and an HMAC-SHA256 signature over `"{timestamp}.{body}"`, made as callbacks and
notification webhooks make theirs (`config.outbound`, whose `verify_signature` checks one, for the
tests' fake backend and for customers' receivers).

Retries happen inside the call, with capped exponential backoff and jitter. Whether a failed call
may be tried again depends on whether the request may have reached the target: a refused connection
sent nothing, so trying again is always safe; a read timeout, a reset after sending or a 5xx may
have been applied, so only a target that is idempotent on the action id is tried again. For any
other target such a failure is an `OutcomeUnknown`: a person reconciles it, nothing retries it.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from config.errors import Code
from config.outbound import USER_AGENT, backoff_delay, signed_headers
from execution import (
    ExecutionFailed,
    Executor,
    NotCompensable,
    OutcomeUnknown,
    Precedence,
    register_executor,
)

logger = logging.getLogger(__name__)

# How much of a refusal's body is kept in the action's error: enough to read, not a whole page.
ERROR_TEXT_LIMIT = 500
# Statuses that say the target did not take the request on: trying again is safe for any target.
_NOT_TAKEN = frozenset({408, 425, 429})


# ---------------------------------------------------------------------------------------------
# configuration


@dataclass(frozen=True)
class ConnectorConfig:
    """How one action type reaches its target. The secret never appears in a repr or a log."""

    action_type: str
    url: str
    secret: str = field(repr=False)
    compensate_url: str = ""
    timeout: float = 5.0
    # True only when the target applies each Idempotency-Key once: then an ambiguous failure is
    # safe to try again. The default assumes the worst: ambiguity goes to a person.
    idempotent: bool = False
    max_tries: int = 4
    backoff_base: float = 0.5
    backoff_max: float = 8.0


_KNOWN_KEYS = frozenset(
    {"url", "secret", "secret_env", "compensate_url", "timeout", "idempotent", "max_tries",
     "backoff_base", "backoff_max"}
)  # fmt: skip


def _parse_raw(raw: Any) -> Mapping[str, Any]:
    if not raw:
        return {}
    if isinstance(raw, Mapping):
        return raw
    text = str(raw).strip()
    if not text.startswith("{"):
        path = Path(text)
        try:
            text = path.read_text()
        except OSError as exc:
            raise ImproperlyConfigured(
                f"COUNTERSIGN_CONNECTORS names {path}, which cannot be read: {exc.strerror}."
            ) from exc
    try:
        parsed = json.loads(text)
    except ValueError as exc:
        # Not the text itself: it holds secrets.
        raise ImproperlyConfigured(
            f"COUNTERSIGN_CONNECTORS is not valid JSON ({exc.msg})."
        ) from exc
    if not isinstance(parsed, dict):
        raise ImproperlyConfigured("COUNTERSIGN_CONNECTORS must be a JSON object of action types.")
    return parsed


def _check_url(action_type: str, name: str, url: Any) -> str:
    parts = urlsplit(str(url or ""))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ImproperlyConfigured(f"Connector {action_type}: {name} must be an http(s) URL.")
    return str(url)


def connector_configs(raw: Any = None) -> list[ConnectorConfig]:
    """The connectors configured in `raw` (by default `COUNTERSIGN["CONNECTORS"]`): a mapping, a
    JSON object, or the path of a file holding one, keyed by action type."""
    if raw is None:
        raw = settings.COUNTERSIGN.get("CONNECTORS")
    configs = []
    for action_type, entry in sorted(_parse_raw(raw).items()):
        if not isinstance(entry, Mapping):
            raise ImproperlyConfigured(f"Connector {action_type}: expected a JSON object.")
        unknown = sorted(set(entry) - _KNOWN_KEYS)
        if unknown:
            raise ImproperlyConfigured(f"Connector {action_type}: unknown keys {unknown}.")
        secret = entry.get("secret") or os.environ.get(entry.get("secret_env") or "", "")
        if not secret:
            raise ImproperlyConfigured(
                f"Connector {action_type}: set `secret`, or `secret_env` to a variable holding it."
            )
        try:
            config = ConnectorConfig(
                action_type=action_type,
                url=_check_url(action_type, "url", entry.get("url")),
                secret=secret,
                compensate_url=(
                    _check_url(action_type, "compensate_url", entry["compensate_url"])
                    if entry.get("compensate_url")
                    else ""
                ),
                timeout=float(entry.get("timeout", 5.0)),
                idempotent=bool(entry.get("idempotent", False)),
                max_tries=int(entry.get("max_tries", 4)),
                backoff_base=float(entry.get("backoff_base", 0.5)),
                backoff_max=float(entry.get("backoff_max", 8.0)),
            )
        except (TypeError, ValueError) as exc:
            raise ImproperlyConfigured(f"Connector {action_type}: {exc}.") from exc
        if config.timeout <= 0 or config.max_tries < 1 or config.backoff_base < 0:
            raise ImproperlyConfigured(
                f"Connector {action_type}: timeout must be > 0, max_tries >= 1, backoff_base >= 0."
            )
        configs.append(config)
    return configs


def register_configured(raw: Any = None) -> list[str]:
    """Register an `HttpConnector` for every configured action type (at app ready); the action
    types registered. Registered as configured, it wins over a built-in executor (the sandbox's)
    for the same type, whichever app gets ready first."""
    registered = []
    for config in connector_configs(raw):
        register_executor(
            config.action_type, HttpConnector(config), precedence=Precedence.CONFIGURED
        )
        registered.append(config.action_type)
    if registered:
        logger.info("HTTP connectors registered for %s", ", ".join(registered))
    return registered


# ---------------------------------------------------------------------------------------------
# the connector


@dataclass
class _Failure:
    """Why one try failed, and whether the request may have reached the target."""

    reason: str
    maybe_applied: bool
    status: int | None = None
    retry_after: float | None = None


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return None


def _where(url: str) -> str:
    # Errors and logs name the target without its query string, which may carry credentials.
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


class HttpConnector(Executor):
    """Executes (and, when a `compensate_url` is configured, compensates) one action type by
    POSTing it to the company's backend."""

    def __init__(
        self,
        config: ConnectorConfig,
        *,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.config = config
        self.compensable = bool(config.compensate_url)
        self._sleep = sleep
        self._transport = transport

    def __repr__(self) -> str:
        return f"HttpConnector({self.config!r})"

    def execute(self, action) -> dict[str, Any]:
        body = self._body(action, operation="execute")
        return self._call(self.config.url, body, idempotency_key=str(action.pk), action=action)

    def compensate(self, action) -> dict[str, Any]:
        if not self.config.compensate_url:
            raise NotCompensable(
                f"No compensate_url is configured for {self.config.action_type}: "
                "its effect cannot be undone from here."
            )
        body = self._body(action, operation="compensate", result=action.result)
        # Its own key: a backend that caches responses by key must not answer with the execution's.
        return self._call(
            self.config.compensate_url, body, idempotency_key=f"{action.pk}:compensate",
            action=action,
        )  # fmt: skip

    def _body(self, action, *, operation: str, **extra: Any) -> bytes:
        payload = {
            "action_id": str(action.pk),
            "action_type": action.action_type.key,
            "operation": operation,
            "params": action.effective_params,
            "context": action.context or {},
            **extra,
        }
        return json.dumps(payload, separators=(",", ":"), sort_keys=True, default=str).encode()

    def backoff(self, tried: int) -> float:
        return backoff_delay(tried, base=self.config.backoff_base, cap=self.config.backoff_max)

    def _call(self, url: str, body: bytes, *, idempotency_key: str, action) -> dict[str, Any]:
        config = self.config
        where = _where(url)
        failures: list[_Failure] = []
        with httpx.Client(
            timeout=config.timeout, follow_redirects=False, transport=self._transport
        ) as client:
            for tried in range(1, config.max_tries + 1):
                headers = {
                    "Content-Type": "application/json",
                    "User-Agent": USER_AGENT,
                    "Idempotency-Key": idempotency_key,
                    **signed_headers(config.secret, body),
                }
                try:
                    response = client.post(url, content=body, headers=headers)
                except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                    failure = _Failure(f"could not connect: {exc!s:.200}", maybe_applied=False)
                except httpx.HTTPError as exc:
                    # Sent, or partly sent: a read timeout, a reset, a broken response.
                    kind = type(exc).__name__
                    failure = _Failure(f"{kind}: {exc!s:.200}", maybe_applied=True)
                else:
                    if response.is_success:
                        return self._result(response)
                    failure = self._refusal_or_failure(response, where=where, tried=tried)
                failures.append(failure)
                logger.warning(
                    "%s of action %s: try %s/%s failed (%s)",
                    where, action.pk, tried, config.max_tries, failure.reason,
                )  # fmt: skip
                if failure.maybe_applied and not config.idempotent:
                    raise self._unknown(where, failures)
                if tried < config.max_tries:
                    delay = self.backoff(tried)
                    if failure.retry_after is not None:
                        delay = min(max(delay, failure.retry_after), config.backoff_max)
                    self._sleep(delay)
        safe = (
            "the target is idempotent on the action id"
            if config.idempotent
            else "no request reached the target"
        )
        raise ExecutionFailed(
            f"{where} did not answer after {len(failures)} tries; trying again later is safe "
            f"({safe}).",
            transient=True,
            code=Code.TARGET_UNAVAILABLE,
            details=self._details(failures),
        )

    def _refusal_or_failure(self, response: httpx.Response, *, where: str, tried: int) -> _Failure:
        status = response.status_code
        if status in _NOT_TAKEN:
            return _Failure(f"HTTP {status}", False, status, _retry_after(response))
        if status >= 500:
            return _Failure(f"HTTP {status}", maybe_applied=True, status=status)
        text = response.text[:ERROR_TEXT_LIMIT]
        # A 4xx (or a redirect, which is not followed) is the target's answer: not retried.
        raise ExecutionFailed(
            f"{where} refused the action with HTTP {status}: {text}",
            transient=False,
            code=Code.TARGET_REFUSED,
            details={"status": status, "response": text, "tries": tried},
        )

    def _unknown(self, where: str, failures: list[_Failure]) -> OutcomeUnknown:
        return OutcomeUnknown(
            f"{where} may or may not have applied the action ({failures[-1].reason}); it is not "
            "idempotent, so it is not tried again: check the target and reconcile.",
            code=Code.OUTCOME_UNKNOWN,
            details=self._details(failures),
        )

    @staticmethod
    def _details(failures: list[_Failure]) -> dict[str, Any]:
        return {"tries": len(failures), "errors": [f.reason for f in failures]}

    @staticmethod
    def _result(response: httpx.Response) -> dict[str, Any]:
        if not response.content:
            return {"status": response.status_code}
        try:
            parsed = response.json()
        except ValueError:
            return {"status": response.status_code}
        if isinstance(parsed, dict):
            return parsed
        return {"status": response.status_code, "result": parsed}
