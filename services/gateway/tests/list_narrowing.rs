//! Every list narrows per name: a caller granted `view` on one name of each entity
//! type sees that name only, in every list route of the table.
mod common;

use common::world::{World, lookup_dataflow};
use prism_bus::nodes;
use prism_gateway::Route;
use prism_schemas::v1::NodeInfo;
use prost::Message;
use serde_json::{Value, json};

/// Where a list route's items are, and the field that names each for permissions.
struct Listing {
    /// What the GET asks (a report grouped by what names its groups).
    query: &'static str,
    items: &'static str,
    name: &'static str,
    entity: &'static str,
    /// The one name the narrow caller is granted; the world holds at least one other.
    granted: &'static str,
}

/// Every route without a path parameter that a `view` on a type admits
/// (`Need::Type(View, _)`): a list of
/// named things, or `Err` saying why it has no names to narrow by. A route missing
/// here fails the test, so a new list cannot forget to narrow.
fn listing(route: &Route) -> Option<Result<Listing, &'static str>> {
    let named = |items, name, entity, granted| {
        Ok(Listing {
            query: "",
            items,
            name,
            entity,
            granted,
        })
    };
    Some(match route.path {
        "/v1/users" => named("users", "name", "users", "target"),
        "/v1/roles" => named("roles", "name", "roles", "custom"),
        "/v1/connections" => named("connections", "name", "connections", "files"),
        "/v1/secrets" => named("secrets", "name", "secrets", "pg-password"),
        "/v1/dataflows" => named("dataflows", "name", "dataflows", "adults"),
        "/v1/processflows" => named("processflows", "name", "processflows", "chain"),
        // A job is named by its dataflow.
        "/v1/jobs" => named("jobs", "dataflow", "jobs", "adults"),
        "/v1/reports/jobs" => Ok(Listing {
            query: "?group_by=dataflow",
            ..named("groups", "key", "jobs", "adults").unwrap()
        }),
        "/v1/schedules" => named("schedules", "name", "schedules", "nightly"),
        "/v1/services" => named("services", "name", "services", "lookup"),
        "/v1/cluster/nodes" => named("nodes", "id", "cluster", "exec-1"),
        "/v1/audit" | "/v1/audit/dead-letters" => {
            Err("one log, whole: its entries are records of changes, not named entities")
        }
        "/metrics" | "/v1/settings/logging" | "/v1/settings/retention" => {
            Err("one document of the whole cluster, not a list")
        }
        _ => return None,
    })
}

/// A process flow of one job of `dataflow` and its end.
fn chain(dataflow: &str) -> Value {
    json!({"activities":[{"id":"run","type":"job","dataflow":dataflow},{"id":"done","type":"succeed"}],
           "transitions":[{"from":"run","to":"done","on":"always"}]})
}

#[tokio::test(flavor = "multi_thread")]
async fn every_list_shows_a_caller_granted_one_name_that_name_only() {
    let world = World::build().await;
    // A second of everything, so that a list which does not narrow shows it.
    let adults = world
        .as_admin("GET", "/v1/dataflows/adults", json!({}))
        .await;
    let second = [
        (
            "/v1/users/target",
            json!({"password":"target-password-long","roles":["viewer"]}),
        ),
        ("/v1/roles/custom2", json!({"grants":[]})),
        ("/v1/secrets/other-secret", json!({"value":"another-value"})),
        (
            "/v1/connections/other",
            json!({"kind":"local","root": world.gateway.dir.path().join("files")}),
        ),
        ("/v1/dataflows/other", adults["document"].clone()),
        (
            "/v1/schedules/second",
            json!({"dataflow":"other","cron":"0 4 * * *"}),
        ),
        ("/v1/dataflows/lookup2", lookup_dataflow()),
        ("/v1/services/lookup2", json!({"dataflow":"lookup2"})),
        ("/v1/processflows/chain", chain("adults")),
        ("/v1/processflows/chain2", chain("other")),
    ];
    for (path, body) in second {
        world.as_admin("PUT", path, body).await;
    }
    for dataflow in ["adults", "other"] {
        world
            .as_admin("POST", "/v1/jobs", json!({"dataflow": dataflow}))
            .await;
    }
    let registry = nodes::bucket(&world.gateway.bus, &world.gateway.state.topology)
        .await
        .unwrap();
    let node = NodeInfo {
        id: "exec-2".into(),
        role: "executor".into(),
        ..Default::default()
    };
    registry
        .put("exec-2", node.encode_to_vec().into())
        .await
        .unwrap();

    let mut lists = Vec::new();
    for route in &world.gateway.routes {
        let type_view = matches!(
            route.need,
            prism_gateway::auth::Need::Type(prism_auth::Action::View, _)
        );
        // One thing named in the path (an object's overrides) is not a list.
        if route.method != "GET" || !type_view || route.path.contains('{') {
            continue;
        }
        match listing(route) {
            Some(Ok(listing)) => lists.push((format!("{}{}", route.path, listing.query), listing)),
            Some(Err(_why)) => {}
            None => panic!("GET {}: not in the list of listings", route.path),
        }
    }
    assert!(lists.len() >= 10, "every list is checked");
    let grants: Vec<Value> = lists
        .iter()
        .map(|(_, l)| json!({"entity": l.entity, "match": l.granted, "actions": ["view"]}))
        .collect();
    world
        .as_admin("PUT", "/v1/roles/one-each", json!({ "grants": grants }))
        .await;
    let narrow = world
        .gateway
        .user_with_roles(&world.admin, "u-narrow", &["one-each"])
        .await;

    let mut failures = Vec::new();
    for (path, listing) in &lists {
        let everything = world.as_admin("GET", path, json!({})).await;
        let (status, answer) = world.gateway.send("GET", path, Some(&narrow), "").await;
        let names = |answer: &Value| -> Vec<String> {
            answer[listing.items]
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .map(|i| i[listing.name].as_str().unwrap_or("?").to_string())
                        .collect()
                })
                .unwrap_or_default()
        };
        let all = names(&everything);
        assert!(
            all.iter().any(|n| n != listing.granted) && all.iter().any(|n| n == listing.granted),
            "{path}: the world lists the granted name and another: {all:?}"
        );
        let mut seen = names(&answer);
        seen.dedup();
        if status != 200 || seen != [listing.granted] {
            failures.push(format!(
                "{path}: expected only {:?}, got {status} {seen:?}",
                listing.granted
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
