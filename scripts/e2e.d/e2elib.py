"""What the e2e checks share: JSON over HTTP with a token, Keystone tokens,
one printed line per check. Standard library only (Debian's python3)."""

import json
import os
import sys
import time
import urllib.error
import urllib.request

env = os.environ


class Failed(Exception):
    pass


def request(method, url, token=None, body=None, headers=None, timeout=120):
    """(status, parsed body or None, headers) of one call; never raises on
    an HTTP error status."""
    req = urllib.request.Request(
        url, method=method, data=None if body is None else json.dumps(body).encode())
    req.add_header("Content-Type", "application/json")
    req.add_header("Accept", "application/json")
    if token:
        req.add_header("X-Auth-Token", token)
    for name, value in (headers or {}).items():
        req.add_header(name, value)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            status, raw, hdrs = response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:
        status, raw, hdrs = error.code, error.read(), error.headers
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw.decode(errors="replace")
    return status, parsed, hdrs


def call(method, url, token=None, body=None, expect=(200, 201, 204)):
    """The parsed body; Failed when the status is not one of `expect`."""
    status, parsed, _ = request(method, url, token, body)
    if status not in expect:
        raise Failed("%s %s -> %s %s" % (method, url, status, str(parsed)[:400]))
    return parsed


def token_and_project(user, project, password):
    """A project-scoped token and the project's id."""
    status, body, headers = request("POST", env["TRICIRCLE_E2E_KEYSTONE_URL"] + "/auth/tokens", body={
        "auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"id": "default"}, "password": password}}},
            "scope": {"project": {"name": project, "domain": {"id": "default"}}}}})
    if status != 201:
        raise Failed("token for %s: %s %s" % (user, status, str(body)[:200]))
    return headers["X-Subject-Token"], body["token"]["project"]["id"]


def token(user, project, password):
    return token_and_project(user, project, password)[0]


def admin_token():
    return token(env["TRICIRCLE_E2E_ADMIN_USER"], env["TRICIRCLE_E2E_ADMIN_PROJECT"],
                 env["TRICIRCLE_E2E_ADMIN_PASSWORD"])


def demo_token():
    return token(env["TRICIRCLE_E2E_DEMO_USER"], env["TRICIRCLE_E2E_DEMO_PROJECT"],
                 env["TRICIRCLE_E2E_DEMO_PASSWORD"])


def expect_equal(what, got, want):
    if got != want:
        raise Failed("%s: got %r, want %r" % (what, got, want))


class Checks:
    """Runs named checks, printing `ok`/`FAIL` lines with their duration."""

    def __init__(self):
        self.failures = []

    def run(self, name, fn):
        start = time.monotonic()
        try:
            fn()
        except Exception as error:  # report and let the caller decide
            self.failures.append("%s: %s" % (name, error))
            print("FAIL %s (%.2fs): %s" % (name, time.monotonic() - start, error), flush=True)
            return False
        print("ok   %s (%.2fs)" % (name, time.monotonic() - start), flush=True)
        return True

    def expect(self, name, ok, detail=""):
        print("%s %s%s" % ("ok  " if ok else "FAIL", name, (": " + detail) if not ok else ""),
              flush=True)
        if not ok:
            self.failures.append(name)
        return ok

    def exit(self, what):
        print("%s: %d failure(s)" % (what, len(self.failures)), flush=True)
        sys.exit(1 if self.failures else 0)
