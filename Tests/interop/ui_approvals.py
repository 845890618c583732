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
from ui_browser import By, css, click_and_wait, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))


def start_agent(args):
    """The agent: opens a gate and waits up to 120 s; returns (process, request_id)."""
    agent = subprocess.Popen(
        [sys.executable, os.path.join(HERE, "sdk_gates.py"), "wait", args.sdk_db, args.ingest + "/api/v1/ingest/events",
         args.ingest_token, args.secret, "600", "120"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in agent.stdout:
        if line.startswith("{") and "request_id" in line:
            return agent, json.loads(line)["request_id"]
    return agent, None


def agent_outcome(agent):
    """The agent's result and its bridge's counters, once it has finished."""
    lines = [json.loads(l) for l in agent.stdout.read().splitlines() if l.startswith("{")]
    agent.wait(timeout=180)
    result = next((l["result"] for l in lines if "result" in l), None)
    stats = next((l["stats"] for l in lines if "stats" in l), None)
    return result, stats


def decide(driver, args, verdict, facts):
    agent, request_id = start_agent(args)
    facts["request_id"] = request_id
    row = f'table#pending tr.gate[data-request-id="{request_id}"]'
    # The card appears once the SDK's POST has landed; the page is read again until then.
    facts["card_seen"] = bool(wait_until(lambda: driver.get(args.ui + "/approvals") or css(driver, row), timeout=60, poll=0.5))
    card = css(driver, row)[0]
    facts["card"] = {name: card.find_element(By.CSS_SELECTOR, "td." + name).text for name in ("workflow", "agent", "kind", "action-hash")}
    card.find_element(By.CSS_SELECTOR, "input[name=reason]").send_keys(f"checked by the test ({verdict})")
    click_and_wait(driver, card.find_element(By.CSS_SELECTOR, "button." + ("grant" if verdict == "granted" else "deny")))
    decided = css(driver, f'table#decided tr.gate[data-request-id="{request_id}"]')
    facts["decided_row"] = decided[0].find_element(By.CSS_SELECTOR, "td.verdict").text if decided else None
    facts["still_pending"] = bool(css(driver, row))
    facts["sdk_result"], facts["sdk_stats"] = agent_outcome(agent)


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
