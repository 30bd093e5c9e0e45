#!/usr/bin/python3
"""The topology page in a real browser (Debian's chromium, driven through
chromium-driver by python3-selenium): a lab of two hosts, each with a VM
whose DirectPath vNIC sends to the other's; the page draws the fabric
interconnect, both hosts up, the VMs on their hosts, the profile and the
flow; a live migration is seen while it runs (its phase) and then the VM
on its destination with the downtime `migrate list` reports.  A JavaScript
error or a failed request on the page fails the test.  A screenshot is kept
in $FEXSIM_ARTIFACTS (default build/test-artifacts/topology.png).

Prints its results as cmocka does, so that tests/run-tests counts them."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

BIN = os.environ.get("FEXSIM_BIN", "build")
ARTIFACTS = os.environ.get("FEXSIM_ARTIFACTS",
                           os.path.join(BIN, "test-artifacts"))
WAIT_S = 30


class Lab:
    """A lab of its own, in a temp dir, brought down at the end."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="fexsim-page-")
        self.fexctl("lab", "up", "--hosts", "2", "--dir", self.dir, lab=False)
        status = json.loads(self.fexctl("--json", "lab", "status", "--dir",
                                        self.dir, lab=False))
        self.http = status["daemons"][0]["http"]

    def fexctl(self, *args, lab=True, ok=True):
        argv = [os.path.join(BIN, "fexctl")]
        if lab:
            argv += ["--lab", self.dir]
        r = subprocess.run(argv + list(args), capture_output=True, text=True,
                           timeout=120)
        if ok and r.returncode != 0:
            raise AssertionError("fexctl %s: exit %d: %s" % (
                " ".join(args), r.returncode, r.stderr.strip()))
        return r.stdout

    def down(self):
        self.fexctl("lab", "down", "--dir", self.dir, lab=False, ok=False)
        shutil.rmtree(self.dir, ignore_errors=True)


def browser(profile_dir):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu",
              "--disable-dev-shm-usage", "--window-size=1400,900",
              "--user-data-dir=" + profile_dir):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"),
                            options=opts)


def wait_for(driver, script, what, timeout=WAIT_S):
    """Polls 'script' (JavaScript returning a value) until it is truthy;
    fails naming 'what' and the last value seen."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = driver.execute_script(script)
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError("timed out after %ds waiting until %s (last: %r)"
                         % (timeout, what, last))


def vm_attr(name, attr):
    return ("const v = document.querySelector('g.vm[data-vm=\"%s\"]');"
            "return v ? v.getAttribute('%s') : null;" % (name, attr))


def page_errors(driver):
    errs = list(driver.execute_script("return window.__errors || [];"))
    for entry in driver.get_log("browser"):
        if entry.get("level") == "SEVERE":
            errs.append(entry.get("message"))
    return errs


def test_the_fabric_is_drawn(ctx):
    d, lab = ctx["driver"], ctx["lab"]
    d.get("http://%s/" % lab.http)
    wait_for(d, "return document.querySelectorAll("
                "'g.host[data-state=\"up\"]').length === 2",
             "both hosts are drawn up")
    assert d.execute_script("return !!document.querySelector('g.fi');")
    for vm, host in (("vm1", "h1"), ("vm2", "h2")):
        wait_for(d, "return document.querySelector('g.host[data-host=\"%s\"]"
                    " g.vm[data-vm=\"%s\"][data-state=\"running\"]');"
                 % (host, vm), "%s is drawn running on %s" % (vm, host))
    wait_for(d, "return document.querySelector('[data-profile=\"web\"]');",
             "the profile is listed")
    wait_for(d, "return document.querySelector('path.flow');",
             "the flow vm1 -> vm2 is drawn")
    wait_for(d, "return /[1-9][0-9]* frames\\/s/.test(document.querySelector("
                "'.flow-label').textContent);", "the flow shows its rate")
    errs = page_errors(d)
    assert errs == [], errs


def test_a_migration_is_followed_live(ctx):
    d, lab = ctx["driver"], ctx["lab"]
    mid = json.loads(lab.fexctl("--json", "migrate", "vm1", "--to", "h2",
                                "--max-bandwidth", "16", "--no-wait"))["id"]
    phase = wait_for(d, "const p = document.querySelector("
                        "'g.vm[data-vm=\"vm1\"] [data-phase]');"
                        "return p ? p.getAttribute('data-phase') : null;",
                     "the page shows vm1 migrating, with its phase")
    assert phase in ("begin", "prepare", "perform", "switchover", "finish",
                     "confirm"), phase
    # The copy's live statistics move its progress bar.
    wait_for(d, "const p = document.querySelector("
                "'g.vm[data-vm=\"vm1\"] [data-phase]');"
                "return p && /[1-9][0-9]*%/.test(p.textContent);",
             "the page shows how much of vm1's memory was copied")
    wait_for(d, "return document.querySelector('g.host[data-host=\"h2\"] "
                "g.vm[data-vm=\"vm1\"] [data-downtime-ms]');",
             "vm1 is drawn on h2 with its downtime")
    shown = float(d.execute_script(
        "return document.querySelector('g.vm[data-vm=\"vm1\"] "
        "[data-downtime-ms]').getAttribute('data-downtime-ms');"))
    migs = json.loads(lab.fexctl("--json", "migrate", "list"))
    m = [m for m in migs if m["id"] == mid][0]
    assert m["state"] == "completed", m
    assert abs(shown - m["downtime_us"] / 1000.0) < 0.001, (shown, m)
    assert d.execute_script(vm_attr("vm1", "data-host")) == "h2"
    os.makedirs(ARTIFACTS, exist_ok=True)
    path = os.path.join(ARTIFACTS, "topology.png")
    assert d.save_screenshot(path), path
    assert os.path.getsize(path) > 0
    errs = page_errors(d)
    assert errs == [], errs


def test_a_host_going_down_is_drawn(ctx):
    d, lab = ctx["driver"], ctx["lab"]
    with open(os.path.join(lab.dir, "agentd-h1.pid")) as f:
        pid = int(f.read().strip())
    os.kill(pid, 9)
    wait_for(d, "return document.querySelector("
                "'g.host[data-host=\"h1\"][data-state=\"down\"]');",
             "h1 is drawn down")
    lab.fexctl("lab", "restart", "--dir", lab.dir, lab=False)
    wait_for(d, "return document.querySelector("
                "'g.host[data-host=\"h1\"][data-state=\"up\"]');",
             "h1 is drawn up again")
    errs = page_errors(d)
    assert errs == [], errs


TESTS = [test_the_fabric_is_drawn, test_a_migration_is_followed_live,
         test_a_host_going_down_is_drawn]


def setup():
    lab = Lab()
    for h in ("h1", "h2"):
        lab.fexctl("host", "passthrough", h, "--enable", "0000:0b:00.0")
        lab.fexctl("host", "reboot", h)
    lab.fexctl("profile", "create", "web", "--vlan", "100",
               "--high-performance")
    for vm, h in (("vm1", "h1"), ("vm2", "h2")):
        lab.fexctl("vm", "create", vm, "--host", h, "--memory", "64",
                   "--nic", "web,directpath")
        lab.fexctl("vm", "start", vm)
    lab.fexctl("traffic", "start", "vm1", "vm2", "--rate", "500", "--size",
               "256")
    return lab


def main():
    print("[==========] Running %d test(s)." % len(TESTS), flush=True)
    ctx, failed = {}, []
    profile = tempfile.mkdtemp(prefix="fexsim-chromium-")
    try:
        ctx["lab"] = setup()
        ctx["driver"] = browser(profile)
    except Exception:
        traceback.print_exc()
        print("[  FAILED  ] GROUP SETUP\n[  ERROR   ] page")
        failed = [t.__name__ for t in TESTS]
    if not failed:
        for t in TESTS:
            print("[ RUN      ] %s" % t.__name__, flush=True)
            try:
                t(ctx)
                print("[       OK ] %s" % t.__name__, flush=True)
            except Exception:
                traceback.print_exc()
                print("[  FAILED  ] %s" % t.__name__, flush=True)
                failed.append(t.__name__)
    if "driver" in ctx:
        ctx["driver"].quit()
    if "lab" in ctx:
        ctx["lab"].down()
    shutil.rmtree(profile, ignore_errors=True)
    print("[==========] %d test(s) run." % len(TESTS))
    print("[  PASSED  ] %d test(s)." % (len(TESTS) - len(failed)))
    if failed:
        print("[  FAILED  ] %d test(s), listed below:" % len(failed))
        for n in failed:
            print("[  FAILED  ] %s" % n)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
