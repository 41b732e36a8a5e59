"""WAMP-CRA client for the crossbar-config end-to-end test.

usage: cra_client.py URL REALM AUTHID CAFILE server|consumer URI [DENIED_URI]
The secret comes from the CRA_SECRET environment variable. As "server" it
registers an echo procedure at URI (and at DENIED_URI), prints "ready" and
serves until stdin closes. As "consumer" it calls URI, prints the result,
then calls DENIED_URI and prints the error URI.
"""
import asyncio
import os
import ssl
import sys

from autobahn.asyncio.wamp import ApplicationRunner, ApplicationSession
from autobahn.wamp import auth
from autobahn.wamp.exception import ApplicationError

url, realm, authid, cafile, mode, uri = sys.argv[1:7]
denied = sys.argv[7] if len(sys.argv) > 7 else None
secret = os.environ["CRA_SECRET"]
status = {"ok": False}


class Session(ApplicationSession):
    def onConnect(self):
        self.join(realm, ["wampcra"], authid)

    def onChallenge(self, challenge):
        if challenge.method != "wampcra":
            raise Exception("unexpected challenge " + challenge.method)
        return auth.compute_wcs(secret, challenge.extra["challenge"])

    async def onJoin(self, details):
        print("joined", details.authid, details.authrole, flush=True)
        try:
            if mode == "server":
                await self.register(lambda x: "echo:" + x, uri)
                if denied:
                    await self.register(lambda x: "private:" + x, denied)
                print("ready", flush=True)
                await asyncio.get_event_loop().run_in_executor(None, sys.stdin.read)
            else:
                res = await self.call(uri, "hello")
                print("result", res, flush=True)
                if denied:
                    try:
                        await self.call(denied, "x")
                        print("denied-call-succeeded", flush=True)
                    except ApplicationError as e:
                        print("denied", e.error, flush=True)
            status["ok"] = True
        except Exception as e:
            print("error", repr(e), file=sys.stderr, flush=True)
        self.leave()

    def onDisconnect(self):
        asyncio.get_event_loop().stop()


ctx = ssl.create_default_context(cafile=cafile)
ApplicationRunner(url, realm, ssl=ctx).run(Session)
sys.exit(0 if status["ok"] else 1)
