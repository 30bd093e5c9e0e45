"""Framing (proto/frame.h): an 8-byte header before each packed Envelope,

    magic u16 0x4658 ("FX") | version u8 | flags u8 | length u32

all big-endian, at most 4 MiB of Envelope.
"""
import struct

MAGIC = 0x4658
VERSION = 1
HDR = struct.Struct(">HBBI")
MAX_SIZE = 4 * 1024 * 1024


class FrameError(ConnectionError):
    """The peer does not speak fexsim's framing."""


def encode(body, version=VERSION):
    """'body' (a packed Envelope) with its header in front."""
    if len(body) > MAX_SIZE:
        raise ValueError("an envelope of %d bytes is over the 4 MiB limit"
                         % len(body))
    return HDR.pack(MAGIC, version, 0, len(body)) + body


class Reader:
    """Whole frames out of a socket's bytes."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()

    def frame(self):
        """The next frame's Envelope bytes; None once the peer closed."""
        while True:
            if len(self.buf) >= HDR.size:
                magic, _, _, n = HDR.unpack_from(self.buf)
                if magic != MAGIC:
                    raise FrameError("bad frame magic 0x%04x" % magic)
                if n > MAX_SIZE:
                    raise FrameError("a frame of %d bytes" % n)
                if len(self.buf) >= HDR.size + n:
                    body = bytes(self.buf[HDR.size:HDR.size + n])
                    del self.buf[:HDR.size + n]
                    return body
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                return None
            self.buf += chunk
