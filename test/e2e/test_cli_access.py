"""End to end: tokens, apps, accounts and access through the `logtap` CLI.

A real collector creates its admin token on first start and records it in
$XDG_CONFIG_HOME/logtap/credentials (the harness points XDG_CONFIG_HOME at
a temporary directory); the real CLI finds it there by itself, or takes
LOGTAP_TOKEN or --token instead. The tests make users and tokens with
`logtap tokens create`, deploy apps with `logtap apps deploy`, and check the
exact output, messages and exit codes, including those of refused tokens.
"""

import json
import os
import re
import stat
import tempfile

from cli_support import (Follower, cli, cli_ok, expected_text, json_lines, logs_rows, run_py, stored,
                         text_messages)
from harness import Collector, check, check_eq, plain_env, run_tests

DENIED = 4


def credentials_path():
    return os.path.join(os.environ["XDG_CONFIG_HOME"], "logtap", "credentials")


def as_user(token, **extra):
    """An environment whose token is `token` (through LOGTAP_TOKEN)."""
    return plain_env(LOGTAP_TOKEN=token, **extra)


def no_token_env(config_dir):
    env = plain_env(XDG_CONFIG_HOME=config_dir)
    env.pop("LOGTAP_TOKEN", None)
    return env


def fields(pairs):
    """The text of KEY VALUE lines as the CLI aligns them."""
    width = max(len(k) for k, _ in pairs)
    return "".join("%-*s  %s\n" % (width, k, v) for k, v in pairs).encode()


def table(rows):
    """The text of a table as the CLI aligns it (last column unpadded)."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "".join("  ".join(["%-*s" % (w, cell) for w, cell in zip(widths, r[:-1])] + [r[-1]]) + "\n"
                   for r in rows).encode()


def new_token(c, user, *extra, env=None):
    out = cli_ok(c, "tokens", "create", "--user", user, *extra, env=env)
    check(re.fullmatch(rb"lt_[!-~]+\n", out) is not None, "tokens create prints the token alone: %r" % out)
    return out.decode().strip()


def refused_message(c, origin):
    return ("logtap: the collector at %s refused the token from %s (invalid token): it is unknown there "
            "or revoked; pass another with --token TOKEN or LOGTAP_TOKEN\n" % (c.url, origin))


def missing_message(c, config_dir):
    return ("logtap: the collector at %s needs an API token: pass --token TOKEN, set LOGTAP_TOKEN, or add "
            "the line '%s TOKEN' to %s/logtap/credentials (a collector writes its admin token there when "
            "it starts)\n" % (c.url, c.url, config_dir))


# --------------------------------------------------------------------------
# Finding the token
# --------------------------------------------------------------------------

def test_token_discovery_and_precedence():
    with Collector() as c:
        path = credentials_path()
        st = os.stat(path)
        check_eq(stat.S_IMODE(st.st_mode), 0o600, "mode of the credentials file the collector wrote")
        with open(path) as f:
            check("%s %s\n" % (c.url, c.token) in f.read(), "the collector's line in %s" % path)
        admin = fields([("user", "admin"), ("admin", "yes"), ("scope", "full")])

        # Found by itself, for the URL however it is spelt.
        check_eq(cli_ok(c, "whoami"), admin, "whoami with the token from the credentials file")
        check_eq(cli_ok(c.url + "/", "whoami"), admin, "--server URL/ (trailing slash)")
        check_eq(cli_ok(c.url.replace("http://", ""), "whoami"), admin, "--server HOST:PORT")
        check_eq(cli_ok(None, "whoami", server=False, env=plain_env(LOGTAP_SERVER=c.url)), admin, "LOGTAP_SERVER")

        alice = new_token(c, "alice")
        bob = new_token(c, "bob")
        as_alice = fields([("user", "alice"), ("admin", "no"), ("scope", "full")])
        as_bob = fields([("user", "bob"), ("admin", "no"), ("scope", "full")])
        # LOGTAP_TOKEN beats the file; --token (before or after the command) beats both.
        check_eq(cli_ok(c, "whoami", env=as_user(alice)), as_alice, "LOGTAP_TOKEN over the credentials file")
        check_eq(cli_ok(c, "--token", bob, "whoami", env=as_user(alice)), as_bob, "--token over LOGTAP_TOKEN")
        check_eq(cli_ok(c, "whoami", "--token", bob, env=as_user(alice)), as_bob, "--token after the command")
        check_eq(cli_ok(c, "whoami", "--token", bob), as_bob, "--token over the credentials file")
        check_eq(cli_ok(c, "whoami", env=as_user("")), admin, "an empty LOGTAP_TOKEN counts as unset")
        check_eq(json.loads(cli_ok(c, "whoami", "--output", "json", env=as_user(alice))),
                 {"user": "alice", "admin": False, "scope": "full"}, "whoami --output json")

        # A credentials file of one's own: the last line for the URL wins,
        # comments and other servers' lines are skipped, bad lines reported.
        config = tempfile.mkdtemp(prefix="logtap-test-cfg-")
        own = os.path.join(config, "logtap", "credentials")
        os.makedirs(os.path.dirname(own))
        with open(own, "w") as f:
            f.write("# tokens\n\n%s %s\nhttp://127.0.0.1:1 %s\n%s/ %s\nnot-a-pair\n" % (c.url, alice, bob, c.url, bob))
        os.chmod(own, 0o600)
        p = cli(c, "whoami", env=no_token_env(config))
        check_eq((p.returncode, p.stdout, p.stderr.decode()),
                 (0, as_bob, "logtap: %s:6: not a 'URL TOKEN' line; ignored\n" % own),
                 "the last line for the URL wins; a bad line is reported")

        # A file others may read or change is refused, saying how to fix it.
        for mode in (0o640, 0o604, 0o620):
            os.chmod(own, mode)
            p = cli(c, "whoami", env=no_token_env(config))
            check_eq((p.returncode, p.stdout, p.stderr.decode()),
                     (DENIED, b"", "logtap: not using the credentials file %s: its mode %04o lets others read or "
                                   "change it; make it yours and private ('chmod 600 %s'), or pass --token or set "
                                   "LOGTAP_TOKEN\n" % (own, mode, own)),
                     "credentials file with mode %04o" % mode)
        check_eq(cli_ok(c, "whoami", env=plain_env(XDG_CONFIG_HOME=config, LOGTAP_TOKEN=alice)), as_alice,
                 "LOGTAP_TOKEN does not need the credentials file")
        os.chmod(own, 0o600)
        if os.geteuid() == 0:
            os.chown(own, 4242, -1)
            p = cli(c, "whoami", env=no_token_env(config))
            check_eq((p.returncode, p.stderr.decode()),
                     (DENIED, "logtap: not using the credentials file %s: it belongs to uid 4242, not to you; make "
                              "it yours and private ('chmod 600 %s'), or pass --token or set LOGTAP_TOKEN\n"
                              % (own, own)), "credentials file of another user")
            os.chown(own, 0, -1)

        # $HOME/.config when XDG_CONFIG_HOME is unset.
        env = no_token_env(config)
        env.pop("XDG_CONFIG_HOME")
        home = tempfile.mkdtemp(prefix="logtap-test-home-")
        os.makedirs(os.path.join(home, ".config"))
        os.rename(os.path.join(config, "logtap"), os.path.join(home, ".config", "logtap"))
        env["HOME"] = home
        check_eq(cli(c, "whoami", env=env).stdout, as_bob, "credentials under $HOME/.config")

        # No token at all: the collector says 401, the CLI says how to give one.
        empty = tempfile.mkdtemp(prefix="logtap-test-empty-")
        for args in (["whoami"], ["runners", "logs", "r-1"], ["logs", "-f"], ["requests", "status", "q-1"],
                     ["tokens", "list"], ["apps", "list"]):
            p = cli(c, *args, env=no_token_env(empty))
            check_eq((p.returncode, p.stdout, p.stderr.decode()), (DENIED, b"", missing_message(c, empty)),
                     "logtap %s without a token" % " ".join(args))
        # A token the collector does not know.
        for args, env, origin in ((["--token", "lt_nonsense", "whoami"], None, "--token"),
                                  (["logs", "-f"], as_user("lt_nonsense"), "LOGTAP_TOKEN")):
            p = cli(c, *args, env=env)
            check_eq((p.returncode, p.stdout, p.stderr.decode()), (DENIED, b"", refused_message(c, origin)),
                     "logtap %s with an unknown token" % " ".join(args))
        p = cli(c, "whoami", env=as_user("lt with spaces"))
        check_eq((p.returncode, p.stdout, p.stderr.decode()),
                 (DENIED, b"", "logtap: LOGTAP_TOKEN is not a token: a token is 1 to 4096 bytes of printable "
                               "ASCII without spaces\n"), "a LOGTAP_TOKEN that cannot be a token")


# --------------------------------------------------------------------------
# logtap tokens
# --------------------------------------------------------------------------

def test_tokens_create_list_revoke():
    with Collector() as c:
        alice = new_token(c, "alice", "--label", "ci")
        made = json.loads(cli_ok(c, "tokens", "create", "--user", "bob", "--output", "json"))
        check_eq(sorted(made), ["created", "id", "label", "scope", "token", "user"],
                 "tokens create --output json fields")
        check_eq(made["user"], "bob", "tokens create --output json: user")
        check(made["token"].startswith("lt_"), "tokens create --output json: token %r" % made["token"])

        listed = json_lines(cli_ok(c, "tokens", "list", "--output", "json"))
        check_eq(sorted(t["user"] for t in listed), ["admin", "alice", "bob"], "users of every token (admin)")
        for t in listed:
            check_eq(sorted(t), ["created", "id", "label", "scope", "user"], "fields of a listed token (no value)")
        out = cli_ok(c, "tokens", "list")
        check(alice.encode() not in out and made["token"].encode() not in out, "token values in tokens list")
        rows = [["ID", "USER", "LABEL", "SCOPE", "CREATED"]] + [
            [t["id"], t["user"], t["label"] or "-", t["scope"], t["created"]] for t in listed]
        check_eq(out, table(rows), "tokens list: the table")
        alice_id = next(t["id"] for t in listed if t["user"] == "alice")
        check_eq(next(t["label"] for t in listed if t["user"] == "alice"), "ci", "alice's token's label")

        # Alice manages her own tokens: --user defaults to her.
        out = cli_ok(c, "tokens", "create", "--label", "laptop", env=as_user(alice))
        laptop = out.decode().strip()
        check_eq(cli_ok(c, "whoami", "--token", laptop), fields([("user", "alice"), ("admin", "no"), ("scope", "full")]),
                 "the token alice made for herself")
        mine = json_lines(cli_ok(c, "tokens", "list", "--output", "json", env=as_user(alice)))
        check_eq(sorted((t["user"], t["label"]) for t in mine), [("alice", "ci"), ("alice", "laptop")],
                 "alice's tokens list: only her own")
        p = cli(c, "tokens", "create", "--user", "bob", env=as_user(alice))
        check_eq((p.returncode, p.stdout), (DENIED, b""), "alice making a token for bob: exit code, stdout")
        check(re.fullmatch(r"logtap: not allowed: .+ \(HTTP 403; the token from LOGTAP_TOKEN may not do this\)\n",
                           p.stderr.decode()) is not None, "alice making a token for bob: %r" % p.stderr)

        # Revoking: by ID; the revoked token is then refused with the 401 message.
        laptop_id = next(t["id"] for t in mine if t["label"] == "laptop")
        check_eq(cli_ok(c, "tokens", "revoke", laptop_id, env=as_user(alice)), ("revoked %s\n" % laptop_id).encode(),
                 "alice revokes her laptop token")
        p = cli(c, "--token", laptop, "runners", "logs", "r-1")
        check_eq((p.returncode, p.stdout, p.stderr.decode()), (DENIED, b"", refused_message(c, "--token")),
                 "a revoked token")
        check_eq(json.loads(cli_ok(c, "tokens", "revoke", alice_id, "--output", "json")), {"revoked": alice_id},
                 "admin revokes alice's token (--output json)")
        p = cli(c, "whoami", env=as_user(alice))
        check_eq((p.returncode, p.stderr.decode()), (DENIED, refused_message(c, "LOGTAP_TOKEN")),
                 "alice's revoked token")
        for ident in (alice_id, "tok_nonexistent"):
            p = cli(c, "tokens", "revoke", ident)
            check_eq((p.returncode, p.stdout, p.stderr.decode()), (1, b"", "logtap: unknown token '%s'\n" % ident),
                     "revoking %s again or unknown" % ident)
        check_eq(sorted(t["user"] for t in json_lines(cli_ok(c, "tokens", "list", "--output", "json"))),
                 ["admin", "bob"], "tokens left")


# --------------------------------------------------------------------------
# logtap apps, logtap account
# --------------------------------------------------------------------------

def app_fields(app, owner, private, source, deployed):
    return fields([("app", app), ("owner", owner), ("private-logs", "%s (%s)" % (private, source)),
                   ("deployed", deployed)])


def deployed_at(c, app):
    return json.loads(cli_ok(c, "apps", "show", app, "--output", "json"))["deployed"]


def test_apps_and_account_default():
    with Collector() as c:
        alice = new_token(c, "alice")
        bob = new_token(c, "bob")
        check_eq(cli_ok(c, "account", "show", "--user", "alice"),
                 fields([("user", "alice"), ("default-private-logs", "off")]), "a new account's default")
        check_eq(cli_ok(c, "account", "set", "--user", "alice", "--default-private-logs", "on"),
                 fields([("user", "alice"), ("default-private-logs", "on")]), "account set on")
        check_eq(json.loads(cli_ok(c, "account", "show", "--output", "json", env=as_user(alice))),
                 {"user": "alice", "default_private_logs": True}, "account show: alice's own by default")

        # The default is snapshotted at deploy; an explicit flag always wins.
        out = cli_ok(c, "apps", "deploy", "demo", "--owner", "alice")
        check_eq(out, app_fields("demo", "alice", "on", "account-default", deployed_at(c, "demo")),
                 "deploy without a flag: the account default (on)")
        out = cli_ok(c, "apps", "deploy", "open", "--owner", "alice", "--public-logs")
        check_eq(out, app_fields("open", "alice", "off", "explicit", deployed_at(c, "open")), "deploy --public-logs")
        cli_ok(c, "account", "set", "--default-private-logs", "off", env=as_user(alice))
        check_eq(cli_ok(c, "apps", "show", "demo"),
                 app_fields("demo", "alice", "on", "account-default", deployed_at(c, "demo")),
                 "an existing app keeps its setting when the default changes")
        check_eq(cli_ok(c, "apps", "deploy", "demo", "--owner", "alice"),
                 app_fields("demo", "alice", "off", "account-default", deployed_at(c, "demo")),
                 "a redeploy takes the new default (off)")
        check_eq(cli_ok(c, "apps", "deploy", "demo", "--private-logs", env=as_user(alice)),
                 app_fields("demo", "alice", "on", "explicit", deployed_at(c, "demo")),
                 "alice redeploys her app with --private-logs (--owner defaults to her)")
        cli_ok(c, "apps", "deploy", "bobs", "--owner", "bob")

        apps = json_lines(cli_ok(c, "apps", "list", "--output", "json"))
        check_eq([(a["app_id"], a["owner"], a["private_logs"], a["private_logs_from"]) for a in
                  sorted(apps, key=lambda a: a["app_id"])],
                 [("bobs", "bob", False, "account-default"), ("demo", "alice", True, "explicit"),
                  ("open", "alice", False, "explicit")], "apps list --output json (admin: every app)")
        rows = [["APP", "OWNER", "PRIVATE-LOGS", "FROM", "DEPLOYED"]] + [
            [a["app_id"], a["owner"], "on" if a["private_logs"] else "off", a["private_logs_from"], a["deployed"]]
            for a in apps]
        check_eq(cli_ok(c, "apps", "list"), table(rows), "apps list: the table")
        check_eq(sorted(a["app_id"] for a in json_lines(cli_ok(c, "apps", "list", "--output", "json",
                                                               env=as_user(alice)))),
                 ["demo", "open"], "alice's apps list: only hers")

        # What others may not do or see.
        p = cli(c, "apps", "deploy", "demo", "--owner", "bob", env=as_user(bob))
        check_eq((p.returncode, p.stdout), (DENIED, b""), "bob deploying alice's app")
        check(re.fullmatch(r"logtap: not allowed: .+ \(HTTP 403; the token from LOGTAP_TOKEN may not do this\)\n",
                           p.stderr.decode()) is not None, "bob deploying alice's app: %r" % p.stderr)
        p = cli(c, "apps", "deploy", "newapp", "--owner", "alice", env=as_user(bob))
        check_eq((p.returncode, p.stdout), (DENIED, b""), "bob deploying an app for alice")
        p = cli(c, "account", "set", "--user", "alice", "--default-private-logs", "on", env=as_user(bob))
        check_eq((p.returncode, p.stdout), (DENIED, b""), "bob setting alice's account")
        for args, env, message in ((["apps", "show", "demo"], as_user(bob), "unknown app 'demo'"),
                                   (["apps", "show", "no-such-app"], None, "unknown app 'no-such-app'")):
            p = cli(c, *args, env=env)
            check_eq((p.returncode, p.stdout, p.stderr.decode()), (1, b"", "logtap: %s\n" % message),
                     "logtap %s" % " ".join(args))


# --------------------------------------------------------------------------
# Who sees which logs, through the CLI
# --------------------------------------------------------------------------

ACCESS_SCRIPT = r"""
import logtap
print("acc setup", flush=True)
with logtap.request("q-acc", caller="bob"):
    print("acc for bob", flush=True)
print("acc after", flush=True)
"""


def test_access_through_the_cli():
    with Collector() as c:
        alice, bob, carol = (new_token(c, u) for u in ("alice", "bob", "carol"))
        cli_ok(c, "apps", "deploy", "app-acc", "--owner", "alice", "--public-logs")
        run_py(c, "r-acc", ACCESS_SCRIPT, app="app-acc")
        every = stored(c, "runners", "r-acc", 3)

        # The owner reads everything, in every scope.
        check_eq(cli_ok(c, "runners", "logs", "r-acc", env=as_user(alice)), expected_text(every), "owner: runner logs")
        check_eq(cli_ok(c, "logs", "--app", "app-acc", env=as_user(alice)), expected_text(every, runner_column=True),
                 "owner: logs --app")
        check_eq(cli_ok(c, "logs", env=as_user(alice)), expected_text(every, runner_column=True),
                 "owner: logs (everything she may read)")
        # The caller reads the request's logs of a public app, nothing else.
        check_eq(cli_ok(c, "requests", "logs", "q-acc", env=as_user(bob)), expected_text(every[1:2]),
                 "caller: request logs of a public app")
        status = json.loads(cli_ok(c, "requests", "status", "q-acc", "--logs", env=as_user(bob)))
        check_eq([l["message"] for l in status["logs"]], ["acc for bob"], "caller: status --logs of a public app")
        p = cli(c, "runners", "logs", "r-acc", env=as_user(bob))
        check_eq((p.returncode, p.stdout, p.stderr), (1, b"", b"logtap: unknown runner 'r-acc'\n"),
                 "caller: runner logs")
        check_eq(cli(c, "logs", env=as_user(bob)).stdout, b"", "caller: logs (owns no app)")
        # Anyone else: nothing.
        p = cli(c, "requests", "logs", "q-acc", env=as_user(carol))
        check_eq((p.returncode, p.stdout, p.stderr), (1, b"", b"logtap: unknown request 'q-acc'\n"),
                 "other user: request logs")
        p = cli(c, "logs", "--app", "app-acc", env=as_user(carol))
        check_eq((p.returncode, p.stdout, p.stderr), (0, b"", b""), "other user: logs --app")

        # Private logs: the caller gets an empty list, the owner everything.
        cli_ok(c, "apps", "deploy", "app-acc", "--owner", "alice", "--private-logs")
        p = cli(c, "requests", "logs", "q-acc", env=as_user(bob))
        check_eq((p.returncode, p.stdout, p.stderr), (0, b"", b""), "caller: request logs of a private app")
        status = json.loads(cli_ok(c, "requests", "status", "q-acc", "--logs", env=as_user(bob)))
        check_eq(status["logs"], [], "caller: status --logs of a private app")
        check_eq(text_messages(cli_ok(c, "requests", "logs", "q-acc", env=as_user(alice))), ["acc for bob"],
                 "owner: request logs of her private app")
        check_eq([r[4] for r in logs_rows(cli_ok(c, "logs", "--request", "q-acc", env=as_user(alice)))],
                 ["acc for bob"], "owner: logs --request")

        # Scoped tokens. A read token reads what its user reads, changes nothing.
        alice_read = new_token(c, "alice", "--scope", "read", env=as_user(alice))
        bob_read = new_token(c, "bob", "--scope", "read")
        check_eq(cli_ok(c, "whoami", env=as_user(alice_read)),
                 fields([("user", "alice"), ("admin", "no"), ("scope", "read")]), "whoami with a read token")
        for args in (["runners", "logs", "r-acc"], ["logs", "--app", "app-acc"], ["requests", "logs", "q-acc"],
                     ["apps", "list"], ["account", "show"]):
            check_eq(cli(c, *args, env=as_user(alice_read)).stdout, cli_ok(c, *args, env=as_user(alice)),
                     "alice's read token: logtap %s" % " ".join(args))
        p = cli(c, "runners", "logs", "r-acc", env=as_user(bob_read))
        check_eq((p.returncode, p.stderr), (1, b"logtap: unknown runner 'r-acc'\n"), "bob's read token: runner logs")
        read_refusal = ("logtap: not allowed: this token's scope is read: it may not change anything (HTTP 403; "
                        "the token from LOGTAP_TOKEN may not do this)\n")
        for args in (["apps", "deploy", "app-acc", "--public-logs"], ["tokens", "create", "--label", "more"],
                     ["account", "set", "--default-private-logs", "on"]):
            p = cli(c, *args, env=as_user(alice_read))
            check_eq((p.returncode, p.stdout, p.stderr.decode()), (DENIED, b"", read_refusal),
                     "alice's read token: logtap %s" % " ".join(args))
        check_eq(json.loads(cli_ok(c, "apps", "show", "app-acc", "--output", "json"))["private_logs"], True,
                 "app-acc still private")
        # A metrics token is admin's to make, and reads /metrics only.
        p = cli(c, "tokens", "create", "--scope", "metrics", env=as_user(alice))
        check_eq((p.returncode, p.stdout, p.stderr.decode()),
                 (DENIED, b"", "logtap: not allowed: only admin may create metrics tokens (/metrics is admin's) "
                               "(HTTP 403; the token from LOGTAP_TOKEN may not do this)\n"), "alice: --scope metrics")
        prometheus = new_token(c, "prometheus", "--scope", "metrics", "--label", "scraper")
        listed = json_lines(cli_ok(c, "tokens", "list", "--output", "json"))
        check_eq(sorted((t["user"], t["scope"]) for t in listed if t["user"] in ("alice", "prometheus")),
                 [("alice", "full"), ("alice", "read"), ("prometheus", "metrics")], "scopes listed")
        for args in (["whoami"], ["logs"], ["apps", "list"], ["tokens", "create", "--label", "x"]):
            p = cli(c, *args, env=as_user(prometheus))
            check_eq((p.returncode, p.stdout, p.stderr.decode()),
                     (DENIED, b"", "logtap: not allowed: this token's scope is metrics: it may read /metrics only "
                                   "(HTTP 403; the token from LOGTAP_TOKEN may not do this)\n"),
                     "metrics token: logtap %s" % " ".join(args))
        check_eq(c.get("/metrics", token=prometheus)[0], 200, "the metrics token reads /metrics")
        p = cli(c, "tokens", "create", "--scope", "admin")
        check_eq((p.returncode, p.stdout, p.stderr.decode()),
                 (2, b"", "logtap: invalid --scope 'admin': use full, read or metrics\n"
                          "Try 'logtap tokens create --help'.\n"), "an unknown scope")


def test_follow_ends_when_the_token_is_revoked():
    with Collector() as c:
        alice = new_token(c, "alice", "--label", "follow")
        cli_ok(c, "apps", "deploy", "app-rev", "--owner", "alice")
        run_py(c, "r-rev", "print('rev line', flush=True)", app="app-rev")
        lines = stored(c, "runners", "r-rev", 1)
        token_id = next(t["id"] for t in json_lines(cli_ok(c, "tokens", "list", "--output", "json"))
                        if t["user"] == "alice")
        f = Follower(["--server", c.url, "runners", "logs", "r-rev", "-f"], env=as_user(alice))
        try:
            check_eq(b"".join(f.read_lines(1, 15, "the runner's line")), expected_text(lines), "follower output")
            cli_ok(c, "tokens", "revoke", token_id)
            rc, rest = f.wait_exit(30, "the follower to end after its token was revoked")
            check_eq((rc, rest, f.stderr().decode()),
                     (DENIED, b"", "logtap: the collector at %s ended the stream: the token is no longer valid\n"
                                   % c.url),
                     "follower of a revoked token: exit code, output, stderr")
        finally:
            f.kill()


if __name__ == "__main__":
    run_tests([
        test_token_discovery_and_precedence,
        test_tokens_create_list_revoke,
        test_apps_and_account_default,
        test_access_through_the_cli,
        test_follow_ends_when_the_token_is_revoked,
    ])
