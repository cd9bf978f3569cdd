"""Admin API checks against the real Keystone: pods registered as the
multi-pod guide does, with a real admin token; policy and token errors.
Prints one line per check; exits non-zero when any fails. Writes the pod ids
to $TRICIRCLE_E2E_STATE/tricircle/pods.json for the networking walk."""

import json
import os

from e2elib import Checks, admin_token, demo_token, env, request

API = env["TRICIRCLE_E2E_API_URL"]
checks = Checks()
admin, demo = admin_token(), demo_token()

pods = {}
for region, az in (("CentralRegion", None), ("RegionOne", "az1"), ("RegionTwo", "az2")):
    body = {"pod": {"region_name": region}}
    if az:
        body["pod"]["az_name"] = az
    status, answer, _ = request("POST", API + "/pods", admin, body)
    if checks.expect("POST /pods %s with an admin token" % region, status == 200,
                     "%s %s" % (status, str(answer)[:200])):
        pods[region] = answer["pod"]["pod_id"]

status, answer, _ = request("GET", API + "/pods", admin)
listed = sorted(p["region_name"] for p in answer["pods"]) if status == 200 else []
checks.expect("GET /pods lists the three regions",
              listed == ["CentralRegion", "RegionOne", "RegionTwo"], "%s %s" % (status, listed))

status, answer, _ = request("POST", API + "/pods", demo,
                            {"pod": {"region_name": "RegionX", "az_name": "az9"}})
checks.expect("a member token may not create pods", status in (401, 403),
              "%s %s" % (status, str(answer)[:200]))
status, answer, _ = request("POST", API + "/routings", demo, {"routing": {}})
checks.expect("a member token may not create routings (403)", status == 403,
              "%s %s" % (status, str(answer)[:200]))

status, _, headers = request("GET", API + "/pods", "not-a-token")
checks.expect("an invalid token is 401 with WWW-Authenticate",
              status == 401 and "Keystone uri=" in (headers.get("WWW-Authenticate") or ""),
              "%s %s" % (status, headers.get("WWW-Authenticate")))

status, _, _ = request("GET", API + "/pods", "forged", headers={
    "X-Roles": "admin", "X-Role": "admin", "X-Identity-Status": "Confirmed"})
checks.expect("forged identity headers with a bad token are still 401", status == 401, str(status))

with open(os.path.join(env["TRICIRCLE_E2E_STATE"], "tricircle", "pods.json"), "w") as f:
    json.dump(pods, f)
checks.exit("admin API checks")
