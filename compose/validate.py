"""Validates the compose files without a Docker engine: YAML syntax, the keys of the
compose specification that these files use, and references between services,
volumes and files. `docker compose config` does more where an engine exists."""
import pathlib
import re
import sys

import yaml

HERE = pathlib.Path(__file__).parent
SERVICE_KEYS = {
    "image", "build", "command", "entrypoint", "environment", "volumes", "ports",
    "depends_on", "restart", "deploy", "healthcheck", "networks", "hostname",
    "configs", "expose", "ulimits", "working_dir", "user", "profiles",
}
TOP_KEYS = {"name", "services", "volumes", "networks", "configs", "x-prism"}


# Prism commands that write a file once and exit: no bus, no health check.
ONE_SHOT = (["bus-credentials"], ["master-key"])


def fail(file, message):
    print(f"{file.name}: {message}")
    return 1


# Settings that inject faults: never in a deployment.
TEST_ONLY = ("PRISM_STORE_FAULTS", "PRISM_BUS_FAULTS")


def check(file):
    errors = 0
    doc = yaml.safe_load(file.read_text())
    if not isinstance(doc, dict) or not isinstance(doc.get("services"), dict):
        return fail(file, "no services")
    errors += sum(fail(file, f"unknown top-level key {k}") for k in doc if k not in TOP_KEYS and not k.startswith("x-"))
    services = doc["services"]
    volumes = set((doc.get("volumes") or {}).keys())
    configs = set((doc.get("configs") or {}).keys())
    for name, service in services.items():
        if not isinstance(service, dict):
            errors += fail(file, f"service {name} is not a mapping")
            continue
        errors += sum(fail(file, f"{name}: unknown key {k}") for k in service if k not in SERVICE_KEYS and not k.startswith("x-"))
        if "image" not in service and "build" not in service:
            errors += fail(file, f"{name}: needs image or build")
        build = service.get("build")
        if isinstance(build, dict):
            dockerfile = (HERE / build.get("context", ".") / build.get("dockerfile", "Dockerfile")).resolve()
            if not dockerfile.exists():
                errors += fail(file, f"{name}: dockerfile {dockerfile} missing")
        deps = service.get("depends_on") or []
        for dep in (deps if isinstance(deps, list) else deps.keys()):
            if dep not in services:
                errors += fail(file, f"{name}: depends_on unknown service {dep}")
        for volume in service.get("volumes") or []:
            source = mount_source(str(volume))
            if source.startswith((".", "/")):
                if source.startswith("./") and source.endswith((".cfg", ".conf", ".cluster")) and not (HERE / source).exists():
                    errors += fail(file, f"{name}: mounted file {source} missing")
            elif source not in volumes:
                errors += fail(file, f"{name}: volume {source} not declared")
        for config in service.get("configs") or []:
            source = config["source"] if isinstance(config, dict) else config
            if source not in configs:
                errors += fail(file, f"{name}: config {source} not declared")
        env = service.get("environment") or {}
        if not isinstance(env, dict):
            errors += fail(file, f"{name}: environment must be a mapping")
        elif service.get("image", "").startswith("prism") or "build" in service:
            for key in env:
                if not key.startswith("PRISM_") and key not in ("FDB_CLUSTER_FILE",):
                    errors += fail(file, f"{name}: unexpected environment {key}")
                if key in TEST_ONLY:
                    errors += fail(file, f"{name}: {key} is for tests only")
    errors += check_bus(file, services)
    for name, config in (doc.get("configs") or {}).items():
        if "file" in config and not (HERE / config["file"]).exists():
            errors += fail(file, f"config {name}: file {config['file']} missing")
    if file.name.startswith("cluster"):
        errors += check_cluster(file, services)
    return errors


def mount_source(volume):
    """The source of `source:target[:mode]`; for `${VAR:-default}`, its default."""
    variable = re.match(r"\$\{\w+:-([^}]*)\}", volume)
    if variable:
        return variable.group(1)
    return volume.split(":")[0]


def check_bus(file, services):
    """NATS requires a login in every scenario: each nats-server runs the generated
    configuration, and each Prism service has its credentials."""
    errors = 0
    for name, service in services.items():
        image = service.get("image", "")
        command = service.get("command") or []
        if image.startswith("nats:") and "/etc/prism-bus/nats.conf" not in command:
            errors += fail(file, f"{name}: nats-server must run with -c /etc/prism-bus/nats.conf")
        if image.startswith("prism") and command[:1] not in ONE_SHOT:
            env = service.get("environment") or {}
            if "PRISM_NATS_CREDENTIALS_DIR" not in env:
                errors += fail(file, f"{name}: needs PRISM_NATS_CREDENTIALS_DIR")
            if "PRISM_MASTER_KEY_FILE" not in env:
                errors += fail(file, f"{name}: needs PRISM_MASTER_KEY_FILE (the one master key of the deployment)")
            errors += check_health(file, name, service, env)
    return errors


def check_health(file, name, service, env):
    """Every long-running Prism service has a health check that asks a listener it
    has: the API port, or the metrics listener of roles without one."""
    if "test" in (service.get("profiles") or []):
        return 0
    health = service.get("healthcheck")
    if not health:
        return 0  # the image's own (the API port's /healthz)
    if health.get("disable"):
        return fail(file, f"{name}: has no health check")
    test = " ".join(health.get("test") or [])
    port = re.search(r"127\.0\.0\.1:(\d+)/", test)
    if not port:
        return fail(file, f"{name}: health check asks no local port")
    listeners = [str(env.get("PRISM_HTTP_ADDR", "")), str(env.get("PRISM_METRICS_ADDR", ""))]
    if (service.get("command") or [])[:1] in (["executor"], ["scheduler"], ["audit"]):
        listeners = listeners[1:]  # these roles serve no API
    if not any(l.endswith(":" + port.group(1)) for l in listeners):
        return fail(file, f"{name}: health check asks port {port.group(1)}, which it does not serve")
    return 0


def check_cluster(file, services):
    """What every cluster scenario needs: three NATS nodes, R3 streams, FoundationDB
    as the store, a load balancer, and executors that never see the store."""
    errors = 0
    images = [s.get("image", "") for s in services.values()]
    if sum(i.startswith("nats:") for i in images) < 3:
        errors += fail(file, "a cluster needs three NATS nodes")
    if not any(i.startswith("foundationdb/foundationdb:") for i in images):
        errors += fail(file, "a cluster needs FoundationDB")
    if not any(i.startswith(("haproxy:", "nginx:")) for i in images):
        errors += fail(file, "a cluster needs a load balancer")
    for name, service in services.items():
        if not service.get("image", "").startswith("prism"):
            continue
        if (service.get("command") or [])[:1] in ONE_SHOT:
            continue
        env = service.get("environment") or {}
        if env.get("PRISM_NATS_REPLICAS") != "3":
            errors += fail(file, f"{name}: PRISM_NATS_REPLICAS must be 3")
        command = service.get("command") or []
        if command == ["executor"]:
            if "PRISM_STORE" in env:
                errors += fail(file, f"{name}: executors never read the configuration database")
        elif not str(env.get("PRISM_STORE", "")).startswith("fdb://"):
            errors += fail(file, f"{name}: PRISM_STORE must be fdb://")
    return errors


def main():
    # Overrides (`<scenario>.<variant>.yml`) are checked merged with their scenario by
    # `docker compose config` in validate.sh, and run for real by test.sh.
    files = sorted(f for f in HERE.glob("*.yml") if f.stem.count(".") == 0)
    if not files:
        print("no compose files")
        return 1
    errors = 0
    for f in files:
        found = check(f)
        errors += found
        print(f"{f.name}: {'invalid' if found else 'ok'}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
