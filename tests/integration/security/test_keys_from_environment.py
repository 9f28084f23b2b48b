"""Keys from the environment: RS256/ES256 token signing keys, and the secrets store's Fernet
keys. Settings are read once per process, so each case runs Weft in a fresh Django process
configured only by its environment."""

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

ROOT = Path(__file__).resolve().parents[3]

# Issues a token for an (unsaved) user, then checks each token given on stdin.
PROBE = """
import json, sys, django
django.setup()
from django.contrib.auth.models import User
from rest_framework_simplejwt.tokens import AccessToken
from rest_framework_simplejwt.exceptions import TokenError
issued = str(AccessToken.for_user(User(id=7, username="probe")))
verdicts = []
for raw in json.load(sys.stdin):
    try:
        AccessToken(raw)
        verdicts.append("accepted")
    except TokenError:
        verdicts.append("refused")
print(json.dumps({"issued": issued, "verdicts": verdicts}))
"""


def pem_pair(private_key) -> tuple[str, str]:
    private = private_key.private_bytes(serialization.Encoding.PEM,
                                        serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()).decode()
    public = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


def probe(env_overrides: dict, tokens: list[str]) -> dict:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings_test", **env_overrides}
    done = subprocess.run([sys.executable, "-c", PROBE], input=json.dumps(tokens), env=env,
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def claims(**extra) -> dict:
    now = datetime.now(UTC)
    return {"token_type": "access", "user_id": "7", "jti": "x" * 32,
            "iat": now, "exp": now + timedelta(minutes=5), **extra}


@pytest.mark.parametrize(("algorithm", "make_key", "other_key"), [
    ("RS256", lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
     lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)),
    ("ES256", lambda: ec.generate_private_key(ec.SECP256R1()),
     lambda: ec.generate_private_key(ec.SECP256R1())),
])
def test_asymmetric_tokens_verify_with_the_public_key_and_refuse_forgeries(
        algorithm, make_key, other_key):
    private_key = make_key()
    private_pem, public_pem = pem_pair(private_key)
    other_private_pem, _ = pem_pair(other_key())
    secret_key = "test-only-secret-key-that-is-long-enough-for-hs256"
    good = jwt.encode(claims(), private_pem, algorithm=algorithm)
    wrong_key = jwt.encode(claims(), other_private_pem, algorithm=algorithm)
    # Algorithm confusion: an HS256 token signed with the shared SECRET_KEY is refused once
    # the deployment uses an asymmetric algorithm.
    hmac_forgery = jwt.encode(claims(), secret_key, algorithm="HS256")
    result = probe({"WEFT_JWT_ALGORITHM": algorithm, "SECRET_KEY": secret_key,
                    "WEFT_JWT_PRIVATE_KEY": private_pem.replace("\n", "\\n"),
                    "WEFT_JWT_PUBLIC_KEY": public_pem}, [good, wrong_key, hmac_forgery])
    assert result["verdicts"] == ["accepted", "refused", "refused"]
    header = jwt.get_unverified_header(result["issued"])
    assert header["alg"] == algorithm
    decoded = jwt.decode(result["issued"], public_pem, algorithms=[algorithm])
    assert decoded["user_id"] == "7"


def test_hs256_stays_the_default():
    result = probe({"WEFT_JWT_ALGORITHM": ""}, [])
    assert jwt.get_unverified_header(result["issued"])["alg"] == "HS256"


def test_an_asymmetric_algorithm_without_keys_refuses_to_start():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings_test",
           "WEFT_JWT_ALGORITHM": "RS256", "WEFT_JWT_PRIVATE_KEY": "", "WEFT_JWT_PUBLIC_KEY": ""}
    done = subprocess.run([sys.executable, "-c", "import django; django.setup()"], env=env,
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "WEFT_JWT_PRIVATE_KEY" in done.stderr


def test_a_malformed_secrets_key_refuses_to_start():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings_test",
           "WEFT_SECRETS_KEYS": "not-a-fernet-key"}
    done = subprocess.run([sys.executable, "-c", "import django; django.setup()"], env=env,
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "WEFT_SECRETS_KEYS" in done.stderr
