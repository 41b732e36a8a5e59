"""An OCS-style agent and HTTP client for the crossbar-config tests.

usage: ocs_agent.py WSURL REALM CALLURL PUBURL

The agent joins anonymously (OCS agents' role iocs_agent), registers
observatory.agent1.ops (echo of its arguments) and subscribes to
observatory.agent1.feeds.cmd. Then, like OCS's HTTP client, it POSTs
{"procedure", "args", "kwargs"} to CALLURL and {"topic", "args"} to PUBURL
and prints each JSON answer, then the event the publication delivered.
"""
import asyncio
import json
import sys
import urllib.request

from autobahn.asyncio.wamp import ApplicationRunner, ApplicationSession

WSURL, REALM, CALLURL, PUBURL = sys.argv[1:5]


def post(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, json.loads(r.read())


class Agent(ApplicationSession):
    async def onJoin(self, details):
        got = asyncio.get_event_loop().create_future()
        await self.register(lambda *a, **kw: {"args": list(a), "kwargs": kw}, "observatory.agent1.ops")
        await self.subscribe(lambda *a: got.done() or got.set_result(a), "observatory.agent1.feeds.cmd")
        loop = asyncio.get_event_loop()
        status, res = await loop.run_in_executor(None, post, CALLURL,
                                                 {"procedure": "observatory.agent1.ops", "args": ["start", 1], "kwargs": {"mode": "fast"}})
        print("call", status, json.dumps(res, sort_keys=True), flush=True)
        status, res = await loop.run_in_executor(None, post, CALLURL, {"procedure": "observatory.agent1.nothing"})
        print("call-error", status, res.get("error"), flush=True)
        status, res = await loop.run_in_executor(None, post, PUBURL, {"topic": "observatory.agent1.feeds.cmd", "args": ["go"]})
        print("publish", status, "id" in res, flush=True)
        ev = await asyncio.wait_for(got, 10)
        print("event", json.dumps(list(ev)), flush=True)
        self.leave()

    def onDisconnect(self):
        asyncio.get_event_loop().stop()


ApplicationRunner(WSURL, REALM).run(Agent)
