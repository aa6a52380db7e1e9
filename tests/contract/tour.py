"""A tour of the API through a client generated from /openapi.json.

    python3 tour.py BASE_URL ADMIN_PASSWORD FILES_DIR CLIENT_DIR

CLIENT_DIR holds the package `prism_client` that openapi-python-client generated
from the served document. Every call goes through it, with
`raise_on_unexpected_status`: a status the document does not list raises, and every
answer must parse into the generated type the document promises for its status.
FILES_DIR lies within the server's file roots; the tour writes its input there.
Prints one line per call and exits 1 if any failed.
"""
import sys
import time

base, password, files, client_dir = sys.argv[1:5]
sys.path.insert(0, client_dir)

from prism_client import AuthenticatedClient, Client  # noqa: E402
from prism_client.api.default import (  # noqa: E402
    create_token, get_connection, get_dataflow, get_dataflow_version, get_health, get_job,
    get_job_report, get_me, get_readiness, get_role, get_schedule, get_user, list_audit,
    list_connections, list_dataflows, list_jobs, list_nodes, list_roles, list_schedules,
    list_tokens, list_users, login, put_connection, put_dataflow, put_role, put_schedule,
    put_user, revoke_token, submit_job, disable_schedule, enable_schedule, check_permission,
    get_logging_settings, get_retention, put_secret, get_secret, list_secrets,
    rotate_master_key, test_connection,
)
from prism_client.models import (  # noqa: E402
    AuditPage, AuthzAnswer, AuthzQuestion, Connection, ConnectionSpec, DataflowDocument,
    DataflowDocumentStagesItem, DataflowSaved, DataflowVersion, Dataflows, Connections,
    ErrorBody, Grant, Job, JobAccepted, JobReport, JobRequest, Jobs, Login, LoggingSettings,
    Me, NewToken, Nodes, Retention, Role, RoleChange, Roles, Schedule, ScheduleSpec,
    Schedules, Session, Status, Token, Tokens, User, UserChange, Users, SecretValue, Secret,
    Secrets, KeyRotation, ConnectionTest, SecretRef,
)

calls = []


def call(what, module, expected_status, expected_type, **arguments):
    """One operation: its status and the type its answer parsed into."""
    try:
        response = module.sync_detailed(**arguments)
    except Exception as error:  # the generated client raised: undocumented status or parse failure
        calls.append((what, f"raised {type(error).__name__}: {error}"))
        print(f"FAIL {what}: raised {type(error).__name__}: {error}")
        return None
    parsed = response.parsed
    problem = None
    if response.status_code != expected_status:
        problem = f"status {int(response.status_code)}, expected {expected_status}: {response.content[:300]!r}"
    elif not isinstance(parsed, expected_type):
        problem = f"parsed as {type(parsed).__name__}, expected {expected_type.__name__}"
    calls.append((what, problem))
    print(f"{'FAIL' if problem else 'ok  '} {what}{': ' + problem if problem else ''}")
    return parsed


public = Client(base_url=base, raise_on_unexpected_status=True)
call("health", get_health, 200, Status, client=public)
call("readiness", get_readiness, 200, Status, client=public)
session = call("sign in", login, 200, Session, client=public,
               body=Login(user="admin", password=password))
call("sign in, wrong password", login, 401, ErrorBody, client=public,
     body=Login(user="admin", password="not-the-password"))
if session is None:
    sys.exit(1)
api = AuthenticatedClient(base_url=base, token=session.token, raise_on_unexpected_status=True)
call("me", get_me, 200, Me, client=api)
call("may admin run adults", check_permission, 200, AuthzAnswer, client=api,
     body=AuthzQuestion(action="execute", entity="dataflows", name="adults"))

with open(f"{files}/people.csv", "w") as people:
    people.write("name,age\nann,34\nbob,12\ncid,18\n")
spec = ConnectionSpec(kind="local", root=files)
call("create a connection", put_connection, 201, Connection, client=api, name="tour", body=spec)
call("change a connection", put_connection, 200, Connection, client=api, name="tour", body=spec)
call("a connection", get_connection, 200, Connection, client=api, name="tour")
call("connections", list_connections, 200, Connections, client=api)
call("a missing connection", get_connection, 404, ErrorBody, client=api, name="nowhere")
call("try a connection", test_connection, 200, ConnectionTest, client=api, name="tour")
call("set a secret", put_secret, 201, Secret, client=api, name="tour-secret",
     body=SecretValue(value="tour-secret-value"))
call("set it again", put_secret, 200, Secret, client=api, name="tour-secret",
     body=SecretValue(value="tour-secret-value-2"))
call("a secret", get_secret, 200, Secret, client=api, name="tour-secret")
call("secrets", list_secrets, 200, Secrets, client=api)
refused = ConnectionSpec(kind="postgres", host="db.nowhere", database="d", user="u",
                         password=SecretRef(secret="tour-secret"))
call("a connection outside the allowed hosts", put_connection, 400, ErrorBody, client=api,
     name="refused", body=refused)
call("rotate the master key", rotate_master_key, 200, KeyRotation, client=api)

stages = [
    {"id": "people", "type": "read", "connection": "tour", "path": "people.csv", "format": "csv"},
    {"id": "adults", "type": "sql", "inputs": ["people"],
     "query": "SELECT name, age FROM people WHERE age >= 18"},
    {"id": "out", "type": "write", "input": "adults", "connection": "tour",
     "path": "out/adults.csv", "format": "csv"},
]
document = DataflowDocument(kind="job", stages=[DataflowDocumentStagesItem.from_dict(s) for s in stages])
call("save a dataflow", put_dataflow, 201, DataflowSaved, client=api, name="adults", body=document)
call("save it unchanged", put_dataflow, 200, DataflowSaved, client=api, name="adults", body=document)
call("a dataflow", get_dataflow, 200, DataflowVersion, client=api, name="adults")
call("a dataflow's version", get_dataflow_version, 200, DataflowVersion, client=api,
     name="adults", version="1")
call("dataflows", list_dataflows, 200, Dataflows, client=api)
broken = DataflowDocument(kind="job", stages=[DataflowDocumentStagesItem.from_dict({"id": "x"})])
call("an invalid dataflow", put_dataflow, 400, ErrorBody, client=api, name="broken", body=broken)

schedule = ScheduleSpec(dataflow="adults", cron="0 3 * * *", enabled=False)
call("create a schedule", put_schedule, 201, Schedule, client=api, name="nightly", body=schedule)
call("change a schedule", put_schedule, 200, Schedule, client=api, name="nightly", body=schedule)
call("enable it", enable_schedule, 200, Schedule, client=api, name="nightly")
call("disable it", disable_schedule, 200, Schedule, client=api, name="nightly")
call("a schedule", get_schedule, 200, Schedule, client=api, name="nightly")
call("schedules", list_schedules, 200, Schedules, client=api)

accepted = call("run a job", submit_job, 202, JobAccepted, client=api, body=JobRequest(dataflow="adults"))
job = None
if accepted is not None:
    deadline = time.time() + 60
    while time.time() < deadline:
        response = get_job.sync_detailed(id=accepted.id, client=api)
        if response.status_code == 200 and response.parsed.status in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(0.2)
    job = call("the job, finished", get_job, 200, Job, client=api, id=accepted.id)
    if job is not None and job.status != "succeeded":
        calls.append(("the job succeeded", f"status {job.status}: {job.error}"))
        print(f"FAIL the job succeeded: {job.status} {job.error}")
call("jobs", list_jobs, 200, Jobs, client=api, limit=10)
call("a job report", get_job_report, 200, JobReport, client=api, group_by="dataflow")
call("a missing job dataflow", submit_job, 404, ErrorBody, client=api, body=JobRequest(dataflow="nothing"))

user = UserChange(password="ada-password-long", roles=["viewer"])
call("create a user", put_user, 201, User, client=api, name="ada", body=user)
call("change a user", put_user, 200, User, client=api, name="ada", body=UserChange(roles=["viewer", "operator"]))
call("a user", get_user, 200, User, client=api, name="ada")
call("users", list_users, 200, Users, client=api)
role = RoleChange(grants=[Grant(entity="dataflows", match="tour-*", actions=["view"])])
call("create a role", put_role, 201, Role, client=api, name="tour-readers", body=role)
call("change a role", put_role, 200, Role, client=api, name="tour-readers", body=role)
call("a role", get_role, 200, Role, client=api, name="tour-readers")
call("a built-in role", get_role, 200, Role, client=api, name="viewer")
call("roles", list_roles, 200, Roles, client=api)

token = call("a new API token", create_token, 201, Token, client=api, body=NewToken(label="tour"))
call("tokens", list_tokens, 200, Tokens, client=api)
if token is not None:
    call("revoke it", revoke_token, 204, type(None), client=api, id=token.id)

call("nodes", list_nodes, 200, Nodes, client=api)
call("log levels", get_logging_settings, 200, LoggingSettings, client=api)
call("retention", get_retention, 200, Retention, client=api)
# The audit service records changes a moment after they are made.
deadline = time.time() + 15
while time.time() < deadline:
    response = list_audit.sync_detailed(client=api, limit=500)
    if response.status_code == 200 and any(e.action == "user.put" for e in response.parsed.entries):
        break
    time.sleep(0.3)
page = call("the audit log", list_audit, 200, AuditPage, client=api, limit=500)
if page is not None and not any(e.action == "role.put" for e in page.entries):
    calls.append(("the audit log holds the tour", "no role.put entry"))
    print("FAIL the audit log holds the tour: no role.put entry")

failures = [c for c in calls if c[1]]
print(f"{len(calls)} calls through the generated client, {len(failures)} failed")
sys.exit(1 if failures else 0)
