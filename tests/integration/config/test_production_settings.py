"""The production profile: HTTPS-only defaults from the environment, `check --deploy` clean."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.test import Client

ROOT = Path(__file__).resolve().parents[3]
STRONG_KEY = "Zq8#kd02-fjW8s!lQp4xv9LmB3nR6tY1uE7oA5cH2gK0wT$zU-7"


def manage(*args: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"),
             "DJANGO_SETTINGS_MODULE": "config.settings", "WEFT_VAR_DIR": str(tmp_path),
             "ALLOWED_HOSTS": "weft.example.com", **env}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=clean,
                          capture_output=True, text=True, timeout=120)


def test_check_deploy_has_no_warnings_in_the_production_profile(tmp_path):
    done = manage("check", "--deploy", "--fail-level", "WARNING", tmp_path=tmp_path,
                  WEFT_PROFILE="production", SECRET_KEY=STRONG_KEY)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout


def test_production_is_the_default_when_debug_is_off(tmp_path):
    done = manage("check", "--deploy", "--fail-level", "WARNING", tmp_path=tmp_path,
                  SECRET_KEY=STRONG_KEY)
    assert done.returncode == 0, done.stdout + done.stderr


def test_check_deploy_flags_the_development_profile_and_a_weak_key(tmp_path):
    done = manage("check", "--deploy", "--fail-level", "WARNING", tmp_path=tmp_path,
                  WEFT_PROFILE="development", SECRET_KEY="change-me")
    assert done.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W009", "security.W012",
                    "security.W016"):
        assert warning in done.stderr, warning


def read_settings(tmp_path: Path, **env: str) -> dict:
    names = ("SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS",
             "SECURE_HSTS_PRELOAD", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE",
             "SECURE_PROXY_SSL_HEADER")
    code = ("from django.conf import settings; import json; print(json.dumps({n: "
            f"getattr(settings, n, None) for n in {names!r}}}))")
    done = manage("shell", "-c", code, tmp_path=tmp_path, SECRET_KEY=STRONG_KEY, **env)
    assert done.returncode == 0, done.stderr
    import json

    return json.loads(done.stdout.strip().splitlines()[-1])


def test_each_setting_can_be_changed_from_the_environment(tmp_path):
    production = read_settings(tmp_path, WEFT_PROFILE="production")
    assert production == {
        "SECURE_SSL_REDIRECT": True, "SECURE_HSTS_SECONDS": 31_536_000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True, "SECURE_HSTS_PRELOAD": True,
        "SESSION_COOKIE_SECURE": True, "CSRF_COOKIE_SECURE": True,
        "SECURE_PROXY_SSL_HEADER": None}
    tuned = read_settings(tmp_path, WEFT_PROFILE="production", SECURE_SSL_REDIRECT="0",
                          SECURE_HSTS_SECONDS="600", SECURE_HSTS_PRELOAD="0",
                          WEFT_TRUSTED_PROXIES="1")
    assert tuned["SECURE_SSL_REDIRECT"] is False and tuned["SECURE_HSTS_SECONDS"] == 600
    assert tuned["SECURE_HSTS_PRELOAD"] is False and tuned["SESSION_COOKIE_SECURE"] is True
    assert tuned["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    development = read_settings(tmp_path, WEFT_PROFILE="development",
                                CSRF_COOKIE_SECURE="1")
    assert development["SECURE_SSL_REDIRECT"] is False
    assert development["SECURE_HSTS_SECONDS"] == 0 and development["CSRF_COOKIE_SECURE"]


@pytest.mark.django_db
def test_https_only_behaviour_with_probes_left_on_plain_http(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31_536_000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    client = Client()
    redirected = client.get("/admin/login/")
    assert redirected.status_code == 301
    assert redirected["Location"].startswith("https://")
    assert client.get("/healthz").status_code == 200
    secure = client.get("/admin/login/", secure=True)
    assert secure.status_code == 200
    assert secure["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


@pytest.mark.django_db
def test_passwords_go_through_all_of_djangos_validators(admin_client):
    for password, complaint in (("password123", "too common"), ("48213377901", "numeric"),
                                ("short", "too short"), ("newbie-user-1", "too similar")):
        response = admin_client.post("/admin/auth/user/add/", {
            "username": "newbie-user-1", "password1": password, "password2": password,
            "usable_password": "true"})
        assert response.status_code == 200, password  # the form again, with the error
        assert complaint in response.content.decode(), password


def test_compose_file_ships_no_secret_key():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    secret = compose["x-weft"]["environment"]["SECRET_KEY"]
    assert secret.startswith("${SECRET_KEY:?"), secret
