"""The client: one connection to fabricd, calls in flight matched by id,
the event stream with resume (docs/API.md, "The Python client").

A connection has one reader thread: it hands each reply to the call
waiting for its id and each event to its subscription's queue, so that
any number of calls (from any number of threads) may be in flight.
"""
import os
import queue
import socket
import threading
import time
import types

import rpc_pb2

from . import auth, wire


def _load_pb():
    """Every generated module beside rpc_pb2, by its proto's name."""
    here = os.path.dirname(os.path.abspath(rpc_pb2.__file__))
    mods = {}
    for f in sorted(os.listdir(here)):
        if f.endswith("_pb2.py"):
            name = f[:-len("_pb2.py")]
            mods[name] = __import__(name + "_pb2")
    return mods


_MODULES = _load_pb()
# The generated modules: pb.vmfex.CreateVmRequest, pb.events.Event, ...
pb = types.SimpleNamespace(**_MODULES)


def _methods():
    """'Service.Method' -> (request class, reply class), from the
    services the .proto files declare."""
    classes, out = {}, {}
    for mod in _MODULES.values():
        for name in mod.DESCRIPTOR.message_types_by_name:
            cls = getattr(mod, name)
            classes[cls.DESCRIPTOR.full_name] = cls
    for mod in _MODULES.values():
        for sname, sd in mod.DESCRIPTOR.services_by_name.items():
            for md in sd.methods:
                out[sname + "." + md.name] = (
                    classes[md.input_type.full_name],
                    classes[md.output_type.full_name])
    return out


METHODS = _methods()
SERVICES = {m.split(".")[0] for m in METHODS}


def methods():
    """Every method the .proto files declare, as 'Service.Method'."""
    return sorted(METHODS)


# ---- Errors ----

class RpcError(Exception):
    """A call answered with a status other than STATUS_OK (or none at all:
    UNAVAILABLE when the connection is lost, TIMEOUT when no reply came in
    time).  'code' is the Status number, 'status' its name without the
    prefix ("NOT_FOUND"), 'reason' the machine-readable reason of a
    refusal when the reply carries one ("" otherwise), 'message' the
    server's one line."""

    code = None
    status = None

    def __init__(self, message, reason="", method=""):
        self.message = message
        self.reason = reason
        self.method = method
        where = method + ": " if method else ""
        super().__init__("%s%s: %s" % (where, self.status, message))


def _camel(name):
    return "".join(w.capitalize() for w in name.split("_"))


ERRORS = {}            # Status number -> its RpcError subclass.
ERRORS_BY_NAME = {}    # "NotFound" -> the same class.
for _st in rpc_pb2.Status.DESCRIPTOR.values:
    if _st.number == rpc_pb2.STATUS_OK:
        continue
    _short = _st.name[len("STATUS_"):]
    _cls = type(_camel(_short), (RpcError,),
                {"code": _st.number, "status": _short,
                 "__doc__": "Status %s (%d)." % (_st.name, _st.number)})
    ERRORS[_st.number] = _cls
    ERRORS_BY_NAME[_cls.__name__] = _cls


def error_class(code):
    """The RpcError subclass of Status 'code' (RpcError itself for a code
    this client does not know)."""
    if code in ERRORS:
        return ERRORS[code]
    return type("Status%d" % code, (RpcError,),
                {"code": code, "status": "STATUS_%d" % code})


class Resync(Exception):
    """Events.Subscribe could not resume: the events after 'since' were
    pruned.  List what you need, then watch from 'last_seq'."""

    def __init__(self, since, last_seq, oldest_seq):
        self.since, self.last_seq, self.oldest_seq = since, last_seq, \
            oldest_seq
        super().__init__("events after %d are no longer kept (oldest %d, "
                         "newest %d): list, then watch from %d"
                         % (since, oldest_seq, last_seq, last_seq))


# ---- One connection ----

class _Lost:
    """Put in a subscription's queue when its connection is gone."""

    def __init__(self, why):
        self.why = why


class _Pending:
    """A call in flight: its reply envelope once it arrives."""

    def __init__(self):
        self.id = 0
        self.done = threading.Event()
        self.env = None
        self.error = None

    def finish(self, env=None, error=None):
        self.env, self.error = env, error
        self.done.set()


class _Connection:
    """A proven socket to a daemon and its reader thread."""

    def __init__(self, addr, key, timeout):
        host, port = addr.rsplit(":", 1)
        sock = socket.create_connection((host, int(port)), timeout=timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            auth.handshake(sock, key)
            sock.settimeout(None)
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        self.lock = threading.Lock()        # pending, streams, lost.
        self.send_lock = threading.Lock()   # Whole frames on the socket.
        self.next_id = 1
        self.pending = {}
        self.streams = {}
        self.lost = None
        self.thread = threading.Thread(target=self._read_loop, daemon=True,
                                       name="fexsim-reader")
        self.thread.start()

    def request(self, method, payload, stream=None):
        """Sends a request; returns its _Pending.  Events pushed with its
        id go to 'stream' (a queue)."""
        p = _Pending()
        env = rpc_pb2.Envelope(kind=rpc_pb2.KIND_REQUEST, method=method,
                               payload=payload)
        with self.lock:
            if self.lost:
                raise ERRORS[rpc_pb2.STATUS_UNAVAILABLE](self.lost,
                                                         method=method)
            env.id = self.next_id
            self.next_id += 1
            self.pending[env.id] = p
            if stream is not None:
                self.streams[env.id] = stream
        p.id = env.id
        data = wire.encode(env.SerializeToString())
        try:
            with self.send_lock:
                self.sock.sendall(data)
        except OSError as e:
            self._lose("connection lost: %s" % e)
        return p

    def forget(self, p):
        with self.lock:
            self.pending.pop(p.id, None)

    def _read_loop(self):
        reader = wire.Reader(self.sock)
        why = "the server closed the connection"
        try:
            while True:
                body = reader.frame()
                if body is None:
                    break
                self._deliver(rpc_pb2.Envelope.FromString(body))
        except Exception as e:     # Socket, framing or protobuf: all end it.
            why = "connection lost: %s" % e
        self._lose(why)
        self.sock.close()

    def _deliver(self, env):
        with self.lock:
            if env.kind == rpc_pb2.KIND_REPLY:
                p = self.pending.pop(env.id, None)
                q = None
            else:
                p, q = None, self.streams.get(env.id)
        if p:
            p.finish(env)
        elif q is not None and env.kind == rpc_pb2.KIND_EVENT:
            q.put(env)

    def _lose(self, why):
        with self.lock:
            if self.lost:
                return
            self.lost = why
            pending, self.pending = self.pending, {}
            streams = list(self.streams.values())
        for p in pending.values():
            p.finish(error=why)
        for q in streams:
            q.put(_Lost(why))

    def close(self):
        self._lose("closed by the client")
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        if threading.current_thread() is not self.thread:
            self.thread.join()


class Call:
    """A call in flight: result() waits for its reply."""

    def __init__(self, conn, method, request, reply_cls, stream=None):
        self.conn, self.method, self.reply_cls = conn, method, reply_cls
        payload = request.SerializeToString() if request is not None else b""
        self._p = conn.request(method, payload, stream)

    def result(self, timeout=None):
        """The reply message; raises the RpcError subclass of its status,
        Unavailable if the connection was lost, Timeout after 'timeout'
        seconds (None: wait as long as it takes)."""
        if not self._p.done.wait(timeout):
            self.conn.forget(self._p)
            raise ERRORS[rpc_pb2.STATUS_TIMEOUT](
                "no reply within %g s" % timeout, method=self.method)
        if self._p.error:
            raise ERRORS[rpc_pb2.STATUS_UNAVAILABLE](self._p.error,
                                                     method=self.method)
        env = self._p.env
        if env.status != rpc_pb2.STATUS_OK:
            raise error_class(env.status)(env.message,
                                          getattr(env, "reason", ""),
                                          self.method)
        if self.reply_cls is None:
            return env.payload
        return self.reply_cls.FromString(env.payload)


# ---- The client ----

class _Service:
    """client.Vms, client.Migrations...: its methods as attributes."""

    def __init__(self, client, name):
        self._client, self._name = client, name

    def __getattr__(self, method):
        full = self._name + "." + method
        if full not in METHODS:
            raise AttributeError("no method %s in the .proto files" % full)

        def call(request=None, timeout=None, **fields):
            return self._client.call(full, request, timeout=timeout,
                                     **fields)
        call.__name__ = method
        call.__doc__ = "%s(%s) -> %s" % ((full,) + tuple(
            c.DESCRIPTOR.name for c in METHODS[full]))
        return call


class Client:
    """A connection to fabricd at 'addr' ("HOST:PORT") proving the secret
    in the file 'secret' (None: a daemon without a secret, on loopback).
    Calls: client.call("Vms.Start", name="a") or client.Vms.Start(
    name="a"), which return the reply message or raise an RpcError.  A
    call after the connection was lost connects again; the calls in
    flight when it was lost raise Unavailable (they are not repeated: the
    server may have done them).  'timeout' is each call's default, in
    seconds."""

    def __init__(self, addr, secret=None, timeout=30.0, connect_timeout=10.0):
        self.addr = addr
        self.key = auth.Key.load(secret) if secret else auth.Key()
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._lock = threading.Lock()
        self._conn = self._connect()

    @classmethod
    def for_lab(cls, lab_dir, **kw):
        """The fabricd of `fexctl lab up --dir LAB_DIR`, with its secret."""
        with open(os.path.join(lab_dir, "fabric.addr")) as f:
            addr = f.read().strip()
        secret = os.path.join(lab_dir, "secret")
        return cls(addr, secret if os.path.exists(secret) else None, **kw)

    def _connect(self):
        return _Connection(self.addr, self.key, self.connect_timeout)

    def _connection(self):
        with self._lock:
            if self._conn is None or self._conn.lost:
                old, self._conn = self._conn, None
                if old:
                    old.close()
                self._conn = self._connect()
            return self._conn

    def close(self):
        with self._lock:
            conn, self._conn = self._conn, None
        if conn:
            conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __getattr__(self, name):
        if name in SERVICES:
            return _Service(self, name)
        raise AttributeError(name)

    # ---- Calls ----

    def call_async(self, method, request=None, **fields):
        """Sends 'method' ("Service.Method") with 'request' (a message, or
        built from 'fields') and returns a Call at once: send many, then
        collect their result()s; replies are matched by id."""
        types_ = METHODS.get(method)
        if fields and request is not None:
            raise TypeError("give a request message or fields, not both")
        if fields and not types_:
            raise TypeError("%s is in no .proto file: give a request "
                            "message, not fields" % method)
        if request is None and types_:
            request = types_[0](**fields)
        # A method the .proto files do not know still goes out: the
        # daemon answers it (UNKNOWN_METHOD), and a reply is raw bytes.
        return Call(self._connection(), method, request,
                    types_[1] if types_ else None)

    def call(self, method, request=None, timeout=None, **fields):
        """call_async(...).result(timeout or the client's)."""
        c = self.call_async(method, request, **fields)
        return c.result(self.timeout if timeout is None else timeout)

    # ---- Events ----

    def watch(self, since=None, resume_timeout=30.0):
        """The event stream (a Watch, iterable) on a connection of its
        own: every kept event after 'since' first (None: only the new
        ones), then events as they happen.  A lost connection (fabricd
        restarted) or a stream cut off is resumed from the last sequence
        number received, for up to 'resume_timeout' seconds."""
        return Watch(self, since, resume_timeout)

    def last_event_seq(self):
        """The newest event's sequence number now: watch(since=it) later
        misses nothing that happens from here on."""
        with self.watch() as w:
            return w.last_seq

    def wait_for(self, predicate, timeout, since=None):
        """The first event from watch(since) for which predicate(event) is
        true; raises TimeoutError after 'timeout' seconds.  Give 'since'
        (last_event_seq() before acting) so that an event the action
        causes before the watch starts is not missed."""
        deadline = time.monotonic() + timeout
        with self.watch(since) as w:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    ev = w.get(left)
                except TimeoutError:
                    break
                if predicate(ev):
                    return ev
        raise TimeoutError("wait_for: no event matched within %g s"
                           % timeout)


class Watch:
    """A subscription to Events.Subscribe that resumes itself.  get()
    returns the next Event; iterating yields them forever.  'last_seq' is
    the last sequence number received (live statistics ticks carry seq 0
    and do not move it)."""

    def __init__(self, client, since, resume_timeout):
        self.client = client
        self.last_seq = since if since is not None else 0
        self.oldest_seq = 0
        self.resume_timeout = resume_timeout
        self.resumes = 0          # How many times it subscribed again.
        self._conn = self._q = None
        self._lost_at = None
        self._subscribe(only_new=since is None)

    def _subscribe(self, only_new):
        c = self.client
        conn = _Connection(c.addr, c.key, c.connect_timeout)
        q = queue.Queue()
        req = pb.events.SubscribeRequest(since=self.last_seq,
                                         only_new=only_new)
        try:
            rep = Call(conn, "Events.Subscribe", req,
                       pb.events.SubscribeReply, q).result(c.timeout)
        except BaseException:
            conn.close()
            raise
        if rep.resync:
            conn.close()
            raise Resync(self.last_seq, rep.last_seq, rep.oldest_seq)
        if only_new:
            self.last_seq = rep.last_seq
        self.oldest_seq = rep.oldest_seq
        self._conn, self._q = conn, q

    def _drop(self):
        if self._conn:
            self._conn.close()
        self._conn = self._q = None
        if self._lost_at is None:
            self._lost_at = time.monotonic()

    def _resume(self, deadline):
        """Subscribes again from last_seq, retrying while fabricd is away,
        up to resume_timeout after the loss (and 'deadline', when given:
        then TimeoutError, and the next get() goes on trying)."""
        give_up = self._lost_at + self.resume_timeout
        pause = 0.05
        while True:
            try:
                self._subscribe(only_new=False)
                self._lost_at = None
                self.resumes += 1
                return
            except (OSError, ERRORS[rpc_pb2.STATUS_UNAVAILABLE],
                    ERRORS[rpc_pb2.STATUS_TIMEOUT]) as e:
                now = time.monotonic()
                if now >= give_up:
                    raise ERRORS[rpc_pb2.STATUS_UNAVAILABLE](
                        "the event stream could not resume from %d within "
                        "%g s: %s" % (self.last_seq, self.resume_timeout, e),
                        method="Events.Subscribe") from e
                if deadline is not None and now >= deadline:
                    raise TimeoutError("no event: the stream is resuming")
                # Waiting for fabricd to come back: no busy loop.
                time.sleep(min(pause, give_up - now))
                pause = min(pause * 2, 1.0)

    def get(self, timeout=None):
        """The next event; TimeoutError if none within 'timeout' seconds
        (None: wait for one)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._q is None:
                self._resume(deadline)
            left = None if deadline is None else deadline - time.monotonic()
            try:
                item = self._q.get(timeout=None if left is None
                                   else max(left, 0))
            except queue.Empty:
                raise TimeoutError("no event within %g s" % timeout) \
                    from None
            if isinstance(item, _Lost):
                self._drop()
                continue
            ev = pb.events.Event.FromString(item.payload)
            if ev.type == pb.events.EVENT_STREAM_ENDED:
                self._drop()         # Cut off as too slow: resume.
                continue
            if ev.seq:
                if ev.seq <= self.last_seq:
                    continue         # Already had it (a resume's replay).
                self.last_seq = ev.seq
            return ev

    def __iter__(self):
        while True:
            yield self.get()

    def close(self):
        if self._conn:
            self._conn.close()
        self._conn = self._q = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
