"""A mail server on loopback (aiosmtpd from PyPI) that keeps what it receives: each message is
written to OUT_DIR/<n>.eml with its envelope on the first two lines ("from <addr>", "to <addr>").
Prints "port N" once listening and runs until killed.

  smtp_sink.py OUT_DIR
"""
import os
import socket
import sys
import threading

from aiosmtpd.controller import Controller

OUT = sys.argv[1]


class Keep:
    def __init__(self):
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        path = os.path.join(OUT, "%d.eml" % self.count)
        with open(path + ".part", "wb") as f:
            f.write(("from %s\nto %s\n" % (envelope.mail_from, ",".join(envelope.rcpt_tos))).encode())
            f.write(envelope.content if isinstance(envelope.content, bytes) else envelope.content.encode())
        os.rename(path + ".part", path)
        return "250 Message accepted for delivery"


probe = socket.socket()
probe.bind(("127.0.0.1", 0))
port = probe.getsockname()[1]
probe.close()
controller = Controller(Keep(), hostname="127.0.0.1", port=port)
controller.start()
print("port %d" % port, flush=True)
threading.Event().wait()  # the controller serves on its own thread until the test kills this process
