#!/usr/bin/env python3
"""A real SMTP server on loopback for gardien's notification tests (aiosmtpd, PyPI).

    python smtp_sink.py DIR [PORT]

Writes each message it receives to DIR/NNNN.eml (the envelope's recipients on a first
`X-Envelope-To:` line), decoded as a reader sees it (encoded-word headers and a
quoted-printable body turned back into text, so that a test searching for a marker finds
it however it was encoded), prints `listening PORT` once ready, and runs until killed.
It refuses recipients whose address starts with `refused` (554, for good) or `busy` (450,
for now), as relays do.
"""
import email
import email.policy
import os
import sys
import time

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, directory):
        self.directory = directory

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        # Recipients that test a relay's refusals: for good, or for now.
        if address.startswith("refused"):
            return "554 5.7.1 Relay access denied"
        if address.startswith("busy"):
            return "450 4.2.1 Mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        n = len([f for f in os.listdir(self.directory) if f.endswith(".eml")])
        path = os.path.join(self.directory, f"{n:04d}.eml")
        with open(path + ".tmp", "wb") as f:
            f.write(b"X-Envelope-To: " + ",".join(envelope.rcpt_tos).encode() + b"\n")
            msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
            for name, value in msg.items():
                f.write(f"{name}: {' '.join(str(value).split())}\n".encode())
            f.write(b"\n")
            f.write(msg.get_content().encode())
        os.rename(path + ".tmp", path)
        return "250 OK"


def main():
    directory = sys.argv[1]
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    os.makedirs(directory, exist_ok=True)
    controller = Controller(Sink(directory), hostname="127.0.0.1", port=port or 8025)
    if not port:
        # Find a free port ourselves: aiosmtpd needs one given.
        import socket
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        controller.port = s.getsockname()[1]
        s.close()
    controller.start()
    print(f"listening {controller.port}", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
