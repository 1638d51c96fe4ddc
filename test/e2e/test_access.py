"""Identity and access, end to end: real collector, real runners under the
preload naming their requests' callers, real HTTP with real tokens.

The matrix of doc/http-api.md ("Who sees what"):
  principal  owner / caller / other / no token
  app        private / public
  scope      runner logs / request logs / status / follow (runner, request)
plus the account-wide default before and after a redeploy, the search
(/v1/logs), and who may make tokens, deploys and account changes; and the
rows of the scoped tokens (read: what its user may read, no change;
metrics: /metrics and nothing else).
"""

import os
import subprocess
import time

from harness import (COLLECTOR, PYTHON, Collector, Follower, check, check_eq, messages, run_tests, runner_env,
                     status_kb, wait_until)

RUNNER = r'''
import os, sys, time
import logtap
app = os.environ["LOGTAP_APP_ID"]
request_id, caller, hold = sys.argv[1], sys.argv[2], sys.argv[3]
print("setup of %s" % app, flush=True)
with logtap.request(request_id, caller=caller):
    print("inside %s" % request_id, flush=True)
    print("error: %s failed" % request_id, file=sys.stderr, flush=True)
    while hold != "-" and not os.path.exists(hold):
        time.sleep(0.02)
    print("last of %s" % request_id, flush=True)
print("after %s" % request_id, flush=True)
'''

REQUEST_LINES = ["inside {r}", "error: {r} failed", "last of {r}"]


def run_runner(c, runner_id, app, request_id, caller, hold="-"):
    env = runner_env(c, runner_id=runner_id, LOGTAP_APP_ID=app, LOGTAP_VERSION_ID="v1",
                     LOGTAP_SOURCE="gateway")
    return subprocess.Popen([PYTHON, "-c", RUNNER, request_id, caller, hold], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL)


def make_token(c, user):
    status, doc = c.call_json("POST", "/v1/tokens", {"user": user, "label": "test"})
    check_eq(status, 201, "create token for %s" % user)
    check(doc["token"].startswith("lt_") and doc["id"].startswith("tok_"), "token shape %r" % doc)
    return doc["token"]


def deploy(c, token, app, owner=None, private=None):
    body = {}
    if owner is not None:
        body["owner"] = owner
    if private is not None or owner is None:
        body["private_logs"] = private
    return c.call_json("PUT", "/v1/apps/" + app, body, token=token)


def wait_stored(c, request_id, count):
    wait_until(lambda: len(c.logs("requests", request_id) or []) >= count, 30,
               "%d lines of %s stored" % (count, request_id))


class World:
    """Two apps of alice (one private, one public), one runner each, each
    serving one request called by bob."""

    def __init__(self, c):
        self.c = c
        self.tokens = {"owner": make_token(c, "alice"), "caller": make_token(c, "bob"),
                       "other": make_token(c, "carol"), "none": None, "admin": c.token}
        status, app = deploy(c, self.tokens["owner"], "priv-app", private=True)
        check_eq(status, 200, "alice deploys priv-app")
        check_eq((app["owner"], app["private_logs"], app["private_logs_from"]),
                 ("alice", True, "explicit"), "priv-app as deployed")
        status, app = deploy(c, self.tokens["owner"], "pub-app", private=False)
        check_eq(status, 200, "alice deploys pub-app")
        check_eq(app["private_logs"], False, "pub-app is public")
        for runner, app_id, rid in (("r-priv", "priv-app", "req-priv"), ("r-pub", "pub-app", "req-pub")):
            check_eq(run_runner(c, runner, app_id, rid, "bob").wait(60), 0, "runner %s exit" % runner)
            wait_stored(c, rid, 3)

    def get(self, who, path, **params):
        return self.c.get_json(path, token=self.tokens[who], **params)


def test_runner_logs_owner_only():
    with Collector() as c:
        w = World(c)
        for runner, app in (("r-priv", "priv-app"), ("r-pub", "pub-app")):
            path = "/v1/runners/%s/logs" % runner
            for who in ("owner", "admin"):
                status, doc = w.get(who, path)
                check_eq(status, 200, "%s reads %s" % (who, path))
                check("setup of %s" % app in messages(doc["logs"]), "%s sees the setup line" % who)
            for who in ("caller", "other"):
                status, doc = w.get(who, path)
                check_eq(status, 404, "%s reads %s" % (who, path))
                check("logs" not in doc, "no logs in a 404")
            status, _ = w.get("none", path)
            check_eq(status, 401, "no token reads %s" % path)


def test_request_logs_and_status_matrix():
    with Collector() as c:
        w = World(c)
        cases = {  # (who, request) -> (status, lines visible)
            ("owner", "req-priv"): (200, True), ("owner", "req-pub"): (200, True),
            ("caller", "req-priv"): (200, False), ("caller", "req-pub"): (200, True),
            ("other", "req-priv"): (404, False), ("other", "req-pub"): (404, False),
            ("none", "req-priv"): (401, False), ("none", "req-pub"): (401, False),
        }
        for (who, rid), (want_status, visible) in sorted(cases.items()):
            want_lines = [l.format(r=rid) for l in REQUEST_LINES] if visible else []
            status, doc = w.get(who, "/v1/requests/%s/logs" % rid)
            check_eq(status, want_status, "%s: request logs of %s" % (who, rid))
            if status == 200:
                check_eq(messages(doc["logs"]), want_lines, "%s: request logs of %s" % (who, rid))
            # wait=0: a request one may not see is waited for like an unknown one
            status, doc = w.get(who, "/v1/requests/%s/status" % rid, logs=1, wait=0)
            check_eq(status, want_status, "%s: status of %s" % (who, rid))
            if status == 200:
                check_eq(sorted(doc), ["logs", "request_id", "status"], "status shape")
                check_eq(doc["status"], "COMPLETED", "status of %s" % rid)
                check_eq(messages(doc["logs"]), want_lines, "%s: status logs of %s" % (who, rid))
                for entry in doc["logs"]:
                    check_eq(sorted(entry), ["level", "message", "source", "timestamp"], "status entry shape")
                    check_eq(entry["source"], "gateway", "source")
        print("  8 cells x (logs, status) as the matrix says")


def test_follow_matrix():
    with Collector() as c:
        w = World(c)
        hold = os.path.join(c.workdir, "release")
        live = {app: run_runner(c, "r-live-" + app, app, "live-" + app, "bob", hold)
                for app in ("priv-app", "pub-app")}
        for app in live:
            wait_until(lambda: (c.get_json("/v1/requests/live-%s/status" % app)[0] == 200), 30,
                       "live-%s begun" % app)
        followers = {}
        for app in live:
            rid = "live-" + app
            for who in ("owner", "caller", "other", "none"):
                followers[(who, "request", app)] = Follower(c, "/v1/requests/%s/logs" % rid,
                                                            token=w.tokens[who], wait=0)
                followers[(who, "runner", app)] = Follower(c, "/v1/runners/r-live-%s/logs" % app,
                                                           token=w.tokens[who])
        with open(hold, "w"):
            pass
        for p in live.values():
            check_eq(p.wait(60), 0, "live runner exit")

        def status_codes(kind, app):
            return {who: followers[(who, kind, app)].status for who in ("owner", "caller", "other", "none")}
        for app in live:
            check_eq(status_codes("runner", app), {"owner": 200, "caller": 404, "other": 404, "none": 401},
                     "runner follow of %s" % app)
            check_eq(status_codes("request", app), {"owner": 200, "caller": 200, "other": 404, "none": 401},
                     "request follow of %s" % app)
            rid = "live-" + app
            want = [l.format(r=rid) for l in REQUEST_LINES]
            completed = lambda ev: any(t == "status" and d["status"] == "COMPLETED" for t, _, d in ev)
            for who in ("owner", "caller"):
                f = followers[(who, "request", app)]
                f.wait_for(completed, 30, "%s sees %s complete" % (who, rid))
                seen = messages(f.logs())
                if who == "caller" and app == "priv-app":
                    check_eq(seen, [], "caller follows a private request: no lines")
                else:
                    check_eq(seen, want, "%s follows %s" % (who, rid))
                # IN_PROGRESS after the backlog, COMPLETED after every line.
                events = f.snapshot()
                check_eq([d["status"] for t, _, d in events if t == "status"],
                         ["IN_PROGRESS", "COMPLETED"], "status events for %s" % who)
                check_eq(events[-1][0], "status", "status event last for %s" % who)
            owner_runner = followers[("owner", "runner", app)]
            owner_runner.wait_for(lambda ev: "after " + rid in messages([d for t, _, d in ev if t == "log"]),
                                  30, "owner's runner follow of %s" % app)
        for f in followers.values():
            f.stop()


def test_search_sees_only_owned_apps():
    with Collector() as c:
        w = World(c)
        check_eq(run_runner(c, "r-nobody", "undeployed-app", "req-x", "bob").wait(60), 0, "runner exit")
        wait_stored(c, "req-x", 3)

        def runners_seen(who, **params):
            status, doc = w.get(who, "/v1/logs", limit=100000, **params)
            check_eq(status, 200, "%s searches" % who)
            return sorted(set(e["runner_id"] for e in doc["logs"]))
        check_eq(runners_seen("admin"), ["r-nobody", "r-priv", "r-pub"], "admin sees every runner")
        check_eq(runners_seen("owner"), ["r-priv", "r-pub"], "alice sees her apps")
        check_eq(runners_seen("owner", app="priv-app"), ["r-priv"], "alice narrows to priv-app")
        check_eq(runners_seen("owner", app="undeployed-app"), [], "alice cannot see an app she does not own")
        check_eq(runners_seen("caller"), [], "bob owns nothing")
        check_eq(runners_seen("other"), [], "carol owns nothing")
        status, _ = w.get("none", "/v1/logs")
        check_eq(status, 401, "search without a token")
        # Nobody but admin may claim an app that runners already log as.
        status, doc = deploy(c, w.tokens["caller"], "undeployed-app", private=False)
        check_eq(status, 403, "bob claims an app with lines")
        check("admin" in doc["error"], "the refusal says who may: %r" % doc["error"])
        check_eq(runners_seen("caller"), [], "bob still sees nothing")
        check_eq(deploy(c, c.token, "undeployed-app", owner="bob", private=False)[0], 200,
                 "admin deploys it for bob")
        check_eq(runners_seen("caller"), ["r-nobody"], "now bob sees its lines")
        # A follow of the search obeys the same rule.
        f = Follower(c, "/v1/logs", token=w.tokens["owner"], tail=1000)
        f.wait_for(lambda ev: len(ev) >= 10, 20, "alice's search follow backlog")
        check_eq(sorted(set(d["runner_id"] for d in f.logs())), ["r-priv", "r-pub"], "alice's follow")
        f.stop()


def test_account_default_snapshotted_at_deploy():
    with Collector() as c:
        alice, bob = make_token(c, "alice"), make_token(c, "bob")
        status, doc = c.call_json("GET", "/v1/accounts/alice", token=alice)
        check_eq((status, doc), (200, {"user": "alice", "default_private_logs": False}), "alice's default")
        # Deployed while the default is off: public.
        status, app = deploy(c, alice, "dflt-app")
        check_eq((status, app["private_logs"], app["private_logs_from"]), (200, False, "account-default"),
                 "first deploy")

        def caller_sees(rid):
            check_eq(run_runner(c, "r-" + rid, "dflt-app", rid, "bob").wait(60), 0, "runner exit")
            wait_stored(c, rid, 3)
            status, doc = c.get_json("/v1/requests/%s/status" % rid, token=bob, logs=1)
            check_eq(status, 200, "bob's status of %s" % rid)
            return len(doc["logs"]) > 0

        check(caller_sees("q1"), "public app: the caller sees its request's logs")
        status, doc = c.call_json("PUT", "/v1/accounts/alice", {"default_private_logs": True}, token=alice)
        check_eq((status, doc["default_private_logs"]), (200, True), "alice turns the default on")
        check(caller_sees("q2"), "existing app keeps its setting until redeployed")
        check(caller_sees("q1"), "still, for the earlier request")
        status, app = deploy(c, alice, "dflt-app")
        check_eq((app["private_logs"], app["private_logs_from"]), (True, "account-default"), "redeploy")
        check(not caller_sees("q3"), "redeployed: private, the caller gets []")
        check(not caller_sees("q1"), "the app's older requests are private too")
        status, app = deploy(c, alice, "dflt-app", private=False)
        check_eq((app["private_logs"], app["private_logs_from"]), (False, "explicit"),
                 "an explicit public deploy wins over the default")
        check(caller_sees("q4"), "explicit public")
        status, doc = c.call_json("PUT", "/v1/accounts/alice", {"default_private_logs": False}, token=alice)
        status, app = deploy(c, alice, "other-app", private=True)
        check_eq((app["private_logs"], app["private_logs_from"]), (True, "explicit"),
                 "an explicit private deploy wins over a public default")


def test_who_may_change_what():
    with Collector() as c:
        alice, bob = make_token(c, "alice"), make_token(c, "bob")
        status, doc = c.call_json("GET", "/v1/whoami", token=bob)
        check_eq((status, doc), (200, {"user": "bob", "admin": False, "scope": "full"}), "whoami")
        # Tokens: only admin makes them for others; users list and revoke their own.
        status, _ = c.call_json("POST", "/v1/tokens", {"user": "alice"}, token=bob)
        check_eq(status, 403, "bob makes a token for alice")
        status, doc = c.call_json("POST", "/v1/tokens", {"label": "laptop"}, token=bob)
        check_eq((status, doc["user"], doc["label"]), (201, "bob", "laptop"), "bob makes his own")
        spare, spare_id = doc["token"], doc["id"]
        status, doc = c.call_json("GET", "/v1/tokens", token=bob)
        check_eq(sorted(t["user"] for t in doc["tokens"]), ["bob", "bob"], "bob lists only his tokens")
        check("token" not in doc["tokens"][0], "listing never shows a token")
        status, doc = c.call_json("GET", "/v1/tokens")
        check_eq(len(doc["tokens"]), 4, "admin lists all (admin, alice, bob x2)")
        status, _ = c.call_json("DELETE", "/v1/tokens/" + spare_id, token=alice)
        check_eq(status, 404, "alice revokes bob's token")
        status, doc = c.call_json("DELETE", "/v1/tokens/" + spare_id, token=bob)
        check_eq((status, doc), (200, {"revoked": spare_id}), "bob revokes his spare")
        status, doc = c.call_json("GET", "/v1/whoami", token=spare)
        check_eq((status, doc["error"]), (401, "invalid token"), "a revoked token")
        # Apps: a user deploys only as the owner, and not another's app.
        check_eq(deploy(c, alice, "a-app", private=True)[0], 200, "alice deploys a-app")
        check_eq(deploy(c, bob, "a-app", private=False)[0], 403, "bob redeploys alice's app")
        check_eq(deploy(c, bob, "b-app", owner="alice")[0], 403, "bob deploys for alice")
        check_eq(deploy(c, c.token, "b-app", owner="bob", private=False)[0], 200, "admin deploys for bob")
        status, doc = c.call_json("GET", "/v1/apps", token=bob)
        check_eq([a["app_id"] for a in doc["apps"]], ["b-app"], "bob's apps")
        check_eq(c.call_json("GET", "/v1/apps/a-app", token=bob)[0], 404, "bob reads alice's app")
        status, doc = c.call_json("GET", "/v1/apps/a-app")
        check_eq((status, doc["owner"], doc["private_logs"]), (200, "alice", True), "a-app unchanged")
        # Accounts: one's own, or admin.
        check_eq(c.call_json("PUT", "/v1/accounts/alice", {"default_private_logs": True}, token=bob)[0],
                 403, "bob sets alice's default")
        check_eq(c.call_json("GET", "/v1/accounts/alice", token=bob)[0], 404, "bob reads alice's account")
        check_eq(c.call_json("PUT", "/v1/accounts/alice", {"default_private_logs": True})[0], 200,
                 "admin sets alice's default")
        # Bad bodies are named; metrics are admin's.
        for body, word in ((b"{", "bad body"), (b"[]", "object"), (b'{"owner": 5}', "owner"),
                           (b'{"private_logs": "yes"}', "private_logs"), (b'{"color": 1}', "color")):
            status, doc = c.call_json("PUT", "/v1/apps/z-app", body, token=alice)
            check_eq(status, 400, "deploy with body %r" % body)
            check(word in doc["error"], "error %r names %r" % (doc["error"], word))
        status, _, _ = c.request("PUT", "/v1/apps/z-app", b"x" * (65 * 1024), token=alice)
        check_eq(status, 413, "a body over 64 KiB")
        check_eq(c.get("/metrics", token=alice)[0], 403, "alice reads /metrics")
        check_eq(c.get("/metrics")[0], 200, "admin reads /metrics")


def test_shared_ids_do_not_leak_across_apps():
    """Runner and request IDs are not namespaced per app: lines another
    app's runner wrote under the same ID stay with that app's owner."""
    with Collector() as c:
        alice, bob, carol = make_token(c, "alice"), make_token(c, "bob"), make_token(c, "carol")
        check_eq(deploy(c, alice, "app-a", private=False)[0], 200, "alice deploys app-a (public)")
        check_eq(deploy(c, bob, "app-b", private=True)[0], 200, "bob deploys app-b (private)")
        for app in ("app-a", "app-b"):  # the same runner ID and request ID in both apps
            check_eq(run_runner(c, "slot-1", app, "req-1", "carol").wait(60), 0, "runner of %s" % app)
        wait_until(lambda: len(c.logs("requests", "req-1") or []) >= 6, 30, "both apps' lines stored")

        def seen(token, path, **params):
            status, doc = c.get_json(path, token=token, **params)
            return status, sorted(set(e["app_id"] for e in doc["logs"])) if status == 200 else None
        # The request is app-a's (its first BEGIN): alice sees only app-a's
        # lines of it, carol (its caller, app-a public) likewise.
        check_eq(seen(alice, "/v1/requests/req-1/logs"), (200, ["app-a"]), "alice's view of req-1")
        check_eq(seen(carol, "/v1/requests/req-1/logs"), (200, ["app-a"]), "carol's view of req-1")
        status, doc = c.get_json("/v1/requests/req-1/status", token=carol, logs=1)
        check_eq(len(doc["logs"]), 3, "carol's status of req-1 holds app-a's 3 lines")
        # Bob's lines under req-1 are his alone, through the search.
        check_eq(seen(bob, "/v1/logs", request="req-1"), (200, ["app-b"]), "bob's search of req-1")
        # The runner ID is app-b's now (its latest app): bob sees his lines only.
        check_eq(seen(bob, "/v1/runners/slot-1/logs"), (200, ["app-b"]), "bob's view of slot-1")
        check_eq(seen(alice, "/v1/runners/slot-1/logs")[0], 404, "alice: slot-1 is app-b's")
        check_eq(seen(alice, "/v1/logs", runner="slot-1"), (200, ["app-a"]), "alice's search of slot-1")
        check_eq(seen(c.token, "/v1/requests/req-1/logs"), (200, ["app-a", "app-b"]), "admin sees both")
        # Carol's stream of req-1 filtered to app-b matches nothing, also
        # once her access was judged again (every 2 s) and app-b wrote more
        # under the same request ID.
        stream = Follower(c, "/v1/requests/req-1/logs", token=carol, app="app-b")
        time.sleep(3)  # longer than the recheck period
        check_eq(run_runner(c, "slot-2", "app-b", "req-1", "carol").wait(60), 0, "another runner of app-b")
        wait_until(lambda: len(c.logs("requests", "req-1") or []) >= 9, 30, "its lines stored")
        time.sleep(1)
        check_eq((stream.status, stream.logs()), (200, []), "carol's stream of req-1 filtered to app-b")
        stream.stop()


def test_follow_rechecks_access():
    """An open stream ends when its token is revoked, and stops carrying
    lines when the app turns private (within the recheck period)."""
    with Collector() as c:
        alice, bob = make_token(c, "alice"), make_token(c, "bob")
        status, doc = c.call_json("POST", "/v1/tokens", {"label": "short-lived"}, token=alice)
        spare, spare_id = doc["token"], doc["id"]
        check_eq(deploy(c, alice, "app-f", private=False)[0], 200, "deploy app-f")
        hold = os.path.join(c.workdir, "release")
        p = run_runner(c, "r-f", "app-f", "req-f", "bob", hold)
        wait_until(lambda: c.get_json("/v1/requests/req-f/status")[0] == 200, 30, "req-f begun")
        owner_stream = Follower(c, "/v1/runners/r-f/logs", token=spare)
        caller_stream = Follower(c, "/v1/requests/req-f/logs", token=bob)
        caller_stream.wait_for(lambda ev: "inside req-f" in messages([d for t, _, d in ev if t == "log"]), 20,
                               "the caller sees the public request's lines")
        check_eq(c.call_json("DELETE", "/v1/tokens/" + spare_id, token=alice)[0], 200, "revoke")
        owner_stream.wait_for(lambda ev: any(t == "end" for t, _, _ in ev), 10, "the revoked stream ends")
        end = [d for t, _, d in owner_stream.snapshot() if t == "end"][0]
        check("no longer valid" in end["reason"], "end reason %r" % end)
        check_eq(deploy(c, alice, "app-f", private=True)[0], 200, "app-f redeployed private")
        time.sleep(3)  # longer than the recheck period
        before = len(caller_stream.logs())
        with open(hold, "w"):
            pass
        check_eq(p.wait(60), 0, "runner exit")
        caller_stream.wait_for(lambda ev: any(t == "status" and d["status"] == "COMPLETED" for t, _, d in ev),
                               20, "the request completes")
        check_eq(len(caller_stream.logs()), before, "no lines reach the caller once the app is private")
        check_eq(messages(c.logs("requests", "req-f"))[-1], "last of req-f", "the owner's view has them")
        owner_stream.stop()
        caller_stream.stop()


def make_scoped(c, user, scope, token=Collector.ADMIN):
    status, doc = c.call_json("POST", "/v1/tokens", {"user": user, "label": scope, "scope": scope}, token=token)
    check_eq((status, doc.get("scope")), (201, scope), "create a %s token for %s" % (scope, user))
    return doc["token"]


def test_scoped_tokens_matrix():
    with Collector() as c:
        w = World(c)
        w.tokens.update({"owner-read": make_scoped(c, "alice", "read", token=w.tokens["owner"]),
                         "caller-read": make_scoped(c, "bob", "read"),
                         "admin-read": make_scoped(c, "admin", "read"),
                         "metrics": make_scoped(c, "prometheus", "metrics"),
                         "admin-metrics": make_scoped(c, "admin", "metrics")})
        metrics_only = ("metrics", "admin-metrics")
        # Reads: a read token sees exactly what its user's full token sees.
        # (who, path) -> status; the read rows compare their bodies too.
        reads = ["/v1/whoami", "/v1/runners/r-priv/logs", "/v1/runners/r-pub/logs", "/v1/requests/req-priv/logs",
                 "/v1/requests/req-pub/logs", "/v1/requests/req-priv/status", "/v1/logs", "/v1/tokens", "/v1/apps",
                 "/v1/apps/priv-app", "/v1/accounts/alice", "/v1/nothing-here"]
        for read_token, full_token in (("owner-read", "owner"), ("caller-read", "caller"),
                                       ("admin-read", "admin")):
            for path in reads:
                want = w.get(full_token, path)
                got = w.get(read_token, path)
                if path == "/v1/whoami":
                    want[1]["scope"] = "read"
                check_eq(got, want, "%s reads %s as %s does" % (read_token, path, full_token))
        for who in metrics_only:
            for path in reads:
                status, doc = w.get(who, path)
                check_eq((status, doc["error"]), (403, "this token's scope is metrics: it may read /metrics only"),
                         "%s reads %s" % (who, path))
        # Follow streams: the same rule.
        for who, want in (("owner-read", 200), ("caller-read", 404), ("metrics", 403), ("admin-metrics", 403)):
            f = Follower(c, "/v1/runners/r-pub/logs", token=w.tokens[who])
            check_eq(f.status, want, "%s follows r-pub's runner logs" % who)
            if want == 200:
                f.wait_for(lambda ev: "setup of pub-app" in messages([d for t, _, d in ev if t == "log"]), 20,
                           "the read token's stream carries lines")
            f.stop()
        # Changes: refused to read and metrics tokens, whatever they name;
        # nothing changes.
        status, doc = c.call_json("GET", "/v1/tokens", token=w.tokens["owner"])
        alice_full_id = next(t["id"] for t in doc["tokens"] if t["scope"] == "full")
        changes = [("POST", "/v1/tokens", {"label": "more"}), ("DELETE", "/v1/tokens/" + alice_full_id, None),
                   ("PUT", "/v1/apps/priv-app", {"private_logs": False}), ("PUT", "/v1/apps/new-app", {}),
                   ("PUT", "/v1/accounts/alice", {"default_private_logs": True}),
                   ("POST", "/v1/whoami", {})]
        for who in ("owner-read", "caller-read", "admin-read") + metrics_only:
            scope = "metrics" if who in metrics_only else "read"
            message = ("this token's scope is metrics: it may read /metrics only" if scope == "metrics"
                       else "this token's scope is read: it may not change anything")
            for method, path, body in changes:
                status, doc = c.call_json(method, path, body, token=w.tokens[who])
                check_eq((status, doc["error"]), (403, message), "%s: %s %s" % (who, method, path))
        check_eq(w.get("owner", "/v1/whoami")[0], 200, "alice's full token survived")
        check_eq(w.get("owner", "/v1/apps/priv-app")[1]["private_logs"], True, "priv-app unchanged")
        check_eq(w.get("admin", "/v1/apps/new-app")[0], 404, "new-app not deployed")
        check_eq(w.get("owner", "/v1/accounts/alice")[1]["default_private_logs"], False, "alice's default")
        check_eq(len(w.get("admin", "/v1/tokens")[1]["tokens"]), 9, "no token made (admin, alice x2, bob x2, "
                 "carol, admin-read, prometheus, admin-metrics)")
        # /metrics: admin's full and read tokens and metrics tokens; nobody else.
        for who, want in (("admin", 200), ("admin-read", 200), ("metrics", 200), ("admin-metrics", 200),
                          ("owner", 403), ("owner-read", 403), ("caller-read", 403), ("none", 401)):
            status, body, _ = c.get("/metrics", token=w.tokens[who])
            check_eq(status, want, "%s reads /metrics" % who)
            if want == 200:
                check(b"logtap_lines_stored_total" in body, "%s gets the metrics" % who)
        # Who makes which scope: metrics tokens are admin's to make; a user
        # makes read tokens for themselves; a scope must be known.
        status, doc = c.call_json("POST", "/v1/tokens", {"scope": "metrics"}, token=w.tokens["owner"])
        check_eq((status, doc["error"]), (403, "only admin may create metrics tokens (/metrics is admin's)"),
                 "alice makes a metrics token")
        for scope in ("admin", "", 1, "FULL"):
            status, doc = c.call_json("POST", "/v1/tokens", {"scope": scope}, token=w.tokens["owner"])
            check_eq((status, doc["error"]), (400, "bad scope: expected full, read or metrics"), "scope %r" % scope)
        status, doc = c.call_json("POST", "/v1/tokens", {"scope": None, "label": "default"}, token=w.tokens["owner"])
        check_eq((status, doc["scope"]), (201, "full"), "no scope: full")
        # A read token is revoked like any other, by its user's full token.
        status, doc = c.call_json("GET", "/v1/tokens", token=w.tokens["owner-read"])
        read_id = next(t["id"] for t in doc["tokens"] if t["scope"] == "read")
        check_eq(c.call_json("DELETE", "/v1/tokens/" + read_id, token=w.tokens["owner"])[0], 200, "revoke")
        check_eq(w.get("owner-read", "/v1/whoami")[0], 401, "a revoked read token")


def test_metrics_describe_the_collector():
    """/metrics, read with a metrics token: the build's version and the
    collector process's own RSS, CPU, descriptors and start time, as the
    kernel sees that process."""
    version = subprocess.run([COLLECTOR, "--version"], stdout=subprocess.PIPE, check=True).stdout.decode()
    version = version.split()[1]  # "logtap-collector 0.1.0 (wire format 1)"
    started_before = time.time()
    with Collector() as c:
        started_after = time.time()
        token = make_scoped(c, "prometheus", "metrics")
        status, body, headers = c.get("/metrics", token=token)
        check_eq(status, 200, "/metrics with a metrics token")
        values = {}
        for line in body.decode().splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                values[name] = float(value)
        check_eq(values.get('logtap_build_info{version="%s",wire_format="1"}' % version), 1.0, "build info")
        pid = c.proc.pid
        rss = status_kb(pid, "VmRSS") * 1024
        check(0.5 * rss <= values["process_resident_memory_bytes"] <= 2 * rss,
              "RSS %d, the kernel's VmRSS %d" % (values["process_resident_memory_bytes"], rss))
        fds = len(os.listdir("/proc/%d/fd" % pid))
        check(abs(values["process_open_fds"] - fds) <= 4, "open fds %d, /proc says %d"
              % (values["process_open_fds"], fds))
        check(started_before - 1 <= values["process_start_time_seconds"] <= started_after + 1,
              "start time %f within [%f, %f]" % (values["process_start_time_seconds"], started_before,
                                                 started_after))
        check(0 <= values["process_cpu_seconds_total"] <= time.time() - started_before + 1,
              "CPU seconds %f" % values["process_cpu_seconds_total"])
        check(values["process_max_fds"] >= fds, "max fds")


def test_admin_token_bootstrap_and_credentials():
    with Collector() as c:
        token_path = os.path.join(c.data, "admin.token")
        check_eq(oct(os.stat(token_path).st_mode & 0o777), "0o600", "admin.token mode")
        creds = os.path.join(os.environ["XDG_CONFIG_HOME"], "logtap", "credentials")
        check_eq(oct(os.stat(creds).st_mode & 0o777), "0o600", "credentials mode")
        with open(creds) as f:
            check("%s %s\n" % (c.url, c.token) in f.read(), "credentials line for this collector")
        first = c.token
        c.stop()
        c.start()  # a restart keeps the admin token (and records it again)
        check_eq(c.token, first, "admin token after a restart")
        check_eq(c.get_json("/v1/whoami")[1]["user"], "admin", "admin after a restart")
        with open(creds) as f:
            check("%s %s\n" % (c.url, c.token) in f.read(), "credentials line after a restart")


def test_lists_matrix():
    # GET /v1/runners and /v1/requests list what a principal may see of
    # each: admin everything; the owner its apps' runners and requests; a
    # caller the requests it called (in deployed apps), their line counts
    # only where it may read their logs; anyone else nothing.
    with Collector() as c:
        w = World(c)
        # bob calls a request of an app nobody deployed: admin's alone.
        check_eq(run_runner(c, "r-undeployed", "lost-app", "req-lost", "bob").wait(60), 0, "undeployed runner")
        wait_stored(c, "req-lost", 3)
        runners = {"admin": ["r-undeployed", "r-pub", "r-priv"], "owner": ["r-pub", "r-priv"], "caller": [],
                   "other": []}
        requests = {"admin": [("req-lost", 3), ("req-pub", 3), ("req-priv", 3)],
                    "owner": [("req-pub", 3), ("req-priv", 3)],
                    "caller": [("req-pub", 3), ("req-priv", None)], "other": []}
        for who in ("admin", "owner", "caller", "other"):
            status, doc = w.get(who, "/v1/runners")
            check_eq(status, 200, "%s lists runners" % who)
            check_eq([r["runner_id"] for r in doc["runners"]], runners[who], "%s's runner list" % who)
            status, doc = w.get(who, "/v1/requests")
            check_eq(status, 200, "%s lists requests" % who)
            check_eq([(r["request_id"], r["lines"]) for r in doc["requests"]], requests[who],
                     "%s's request list (ID, lines)" % who)
            # Filters narrow what one may see; they never widen it.
            status, doc = w.get(who, "/v1/requests", app="lost-app")
            check_eq([r["request_id"] for r in doc["requests"]], ["req-lost"] if who == "admin" else [],
                     "%s's requests of the undeployed app" % who)
        for path in ("/v1/runners", "/v1/requests"):
            check_eq(w.get("none", path)[0], 401, "no token lists %s" % path)
        # Scoped tokens: read lists what its user may; metrics lists nothing.
        w.tokens.update({"owner-read": make_scoped(c, "alice", "read", token=w.tokens["owner"]),
                         "caller-read": make_scoped(c, "bob", "read"),
                         "owner-metrics": make_scoped(c, "alice", "metrics")})
        for who, base in (("owner-read", "owner"), ("caller-read", "caller")):
            for path in ("/v1/runners", "/v1/requests"):
                check_eq(w.get(who, path), w.get(base, path), "%s lists %s as %s does" % (who, path, base))
        for path in ("/v1/runners", "/v1/requests"):
            check_eq(w.get("owner-metrics", path)[0], 403, "a metrics token lists %s" % path)
        # Redeployed to carol, pub-app's rows go with it.
        status, _ = deploy(c, c.token, "pub-app", owner="carol", private=False)
        check_eq(status, 200, "admin gives pub-app to carol")
        status, doc = w.get("other", "/v1/runners")
        check_eq([r["runner_id"] for r in doc["runners"]], ["r-pub"], "carol's runners after the redeploy")
        status, doc = w.get("owner", "/v1/requests")
        check_eq([r["request_id"] for r in doc["requests"]], ["req-priv"], "alice's requests after the redeploy")
        print("  4 principals x (runners, requests) as the matrix says, and no token 401")


if __name__ == "__main__":
    run_tests([test_runner_logs_owner_only, test_request_logs_and_status_matrix, test_follow_matrix,
               test_search_sees_only_owned_apps, test_account_default_snapshotted_at_deploy,
               test_who_may_change_what, test_shared_ids_do_not_leak_across_apps,
               test_follow_rechecks_access, test_scoped_tokens_matrix,
               test_metrics_describe_the_collector, test_admin_token_bootstrap_and_credentials, test_lists_matrix])
