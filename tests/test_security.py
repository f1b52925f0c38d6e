"""Headers and deploy: the Content-Security-Policy on every page, no inline script or style for it
to block, `check --deploy` clean under the production profile, the built-in SECRET_KEY refused
outside local use, and what the image leaves out."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

ROOT = Path(__file__).resolve().parent.parent

PRODUCTION_ENV = {
    # What docker-compose.yml gives the app's services.
    "PRODUCTION": "true",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "countersign.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://countersign.example.com",
    "TRUSTED_PROXY_COUNT": "1",
    "LOG_LEVEL": "INFO",
}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "PRODUCTION"}}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize(
    "path", ["/accounts/login/", "/", "/actions/00000000-0000-0000-0000-000000000000/"]
)
def test_pages_carry_a_self_only_content_security_policy_that_forbids_framing(
    supervisor_client, path
):
    response = supervisor_client.get(path)

    policy = response["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in policy


def test_the_sign_in_page_has_the_policy_too(db):
    assert "frame-ancestors 'none'" in Client().get("/accounts/login/")["Content-Security-Policy"]


INLINE = re.compile(
    r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>|<style\b|\sstyle=\"|\son[a-z]+=",
    re.IGNORECASE,
)


def test_no_template_has_an_inline_script_style_or_event_handler():
    offenders = [
        f"{path.relative_to(ROOT)}: {match.group(0)}"
        for path in sorted((ROOT / "templates").rglob("*.html"))
        for match in INLINE.finditer(path.read_text())
    ]

    assert offenders == []


def test_every_htmx_config_keeps_htmx_from_injecting_its_styles():
    configs = [
        (path.relative_to(ROOT), meta)
        for path in sorted((ROOT / "templates").rglob("*.html"))
        for meta in re.findall(r'<meta name="htmx-config"[^>]*>', path.read_text())
    ]

    assert configs
    assert [c for c in configs if '"includeIndicatorStyles":false' not in c[1]] == []


@pytest.mark.slow
def test_the_deploy_check_passes_under_the_production_profile():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION_ENV)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    "env",
    [
        {"PRODUCTION": "true", "ALLOWED_HOSTS": "countersign.example.com"},
        {"ALLOWED_HOSTS": "countersign.example.com"},
        {"ALLOWED_HOSTS": "*"},
    ],
    ids=["production", "a public host name", "any host"],
)
def test_the_built_in_secret_key_is_refused_outside_local_use(env):
    result = manage("check", **env)

    assert result.returncode != 0
    assert "Set SECRET_KEY" in result.stderr


@pytest.mark.slow
def test_the_built_in_secret_key_serves_local_use():
    assert manage("check").returncode == 0


def test_the_image_leaves_out_the_certificates_local_data_and_secrets():
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }

    assert {"deploy/certs", ".env", "var/", ".venv/", ".git/"} <= ignored
