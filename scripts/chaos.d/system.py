"""One run's system for scripts/chaos: a fresh MariaDB database (with the
triggers recording job-row changes), the fake cloud process, tricircle-api
and two tricircle-xjob processes; the calls the suite makes to each; and
the server restarts (MariaDB, RabbitMQ) through scripts/chaos.d/servers.sh.

Every process is started by this module and stopped by it (SIGTERM, then
SIGKILL); nothing else is touched.
"""

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REGIONS = ("CentralRegion", "RegionOne", "RegionTwo")
PODS = (("RegionOne", "az1"), ("RegionTwo", "az2"))

# Job-row history at microsecond precision (the job tables store whole
# seconds on MySQL, and a lock row changes in place). SYSDATE(6) is the
# moment the trigger runs: for a lock insert that waited on the unique key,
# after it got it; for a finish, before its commit lets the next insert in.
# CONNECTION_ID() tells which transaction a log row came with (the engine
# deletes a successful run's lock row and writes its log row together).
TRIGGERS = """
CREATE TABLE chaos_job_events (
    seq BIGINT AUTO_INCREMENT PRIMARY KEY, conn BIGINT NOT NULL,
    ev VARCHAR(8) NOT NULL, id VARCHAR(36), type VARCHAR(36),
    resource_id VARCHAR(127), old_status VARCHAR(36), new_status VARCHAR(36),
    ts DATETIME(6) NOT NULL) ENGINE=InnoDB;
CREATE TRIGGER chaos_job_insert AFTER INSERT ON async_jobs FOR EACH ROW
    INSERT INTO chaos_job_events (conn, ev, id, type, resource_id, old_status, new_status, ts)
    VALUES (CONNECTION_ID(), 'insert', NEW.id, NEW.type, NEW.resource_id, NULL, NEW.status,
            SYSDATE(6));
CREATE TRIGGER chaos_job_update AFTER UPDATE ON async_jobs FOR EACH ROW
    INSERT INTO chaos_job_events (conn, ev, id, type, resource_id, old_status, new_status, ts)
    VALUES (CONNECTION_ID(), 'update', NEW.id, NEW.type, NEW.resource_id, OLD.status,
            NEW.status, SYSDATE(6));
CREATE TRIGGER chaos_job_delete AFTER DELETE ON async_jobs FOR EACH ROW
    INSERT INTO chaos_job_events (conn, ev, id, type, resource_id, old_status, new_status, ts)
    VALUES (CONNECTION_ID(), 'delete', OLD.id, OLD.type, OLD.resource_id, OLD.status, NULL,
            SYSDATE(6));
CREATE TRIGGER chaos_job_log AFTER INSERT ON async_job_logs FOR EACH ROW
    INSERT INTO chaos_job_events (conn, ev, id, type, resource_id, old_status, new_status, ts)
    VALUES (CONNECTION_ID(), 'log', NEW.id, NEW.type, NEW.resource_id, NULL, NULL,
            SYSDATE(6));
"""


class Failed(Exception):
    """An invariant does not hold, or the system cannot be brought up."""


def log(msg):
    print("chaos: " + msg, flush=True)


class Settings:
    """What scripts/chaos hands over in the environment."""

    def __init__(self):
        e = os.environ
        self.bin = e["CHAOS_BIN"]
        self.work = e["CHAOS_WORK"]
        self.port_base = int(e["CHAOS_PORT_BASE"])
        self.mariadb_port = int(e["TRICIRCLE_MARIADB_PORT"])
        self.mysql_url = e["TRICIRCLE_TEST_MYSQL_URL"]
        self.rabbit_url = e["TRICIRCLE_TEST_RABBIT_URL"]
        self.seed = int(e["SEED"])
        self.rounds = int(e.get("ROUNDS", "6"))
        self.units = int(e.get("UNITS", "4"))
        self.jobs = int(e.get("JOBS", "60"))
        self.faults = [f for f in e.get("FAULTS", "").replace(",", " ").split() if f]
        self.job_run_expire = int(e.get("JOB_RUN_EXPIRE", "45"))
        self.converge_timeout = float(e.get("CONVERGE_TIMEOUT", "240"))
        # mysql://root:<pw>@127.0.0.1:<port>/
        self.mysql_password = self.mysql_url.split("://root:", 1)[1].rsplit("@", 1)[0]


def http(method, url, body=None, headers=None, timeout=30):
    """(status, JSON body or None); status 0 when nothing answered."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            return r.status, (json.loads(raw) if raw else None), dict(r.headers)
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode(errors="replace")
        return e.code, parsed, dict(e.headers)
    except (urllib.error.URLError, OSError, ValueError):
        return 0, None, {}


def retry(what, call, deadline=90.0, ok=lambda s: 200 <= s < 300):
    """Call until the answer's status passes `ok` (servers come and go
    under faults); Failed naming `what` after `deadline` seconds."""
    end = time.monotonic() + deadline
    pause = 0.1
    while True:
        status, body, headers = call()
        if ok(status):
            return status, body, headers
        if time.monotonic() > end:
            raise Failed("%s: no success within %.0f s (last answer %s: %s)" % (
                what, deadline, status, str(body)[:300]))
        time.sleep(pause)
        pause = min(pause * 2, 1.0)


class Sql:
    """The mariadb client on the run's database (the servers' CLI: the
    suite is stdlib-only)."""

    def __init__(self, settings, db):
        self.s = settings
        self.db = db

    def run(self, sql, db=True, deadline=90.0):
        """Rows as lists of strings ("NULL" for NULL); retried while the
        server is away (a restart fault)."""
        cmd = ["mariadb", "--no-defaults", "-h127.0.0.1", "-P%d" % self.s.mariadb_port,
               "-uroot", "-N", "-B", "--connect-timeout=2"]
        if db:
            cmd.append(self.db)
        env = dict(os.environ, MYSQL_PWD=self.s.mysql_password)
        end = time.monotonic() + deadline
        while True:
            p = subprocess.run(cmd, input=sql, env=env, capture_output=True, text=True)
            if p.returncode == 0:
                return [line.split("\t") for line in p.stdout.splitlines()]
            if time.monotonic() > end:
                raise Failed("SQL failed: %s: %s" % (sql.strip()[:200], p.stderr.strip()))
            time.sleep(0.5)


class Proc:
    """A process of ours with its log file; restartable."""

    def __init__(self, name, argv, logpath, env=None):
        self.name, self.argv, self.logpath, self.env = name, argv, logpath, env
        self.p = None
        self.starts = 0

    def start(self):
        with open(self.logpath, "a") as f:
            f.write("---- chaos: start %d of %s\n" % (self.starts + 1, self.name))
        out = open(self.logpath, "a")
        self.offset = os.path.getsize(self.logpath)
        self.p = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out,
                                  stderr=subprocess.STDOUT, env=self.env,
                                  start_new_session=True)
        out.close()
        self.starts += 1

    def alive(self):
        return self.p is not None and self.p.poll() is None

    def log_since_start(self):
        with open(self.logpath, errors="replace") as f:
            f.seek(self.offset)
            return f.read()

    def kill(self):
        """SIGKILL, as a crash."""
        if self.alive():
            self.p.send_signal(signal.SIGKILL)
            self.p.wait()

    def stop(self, grace=10.0):
        if not self.alive():
            return
        self.p.send_signal(signal.SIGTERM)
        try:
            self.p.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.kill()

    def wait_for(self, ready, what, deadline=60.0):
        end = time.monotonic() + deadline
        while not ready():
            if not self.alive():
                raise Failed("%s exited during start-up; its log: %s\n%s" % (
                    self.name, self.logpath, self.log_since_start()[-2000:]))
            if time.monotonic() > end:
                raise Failed("%s not %s within %.0f s; its log: %s" % (
                    self.name, what, deadline, self.logpath))
            time.sleep(0.1)


def servers(what, action):
    """Stop or start MariaDB or RabbitMQ (scripts/lib, our state dir and
    ports, exported by scripts/chaos)."""
    p = subprocess.run(["bash", os.path.join(HERE, "servers.sh"), what, action],
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise Failed("%s %s failed: %s" % (what, action, p.stderr.strip()[-1000:]))


class System:
    """One run: fresh database, fake cloud, API, two xjobs."""

    def __init__(self, settings, name):
        self.s = settings
        self.name = name
        self.dir = os.path.join(settings.work, name)
        os.makedirs(self.dir, exist_ok=True)
        self.db_name = "chaos_%s_%d" % (name, os.getpid())
        self.sql = Sql(settings, self.db_name)
        base = settings.port_base
        self.cloud_port_base = base
        self.control_port = base + 9
        self.api_port = base + 10
        self.api = "http://127.0.0.1:%d" % self.api_port
        self.procs = []
        self.xjobs = []

    # -- start and stop ----------------------------------------------------

    def start(self):
        s = self.s
        self.sql.run("DROP DATABASE IF EXISTS %s; CREATE DATABASE %s CHARACTER SET utf8"
                     % (self.db_name, self.db_name), db=False)
        db_url = "mysql+pymysql://root:%s@127.0.0.1:%d/%s?charset=utf8" % (
            s.mysql_password, s.mariadb_port, self.db_name)

        cloud_dir = os.path.join(self.dir, "cloud")
        self.cloud = Proc("tricircle-fakecloud", [
            os.path.join(s.bin, "tricircle-fakecloud"), "--state-dir", cloud_dir,
            "--port-base", str(self.cloud_port_base), "--control-port", str(self.control_port),
            "--transport-url", s.rabbit_url], os.path.join(self.dir, "fakecloud.log"))
        env_file = os.path.join(cloud_dir, "cloud.env")
        if os.path.exists(env_file):
            os.remove(env_file)
        self.cloud.start()
        self.procs.append(self.cloud)
        self.cloud.wait_for(lambda: os.path.exists(env_file), "ready")
        self.env = {}
        with open(env_file) as f:
            for line in f:
                if "=" in line and not line.startswith("#"):
                    k, _, v = line.strip().partition("=")
                    self.env[k] = v
        with open(os.path.join(cloud_dir, "client.conf")) as f:
            client = f.read()
        self.project = self.env["DEMO_PROJECT_ID"]
        self.neutron_url = {"CentralRegion": self.env["CENTRAL"],
                            "RegionOne": self.env["REGION_ONE"],
                            "RegionTwo": self.env["REGION_TWO"]}

        api_conf = os.path.join(self.dir, "api.conf")
        self._write(api_conf, """[DEFAULT]
bind_host = 127.0.0.1
bind_port = {port}
auth_strategy = noauth
api_workers = 2
tricircle_db_connection = {db}
transport_url = {rabbit}
{client}neutron_timeout = 5

[xjob]
stock_neutron = true
""".format(port=self.api_port, db=db_url, rabbit=s.rabbit_url, client=client))
        sync = subprocess.run([os.path.join(s.bin, "tricircle-db-manage"), "--config-file",
                               api_conf, "db_sync"], capture_output=True, text=True)
        if sync.returncode != 0:
            raise Failed("db_sync failed: " + sync.stderr[-2000:])
        self.sql.run(TRIGGERS)

        self.apip = Proc("tricircle-api", [os.path.join(s.bin, "tricircle-api"),
                                           "--config-file", api_conf],
                         os.path.join(self.dir, "api.log"))
        self.apip.start()
        self.procs.append(self.apip)
        self.apip.wait_for(lambda: http("GET", self.api + "/", timeout=2)[0] == 200, "answering")
        for region, az in (("CentralRegion", None),) + PODS:
            body = {"pod": {"region_name": region}}
            if az:
                body["pod"]["az_name"] = az
            self.admin_api("POST", "/v1.0/pods", body)
        self.pods = {p["pod_id"]: p["region_name"]
                     for p in self.admin_api("GET", "/v1.0/pods")["pods"]}

        notifications = "".join("""
[notifications_{r}]
transport_url = {rabbit}
topics = notifications_{r}
pool = xjob-{r}
""".format(r=r, rabbit=s.rabbit_url) for r in REGIONS)
        for i in (1, 2):
            conf = os.path.join(self.dir, "xjob-%d.conf" % i)
            self._write(conf, """[DEFAULT]
host = chaos-xjob-{i}
tricircle_db_connection = {db}
transport_url = {rabbit}
periodic_interval = 5
periodic_fuzzy_delay = 0
job_run_expire = {expire}
{client}neutron_timeout = 2

[xjob]
stock_neutron = true
reconcile_interval = 5
notification_regions = {regions}
{notifications}""".format(i=i, db=db_url, rabbit=s.rabbit_url, expire=s.job_run_expire,
                          client=client, regions=", ".join(REGIONS),
                          notifications=notifications))
            x = Proc("tricircle-xjob-%d" % i, [os.path.join(s.bin, "tricircle-xjob"),
                                               "--config-file", conf],
                     os.path.join(self.dir, "xjob-%d.log" % i))
            self.xjobs.append(x)
            self.procs.append(x)
            self.start_xjob(x)
        self.token = self.tenant_token()

    def start_xjob(self, x, deadline=60.0):
        """Start (or restart) an xjob and wait until it consumes: its casts
        and the three regions' notifications."""
        x.start()
        x.wait_for(lambda: x.log_since_start().count("consumer ready") >= 4,
                   "consuming", deadline)

    def stop(self):
        for p in reversed(self.procs):
            p.stop()
        self.procs = []

    @staticmethod
    def _write(path, text):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)

    # -- calls -------------------------------------------------------------

    def tenant_token(self):
        e = self.env
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": e["DEMO_USER"], "domain": {"name": "Default"},
            "password": e["DEMO_PASSWORD"]}}},
            "scope": {"project": {"name": e["DEMO_PROJECT"], "domain": {"name": "Default"}}}}}
        _, _, headers = retry("a tenant token", lambda: http(
            "POST", e["KEYSTONE"] + "/v3/auth/tokens", body))
        return {k.lower(): v for k, v in headers.items()}["x-subject-token"]

    def admin_api(self, method, path, body=None, deadline=90.0):
        """The admin API as the tenant's admin (noauth), retried while the
        database or the API is away."""
        headers = {"X-Role": "admin", "X-Tenant-Id": self.project, "X-User-Id": "chaos"}
        return retry("%s %s" % (method, path), lambda: http(
            method, self.api + path, body, headers, timeout=30), deadline)[1]

    def post_job(self, body):
        """One attempt: (status, body)."""
        headers = {"X-Role": "admin", "X-Tenant-Id": self.project, "X-User-Id": "chaos"}
        status, answer, _ = http("POST", self.api + "/v1.0/jobs", body, headers, timeout=30)
        return status, answer

    def neutron(self, region, method, path, body=None, deadline=120.0):
        """A tenant call, retried while the region fails or is away. The
        client waits longer than any hang, so a call that took effect is
        never sent twice (a retry follows only an answer saying it did
        not, or a refused connection)."""
        url = self.neutron_url[region] + "/" + path
        headers = {"X-Auth-Token": self.token}

        def ok(status):
            if 400 <= status < 500:
                raise Failed("%s %s in %s answered %s" % (method, path, region, status))
            return 200 <= status < 300
        return retry("%s %s in %s" % (method, path, region), lambda: http(
            method, url, body, headers, timeout=60), deadline, ok)[1]

    def listing(self, region, collection):
        return self.neutron(region, "GET", collection)[collection]

    def control(self, method, path, body=None):
        status, answer, _ = http(method, self.env["CONTROL"] + path, body, timeout=30)
        if not 200 <= status < 300:
            raise Failed("fake cloud control %s %s answered %s: %s" % (
                method, path, status, answer))
        return answer
