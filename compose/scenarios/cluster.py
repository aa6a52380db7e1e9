"""Cluster scenario (compose/cluster.yml with the embedded-store override): three
prism nodes behind the load balancer on a three-node NATS cluster. Jobs submitted
through the load balancer spread over every node; `docker kill` of a node while
jobs run loses none and duplicates none; `--scale` adds a node that takes work;
a configuration change made through one node is served by all."""
import collections
import os
from concurrent.futures import ThreadPoolExecutor

from harness import (Api, Failed, Project, address, check, free_port, healthy, inspect, say, sh,
                     wait_for)

NODES = 3
# Jobs submitted before a node is killed: four waves of the 48 slots, so that nodes
# finish some and still run others for long enough to see it (node heartbeats, which
# report jobs in flight, come every 3 s; two waves were sometimes too short).
FIRST_WAVE = 180
SECOND_WAVE = 60  # jobs submitted after a node is added
JOB_TIMEOUT = 240  # the killed node's jobs come back after the ack wait (30 s)


def numbered(delay_ms):
    """Writes out/<n>.csv after a pause, so jobs are still running when a node dies."""
    return {"kind": "job", "parameters": {"n": None}, "stages": [
        {"id": "people", "type": "read", "connection": "files", "path": "people.csv", "format": "csv"},
        {"id": "pause", "type": "delay", "milliseconds": delay_ms},
        {"id": "out", "type": "write", "input": "people", "connection": "files",
         "path": "out/${n}.csv", "format": "csv"}]}


def submit(api, numbers):
    """Submits job n for each n, retrying with the same idempotency key until it is
    accepted (a gateway may be going away): returns ids by number."""
    def one(n):
        def accepted():
            status, body = api.call("POST", "/v1/jobs", {"dataflow": "numbered", "parameters": {"n": n}},
                                    {"Idempotency-Key": f"job-{n}"})
            return body["id"] if status == 202 else None
        return n, wait_for(f"job {n} accepted", 60, accepted, every=0.2)
    with ThreadPoolExecutor(8) as pool:
        return dict(pool.map(one, numbers))


def start_nodes(project, count):
    def all_healthy():
        containers = project.containers("prism")
        return containers if len(containers) == count and all(map(healthy, containers)) else None
    return wait_for(f"{count} healthy prism nodes", 180, all_healthy, every=1)


def node_names(project):
    """Prism's node ids (container hostname and pid) by container name."""
    return {inspect(c, "{{.Config.Hostname}}") + "-1": c for c in project.containers("prism")}


def finished_by(api, ids, names):
    """Waits for every job to end; returns its terminal audit entries' executors by job."""
    for id in ids.values():
        job = api.wait_terminal(id, JOB_TIMEOUT)
        check(job["status"] == "succeeded", f"job {job['parameters']} did not succeed: {job}")
    wanted = set(ids.values())

    def audited():
        runs = collections.defaultdict(list)
        for entry in api.audit():
            if entry["action"] in ("job.succeeded", "job.failed", "job.cancelled"):
                job = entry["target"].removeprefix("job/")
                if job in wanted:
                    runs[job].append(names.get(entry["details"].get("executor"), "?"))
        return runs if set(runs) == wanted else None
    return wait_for("every terminal event audited", 120, audited, every=1)


def tally(ids, runs, files):
    """Lost: accepted jobs without exactly their output file; duplicated: jobs with
    more than one terminal state. Returns (per-node counts, lost, duplicated)."""
    outputs = set(os.listdir(os.path.join(files, "out")))
    lost = [n for n in ids if f"{n}.csv" not in outputs]
    duplicated = [ids[n] for n in ids if len(runs[ids[n]]) != 1]
    per_node = collections.Counter(node for job in runs.values() for node in job)
    return per_node, lost, duplicated


def finished_per_node(api, names):
    return collections.Counter(names.get(e["details"].get("executor"), "?") for e in api.audit()
                               if e["action"] == "job.succeeded")


def kill_busiest(api, names):
    """`docker kill` of the node running the most jobs, once every node has finished
    some jobs and still runs others."""
    def busy():
        nodes = api.expect(200, "GET", "/v1/cluster/nodes")["nodes"]
        running = {n["id"]: n["in_flight"] for n in nodes if n["id"] in names}
        if len(running) < NODES or not all(running.values()):
            return None
        finished = finished_per_node(api, names)
        return running if all(finished[names[id]] for id in running) else None
    running = wait_for("every node finishing jobs and running more", 90, busy, every=0.2)
    victim = names[max(running, key=running.get)]
    sh(["docker", "kill", victim])
    say(f"cluster: killed {victim} with {max(running.values())} jobs in flight")
    return victim


def same_everywhere(project, password):
    """A dataflow changed through one node is the version every node serves."""
    nodes = [Api(f"http://{address(c)}:8080") for c in project.containers("prism")]
    for node in nodes:
        node.login(password)
    changed = nodes[0].expect(201, "PUT", "/v1/dataflows/numbered", numbered(50))["version"]
    for node in nodes:
        version = node.expect(200, "GET", "/v1/dataflows/numbered")["version"]
        check(version == changed, f"{node.base} serves version {version}, not {changed}")
    job = nodes[-1].expect(202, "POST", "/v1/jobs", {"dataflow": "numbered", "parameters": {"n": 0}})
    check(nodes[-1].wait_terminal(job["id"], 60)["version"] == changed, "a job ran the new version")
    return len(nodes), changed


def checks(project, api, files, password):
    say("cluster: up")
    project.fresh()
    project.compose("up", "-d")
    start_nodes(project, NODES)
    wait_for("load balancer ready", 60, api.ready)
    api.login(password)
    with open(os.path.join(files, "people.csv"), "w") as f:
        f.write("name,age\nann,34\nbob,12\n")
    api.expect((200, 201), "PUT", "/v1/connections/files", {"kind": "local", "root": "/data"})
    api.expect(201, "PUT", "/v1/dataflows/numbered", numbered(3000))

    names = node_names(project)
    ids = submit(api, range(1, FIRST_WAVE + 1))
    victim = kill_busiest(api, names)
    runs = finished_by(api, ids, names)
    per_node, lost, duplicated = tally(ids, runs, files)
    say(f"cluster: {len(ids)} jobs through the load balancer, per node {dict(per_node)}")
    check(len([n for n in per_node if n != "?"]) == NODES, f"work spread over every node: {per_node}")

    say("cluster: --scale prism=4 (the killed node comes back too)")
    project.compose("up", "-d", "--scale", f"prism={NODES + 1}")
    start_nodes(project, NODES + 1)
    before = set(names.values())
    names = node_names(project)
    [added] = set(names.values()) - before
    second = submit(api, range(FIRST_WAVE + 1, FIRST_WAVE + SECOND_WAVE + 1))
    runs2 = finished_by(api, second, names)
    per_node2, lost2, duplicated2 = tally(second, runs2, files)
    say(f"cluster: {len(second)} more jobs, per node {dict(per_node2)}")
    check(per_node2[added] > 0, f"the added node {added} took no work: {per_node2}")

    served, version = same_everywhere(project, password)
    say(f"cluster: dataflow version {version} changed through one node, served by all {served}")

    total = per_node + per_node2
    lost, duplicated = lost + lost2, duplicated + duplicated2
    check(not lost and not duplicated, f"lost {lost}, duplicated {duplicated}")
    return (f"jobs={len(ids) + len(second)} per-node={dict(sorted(total.items()))} killed={victim} "
            f"added={added} lost={len(lost)} duplicated={len(duplicated)}")


def run(files, password):
    http_port = free_port()
    project = Project("prism-ci-cluster", ["cluster.yml", "cluster.embedded-store.yml"], {
        "PRISM_FILES": files, "PRISM_HTTP_PORT": str(http_port), "PRISM_ADMIN_PASSWORD": password})
    try:
        return checks(project, Api(f"http://127.0.0.1:{http_port}"), files, password)
    except (Failed, OSError):
        print(project.logs())
        raise
    finally:
        project.compose("down", "-v")
