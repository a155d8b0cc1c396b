"""A loopback SMTP server for kura-audit's e-mail tests (needs `pip install aiosmtpd`).

Usage: python3 smtp_sink.py OUTDIR
Prints the port it listens on (127.0.0.1), then stores each message as OUTDIR/msg-N.json
({"from", "to", "subject", "body"}) before answering 250, and stops when stdin closes.
"""

import email
import email.policy
import json
import os
import socket
import sys

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, out):
        self.out = out
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        self.count += 1
        path = os.path.join(self.out, f"msg-{self.count}.json")
        record = {
            "from": envelope.mail_from,
            "to": envelope.rcpt_tos,
            "subject": str(msg["subject"]),
            "body": msg.get_content(),
        }
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(record, f, ensure_ascii=False)
        os.rename(path + ".tmp", path)
        return "250 OK"


def main():
    out = sys.argv[1]
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    controller = Controller(Sink(out), hostname="127.0.0.1", port=port)
    controller.start()
    print(port, flush=True)
    sys.stdin.read()
    controller.stop()


if __name__ == "__main__":
    main()
