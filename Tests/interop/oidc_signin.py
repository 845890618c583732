"""Signs people in to the collector through a real OpenID Connect provider (identity_provider.py)
and reports what each attempt showed.

Why it exists: the sign-in's promises (the browser goes to the provider and back, the session
cookie survives the cross-site redirect chain, a replayed or injected callback signs nobody in,
tokens the provider signed with the wrong audience, issuer, nonce or lifetime are refused) can
only be observed with a real browser and a real provider. A Swift test starts both and the
collector, runs this script with the interop venv's python, and makes every assertion on the JSON
report written to --out: this script records facts (texts, statuses, URLs), never pass/fail, and
a step that throws records {"error": ...} and the next runs.

The UI (http://127.0.0.1) and the provider (https://localhost) are different sites, as they are
in a deployment. Chromium trusts the provider's test certificate by its key's hash
(--ignore-certificate-errors-spki-list) and resolves no name but the loopback ones; requests go
through `requests` with proxies disabled. Nothing leaves loopback.

Exit status: 0 when the steps ran (whatever they found).
"""
import argparse
import base64
import hashlib
import html
import json
import os
import re
import shutil
import sys
import tempfile
import traceback
import urllib.parse

import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ui_browser import CHROMEDRIVER, CHROMIUM, CHROMIUM_FLAGS, WAIT  # noqa: E402


def spki_hash(cert_file):
    """The base64 SHA-256 of the certificate's public key, as Chromium's SPKI allow-list takes it."""
    with open(cert_file, "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def login_error(text):
    match = re.search(r'id="login-error"[^>]*>([^<]*)<', text)
    return html.unescape(match.group(1)) if match else None


class Browser:
    def __init__(self, scratch, cert):
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        options.add_argument("--ignore-certificate-errors-spki-list=" + spki_hash(cert))
        options.add_argument("--user-data-dir=" + tempfile.mkdtemp(dir=scratch))
        options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
        service = Service(executable_path=CHROMEDRIVER, env={**os.environ, "TMPDIR": scratch})
        self.driver = webdriver.Chrome(service=service, options=options)
        self.driver.set_page_load_timeout(30)

    def sign_in(self, ui, username, password):
        """Clicks the provider's button on the sign-in page and signs in there; returns what the
        collector showed afterwards and the callback URL the provider sent the browser to."""
        d = self.driver
        d.get(ui + "/login")
        d.find_element(By.ID, "oidc-signin").click()
        WebDriverWait(d, WAIT).until(lambda d: d.find_elements(By.ID, "id_username"))
        provider_page = d.current_url
        d.find_element(By.ID, "id_username").send_keys(username)
        d.find_element(By.ID, "id_password").send_keys(password)
        d.find_element(By.ID, "login-submit").click()
        # Either the timeline (signed in) or the sign-in page with the collector's refusal.
        WebDriverWait(d, WAIT).until(
            lambda d: d.current_url.startswith(ui + "/timeline") or (d.current_url.startswith(ui) and d.find_elements(By.ID, "login-error"))
        )
        facts = {"provider_page": provider_page.split("?")[0], "url": d.current_url, "callback": self.callback_url(ui)}
        person = d.find_elements(By.ID, "nav-person")
        facts["person"] = person[0].text if person else None
        error = d.find_elements(By.ID, "login-error")
        facts["login_error"] = error[0].text if error else None
        if facts["url"].startswith(ui + "/timeline"):
            facts["workflows"] = [o.get_attribute("value") for o in d.find_elements(By.CSS_SELECTOR, "select[name=workflow] option") if o.get_attribute("value")]
            facts["cookies"] = [{"name": c["name"], "sameSite": c.get("sameSite"), "httpOnly": c.get("httpOnly")} for c in d.get_cookies()]
        return facts

    def callback_url(self, ui):
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message.get("method") == "Network.requestWillBeSent":
                url = message["params"]["request"]["url"]
                if url.startswith(ui + "/login/oidc/callback"):
                    return url
        return None

    def open(self, url):
        self.driver.get(url)
        error = self.driver.find_elements(By.ID, "login-error")
        person = self.driver.find_elements(By.ID, "nav-person")
        return {"url": self.driver.current_url, "login_error": error[0].text if error else None, "person": person[0].text if person else None}

    def sign_out(self, ui):
        """Signs out from the timeline, then asks for the timeline again."""
        d = self.driver
        d.get(ui + "/timeline")
        d.find_element(By.CSS_SELECTOR, "#logout button").click()
        WebDriverWait(d, WAIT).until(lambda d: d.current_url.startswith(ui + "/login"))
        after = d.current_url
        d.get(ui + "/timeline")
        return {"after_signout": after, "timeline_then": d.current_url}

    def quit(self):
        self.driver.quit()


class Client:
    """The same flow with `requests`, to hold the callback in hand: send it without the binding
    cookie, twice, or after telling the provider to misbehave."""

    def __init__(self, ui, provider, ca):
        self.ui, self.provider, self.ca = ui, provider, ca

    def session(self):
        s = requests.Session()
        s.trust_env = False
        return s

    def callback(self, username, password):
        """Begins a sign-in and signs in at the provider; returns (session, callback URL)."""
        s = self.session()
        begun = s.get(self.ui + "/login/oidc", allow_redirects=False, timeout=WAIT)
        location = begun.headers["location"]
        answer = s.get(location, verify=self.ca, allow_redirects=False, timeout=WAIT)
        login_url = urllib.parse.urljoin(location, answer.headers["location"])
        form = s.get(login_url, verify=self.ca, timeout=WAIT)
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
        nxt = re.search(r'name="next" value="([^"]*)"', form.text).group(1)
        posted = s.post(
            login_url,
            data={"csrfmiddlewaretoken": csrf, "username": username, "password": password, "next": html.unescape(nxt)},
            headers={"Referer": login_url},
            verify=self.ca,
            allow_redirects=False,
            timeout=WAIT,
        )
        authorize = urllib.parse.urljoin(login_url, posted.headers["location"])
        back = s.get(authorize, verify=self.ca, allow_redirects=False, timeout=WAIT)
        return s, {"binding_cookie": begun.headers.get("set-cookie"), "authorize": location}, back.headers["location"]

    def finish(self, s, url):
        answer = s.get(url, allow_redirects=False, timeout=WAIT)
        cookies = answer.raw.headers.getlist("Set-Cookie")
        return {
            "status": answer.status_code,
            "login_error": login_error(answer.text),
            # A signed-in session's cookie lasts the session's lifetime; a visitor's ends with the browser.
            "signed_in": any(c.startswith("gc_session=") and "Max-Age=" in c for c in cookies),
            "refresh": 'http-equiv="refresh"' in answer.text,
        }

    def tamper(self, claims):
        requests.post(self.provider + "/test/tamper", json=claims, verify=self.ca, timeout=WAIT, proxies={"http": None, "https": None})


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ui", required=True)
    parser.add_argument("--provider", required=True, help="the provider's site, https://localhost:PORT")
    parser.add_argument("--ca", required=True)
    parser.add_argument("--cert", required=True, help="the provider's certificate, whose key Chromium is told to trust")
    parser.add_argument("--users", required=True, help='JSON {"viewer": [name, password], "admin": …, "nobody": …, "impostor": …}')
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    users = json.loads(args.users)
    report = {}
    scratch = tempfile.mkdtemp(prefix="gc-oidc-")

    def step(name, body):
        try:
            report[name] = body()
        except Exception as error:  # a fact for the report, not a reason to stop
            report[name] = {"error": f"{type(error).__name__}: {error}", "where": traceback.format_exc()[-1500:]}

    def browser_sign_in(user, then=None):
        browser = Browser(scratch, args.cert)
        try:
            facts = browser.sign_in(args.ui, *users[user])
            if then:
                facts.update(then(browser, facts))
            return facts
        finally:
            browser.quit()

    # Replaying the callback the browser was sent to, in the same browser, signs nobody in again;
    # then the viewer signs out.
    step(
        "viewer",
        lambda: browser_sign_in("viewer", lambda b, f: {"replay": b.open(f["callback"]) if f["callback"] else None, "signout": b.sign_out(args.ui)}),
    )
    step("admin", lambda: browser_sign_in("admin"))
    step("nobody", lambda: browser_sign_in("nobody"))

    client = Client(args.ui, args.provider, args.ca)

    def injected():
        # The callback of someone else's login, opened without their binding cookie (an attacker
        # planting their code in a victim's browser): refused, and the real browser still finishes.
        s, begun, url = client.callback(*users["viewer"])
        return {"begun": begun, "other_browser": client.finish(client.session(), url), "same_browser": client.finish(s, url), "again": client.finish(s, url)}

    step("injected", injected)

    def tampered(claims):
        def run():
            client.tamper(claims)
            try:
                s, _, url = client.callback(*users["viewer"])
                return client.finish(s, url)
            finally:
                client.tamper({})

        return run

    def impostor():
        # Another account of the provider whose address says alice's: the name stays alice's account's.
        s, _, url = client.callback(*users["impostor"])
        return client.finish(s, url)

    step("impostor", impostor)
    step("forged", tampered({"forge": True}))
    step("wrong_audience", tampered({"aud": "another-client"}))
    step("wrong_issuer", tampered({"iss": "https://evil.example.com"}))
    step("wrong_nonce", tampered({"nonce": "not-the-one-sent"}))
    step("expired", tampered({"exp_offset": -3600}))
    step("unverified", tampered({"email_verified": False}))
    # Taken out of every mapped group at the provider: refused, and the role alice had here goes.
    step("ungrouped", tampered({"groups": []}))
    step("after_tampering", tampered({}))

    shutil.rmtree(scratch, ignore_errors=True)
    with open(args.out, "w") as f:
        json.dump(report, f, indent=2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
