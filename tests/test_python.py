#!/usr/bin/python3
"""The Python client (python/fexsim) against live labs: typed calls and
their status codes, calls in flight matched by id, a whole migration
driven and followed by its events, the event stream resumed across a
fabricd killed and restarted, and every Python example of docs/API.md
run as written.

Run by `make test` (tests/run-tests counts it: it reports as a cmocka
program does).  Debian's python3, with python3-protobuf; the generated
modules come from $FEXSIM_BIN/python (make builds them)."""
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.abspath(os.environ.get("FEXSIM_BIN", os.path.join(TOP,
                                                                  "build")))
os.environ["FEXSIM_BIN"] = BIN
sys.path.insert(0, os.path.join(TOP, "python"))

import fexsim                                  # noqa: E402
from fexsim import pb                          # noqa: E402

WAIT_S = 60.0
EV = pb.events


def fexctl(*args):
    """Runs fexctl; its stdout, or an AssertionError with its stderr."""
    r = subprocess.run([os.path.join(BIN, "fexctl")] + list(args),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, "fexctl %s: %s%s" % (" ".join(args), r.stdout,
                                                   r.stderr)
    return r.stdout


class Lab:
    """A lab of 'hosts' hosts in a temp dir of its own, down and removed
    by close()."""

    def __init__(self, hosts):
        self.dir = tempfile.mkdtemp(prefix="fexsim-py-")
        try:
            fexctl("lab", "up", "--hosts", str(hosts), "--dir", self.dir)
        except BaseException:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise

    def pid(self, name):
        with open(os.path.join(self.dir, name + ".pid")) as f:
            return int(f.read().split()[0])

    def close(self):
        try:
            fexctl("lab", "down", "--dir", self.dir)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def gone(pid):
    """Whether 'pid' has exited (a zombie counts as gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def wait_until(cond, what, timeout=WAIT_S):
    """Polls 'cond' until true, within 'timeout' seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(0.01)


def hosts_up(c, n):
    """Whether fabricd answers and has 'n' hosts up (False while it is
    away)."""
    try:
        hs = c.Fabric.ListHosts(timeout=5).hosts
    except (fexsim.RpcError, OSError):
        return False
    return sum(h.state == pb.fabric.HOST_STATE_UP for h in hs) == n


def events_until(w, stop, timeout=WAIT_S):
    """Events from watch 'w' up to the first for which stop(event)."""
    out = []
    deadline = time.monotonic() + timeout
    while True:
        ev = w.get(max(deadline - time.monotonic(), 0))
        out.append(ev)
        if stop(ev):
            return out


def consecutive(evs, first):
    seqs = [e.seq for e in evs if e.seq]
    assert seqs == list(range(first, first + len(seqs))), seqs


def type_name(ev):
    return EV.EventType.Name(ev.type)


# ---- Tests on one lab (LAB, 2 hosts, profile "p") ----

LAB = None


def client():
    return fexsim.Client.for_lab(LAB.dir)


def test_a_typed_call_proves_the_lab_secret():
    with client() as c:
        rep = c.Fabric.ListHosts()
        assert isinstance(rep, pb.fabric.ListHostsReply)
        assert sorted(h.name for h in rep.hosts) == ["h1", "h2"]
        # The same through call() with a request message.
        rep = c.call("Fabric.ListHosts", pb.fabric.ListHostsRequest())
        assert len(rep.hosts) == 2


def test_the_wrong_secret_is_refused_with_both_fingerprints():
    d = tempfile.mkdtemp(prefix="fexsim-py-secret-")
    try:
        path = os.path.join(d, "secret")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, secrets.token_hex(32).encode() + b"\n")
        os.close(fd)
        with open(os.path.join(LAB.dir, "fabric.addr")) as f:
            addr = f.read().strip()
        try:
            fexsim.Client(addr, path)
        except fexsim.AuthError as e:
            assert "wrong lab secret" in str(e), str(e)
            assert fexsim.Key.load(path).fp.decode() in str(e), str(e)
        else:
            raise AssertionError("a wrong secret was accepted")
    finally:
        shutil.rmtree(d)


def expect(exc, code, fn, *words):
    """fn() raises 'exc' with Status 'code' and a message holding
    'words'."""
    try:
        fn()
    except fexsim.RpcError as e:
        assert type(e) is exc, "%r: %s" % (type(e), e)
        assert e.code == code, (e.code, code)
        assert isinstance(e.reason, str)
        for w in words:
            assert w in e.message, (w, e.message)
        return e
    raise AssertionError("no error: expected %s" % exc.__name__)


def test_each_status_is_raised_as_its_exception():
    S = pb.rpc
    with client() as c:
        expect(fexsim.NotFound, S.STATUS_NOT_FOUND,
               lambda: c.Vms.Start(name="nope"), "'nope'")
        expect(fexsim.AlreadyExists, S.STATUS_ALREADY_EXISTS,
               lambda: c.Profiles.Create(profile={"name": "p",
                                                  "vlans": [10]}), "'p'")
        expect(fexsim.InvalidArgument, S.STATUS_INVALID_ARGUMENT,
               lambda: c.Profiles.Create(profile={"name": "q",
                                                  "vlans": [5000]}),
               "5000")
        expect(fexsim.UnknownMethod, S.STATUS_UNKNOWN_METHOD,
               lambda: c.call("Nope.Nope"), "Nope.Nope")
        expect(fexsim.PermissionDenied, S.STATUS_PERMISSION_DENIED,
               lambda: c.Fabric.Heartbeat(name="h1"), "operator")
        c.Vms.Create(name="err1", host="h1", memory_mib=16,
                     nics=[{"profile": "p"}])
        c.Vms.Start(name="err1")
        expect(fexsim.FailedPrecondition, S.STATUS_FAILED_PRECONDITION,
               lambda: c.Vms.Delete(name="err1"), "running")
        c.Vms.Stop(name="err1")
        c.Vms.Delete(name="err1")
        # Every error above left the connection usable.
        assert len(c.Fabric.ListHosts().hosts) == 2
        # A subclass is an RpcError, and the catch-all works.
        try:
            c.Migrations.Get(id=424242)
        except fexsim.RpcError as e:
            assert e.status == "NOT_FOUND" and e.method == "Migrations.Get"
        else:
            raise AssertionError("migration 424242 found")


def test_a_profile_in_use_is_refused_by_a_rule():
    with client() as c:
        c.Vms.Create(name="use1", host="h1", memory_mib=16,
                     nics=[{"profile": "p"}])
        expect(fexsim.FailedPrecondition,
               pb.rpc.STATUS_FAILED_PRECONDITION,
               lambda: c.Profiles.Delete(name="p"), "in use")
        c.Vms.Delete(name="use1")


def test_each_kind_of_failure_has_its_status_and_reason():
    """docs/API.md's status table, row by row: refusals by a rule or a
    state are FAILED_PRECONDITION with a machine-readable reason, every
    other kind has its own status and no reason."""
    S = pb.rpc
    with client() as c:
        e = expect(fexsim.InvalidArgument, S.STATUS_INVALID_ARGUMENT,
                   lambda: c.Profiles.Create(profile={"name": "bad name",
                                                      "vlans": [10]}))
        assert e.reason == "", e.reason
        e = expect(fexsim.NotFound, S.STATUS_NOT_FOUND,
                   lambda: c.Vms.Stop(name="nope"), "'nope'")
        assert e.reason == "", e.reason
        e = expect(fexsim.AlreadyExists, S.STATUS_ALREADY_EXISTS,
                   lambda: c.Profiles.Create(profile={"name": "p",
                                                      "vlans": [10]}))
        assert e.reason == "", e.reason
        e = expect(fexsim.PermissionDenied, S.STATUS_PERMISSION_DENIED,
                   lambda: c.Fabric.Heartbeat(name="h1"))
        assert e.reason == "", e.reason
        c.Vms.Create(name="st1", host="h1", memory_mib=16,
                     nics=[{"profile": "p"}])
        # A state: a stopped VM does not migrate, a running one is not
        # deleted; both FAILED_PRECONDITION, told apart by the reason.
        e = expect(fexsim.FailedPrecondition, S.STATUS_FAILED_PRECONDITION,
                   lambda: c.Migrations.Start(vm="st1", to="h2"),
                   "not running")
        assert e.reason == "vmNotRunning", e.reason
        e = expect(fexsim.FailedPrecondition, S.STATUS_FAILED_PRECONDITION,
                   lambda: c.Vms.Stop(name="st1"))
        assert e.reason == "vmNotRunning", e.reason
        c.Vms.Start(name="st1")
        e = expect(fexsim.FailedPrecondition, S.STATUS_FAILED_PRECONDITION,
                   lambda: c.Vms.Delete(name="st1"), "running")
        assert e.reason == "vmRunning", e.reason
        e = expect(fexsim.FailedPrecondition, S.STATUS_FAILED_PRECONDITION,
                   lambda: c.Migrations.Start(vm="st1", to="h1"))
        assert e.reason == "vmAlreadyOnHost", e.reason
        # A rule: a profile in use is not deleted.
        e = expect(fexsim.FailedPrecondition, S.STATUS_FAILED_PRECONDITION,
                   lambda: c.Profiles.Delete(name="p"), "in use")
        assert e.reason == "profileInUse", e.reason
        c.Vms.Stop(name="st1")
        c.Vms.Delete(name="st1")


def test_the_version_call_says_what_fabricd_speaks_and_serves():
    with client() as c:
        v = c.Fabric.GetVersion()
        assert v.protocol_version == fexsim.wire.VERSION, v
        assert v.handshake_version == 1, v
        assert v.fexsim_version, v
        F = pb.fabric
        assert v.flavor == F.FLAVOR_KVM, v
        assert list(v.flavors) == [F.FLAVOR_KVM, F.FLAVOR_VMWARE,
                                   F.FLAVOR_FAILOVER], v
        assert "events" in v.features and "reasons" in v.features, v
        # The methods an operator may call, and no agent's.
        assert "Migrations.Start" in v.methods, v.methods
        assert "Fabric.GetVersion" in v.methods, v.methods
        assert "Fabric.Heartbeat" not in v.methods, v.methods
        every = set(v.methods)
    out = fexctl("--lab", LAB.dir, "--json", "version")
    j = json.loads(out)
    assert j["fabricd"]["protocol_version"] == fexsim.wire.VERSION, j
    assert j["fexctl"]["protocol_version"] == fexsim.wire.VERSION, j
    assert set(j["fabricd"]["methods"]) == every, j


def test_get_answers_one_object_as_list_shows_it():
    S = pb.rpc
    with client() as c:
        c.Vms.Create(name="get1", host="h2", memory_mib=16,
                     nics=[{"profile": "p"}])
        try:
            listed = {h.name: h for h in c.Fabric.ListHosts().hosts}
            h = c.Fabric.GetHost(name="h2").host
            assert h.name == "h2" and h.rpc_addr == listed["h2"].rpc_addr, h
            assert h.state == pb.fabric.HOST_STATE_UP, h
            p = c.Profiles.Get(name="p").profile
            assert list(p.vlans) == [10] and p.ports_used >= 1, p
            vm = c.Vms.Get(name="get1").vm
            assert vm.host == "h2" and not vm.running, vm
            assert len(vm.nics) == 1, vm
            vif = c.Vifs.Get(id=vm.nics[0].id).vif
            assert vif.vm == "get1" and vif.mac == vm.nics[0].mac, vif
            [lv] = [v for v in c.Vifs.List().vifs if v.id == vif.id]
            assert lv == vif, (lv, vif)
            # Unknown objects, each NOT_FOUND without a reason.
            for fn in (lambda: c.Fabric.GetHost(name="h9"),
                       lambda: c.Profiles.Get(name="nope"),
                       lambda: c.Vms.Get(name="nope"),
                       lambda: c.Vifs.Get(id=99999)):
                e = expect(fexsim.NotFound, S.STATUS_NOT_FOUND, fn)
                assert e.reason == "", e.reason
            # fexctl's show commands are these calls.
            out = json.loads(fexctl("--lab", LAB.dir, "--json", "vm", "show",
                                    "get1"))
            assert out["name"] == "get1" and out["host"] == "h2", out
            out = json.loads(fexctl("--lab", LAB.dir, "--json", "vif",
                                    "show", str(vif.id)))
            assert out["mac"] == vif.mac, out
            assert "h2" in fexctl("--lab", LAB.dir, "host", "show", "h2")
            assert "best-effort" in fexctl("--lab", LAB.dir, "profile",
                                           "show", "p")
        finally:
            c.Vms.Delete(name="get1")


def raw_call(sock, reader, method, payload, version=fexsim.wire.VERSION,
             ident=1):
    env = pb.rpc.Envelope(id=ident, method=method, payload=payload)
    sock.sendall(fexsim.wire.encode(env.SerializeToString(), version))
    return pb.rpc.Envelope.FromString(reader.frame())


def test_another_version_and_a_bad_payload_are_answered():
    with open(os.path.join(LAB.dir, "fabric.addr")) as f:
        host, port = f.read().strip().rsplit(":", 1)
    key = fexsim.Key.load(os.path.join(LAB.dir, "secret"))
    with socket.create_connection((host, int(port)), timeout=WAIT_S) as s:
        fexsim.auth.handshake(s, key)
        r = fexsim.wire.Reader(s)
        rep = raw_call(s, r, "Fabric.ListHosts", b"",
                       version=fexsim.wire.VERSION + 1, ident=7)
        assert rep.id == 7 and rep.status == pb.rpc.STATUS_BAD_VERSION, rep
        assert "version %d" % (fexsim.wire.VERSION + 1) in rep.message, \
            rep.message
        rep = raw_call(s, r, "Vms.Start", b"\xff\xff\xff", ident=8)
        assert rep.id == 8 and rep.status == pb.rpc.STATUS_BAD_PAYLOAD, rep
        # Both answered, and the connection still serves.
        rep = raw_call(s, r, "Fabric.ListHosts", b"", ident=9)
        assert rep.status == pb.rpc.STATUS_OK, rep
        assert len(pb.fabric.ListHostsReply.FromString(rep.payload)
                   .hosts) == 2


def test_calls_in_flight_are_matched_by_id():
    with client() as c:
        # Two kinds of call interleaved: each reply must be its own
        # call's type and content.
        calls = []
        for i in range(64):
            if i % 2:
                calls.append(("p", c.call_async("Profiles.List")))
            else:
                calls.append(("h", c.call_async("Fabric.ListHosts")))
        for kind, call in reversed(calls):
            rep = call.result(WAIT_S)
            if kind == "p":
                assert [p.name for p in rep.profiles] == ["p"], rep
            else:
                assert len(rep.hosts) == 2, rep
        # From several threads on one connection.
        errors = []

        def worker():
            try:
                for _ in range(50):
                    assert len(c.Fabric.ListHosts().hosts) == 2
            except BaseException as e:
                errors.append(e)
        ts = [threading.Thread(target=worker) for _ in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert not errors, errors


def test_a_migration_is_driven_and_followed_by_its_events():
    phases = ["begin", "prepare", "perform", "finish", "confirm"]
    with client() as c:
        c.Vms.Create(name="mig1", host="h1", memory_mib=32,
                     nics=[{"profile": "p"}])
        c.Vms.Start(name="mig1")
        seq = c.last_event_seq()
        m = c.Migrations.Start(vm="mig1", to="h2").migration
        assert m.id > 0 and m.src == "h1" and m.dst == "h2"
        with c.watch(since=seq) as w:
            evs = events_until(w, lambda e: e.type
                               == EV.EVENT_MIGRATION_FINISHED
                               and e.migration == m.id)
        consecutive(evs, seq + 1)
        mine = [e for e in evs if e.migration == m.id]
        got = [e.state for e in mine if e.type == EV.EVENT_MIGRATION_PHASE]
        assert got == phases, got
        assert any(e.type == EV.EVENT_VIF_MOVED and e.vm == "mig1"
                   for e in evs), [type_name(e) for e in evs]
        # The same phases as enums, the words being their names.
        M = pb.migflow
        got = [M.MigrationPhase.Name(e.phase) for e in mine
               if e.type == EV.EVENT_MIGRATION_PHASE]
        assert got == ["MIGRATION_PHASE_" + p.upper() for p in phases], got
        fin = mine[-1]
        assert fin.state == "completed", fin
        assert fin.migration_state == M.MIGRATION_STATE_COMPLETED, fin
        assert fin.stats.data_processed_bytes >= 32 << 20, fin
        assert fin.stats.iteration >= 1 and fin.stats.downtime_us > 0, fin
        # The API agrees with the events.
        got = c.Migrations.Get(id=m.id).migration
        assert got.state == M.MIGRATION_STATE_COMPLETED, got
        assert got.report.result == "completed", got
        assert got.phase == M.MIGRATION_PHASE_CONFIRM, got
        assert got.flavor == pb.fabric.FLAVOR_KVM, got
        # No bandwidth asked: fexctl migrate's default, 128 MiB/s.
        assert got.params.HasField("max_bandwidth_bytes_per_s"), got
        assert got.params.max_bandwidth_bytes_per_s == 128 << 20, got
        vm = [v for v in c.Vms.List().vms if v.name == "mig1"][0]
        assert vm.host == "h2" and vm.running
        # wait_for sees the same end, from the same point.
        ev = c.wait_for(lambda e: e.type == EV.EVENT_MIGRATION_FINISHED
                        and e.migration == m.id, WAIT_S, since=seq)
        assert ev.seq == fin.seq
        # Back, unlimited: a 0 that is set is sent, and is not the default.
        seq = c.last_event_seq()
        m2 = c.Migrations.Start(vm="mig1", to="h1", params={
            "max_bandwidth_bytes_per_s": 0}).migration
        assert m2.params.HasField("max_bandwidth_bytes_per_s"), m2
        assert m2.params.max_bandwidth_bytes_per_s == 0, m2
        c.wait_for(lambda e: e.type == EV.EVENT_MIGRATION_FINISHED
                   and e.migration == m2.id, WAIT_S, since=seq)
        c.Vms.Stop(name="mig1")
        c.Vms.Delete(name="mig1")


def test_wait_for_times_out_when_nothing_matches():
    with client() as c:
        t0 = time.monotonic()
        try:
            c.wait_for(lambda e: False, 0.3)
        except TimeoutError:
            pass
        else:
            raise AssertionError("wait_for matched nothing yet returned")
        assert time.monotonic() - t0 < WAIT_S


def test_the_event_stream_resumes_after_fabricd_restarts():
    with client() as c:
        w = c.watch()
        first = w.last_seq + 1
        c.Vms.Create(name="rs1", host="h2", memory_mib=16,
                     nics=[{"profile": "p"}])
        before = events_until(w, lambda e: e.type == EV.EVENT_VIF_BOUND
                              and e.vm == "rs1")
        pid = LAB.pid("fabricd")
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: gone(pid), "fabricd to die")
        # Whatever happens while fabricd is away and coming back (its
        # hosts up again, numbered on from before the kill) the watch
        # must get once, in order.
        fexctl("lab", "restart", "--dir", LAB.dir)
        assert LAB.pid("fabricd") != pid
        wait_until(lambda: hosts_up(c, 2), "both hosts up again")
        c.Vms.Start(name="rs1")
        after = events_until(w, lambda e: e.type == EV.EVENT_VM_STARTED
                             and e.vm == "rs1")
        assert w.resumes >= 1
        evs = before + after
        consecutive(evs, first)
        kinds = [type_name(e) for e in after]
        assert kinds.count("EVENT_HOST_UP") == 2, kinds
        assert kinds[-1] == "EVENT_VM_STARTED", kinds
        w.close()


# ---- The examples of docs/API.md, on a lab of their own ----

def api_md_examples():
    with open(os.path.join(TOP, "docs", "API.md")) as f:
        text = f.read()
    return re.findall(r"^```python\n(.*?)^```", text, re.M | re.S)


def test_the_python_examples_of_api_md_run():
    examples = api_md_examples()
    assert examples, "no Python example in docs/API.md"
    lab = Lab(2)
    try:
        env = dict(os.environ, FEXSIM_LAB=lab.dir,
                   PYTHONPATH=os.pathsep.join([os.path.join(TOP, "python"),
                                               os.path.join(BIN, "python")]))
        for i, code in enumerate(examples):
            r = subprocess.run(["/usr/bin/python3", "-c", code], env=env,
                               capture_output=True, text=True,
                               timeout=300)
            assert r.returncode == 0, ("example %d of docs/API.md failed:\n"
                                       "%s%s" % (i + 1, r.stdout, r.stderr))
            # Each example ends by printing what it shows; the worked
            # example's last line is its migration's result.
            assert r.stdout.strip(), "example %d printed nothing" % (i + 1)
            if "wait_for" in code:
                assert "completed" in r.stdout.splitlines()[-1], r.stdout
    finally:
        lab.close()


# ---- Runner: reports as cmocka does, for tests/run-tests ----

def main():
    global LAB
    tests = [(n, f) for n, f in globals().items()
             if n.startswith("test_") and callable(f)]
    failed = []
    print("[==========] python: Running %d test(s)." % len(tests))
    try:
        LAB = Lab(2)
        fexctl("--lab", LAB.dir, "profile", "create", "p", "--vlan", "10")
    except BaseException:
        traceback.print_exc()
        print("[  FAILED  ] %d test(s), the lab did not start" % len(tests))
        return 1
    try:
        for name, fn in tests:
            print("[ RUN      ] %s" % name, flush=True)
            try:
                fn()
                print("[       OK ] %s" % name, flush=True)
            except BaseException:
                traceback.print_exc(file=sys.stdout)
                print("[  FAILED  ] %s" % name, flush=True)
                failed.append(name)
    finally:
        LAB.close()
    print("[==========] python: %d test(s) run." % len(tests))
    print("[  PASSED  ] %d test(s)." % (len(tests) - len(failed)))
    if failed:
        print("[  FAILED  ] %d test(s), listed below:" % len(failed))
        for name in failed:
            print("[  FAILED  ] %s" % name)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
