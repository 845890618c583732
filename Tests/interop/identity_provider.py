"""A real OpenID Connect provider for the sign-in tests: django-oidc-provider (PyPI) in a Django
project of one file, served over TLS (the test CA's certificate for localhost) on loopback.

Why it exists: the collector's OpenID Connect sign-in must work with a provider it did not write.
This one issues authorization codes (with PKCE), signs ID tokens with RS256 and publishes its
keys at jwks_uri, as Keycloak, Entra ID or Okta do. The ID token carries `email`,
`email_verified` and `groups` (the user's Django groups), added by the provider's documented
ID-token processing hook.

For the refusal tests the provider can be told to misbehave as a compromised or misconfigured one
would: POST /test/tamper with a JSON object whose keys replace claims of the next ID tokens it
signs (`aud`, `iss`, `nonce`, `email_verified`, `groups`), `exp_offset` (seconds added to `exp`),
or `forge: true` (signed by a key of the forger's own under the provider's key id, which its
key set does not hold); POST {} restores it.
This route is part of the test provider only.

Usage: identity_provider.py --cert C --key K --ready-file F --data-dir D --client-id ID
       --client-secret S --redirect-uri URI --users JSON
--users is a list of {"username", "password", "email", "groups": [...]}. When the provider
listens, it writes {"issuer": ..., "port": ...} to --ready-file.
"""
import argparse
import json
import os
import secrets
import socketserver
import ssl
import sys
import threading
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

TAMPER = {}
TAMPER_LOCK = threading.Lock()


def add_claims(id_token, user=None, **kwargs):
    """OIDC_IDTOKEN_PROCESSING_HOOK: the person's address and groups, then any tampering asked for."""
    id_token["email"] = user.email
    id_token["email_verified"] = True
    id_token["groups"] = sorted(group.name for group in user.groups.all())
    with TAMPER_LOCK:
        for claim, value in TAMPER.items():
            if claim == "forge":
                continue
            if claim == "exp_offset":
                id_token["exp"] = int(id_token["exp"]) + int(value)
            else:
                id_token[claim] = value
    return id_token


def forge_id_tokens():
    """Wraps the provider's ID token signing so that `forge` signs with a key it never published."""
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa
    from oidc_provider.lib.endpoints import token as token_endpoint

    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    original = token_endpoint.encode_id_token

    def encode(payload, client):
        signed = original(payload, client)
        with TAMPER_LOCK:
            forge = TAMPER.get("forge")
        if not forge:
            return signed
        return jwt.encode(payload, forger, algorithm="RS256", headers={"kid": jwt.get_unverified_header(signed)["kid"]})

    token_endpoint.encode_id_token = encode


def tamper(request):
    from django.http import JsonResponse

    with TAMPER_LOCK:
        TAMPER.clear()
        TAMPER.update(json.loads(request.body or b"{}"))
        return JsonResponse(dict(TAMPER))


class ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class HTTPSHandler(WSGIRequestHandler):
    def get_environ(self):
        environ = super().get_environ()
        environ["HTTPS"] = "on"
        environ["wsgi.url_scheme"] = "https"
        return environ

    def log_message(self, format, *args):
        sys.stderr.write("identity_provider: " + (format % args) + "\n")


LOGIN_TEMPLATE = """<!doctype html><title>Test provider sign-in</title>
<form id="login" method="post">{% csrf_token %}
<input type="hidden" name="next" value="{{ next }}">
<label>Username <input id="id_username" name="username"></label>
<label>Password <input id="id_password" name="password" type="password"></label>
<button id="login-submit">Sign in</button></form>
"""


def main():
    parser = argparse.ArgumentParser()
    for name in ("--cert", "--key", "--ready-file", "--data-dir", "--client-id", "--client-secret", "--redirect-uri", "--users"):
        parser.add_argument(name, required=True)
    args = parser.parse_args()

    templates = os.path.join(args.data_dir, "templates")
    os.makedirs(os.path.join(templates, "registration"), exist_ok=True)
    with open(os.path.join(templates, "registration", "login.html"), "w") as f:
        f.write(LOGIN_TEMPLATE)

    # The port first: the issuer URL, which every ID token carries, names it.
    server = ThreadingWSGIServer(("127.0.0.1", 0), HTTPSHandler)
    port = server.server_address[1]
    site = f"https://localhost:{port}"

    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        SECRET_KEY=secrets.token_hex(32),
        ALLOWED_HOSTS=["localhost"],
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django.contrib.messages",
            "oidc_provider",
        ],
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
        ],
        ROOT_URLCONF=__name__,
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.path.join(args.data_dir, "provider.sqlite3")}},
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "DIRS": [templates],
                "APP_DIRS": True,
                "OPTIONS": {
                    "context_processors": [
                        "django.template.context_processors.request",
                        "django.contrib.auth.context_processors.auth",
                        "django.contrib.messages.context_processors.messages",
                    ]
                },
            }
        ],
        LOGIN_URL="/accounts/login/",
        SITE_URL=site,
        CSRF_TRUSTED_ORIGINS=[site],
        SESSION_COOKIE_SECURE=True,
        CSRF_COOKIE_SECURE=True,
        USE_TZ=True,
        # A test provider's throwaway users: a fast hash, so its sign-ins do not take the CPU
        # the tests running beside it need (PBKDF2's million rounds cost about a second each).
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
        OIDC_IDTOKEN_PROCESSING_HOOK=__name__ + ".add_claims",
    )
    django.setup()

    from django.contrib.auth import views as auth_views
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from django.core.wsgi import get_wsgi_application
    from django.urls import include, path
    from django.views.decorators.csrf import csrf_exempt

    global urlpatterns
    urlpatterns = [
        path("accounts/login/", auth_views.LoginView.as_view()),
        path("openid/", include("oidc_provider.urls", namespace="oidc_provider")),
        path("test/tamper", csrf_exempt(tamper)),
    ]

    call_command("migrate", verbosity=0, interactive=False)
    forge_id_tokens()
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from oidc_provider.models import Client, ResponseType, RSAKey

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption())
    RSAKey.objects.create(key=pem.decode())
    client = Client.objects.create(
        name="governance-collector",
        client_type="confidential",
        client_id=args.client_id,
        client_secret=args.client_secret,
        jwt_alg="RS256",
        require_consent=False,
    )
    client.redirect_uris = [args.redirect_uri]
    client.save()
    client.response_types.add(ResponseType.objects.get(value="code"))
    for spec in json.loads(args.users):
        user = User.objects.create_user(spec["username"], spec["email"], spec["password"])
        for name in spec.get("groups", []):
            user.groups.add(Group.objects.get_or_create(name=name)[0])

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    server.set_app(get_wsgi_application())
    with open(args.ready_file + ".tmp", "w") as f:
        json.dump({"issuer": site + "/openid", "port": port}, f)
    os.rename(args.ready_file + ".tmp", args.ready_file)
    server.serve_forever()


urlpatterns = []

if __name__ == "__main__":
    main()
