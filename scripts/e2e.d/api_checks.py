"""Admin API checks against the real Keystone: pods registered as the
multi-pod guide does, with a real admin token; policy and token errors.
Prints one line per check; exits non-zero when any fails."""

import json
import os
import sys
import urllib.error
import urllib.request

env = os.environ
KS = env["TRICIRCLE_E2E_KEYSTONE_URL"]
API = env["TRICIRCLE_E2E_API_URL"]
failures = []


def call(method, url, token=None, body=None):
    request = urllib.request.Request(
        url, method=method, data=None if body is None else json.dumps(body).encode())
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("X-Auth-Token", token)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers


def token(user, project, password):
    status, _, headers = call("POST", KS + "/auth/tokens", body={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"id": "default"}, "password": password}}},
        "scope": {"project": {"name": project, "domain": {"id": "default"}}}}})
    assert status == 201, status
    return headers["X-Subject-Token"]


def check(name, ok, detail=""):
    print("%s %s%s" % ("ok  " if ok else "FAIL", name, (": " + detail) if not ok else ""))
    if not ok:
        failures.append(name)


admin = token(env["TRICIRCLE_E2E_ADMIN_USER"], env["TRICIRCLE_E2E_ADMIN_PROJECT"],
              env["TRICIRCLE_E2E_ADMIN_PASSWORD"])
demo = token(env["TRICIRCLE_E2E_DEMO_USER"], env["TRICIRCLE_E2E_DEMO_PROJECT"],
             env["TRICIRCLE_E2E_DEMO_PASSWORD"])

pods = {}
for region, az in (("CentralRegion", None), ("RegionOne", "az1"), ("RegionTwo", "az2")):
    body = {"pod": {"region_name": region}}
    if az:
        body["pod"]["az_name"] = az
    status, raw, _ = call("POST", API + "/pods", admin, body)
    check("POST /pods %s with an admin token" % region, status == 200, "%s %s" % (status, raw[:200]))
    if status == 200:
        pods[region] = json.loads(raw)["pod"]["pod_id"]

status, raw, _ = call("GET", API + "/pods", admin)
listed = sorted(p["region_name"] for p in json.loads(raw)["pods"]) if status == 200 else []
check("GET /pods lists the three regions", listed == ["CentralRegion", "RegionOne", "RegionTwo"],
      "%s %s" % (status, listed))

status, raw, _ = call("POST", API + "/pods", demo, {"pod": {"region_name": "RegionX", "az_name": "az9"}})
check("a member token may not create pods", status in (401, 403), "%s %s" % (status, raw[:200]))
status, raw, _ = call("POST", API + "/routings", demo, {"routing": {}})
check("a member token may not create routings (403)", status == 403, "%s %s" % (status, raw[:200]))

status, raw, headers = call("GET", API + "/pods", "not-a-token")
check("an invalid token is 401 with WWW-Authenticate",
      status == 401 and "Keystone uri=" in (headers.get("WWW-Authenticate") or ""),
      "%s %s" % (status, headers.get("WWW-Authenticate")))

request = urllib.request.Request(API + "/pods")
request.add_header("X-Auth-Token", "forged")
request.add_header("X-Roles", "admin")
request.add_header("X-Role", "admin")
request.add_header("X-Identity-Status", "Confirmed")
try:
    urllib.request.urlopen(request, timeout=60)
    status = 200
except urllib.error.HTTPError as error:
    status = error.code
check("forged identity headers with a bad token are still 401", status == 401, str(status))

with open(os.path.join(env["TRICIRCLE_E2E_STATE"], "tricircle", "pods.json"), "w") as f:
    json.dump(pods, f)
if failures:
    print("%d admin API check(s) failed" % len(failures))
    sys.exit(1)
