#!/usr/bin/python3
"""A hub shaped like sisock's (components/hub/hub.py), for tests.

Usage: sisock_hub.py URL REALM CAFILE     (secret in CRA_SECRET)

It joins with WAMP-CRA as user "server", trusting CAFILE (sisock's
server_cert.pem) as its only root with no host name check, as sisock's
components do. Its procedures take positional arguments only, so a call
with keyword arguments fails as sisock's does ("unexpected keyword
argument"):

  data_node.add(name, description, session_id) -> bool   (false: name taken)
  data_node.subtract(name, session_id)
  consumer.get_data_node() -> [{name, description}]

and its leave handler takes exactly one argument, the session id, as
crossbar publishes wamp.session.on_leave. It prints "ready", then
"added NAME", "refused NAME", "removed NAME" and "leave-error ..." lines.
"""
import ssl
import sys
import os

from autobahn.twisted.wamp import ApplicationRunner, ApplicationSession
from autobahn.wamp import auth
from twisted.internet._sslverify import OpenSSLCertificateAuthorities
from twisted.internet.ssl import CertificateOptions
from OpenSSL import crypto

URL, REALM, CAFILE = sys.argv[1:4]
BASE = "org.simonsobservatory"
SECRET = os.environ["CRA_SECRET"]


def say(*a):
    # Straight to the file descriptor: twisted's runner takes over
    # sys.stdout for its log.
    os.write(1, (" ".join(str(x) for x in a) + "\n").encode())


class Hub(ApplicationSession):
    nodes = []

    def onConnect(self):
        self.join(self.config.realm, ["wampcra"], "server")

    def onChallenge(self, challenge):
        return auth.compute_wcs(SECRET, challenge.extra["challenge"])

    async def onJoin(self, details):
        await self.register(self.add, BASE + ".data_node.add")
        await self.register(self.subtract, BASE + ".data_node.subtract")
        await self.register(self.get_data_node, BASE + ".consumer.get_data_node")
        await self.subscribe(self.on_leave, "wamp.session.on_leave")
        say("ready")

    def add(self, name, description, session_id):
        if any(n["name"] == name for n in self.nodes):
            say("refused", name)
            return False
        self.nodes.append({"name": name, "description": description, "session_id": session_id})
        self.publish(BASE + ".consumer.data_node_added", {"name": name, "description": description})
        say("added", name, description)
        return True

    def subtract(self, name, session_id):
        for n in list(self.nodes):
            if n["name"] == name and n["session_id"] == session_id:
                self.nodes.remove(n)
                self.publish(BASE + ".consumer.data_node_subtracted", {"name": name, "description": n["description"]})
                say("removed", name)

    def get_data_node(self):
        return [{"name": n["name"], "description": n["description"]} for n in self.nodes]

    def on_leave(self, session_id):
        for n in list(self.nodes):
            if n["session_id"] == session_id:
                self.nodes.remove(n)
                self.publish(BASE + ".consumer.data_node_subtracted", {"name": n["name"], "description": n["description"]})
                say("removed", n["name"])

    def onUserError(self, fail, msg):
        if "on_leave" in msg or "event" in msg:
            say("leave-error", fail.getErrorMessage())
        super().onUserError(fail, msg)


with open(CAFILE, "rb") as f:
    root = crypto.load_certificate(crypto.FILETYPE_PEM, f.read())
# sisock's trust: the file itself as the only root (chain pinning, no
# host name check).
tls = CertificateOptions(trustRoot=OpenSSLCertificateAuthorities([root]))
ApplicationRunner(URL, REALM, ssl=tls).run(Hub)
