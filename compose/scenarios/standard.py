"""Standard scenario (compose/standard.yml), as a user runs it: up, wait for health,
log in, run the example job through the published port, find its output in the
files volume, then down and up again: configuration and job history survived."""
import os
import socket

from harness import Api, Project, check, free_port, healthy, say, wait_for

PEOPLE = "name,age\nann,34\nbob,12\ncid,18\ndee,17\n"
ADULTS = {"ann,34", "cid,18"}
DATAFLOW = {"kind": "job", "stages": [
    {"id": "people", "type": "read", "connection": "files", "path": "people.csv", "format": "csv"},
    {"id": "adults", "type": "sql", "inputs": ["people"],
     "query": "SELECT name, age FROM people WHERE age >= 18"},
    {"id": "out", "type": "write", "input": "adults", "connection": "files",
     "path": "out/adults.csv", "format": "csv"}]}


def bus_requires_login(port):
    """The published NATS port announces that it requires authentication."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        info = s.recv(4096).decode()
    return '"auth_required":true' in info


def start(project, api):
    project.compose("up", "-d")
    [container] = project.containers("prism")
    wait_for(f"{container} healthy", 120, lambda: healthy(container), every=1)
    wait_for("gateway ready on the published port", 30, api.ready)


def run(files, password):
    http_port, bus_port = free_port(), free_port()
    project = Project("prism-ci-standard", ["standard.yml"], {
        "PRISM_FILES": files, "PRISM_HTTP_PORT": str(http_port),
        "PRISM_BUS_PORT": str(bus_port), "PRISM_ADMIN_PASSWORD": password})
    api = Api(f"http://127.0.0.1:{http_port}")
    try:
        say("standard: up")
        project.fresh()
        start(project, api)
        check(bus_requires_login(bus_port), "NATS on the published port accepts anonymous clients")
        api.login(password)
        with open(os.path.join(files, "people.csv"), "w") as f:
            f.write(PEOPLE)
        api.expect((200, 201), "PUT", "/v1/connections/files", {"kind": "local", "root": "/data"})
        api.expect(201, "PUT", "/v1/dataflows/adults", DATAFLOW)
        job = api.expect(202, "POST", "/v1/jobs", {"dataflow": "adults"})
        done = api.wait_terminal(job["id"], 60)
        check(done["status"] == "succeeded", f"example job: {done}")
        with open(os.path.join(files, "out", "adults.csv")) as f:
            lines = f.read().split()
        check(lines[0] == "name,age" and set(lines[1:]) == ADULTS, f"example output: {lines}")
        say("standard: example job succeeded, output in the files volume; down and up again")

        project.compose("down")
        start(project, api)
        api.login(password)
        check(api.expect(200, "GET", "/v1/dataflows/adults")["version"] == 1, "dataflow survived")
        api.expect(200, "GET", "/v1/connections/files")
        again = api.expect(200, "GET", f"/v1/jobs/{job['id']}")
        check(again["status"] == "succeeded", f"job history survived: {again}")
        second = api.expect(202, "POST", "/v1/jobs", {"dataflow": "adults"})
        check(api.wait_terminal(second["id"], 60)["status"] == "succeeded", "a job after the restart")
        say("standard: configuration and job history survived down/up")
    except Exception:
        print(project.logs())
        raise
    finally:
        project.compose("down", "-v")
