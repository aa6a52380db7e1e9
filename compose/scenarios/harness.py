"""What the compose scenarios share: running compose and docker, calling the gateway
over HTTP, and waiting. Standard library only, so a fresh machine needs nothing more."""
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request

COMPOSE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Failed(Exception):
    """A check of a scenario did not hold."""


def check(condition, message):
    if not condition:
        raise Failed(message)


def say(message):
    print(f"-- {message}", flush=True)


def wait_for(what, timeout, probe, every=0.5):
    """Calls `probe` until it returns something other than None or False."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = probe()
            if value not in (None, False):
                return value
        except (OSError, urllib.error.URLError, Failed, KeyError, ValueError) as e:
            last_error = e
        time.sleep(every)
    raise Failed(f"timed out after {timeout} s waiting for {what} (last error: {last_error})")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def compose_command():
    """Compose v2 (`docker compose`) where it exists, else Debian's docker-compose 1.29."""
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    check(shutil.which("docker-compose"), "neither `docker compose` nor docker-compose is installed")
    return ["docker-compose"]


def sh(args, **kwargs):
    result = subprocess.run(args, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise Failed(f"{' '.join(args)} exited {result.returncode}:\n{result.stdout}{result.stderr}")
    return result.stdout


class Project:
    """One compose project: the files users run, under a name of its own."""

    def __init__(self, name, files, env):
        self.name = name
        self.base = compose_command() + ["-p", name] + sum((["-f", os.path.join(COMPOSE_DIR, f)] for f in files), [])
        self.env = {**os.environ, **env}

    def compose(self, *args):
        return sh(self.base + list(args), env=self.env)

    def fresh(self):
        """Removes what an interrupted earlier run may have left (containers, volumes)."""
        self.compose("down", "-v", "--remove-orphans")

    def containers(self, service):
        """Running containers of `service`, by name."""
        out = sh(["docker", "ps", "--filter", f"label=com.docker.compose.project={self.name}",
                   "--filter", f"label=com.docker.compose.service={service}", "--format", "{{.Names}}"])
        return sorted(out.split())

    def logs(self):
        return subprocess.run(self.base + ["logs", "--no-color", "--tail", "60"], capture_output=True,
                              text=True, env=self.env).stdout


def inspect(container, template):
    return sh(["docker", "inspect", "-f", template, container]).strip()


def healthy(container):
    return inspect(container, "{{.State.Health.Status}}") == "healthy"


def address(container):
    """The container's address on its compose network, reachable from this host."""
    return inspect(container, "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}")


class Api:
    """The gateway's HTTP API at `base`, signed in once `login` has run."""

    def __init__(self, base):
        self.base = base
        self.token = None

    def call(self, method, path, body=None, headers=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, method=method, data=data)
        request.add_header("content-type", "application/json")
        if self.token:
            request.add_header("authorization", f"Bearer {self.token}")
        for key, value in (headers or {}).items():
            request.add_header(key, value)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw or b"null")
            except ValueError:
                return e.code, raw.decode(errors="replace")

    def expect(self, status, method, path, body=None, headers=None):
        got, answer = self.call(method, path, body, headers)
        allowed = status if isinstance(status, tuple) else (status,)
        check(got in allowed, f"{method} {path}: expected {status}, got {got}: {answer}")
        return answer

    def ready(self):
        return self.call("GET", "/readyz")[0] == 200

    def login(self, password):
        self.token = None
        self.token = self.expect(200, "POST", "/v1/auth/login", {"user": "admin", "password": password})["token"]

    def wait_terminal(self, job_id, timeout):
        def terminal():
            job = self.expect(200, "GET", f"/v1/jobs/{job_id}")
            return job if job["status"] in ("succeeded", "failed", "cancelled") else None
        return wait_for(f"job {job_id} to end", timeout, terminal)

    def audit(self):
        entries, cursor = [], None
        while True:
            page = self.expect(200, "GET", "/v1/audit?limit=1000" + (f"&cursor={cursor}" if cursor else ""))
            entries += page["entries"]
            cursor = page.get("next_cursor")
            if not cursor:
                return entries
