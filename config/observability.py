"""The first middleware every request passes: the operators' routes (`/healthz`, `/readyz`,
`/metrics`) answered before any other middleware runs, and for everything else the request id,
the request log line and the latency histogram."""

from __future__ import annotations

import logging
from time import perf_counter

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings

from config import health, metrics, request_ids

# route -> view. config.urls routes them too (so they have names and the authorization matrix
# sees them), but requests for them stop here: no session, CSRF, second factor, lockout or rate
# limit work for a probe every few seconds, and no log line or histogram entry of their own.
ROUTES = {"healthz": health.healthz, "readyz": health.readyz, "metrics": metrics.metrics}
_BY_PATH = {f"/{route}": view for route, view in ROUTES.items()}

request_logger = logging.getLogger("countersign.request")


class ObservabilityMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response) -> None:
        self.get_response = get_response
        self.log_requests = settings.REQUEST_LOG
        self.static_prefix = "/" + settings.STATIC_URL.lstrip("/")
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.is_async:
            return self._acall(request)
        view = _BY_PATH.get(request.path_info)
        if view is not None:
            return view(request)
        token, started = self._begin(request)
        try:
            response = self.get_response(request)
        finally:
            request_ids.unbind(token)
        return self._end(request, response, started)

    async def _acall(self, request):
        view = _BY_PATH.get(request.path_info)
        if view is not None:
            return await sync_to_async(view)(request)
        token, started = self._begin(request)
        try:
            response = await self.get_response(request)
        finally:
            request_ids.unbind(token)
        return self._end(request, response, started)

    @staticmethod
    def _begin(request):
        value = request.request_id = request_ids.request_id_from(
            request.META.get(request_ids.META_KEY)
        )
        return request_ids.bind(value), perf_counter()

    def _end(self, request, response, started: float):
        seconds = perf_counter() - started
        match = request.resolver_match
        if match is not None:
            route = match.route
        elif request.path_info.startswith(self.static_prefix):
            route = "<static>"  # WhiteNoise answers before URL resolution
        else:
            # Answered before URL resolution (a redirect to HTTPS, a body too large) or no route.
            route = "<unresolved>"
        metrics.request_observe(
            route=route, method=request.method, status=response.status_code, seconds=seconds
        )
        response[request_ids.HEADER] = request.request_id
        if self.log_requests:
            request_logger.info(
                "%s %s %s",
                request.method,
                route,
                response.status_code,
                extra={
                    "request_id": request.request_id,
                    "method": request.method,
                    "route": route,
                    "status": response.status_code,
                    "duration_ms": round(seconds * 1000, 2),
                },
            )
        return response
