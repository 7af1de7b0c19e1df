"""Black-box smoke test with the official Python SDK (appwrite 27.0.0): its pydantic models reject
a `null` in any non-optional field, so every model the server returns is parsed strictly here."""

import json
import os
import time
import urllib.request

from appwrite.client import Client
from appwrite.exception import AppwriteException
from appwrite.id import ID
from appwrite.services.account import Account

ENDPOINT = os.environ.get("APPWRITE_ENDPOINT", "http://127.0.0.1:8787/v1")
PROJECT = os.environ.get("APPWRITE_PROJECT", "local")
KEY = os.environ.get("APPWRITE_KEY", "")
MOTO = os.environ.get("MOTO_URL", "")


def client(session=None, key=None):
    c = Client().set_endpoint(ENDPOINT).set_project(PROJECT)
    if session:
        c.set_session(session)
    if key:
        c.set_key(key)
    return c


def expect_error(fn, code, kind):
    try:
        fn()
    except AppwriteException as e:
        assert (e.code, e.type) == (code, kind), (e.code, e.type, e.message)
        return
    raise AssertionError(f"expected {code} {kind}")


def last_email_code(to):
    data = json.load(urllib.request.urlopen(f"{MOTO}/moto-api/outbox.json"))
    msgs = [m for m in data["ses"]["Message"] if any(to in a for a in m["destinations"]["ToAddresses"])]
    body = msgs[-1]["body"]
    i = body.index("Use OTP ") + len("Use OTP ")
    return body[i : i + 6]


def main():
    email = f"py{time.time_ns()}@example.com"
    guest = Account(client())
    user = guest.create(user_id=ID.unique(), email=email, password="python-pass-1", name="Py")
    assert user.email == email
    assert user.prefs.data == {}
    expect_error(lambda: guest.get(), 401, "general_unauthorized_scope")
    expect_error(lambda: guest.create_email_password_session(email=email, password="wrong-pass-1"), 401, "user_invalid_credentials")

    # Server-side rendering: a key creates the session, the secret authenticates the user.
    assert KEY, "APPWRITE_KEY missing"
    admin = Account(client(key=KEY))
    session = admin.create_email_password_session(email=email, password="python-pass-1")
    assert session.secret, "servers get the session secret"
    me = Account(client(session=session.secret))
    assert me.get().id == user.id
    me.update_name(name="Renamed")
    me.update_prefs(prefs={"theme": "dark"})
    assert me.get_prefs().data["theme"] == "dark"
    sessions = me.list_sessions()
    assert sessions.total == 1 and sessions.sessions[0].current
    assert me.get_session(session_id="current").provider == "email"
    me.update_session(session_id="current")
    factors = me.list_mfa_factors()
    assert factors.totp is False
    identities = me.list_identities()
    assert identities.total == 0

    # Email OTP login through the SDK models (Token, Session).
    token = guest.create_email_token(user_id=ID.unique(), email=email)
    assert token.secret == ""
    # Required, not skipped: without the outbox this part would silently prove nothing.
    assert MOTO, "MOTO_URL missing: run through scripts/test, which starts the emulator"
    code = last_email_code(email)
    otp_session = admin.create_session(user_id=token.userid, secret=code)
    assert otp_session.provider == "token"
    # The first code login proves an unverified address: earlier sessions and the password
    # are revoked (README "Where we differ": ownership proof).
    expect_error(lambda: me.get(), 401, "general_unauthorized_scope")
    expect_error(lambda: guest.create_email_password_session(email=email, password="python-pass-1"), 401, "user_invalid_credentials")
    me = Account(client(session=otp_session.secret))
    assert me.get().emailverification is True
    me.delete_sessions()
    expect_error(lambda: me.get(), 401, "general_unauthorized_scope")
    passkeys(guest, admin)
    print("python sdk: 2 passed, 0 failed")


def passkeys(guest, admin):
    """The SDK's passkey methods end to end, with a software passkey (soft_authenticator.py):
    register, verify, list, get, rename, sign in with a token, the session, delete."""
    from soft_authenticator import SoftPasskey

    origin = "http://localhost:3000"
    email = f"pypk{time.time_ns()}@example.com"
    guest.create(user_id=ID.unique(), email=email, password="python-pass-1", name="Pk")
    session = admin.create_email_password_session(email=email, password="python-pass-1")
    me = Account(client(session=session.secret))
    challenge = me.create_passkey(passkey_id=ID.unique(), name="Python key")
    assert challenge.passkeyid and challenge.publickey["rp"]["id"] == "localhost"
    key = SoftPasskey()
    passkey = me.update_passkey_verification(passkey_id=challenge.passkeyid, credential=key.create(challenge.publickey, origin))
    assert (passkey.id, passkey.name) == (challenge.passkeyid, "Python key")
    expect_error(lambda: me.update_passkey_verification(passkey_id=challenge.passkeyid, credential=key.create(challenge.publickey, origin)), 401, "user_invalid_token")
    listed = me.list_passkeys()
    assert listed.total == 1 and listed.passkeys[0].id == passkey.id
    assert me.get_passkey(passkey_id=passkey.id).accessedat == passkey.createdat
    assert me.update_passkey(passkey_id=passkey.id, name="Renamed").name == "Renamed"
    expect_error(lambda: me.get_passkey(passkey_id="nope"), 404, "user_authenticator_not_found")

    sign_in = guest.create_passkey_token()
    token = guest.update_passkey_token(challenge_id=sign_in.id, credential=key.get(sign_in.publickey, origin))
    assert token.secret and token.phrase == ""
    expect_error(lambda: guest.update_passkey_token(challenge_id=sign_in.id, credential=key.get(sign_in.publickey, origin)), 401, "user_invalid_token")
    pk_session = admin.create_session(user_id=token.userid, secret=token.secret)
    assert pk_session.provider == "passkey" and pk_session.factors == ["passkey"]
    assert Account(client(session=pk_session.secret)).get().email == email
    me.delete_passkey(passkey_id=passkey.id)
    assert me.list_passkeys().total == 0


if __name__ == "__main__":
    main()
