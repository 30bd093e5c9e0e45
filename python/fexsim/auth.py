"""The lab secret's handshake (proto/auth.h, docs/API.md "The handshake").

Every connection to a fexsim daemon proves the lab secret before any
frame: HMAC-SHA-256 over both nonces, roles and names, the same
construction as proto/auth.c (libsodium there, hmac/hashlib here).
"""
import hashlib
import hmac
import os

ROLE_OPERATOR = 1
VERSION = 1
NONE_FP = b"none____________"
RESULT_MSG_MAX = 100


class AuthError(ConnectionError):
    """The handshake failed: wrong secret, refused role, not fexsim."""


class Key:
    """The lab secret: K = SHA-256 of the file's bytes without trailing
    newlines or spaces, and its public fingerprint."""

    def __init__(self, k=None):
        self.k = k if k is not None else bytes(32)
        if k is None:
            self.fp = NONE_FP
        else:
            label = b"fexsim key fingerprint\0"
            self.fp = hashlib.sha256(label + k).hexdigest()[:16].encode()

    @classmethod
    def load(cls, path):
        """Reads the secret file 'path', with auth_key_load()'s rules: the
        owner only may read it, and it holds at least 16 bytes."""
        st = os.stat(path)
        if st.st_mode & 0o077:
            raise AuthError("secret file '%s' can be read by others "
                            "(mode %03o): chmod 600 it"
                            % (path, st.st_mode & 0o777))
        with open(path, "rb") as f:
            raw = f.read(4096).rstrip(b"\r\n ")
        if len(raw) < 16:
            raise AuthError("secret file '%s' holds less than 16 bytes: "
                            "not a secret" % path)
        return cls(hashlib.sha256(raw).digest())


def _recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise AuthError("the server closed during the handshake")
        buf += chunk
    return buf


def _mac(key, label, nc, ns, roles, cname, sname):
    msg = (b"fexsim-auth-1" + label + b"\0" + nc + ns + bytes(roles)
           + cname + b"\0" + sname + b"\0")
    return hmac.new(key.k, msg, hashlib.sha256).digest()


def _result(sock):
    """The rest of a RESULT (its magic read): raises unless accepted."""
    status, n = _recv_exact(sock, 2)
    if n > RESULT_MSG_MAX:
        raise AuthError("not a fexsim handshake (a result of %d bytes)" % n)
    msg = _recv_exact(sock, n).decode("ascii", "replace")
    if status:
        raise AuthError("refused: " + msg)


def handshake(sock, key, role=ROLE_OPERATOR, name=b""):
    """Proves 'key' on the connected 'sock' as 'role' named 'name' and
    checks that the server holds it too.  Raises AuthError otherwise."""
    nc = os.urandom(32)
    sock.sendall(b"FXA1" + bytes([VERSION, role, len(name)]) + key.fp + nc
                 + name)
    magic = _recv_exact(sock, 4)
    if magic == b"FXA4":
        _result(sock)
        raise AuthError("handshake accepted before proof")
    if magic != b"FXA2":
        raise AuthError("not a fexsim handshake")
    srole, n = _recv_exact(sock, 2)
    body = _recv_exact(sock, 16 + 32 + 32 + n)
    fp, ns, mac, sname = body[:16], body[16:48], body[48:80], body[80:]
    roles = (role, srole)
    if not hmac.compare_digest(mac, _mac(key, b"server", nc, ns, roles,
                                         name, sname)):
        raise AuthError("the server does not prove our lab secret: its key "
                        "fingerprint is %s, ours %s"
                        % (fp.decode("ascii", "replace"), key.fp.decode()))
    sock.sendall(b"FXA3" + _mac(key, b"client", nc, ns, roles, name, sname))
    if _recv_exact(sock, 4) != b"FXA4":
        raise AuthError("not a fexsim handshake")
    _result(sock)
