"""Drives the collector's web UI in headless Chromium and reports what a person would have seen.

Why it exists: the UI's promises (login, the live timeline over server-sent events, filters, the
event detail and chain verification, the one-time display and revocation of workflow tokens, the
escaping of hostile event text, the Content-Security-Policy) can only be observed in a real
browser. A Swift test starts the collector, runs this script with the venv's python
(.build/interop-venv/bin/python), and makes every assertion on the JSON report written to --out.
So this script records raw facts (texts, counts, ids, timings, statuses), never pass/fail, and
never stops at the first failure: a step that throws records {"error": ...} and the next runs.

Offline by construction, for CI: Selenium drives Debian's /usr/bin/chromedriver through
Service(executable_path=...), so Selenium Manager is never run (SE_OFFLINE=true in case it were);
Chromium gets flags that switch off its background traffic and a host-resolver rule that resolves
no name but the loopback ones; events go through urllib with proxies disabled; --ui and --ingest
must be loopback URLs.

The full new workflow token is written to the --out file (the Swift test needs it) but never to
stdout: the printed copy of the report has every credential replaced.

Exit status: 0 when the browser started (whatever the steps found), 2 when it could not start.
"""
import argparse
import contextlib
import ipaddress
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import datetime, timezone

import selenium
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, UnexpectedAlertPresentException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",  # root in a container: the setuid/namespace sandbox cannot start
    "--disable-gpu",
    "--window-size=1400,900",
    "--disable-dev-shm-usage",  # /dev/shm is often tiny in containers: shared memory goes to TMPDIR
    # Never contact the network: no first-run, sync, component, variations or safe-browsing
    # fetches, no proxy auto-detection, and no name resolves except the loopback ones.
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--disable-breakpad",
    "--no-pings",
    "--no-proxy-server",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
    "--disable-features=OptimizationHints,MediaRouter,Translate,AutofillServerCommunication,"
    "CertificateTransparencyComponentUpdater,InterestFeedContentSuggestions",
    "--password-store=basic",
    "--use-mock-keychain",
]
WAIT = 30.0  # seconds any single wait for the page may take: a guard, generous for a busy CI machine
LIVE_EVENTS = [  # (agent, kind): decisions are derived from the kind (denied → deny, granted → allow)
    ("agent-a", "tool.call"),
    ("agent-b", "policy.denied"),
    ("agent-a", "access.granted"),
    ("agent-b", "access.granted"),
    ("agent-b", "policy.denied"),
]
# A value under a key that display redaction should hide ("…password"); not a credential of
# the tests (scripts/check-secrets.sh), so it may appear anywhere.
METADATA_PLACEHOLDER = "ui-browser-placeholder-not-a-secret"
HOSTILE_AGENT = "<img src=x onerror=alert(1)>"
HOSTILE_KIND = "tool.<script>alert(2)</script>"
HOSTILE_METADATA = {
    "note": "<script>window.__pwned=1</script>",
    "attr": "\" onmouseover=\"window.__pwned=2",
    "ctl": "a\u0000b\u001b[31mc\u202ed",
}


# ---------------------------------------------------------------- arguments and report

def loopback_url(text):
    """An http(s) URL whose host is a loopback address or localhost (argparse type)."""
    parts = urllib.parse.urlsplit(text)
    host = parts.hostname or ""
    ok = parts.scheme in ("http", "https") and (host == "localhost" or _is_loopback_ip(host))
    if not ok:
        raise argparse.ArgumentTypeError(f"{text!r} is not an http(s) URL on a loopback address")
    return text.rstrip("/")


def _is_loopback_ip(host):
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ui", required=True, type=loopback_url, help="UI base, e.g. http://127.0.0.1:PORT")
    p.add_argument("--password", required=True)
    p.add_argument("--ingest", required=True, type=loopback_url, help="ingest receiver base URL")
    p.add_argument("--ingest-token", required=True, help="a configured wf_ token")
    p.add_argument("--screenshots", help="directory for the PNG screenshots")
    p.add_argument("--out", required=True, help="file for the JSON report")
    return p.parse_args(argv)


class Report:
    """Step name → facts. A step that throws keeps the facts it had and gains "error"."""

    def __init__(self):
        self.data = {}
        self.secrets = set()

    @contextlib.contextmanager
    def step(self, name):
        facts = self.data.setdefault(name, {})
        started = time.monotonic()
        try:
            yield facts
        except Exception as e:  # record and go on: the Swift test judges
            message = str(e).split("\nStacktrace:")[0].strip()  # chromedriver's own frames say nothing
            facts["error"] = f"{type(e).__name__}: {message}"
            facts["where"] = [f"{f.name}:{f.lineno}" for f in traceback.extract_tb(e.__traceback__)
                              if f.filename == __file__ and f.name not in ("step", "main", "<lambda>")]
        facts["step_ms"] = ms_since(started)

    def scrubbed(self, keep=()):
        """The report as JSON text with every secret but those in `keep` replaced."""
        text = json.dumps(self.data, indent=2, ensure_ascii=False)
        for s in sorted(self.secrets - set(keep), key=len, reverse=True):
            if s and len(s) >= 6:  # a shorter one would blank out ordinary words
                text = text.replace(json.dumps(s, ensure_ascii=False)[1:-1], "[redacted]")
        return text


def attempt(facts, name, action):
    """Runs one part of a step whose failure should not stop the rest: records name_error."""
    try:
        action()
    except Exception as e:
        facts[f"{name}_error"] = f"{type(e).__name__}: " + str(e).split("\nStacktrace:")[0].strip()


def ms_since(start):
    return round((time.monotonic() - start) * 1000, 1)


# ---------------------------------------------------------------- ingest over urllib

# No proxies: a proxy variable in the environment must not send loopback traffic elsewhere.
HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


HTTP_NO_REDIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}), NoRedirect())


def now_rfc3339():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_body(agent, kind, metadata=None):
    """An event in the ingest wire format (Sources/Pipeline/WireFormat.swift: the session, kind,
    time and metadata sit under "payload"; the decision is derived from the kind)."""
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": kind,
        "agent_id": agent,
        "payload": {
            "session_id": str(uuid.uuid4()),
            "kind": kind,
            "created_at": now_rfc3339(),
            "metadata": metadata if metadata is not None else {},
        },
    }


def post_event(ingest, token, body):
    """POSTs one event; returns (status, parsed-or-raw answer)."""
    request = urllib.request.Request(
        ingest + "/api/v1/ingest/events", data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with HTTP.open(request, timeout=10) as answer:
            return answer.status, _json_or_text(answer.read())
    except urllib.error.HTTPError as e:
        return e.code, _json_or_text(e.read())


def _json_or_text(raw):
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")[:500]


# ---------------------------------------------------------------- browser

def start_browser(scratch):
    """Headless Chromium through Debian's chromedriver; returns (driver, facts). Both keep their
    profile, shared memory files and singleton socket under `scratch` (TMPDIR), which the caller
    removes: Chromium leaves a /tmp/org.chromium.Chromium.* folder behind on every quit otherwise."""
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager's own switch; it is not run anyway
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # Leave a dialog open so that the steps can see it (switch_to.alert) rather than have
    # chromedriver dismiss it behind their back.
    options.unhandled_prompt_behavior = "ignore"
    started = time.monotonic()
    service = Service(executable_path=CHROMEDRIVER, env={**os.environ, "TMPDIR": scratch})
    driver = webdriver.Chrome(service=service, options=options)
    facts = {"startup_ms": ms_since(started)}
    driver.set_page_load_timeout(15)
    driver.set_script_timeout(10)
    caps = driver.capabilities
    facts.update({
        "browser_version": caps.get("browserVersion"),
        "chromedriver_version": (caps.get("chrome") or {}).get("chromedriverVersion", "").split(" ")[0],
        "selenium_version": selenium.__version__,
        "user_agent": driver.execute_script("return navigator.userAgent"),
        # --window-size is the outer size: headless=new keeps room for its invisible toolbar.
        "viewport": driver.execute_script("return [window.innerWidth, window.innerHeight]"),
    })
    return driver, facts


def wait_until(condition, timeout=WAIT, poll=0.05):
    """Polls condition() until it returns something truthy; returns it, or None on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except Exception:
            value = None
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(poll)


def css(driver, selector):
    return driver.find_elements(By.CSS_SELECTOR, selector)


def text_of(driver, selector):
    found = css(driver, selector)
    return found[0].text if found else None


def path_and_query(driver):
    parts = urllib.parse.urlsplit(driver.current_url)
    return parts.path, parts.query


def click_and_wait(driver, button):
    """Clicks a submit button or link and waits for the next document to replace this one."""
    marker = "m" + uuid.uuid4().hex
    driver.execute_script(f"window.{marker} = true")
    button.click()
    wait_until(lambda: alert_text(driver) is not None
               or driver.execute_script(f"return document.readyState === 'complete' && !window.{marker}"))


def alert_text(driver):
    """The text of an open dialog, or None (Selenium's own detection: nothing is overridden)."""
    try:
        return driver.switch_to.alert.text
    except NoAlertPresentException:
        return None


def drain_alerts(driver):
    """Texts of every open dialog, each accepted so that the page can go on."""
    texts = []
    while (text := alert_text(driver)) is not None and len(texts) < 20:
        texts.append(text)
        driver.switch_to.alert.accept()
        time.sleep(0.05)
    return texts


def nav_present(driver):
    return {name: bool(css(driver, sel)) for name, sel in
            (("nav_timeline", "nav a#nav-timeline"), ("nav_workflows", "nav a#nav-workflows"),
             ("logout", "form#logout"))}


def console_entries(driver):
    """Browser console entries since the last call (chromedriver's log buffer drains)."""
    try:
        return driver.get_log("browser")
    except Exception as e:
        return [{"level": "HARNESS", "message": f"get_log failed: {e}"}]


def csp_messages(entries):
    return [e["message"] for e in entries if "Content Security Policy" in e.get("message", "")]


def screenshot(driver, directory, name):
    if not directory:
        return None
    path = os.path.join(directory, name)
    driver.save_screenshot(path)
    return {"path": path, "bytes": os.path.getsize(path)}


FOREIGN_SCRIPTS_JS = """
return Array.from(document.scripts).filter(s => {
  if (!s.getAttribute('src')) return true;   // inline
  const u = new URL(s.src, location.href);
  return !(u.origin === location.origin && u.pathname.startsWith('/static/'));
}).map(s => s.getAttribute('src') || ('inline: ' + s.textContent.slice(0, 120)));
"""

PWNED_JS = "return window.__pwned === undefined ? null : String(window.__pwned)"


# ---------------------------------------------------------------- the steps

def step_login_wrong(driver, args, facts):
    driver.get(args.ui + "/login")
    facts["csrf_present"] = bool(css(driver, "form#login input[type=hidden][name=csrf]"))
    css(driver, "#password")[0].send_keys(args.password + "-wrong")
    click_and_wait(driver, css(driver, "#login-submit")[0])
    facts["path"], _ = path_and_query(driver)
    facts["login_error"] = text_of(driver, "#login-error")
    facts["login_form_present"] = bool(css(driver, "form#login"))


def step_login(driver, args, facts):
    driver.get(args.ui + "/login")
    css(driver, "#password")[0].send_keys(args.password)
    click_and_wait(driver, css(driver, "#login-submit")[0])
    wait_until(lambda: path_and_query(driver)[0] != "/login")
    facts["path"], facts["query"] = path_and_query(driver)
    facts["title"] = driver.title
    facts["nav"] = nav_present(driver)
    # Cookie names and flags only, never values.
    facts["cookies"] = [{k: c.get(k) for k in ("name", "httpOnly", "secure", "sameSite", "path", "expiry")}
                        for c in driver.get_cookies()]


OBSERVE_ROWS_JS = """
window.__seen = {};
window.__loadMarker = arguments[0];
const note = el => {
  if (el.nodeType === 1 && el.matches && el.matches('tr.event-row[data-event-id]')) {
    const id = el.getAttribute('data-event-id');
    if (!(id in window.__seen)) window.__seen[id] = Date.now();
  }
};
new MutationObserver(ms => ms.forEach(m => m.addedNodes.forEach(n => {
  note(n); if (n.querySelectorAll) n.querySelectorAll('tr.event-row').forEach(note);
}))).observe(document.body, {childList: true, subtree: true});
"""


def step_live(driver, args, facts, state):
    driver.get(args.ui + "/timeline")
    started = time.monotonic()
    live = wait_until(lambda: text_of(driver, "#live-status") == "live")
    facts["live_wait_ms"] = ms_since(started) if live else None
    facts["live_status"] = text_of(driver, "#live-status")
    facts["rows_before"] = len(css(driver, "#events tbody tr.event-row"))
    facts["circles_before"] = len(css(driver, "#timeline circle.event"))
    marker = uuid.uuid4().hex
    driver.execute_script(OBSERVE_ROWS_JS, marker)

    posted = []
    for i, (agent, kind) in enumerate(LIVE_EVENTS):
        body = event_body(agent, kind, {"source": "ui_browser", "n": i, "db_password": METADATA_PLACEHOLDER})
        posted_at = int(time.time() * 1000)  # whole ms, as the page's Date.now() on the same clock
        status, answer = post_event(args.ingest, args.ingest_token, body)
        posted.append({"event_id": body["event_id"], "agent": agent, "kind": kind, "status": status,
                       "answer": answer, "posted_at_ms": posted_at,
                       "post_ms": int(time.time() * 1000) - posted_at})
    state["live_events"] = posted
    ids = [p["event_id"] for p in posted]
    wait_until(lambda: all(driver.execute_script("return arguments[0] in window.__seen", i) for i in ids),
               timeout=WAIT, poll=0.1)
    seen = driver.execute_script("return window.__seen") or {}
    for p in posted:
        at = seen.get(p["event_id"])
        # From the start of its POST to its row in the page; None: not within 5 s.
        p["appeared_ms"] = at - p["posted_at_ms"] if at is not None else None
        p["row_decision"] = text_of(driver, f'tr.event-row[data-event-id="{p["event_id"]}"] td.decision')
        circle = css(driver, f'#timeline circle.event[data-event-id="{p["event_id"]}"]')
        p["circle_decision"] = circle[0].get_attribute("data-decision") if circle else None
    facts["posted"] = posted
    facts["rows_after"] = len(css(driver, "#events tbody tr.event-row"))
    facts["circles_after"] = len(css(driver, "#timeline circle.event"))
    facts["top_row_ids"] = [r.get_attribute("data-event-id") for r in css(driver, "#events tbody tr.event-row")[:len(ids)]]
    facts["lanes"] = [g.get_attribute("data-agent") for g in css(driver, "#timeline g.lane")]
    facts["reloaded"] = driver.execute_script("return window.__loadMarker") != marker
    facts["live_status_after"] = text_of(driver, "#live-status")
    facts["screenshot"] = screenshot(driver, args.screenshots, "timeline.png")
    facts["console_csp"] = csp_messages(console_entries(driver))


def step_filter(driver, args, facts, state):
    if path_and_query(driver)[0] != "/timeline":
        driver.get(args.ui + "/timeline")
    agent = css(driver, "form#filters input[name=agent]")[0]
    agent.clear()
    agent.send_keys("agent-b")
    Select(css(driver, "form#filters select[name=decision]")[0]).select_by_value("deny")
    click_and_wait(driver, css(driver, "#apply-filters")[0])
    path, query = path_and_query(driver)
    facts["path"], facts["query"] = path, query
    facts["query_params"] = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
    rows = css(driver, "#events tbody tr.event-row")
    facts["listed_ids"] = [r.get_attribute("data-event-id") for r in rows]
    facts["listed"] = [{"agent": _cell(r, "td.agent"), "kind": _cell(r, "td.kind"), "decision": _cell(r, "td.decision")}
                       for r in rows]
    facts["posted_matching_ids"] = [p["event_id"] for p in state.get("live_events", [])
                                    if p["agent"] == "agent-b" and p["kind"] == "policy.denied"]
    facts["older_link"] = bool(css(driver, "a#older"))


def _cell(row, selector):
    found = row.find_elements(By.CSS_SELECTOR, selector)
    return found[0].text if found else None


def step_detail(driver, args, facts, state):
    wanted = [p["event_id"] for p in state.get("live_events", []) if p["kind"] == "policy.denied"]
    link = None
    for event_id in wanted:
        found = css(driver, f'tr.event-row[data-event-id="{event_id}"] a.detail')
        if found:
            link = found[0]
            break
    if link is None:  # fall back to the first row of the full timeline
        driver.get(args.ui + "/timeline")
        link = css(driver, "#events tbody tr.event-row a.detail")[0]
    facts["link_href"] = link.get_attribute("href")
    click_and_wait(driver, link)
    facts["path"], _ = path_and_query(driver)
    facts["fields"] = {dd.get_attribute("data-field"): dd.text for dd in css(driver, "dl#fields dd[data-field]")}
    facts["metadata_text"] = text_of(driver, "pre#metadata")
    facts["metadata_shows_placeholder"] = METADATA_PLACEHOLDER in (facts["metadata_text"] or "")
    facts["nav"] = nav_present(driver)
    raw = css(driver, "a#show-raw")
    facts["show_raw_href"] = raw[0].get_attribute("href") if raw else None
    facts["screenshot"] = screenshot(driver, args.screenshots, "detail.png")
    attempt(facts, "verify", lambda: verify_session(driver, args, facts))
    if facts["show_raw_href"]:
        attempt(facts, "raw", lambda: raw_view(driver, facts))
    facts["console_csp"] = csp_messages(console_entries(driver))


def verify_session(driver, args, facts):
    facts["verify_csrf_present"] = bool(css(driver, "form#verify input[type=hidden][name=csrf]"))
    click_and_wait(driver, css(driver, "form#verify button#verify-session")[0])
    wait_until(lambda: css(driver, "#verify-result"))
    facts["verify_path"], _ = path_and_query(driver)
    facts["verify_result"] = text_of(driver, "#verify-result")
    facts["verify_screenshot"] = screenshot(driver, args.screenshots, "verify.png")


def raw_view(driver, facts):
    driver.get(facts["show_raw_href"])
    facts["raw_path"], facts["raw_query"] = path_and_query(driver)
    facts["raw_metadata_text"] = text_of(driver, "pre#metadata")
    facts["raw_metadata_shows_placeholder"] = METADATA_PLACEHOLDER in (facts["raw_metadata_text"] or "")


def token_rows(driver):
    return [{"fingerprint": r.get_attribute("data-fingerprint"), "workflow": _cell(r, "td.workflow"),
             "status": _cell(r, "td.status")} for r in css(driver, "#tokens tr.token[data-fingerprint]")]


def workflow_rows(driver):
    return {r.get_attribute("data-workflow"): {"count": _cell(r, "td.count"), "last_seen": _cell(r, "td.last-seen")}
            for r in css(driver, "#workflows tr[data-workflow]")}


def step_tokens(driver, args, facts, report):
    driver.get(args.ui + "/workflows")
    facts["nav"] = nav_present(driver)
    facts["workflows_before"] = workflow_rows(driver)
    before = token_rows(driver)
    facts["tokens_before"] = before
    field = css(driver, "form#create-token input[name=workflow]")[0]
    field.clear()
    field.send_keys("wf-browser")
    click_and_wait(driver, css(driver, "#create-token-submit")[0])
    facts["create_path"], _ = path_and_query(driver)
    token = text_of(driver, "code#new-token")
    if token:
        report.secrets.add(token)  # in the --out file, never on stdout
    facts["token"] = token
    facts["token_has_prefix"] = bool(token and token.startswith("wf_"))
    facts["token_length"] = len(token) if token else None
    facts["tokens_after_create"] = token_rows(driver)

    driver.get(args.ui + "/workflows")
    facts["token_shown_after_reload"] = bool(token) and token in driver.page_source
    facts["new_token_element_after_reload"] = bool(css(driver, "code#new-token"))
    known = {r["fingerprint"] for r in before}
    fresh = [r for r in token_rows(driver) if r["fingerprint"] not in known and r["workflow"] == "wf-browser"]
    facts["new_token_rows"] = fresh

    body = event_body("agent-a", "tool.call", {"source": "ui_browser", "step": "tokens"})
    facts["post_new_token_status"], facts["post_new_token_answer"] = post_event(args.ingest, token or "", body)
    facts["post_new_token_event_id"] = body["event_id"]

    facts["revoked_fingerprint"] = fresh[0]["fingerprint"] if fresh else None
    attempt(facts, "revoke", lambda: revoke_token(driver, args, facts, facts["revoked_fingerprint"]))
    again = event_body("agent-a", "tool.call", {"source": "ui_browser", "step": "tokens-revoked"})
    facts["post_revoked_token_status"], facts["post_revoked_token_answer"] = post_event(args.ingest, token or "", again)
    other = event_body("agent-a", "tool.call", {"source": "ui_browser", "step": "tokens-yaml"})
    facts["post_yaml_token_status"], _ = post_event(args.ingest, args.ingest_token, other)
    facts["screenshot"] = screenshot(driver, args.screenshots, "workflows.png")
    facts["console_csp"] = csp_messages(console_entries(driver))


def revoke_token(driver, args, facts, fingerprint):
    row = f'#tokens tr.token[data-fingerprint="{fingerprint}"]'
    click_and_wait(driver, css(driver, row + " form.revoke button.revoke")[0])
    facts["revoke_dialogs"] = drain_alerts(driver)  # a confirm() would show here
    facts["revoke_path"], _ = path_and_query(driver)
    if facts["revoke_path"] != "/workflows":
        driver.get(args.ui + "/workflows")
    facts["status_after_revoke"] = text_of(driver, row + " td.status")
    facts["tokens_after_revoke"] = token_rows(driver)
    facts["workflows_after"] = workflow_rows(driver)


HOVER_TARGETS = ["dl#fields dd", "pre#metadata", "tr.event-row td", "circle.event", "g.lane text"]


def hover_everything(driver, limit=40):
    """Moves the mouse over the places an attribute injection would hide (onmouseover)."""
    hovered = 0
    for selector in HOVER_TARGETS:
        for el in css(driver, selector)[:limit]:
            try:
                ActionChains(driver, duration=0).move_to_element(el).perform()
                hovered += 1
            except Exception:
                pass
    return hovered


def load(driver, url, facts):
    """driver.get that survives a dialog opened during the load (recorded, left for drain_alerts)."""
    try:
        driver.get(url)
    except UnexpectedAlertPresentException as e:
        facts["load_interrupted_by_dialog"] = e.alert_text or True


def guarded(driver, facts, read):
    """read(), after accepting (and recording in facts["alerts"]) any dialog that stands in its way."""
    for _ in range(5):
        try:
            return read()
        except UnexpectedAlertPresentException:
            facts.setdefault("alerts", []).extend(drain_alerts(driver))
    return read()


def observe_hostile_page(driver, facts, reads, shot):
    """Records dialogs, window.__pwned, the given reads, foreign scripts and CSP reports of the
    loaded page, before and after the mouse has passed over it."""
    time.sleep(0.3)  # let asynchronous handlers (an <img> onerror) run
    facts.setdefault("alerts", []).extend(drain_alerts(driver))
    g = lambda read: guarded(driver, facts, read)  # noqa: E731
    for name, read in reads.items():
        facts[name] = g(read)
    facts["pwned"] = g(lambda: driver.execute_script(PWNED_JS))
    facts["hovered"] = g(lambda: hover_everything(driver))
    time.sleep(0.2)
    facts["alerts_after_hover"] = drain_alerts(driver)
    facts["pwned_after_hover"] = g(lambda: driver.execute_script(PWNED_JS))
    facts["foreign_scripts"] = g(lambda: driver.execute_script(FOREIGN_SCRIPTS_JS))
    facts["foreign_script_count"] = len(facts["foreign_scripts"])
    facts["img_x_count"] = g(lambda: driver.execute_script(
        "return Array.from(document.images).filter(i => i.getAttribute('src') === 'x').length"))
    facts["console_csp"] = csp_messages(g(lambda: console_entries(driver)))
    facts["screenshot"] = g(shot)


def post_hostile_event(args, facts):
    """Posts the hostile event; if refused (perhaps for the NUL), again without the NUL."""
    body = event_body(HOSTILE_AGENT, HOSTILE_KIND, dict(HOSTILE_METADATA))
    facts["event_id"] = body["event_id"]
    facts["post_status"], facts["post_answer"] = post_event(args.ingest, args.ingest_token, body)
    if facts["post_status"] not in (200, 201):
        body = event_body(HOSTILE_AGENT, HOSTILE_KIND, dict(HOSTILE_METADATA, ctl="a\u001b[31mc\u202ed"))
        facts["event_id"] = body["event_id"]
        facts["post_status_without_nul"], facts["post_answer_without_nul"] = post_event(
            args.ingest, args.ingest_token, body)
    return facts["event_id"]


def step_hostile(driver, args, facts):
    console_entries(driver)  # drop what earlier pages logged
    event_id = post_hostile_event(args, facts)

    detail = facts.setdefault("detail", {})
    load(driver, f"{args.ui}/events/{event_id}", detail)
    observe_hostile_page(driver, detail, {
        "path": lambda: path_and_query(driver)[0],
        "agent_id_text": lambda: text_of(driver, 'dd[data-field="agent_id"]'),
        "kind_text": lambda: text_of(driver, 'dd[data-field="kind"]'),
        "metadata_text": lambda: text_of(driver, "pre#metadata"),
    }, lambda: screenshot(driver, args.screenshots, "hostile-detail.png"))
    detail["metadata_has_script_literal"] = "<script>" in (detail["metadata_text"] or "")

    timeline = facts.setdefault("timeline", {})
    load(driver, args.ui + "/timeline", timeline)
    row = f'tr.event-row[data-event-id="{event_id}"]'
    observe_hostile_page(driver, timeline, {
        "live_status": lambda: wait_until(lambda: text_of(driver, "#live-status") == "live")
        and text_of(driver, "#live-status"),
        "row_present": lambda: bool(css(driver, row)),
        "agent_text": lambda: text_of(driver, row + " td.agent"),
        "kind_text": lambda: text_of(driver, row + " td.kind"),
        "lane_labels": lambda: [g.text for g in css(driver, "#timeline g.lane")],
    }, lambda: screenshot(driver, args.screenshots, "hostile-timeline.png"))
    facts["alert_fired"] = any(part.get(k) for part in (detail, timeline) for k in ("alerts", "alerts_after_hover"))


def dashboard_tiles(driver):
    return {name: text_of(driver, "#tile-" + name) for name in ("total", "allow", "deny", "none", "denial-rate")}


def step_dashboard(driver, args, facts, state):
    """The dashboard's tiles, then three events posted while it is open: the tiles count them without a reload."""
    driver.get(args.ui + "/")
    wait_until(lambda: text_of(driver, "#live-status") == "live")
    facts["before"] = dashboard_tiles(driver)
    facts["agents_before"] = {r.get_attribute("data-agent"): _cell(r, "td.events") for r in css(driver, "#top-agents tr[data-agent]")}
    driver.execute_script("window.__notReloaded = true")
    posted = []
    for kind in ("policy.denied", "tool.call", "access.granted"):
        body = event_body("planner", kind)
        posted.append({"kind": kind, "event_id": body["event_id"], "status": post_event(args.ingest, args.ingest_token, body)[0]})
    total = int(facts["before"]["total"]) + 3
    wait_until(lambda: text_of(driver, "#tile-total") == str(total))
    facts["after"] = dashboard_tiles(driver)
    facts["agents_after"] = {r.get_attribute("data-agent"): _cell(r, "td.events") for r in css(driver, "#top-agents tr[data-agent]")}
    facts["reloaded"] = driver.execute_script("return window.__notReloaded !== true")
    facts["posted"] = posted
    facts["bars"] = len(css(driver, "svg#events-chart g.bar"))
    facts["screenshot"] = screenshot(driver, args.screenshots, "dashboard.png")


def step_search(driver, args, facts):
    """A metadata search typed into the form, then the export link of that view fetched with the session's cookie."""
    driver.get(args.ui + "/timeline")
    meta = css(driver, "form#filters input[name=meta]")[0]
    meta.clear()
    meta.send_keys("step=3")
    click_and_wait(driver, css(driver, "#apply-filters")[0])
    facts["query_params"] = dict(urllib.parse.parse_qsl(path_and_query(driver)[1], keep_blank_values=True))
    facts["listed_ids"] = [r.get_attribute("data-event-id") for r in css(driver, "#events tbody tr.event-row")]
    facts["live_text"] = text_of(driver, "#live-status")
    link = css(driver, "a#export-ndjson")[0].get_attribute("href")
    facts["export_href"] = link
    cookie = "; ".join(f'{c["name"]}={c["value"]}' for c in driver.get_cookies())
    with HTTP_NO_REDIRECT.open(urllib.request.Request(link, headers={"Cookie": cookie}), timeout=10) as answer:
        facts["export_status"] = answer.status
        facts["export_disposition"] = answer.headers.get("Content-Disposition")
        facts["export_ids"] = [json.loads(line)["event_id"] for line in answer.read().decode().splitlines() if line]
    facts["screenshot"] = screenshot(driver, args.screenshots, "search.png")


def step_session(driver, args, facts):
    """A seeded coder session's link on the timeline, followed to the session page."""
    driver.get(args.ui + "/timeline?agent=coder")
    link = css(driver, "#events tbody tr.event-row a.session-link")[0]
    facts["session_href"] = link.get_attribute("href")
    click_and_wait(driver, link)
    facts["path"], _ = path_and_query(driver)
    facts["rows"] = [{"id": r.get_attribute("data-event-id"), "parent": r.get_attribute("data-parent"),
                      "depth": int(r.get_attribute("data-depth"))} for r in css(driver, "#session-events tr.session-event")]
    facts["screenshot"] = screenshot(driver, args.screenshots, "session.png")
    click_and_wait(driver, css(driver, "form#verify button#verify-session")[0])
    wait_until(lambda: css(driver, "#verify-result"))
    facts["verify_result"] = text_of(driver, "#verify-result")


def step_zoom(driver, args, facts):
    """The zoom link for the later half of the page: from and to set, every listed row inside them."""
    driver.get(args.ui + "/timeline")
    facts["ticks"] = [t.text for t in css(driver, "svg#timeline g.axis text")]
    facts["caption"] = text_of(driver, "#axis-caption")
    click_and_wait(driver, css(driver, "a#zoom-later")[0])
    facts["query_params"] = dict(urllib.parse.parse_qsl(path_and_query(driver)[1], keep_blank_values=True))
    facts["listed_ids"] = [r.get_attribute("data-event-id") for r in css(driver, "#events tbody tr.event-row")]


def step_csp(driver, args, facts):
    cookie = "; ".join(f'{c["name"]}={c["value"]}' for c in driver.get_cookies())
    request = urllib.request.Request(args.ui + "/timeline", headers={"Cookie": cookie})
    try:
        answer = HTTP_NO_REDIRECT.open(request, timeout=10)
    except urllib.error.HTTPError as e:  # a redirect (not followed) or an error
        answer = e
    with answer:
        facts["status"] = answer.status if hasattr(answer, "status") else answer.code
        headers = answer.headers
        facts["content_security_policy"] = headers.get("Content-Security-Policy")
        facts["headers"] = {k: v for k, v in headers.items() if k.lower() != "set-cookie"}


# ---------------------------------------------------------------- main

def main(argv):
    args = parse_args(argv)
    report = Report()
    report.secrets.update({args.password, args.ingest_token})
    if args.screenshots:
        os.makedirs(args.screenshots, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix="ui-browser-")
    driver = None
    with report.step("browser") as facts:
        driver, started = start_browser(scratch)
        facts.update(started)
    if driver is None:
        shutil.rmtree(scratch, ignore_errors=True)
        finish(report, args)
        return 2
    state = {}
    steps = [
        ("login_wrong", lambda f: step_login_wrong(driver, args, f)),
        ("login", lambda f: step_login(driver, args, f)),
        ("live", lambda f: step_live(driver, args, f, state)),
        ("filter", lambda f: step_filter(driver, args, f, state)),
        ("detail", lambda f: step_detail(driver, args, f, state)),
        ("tokens", lambda f: step_tokens(driver, args, f, report)),
        ("dashboard", lambda f: step_dashboard(driver, args, f, state)),
        ("search", lambda f: step_search(driver, args, f)),
        ("session", lambda f: step_session(driver, args, f)),
        ("zoom", lambda f: step_zoom(driver, args, f)),
        ("hostile", lambda f: step_hostile(driver, args, f)),
        ("csp", lambda f: step_csp(driver, args, f)),
    ]
    try:
        for name, run in steps:
            with report.step(name) as facts:
                stray = drain_alerts(driver)  # a dialog left open by the step before
                if stray:
                    facts["stray_alerts"] = stray
                run(facts)
    finally:
        with contextlib.suppress(Exception):
            drain_alerts(driver)
        with contextlib.suppress(Exception):
            driver.quit()
        shutil.rmtree(scratch, ignore_errors=True)
        finish(report, args)
    return 0


def finish(report, args):
    tokens = report.data.get("tokens", {}).get("token")
    with open(args.out, "w", encoding="utf-8") as out:
        out.write(report.scrubbed(keep={tokens} if tokens else ()))  # the Swift test needs the new token
        out.write("\n")
    print(report.scrubbed())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
