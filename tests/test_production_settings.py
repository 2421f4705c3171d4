"""DJANGO_ENV=production is safe by default, and `manage.py check --deploy` is clean."""
import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(args, **env):
    base = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "SECRET_KEY", "DEBUG")}
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**base, "DJANGO_ENV": "production", **env})


def production_env():
    return {"SECRET_KEY": secrets.token_urlsafe(64), "ALLOWED_HOSTS": "bank.example.com"}


def test_check_deploy_reports_no_issues():
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], **production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (1 silenced)" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    result = run(["manage.py", "check"])
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_defaults_are_safe():
    script = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.DEBUG, s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SESSION_COOKIE_SECURE, "
        "s.CSRF_COOKIE_SECURE, 'testserver' in s.ALLOWED_HOSTS)"
    )
    result = run(["-c", script], DJANGO_SETTINGS_MODULE="banking.settings", **production_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True", "31536000", "True", "True", "False"]


def test_debug_is_off_unless_asked_in_local_settings_too(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**{k: v for k, v in os.environ.items() if k not in ("DEBUG", "DJANGO_ENV")},
             "DJANGO_SETTINGS_MODULE": "banking.settings", "BANKING_VAR_DIR": str(tmp_path)},
    )
    assert result.stdout.strip() == "False", result.stderr
