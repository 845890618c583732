"""The approvals inbox in headless Chromium, with the reference SDK's agent on the other side.

For each verdict (granted, then denied) an agent process (sdk_gates.py wait) opens a gate through
the SDK's bridge and waits; this script signs in, waits for the gate's card on /approvals, types a
reason and presses Grant or Deny, as a person would, then records what the page showed and what
the agent's wait_for returned. Like ui_browser.py (whose browser set-up and helpers it uses), it
records facts only; the Swift test judges them. Runs inside private_network.sh's namespace.

  ui_approvals.py --ui URL --password P --ingest URL --ingest-token T --sdk-db URL --secret S --out FILE
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import ui_browser
from ui_browser import By, css, click_and_wait, path_and_query, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))


def start_agent(args):
    """The agent: opens a gate and waits up to 120 s; returns (process, request_id)."""
    agent = subprocess.Popen(
        [sys.executable, os.path.join(HERE, "sdk_gates.py"), "wait", args.sdk_db, args.ingest + "/api/v1/ingest/events",
         args.ingest_token, args.secret, "600", "120"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in agent.stdout:
        if line.startswith("{") and "request_id" in line:
            return agent, json.loads(line)["request_id"]
    return agent, None


def agent_outcome(agent):
    """The agent's result and its bridge's counters, once it has finished."""
    output = agent.stdout.read().splitlines()
    agent.wait(timeout=180)
    lines = []
    for line in output:
        try:
            lines.append(json.loads(line))
        except ValueError:
            pass
    result = next((l["result"] for l in lines if isinstance(l, dict) and "result" in l), None)
    stats = next((l["stats"] for l in lines if isinstance(l, dict) and "stats" in l), None)
    # The SDK's own warnings, for the test's message when something is off.
    warnings = [l for l in output if "warning" in l.lower() or "error" in l.lower()][-10:]
    return result, stats, warnings


def decide(driver, args, verdict, facts):
    # The inbox is open before the agent asks: its card must appear without a reload.
    driver.get(args.ui + "/approvals")
    marker = "m" + os.urandom(8).hex()
    driver.execute_script(f"window.{marker} = true")
    agent, request_id = start_agent(args)
    facts["request_id"] = request_id
    row = f'table#pending tr.gate[data-request-id="{request_id}"]'
    facts["card_seen"] = bool(wait_until(lambda: css(driver, row), timeout=60, poll=0.2))
    facts["reloaded"] = not driver.execute_script(f"return window.{marker} === true")
    # The inbox swaps in a fresh copy every few seconds until a reason is being written, so each
    # step finds its element afresh (wait_until tries again when a swap replaced it under it).
    def write_reason():
        css(driver, row)[0].find_element(By.CSS_SELECTOR, "input[name=reason]").send_keys(f"checked by the test ({verdict})")
        return True

    def read_card():
        card = css(driver, row)[0]
        return {name: card.find_element(By.CSS_SELECTOR, "td." + name).text for name in ("workflow", "agent", "kind", "action-hash")}

    wait_until(write_reason, timeout=10, poll=0.1)
    facts["card"] = wait_until(read_card, timeout=10, poll=0.1)
    click_and_wait(driver, css(driver, row)[0].find_element(By.CSS_SELECTOR, "button." + ("grant" if verdict == "granted" else "deny")))
    decided = f'table#decided tr.gate[data-request-id="{request_id}"]'
    facts["decided_row"] = wait_until(lambda: css(driver, decided)[0].find_element(By.CSS_SELECTOR, "td.verdict").text, timeout=10)
    facts["still_pending"] = bool(css(driver, row))
    # Follow the card's link to the gate's audit events in the timeline.
    wait_until(lambda: click_and_wait(driver, css(driver, decided + " a.events")[0]) or True, timeout=10)
    facts["sdk_result"], facts["sdk_stats"], facts["sdk_warnings"] = agent_outcome(agent)
    if path_and_query(driver)[0] == "/timeline":  # the agent's approval.* events are in by now
        driver.refresh()
        wait_until(lambda: driver.execute_script("return document.readyState === 'complete'"))
        facts["event_kinds"] = sorted(e.text for e in css(driver, "tr.event-row td.kind"))


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("--ui", "--password", "--ingest", "--ingest-token", "--sdk-db", "--secret", "--out"):
        p.add_argument(name, required=True)
    args = p.parse_args(argv)
    report = ui_browser.Report()
    report.secrets.update({args.password, args.ingest_token, args.secret})
    scratch = tempfile.mkdtemp(prefix="ui-approvals-")
    driver = None
    with report.step("browser") as facts:
        driver, started = ui_browser.start_browser(scratch)
        facts.update(started)
    try:
        if driver is not None:
            with report.step("login") as facts:
                ui_browser.step_login(driver, args, facts)
            for verdict in ("granted", "denied"):
                with report.step(verdict) as facts:
                    decide(driver, args, verdict, facts)
    finally:
        if driver is not None:
            driver.quit()
        shutil.rmtree(scratch, ignore_errors=True)
        with open(args.out, "w", encoding="utf-8") as out:
            out.write(report.scrubbed())
    return 0 if driver is not None else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
