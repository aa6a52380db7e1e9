//! `GET /openapi.json` describes the route table exactly: every route with its
//! method, path parameters, security, an operation id a generator can name a
//! function by, and every failure status listed with the one error shape.
mod common;

use common::Gateway;
use prism_gateway::auth::Need;

#[tokio::test(flavor = "multi_thread")]
async fn the_document_lists_every_route_with_its_security() {
    let gateway = Gateway::start().await;
    // Public: readable before signing in, like the health checks.
    let (status, document) = gateway.send("GET", "/openapi.json", None, "").await;
    assert_eq!(status, 200, "{document}");
    assert_eq!(document["openapi"], "3.1.0");
    assert_eq!(
        document["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );

    assert!(
        document["security"][0].get("bearer").is_some(),
        "the bearer token is required unless an operation says otherwise"
    );
    assert!(document["info"]["license"]["identifier"].is_string());
    assert!(!document["servers"].as_array().unwrap().is_empty());

    let paths = document["paths"].as_object().unwrap();
    let mut operations = 0;
    let mut ids = std::collections::BTreeSet::new();
    for route in &gateway.routes {
        let method = route.method.as_str().to_lowercase();
        let operation = &paths[route.path][&method];
        let name = format!("{method} {}", route.path);
        assert!(operation.is_object(), "{name} missing from the document");
        // Public operations say they need nothing; the others inherit the token.
        let public = operation["security"] == serde_json::json!([]);
        let inherits = operation.get("security").is_none();
        assert_eq!(
            (public, inherits),
            (
                matches!(route.need, Need::Public),
                !matches!(route.need, Need::Public)
            ),
            "{name}: security does not follow the guard"
        );
        let id = operation["operationId"].as_str().unwrap();
        assert!(
            id.starts_with(|c: char| c.is_ascii_lowercase())
                && id.chars().all(|c| c.is_ascii_alphanumeric()),
            "{name}: operation id {id:?} is not a plain camelCase name"
        );
        assert!(
            ids.insert(id.to_string()),
            "{name}: operation id {id} twice"
        );
        let responses = operation["responses"].as_object().unwrap();
        assert!(
            !responses.contains_key("default"),
            "{name}: every status is listed, none left to `default`"
        );
        let failures: Vec<&String> = responses.keys().filter(|s| s.as_str() >= "400").collect();
        assert!(
            failures.iter().any(|s| s.starts_with('4')),
            "{name}: no 4xx"
        );
        for status in failures {
            assert_eq!(
                responses[status]["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/ErrorBody",
                "{name} {status}: the error shape"
            );
        }
        let parameters = operation["parameters"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for segment in route.path.split('/').filter(|s| s.starts_with('{')) {
            let parameter = segment.trim_matches(['{', '}']);
            assert!(
                parameters
                    .iter()
                    .any(|p| p["name"] == parameter && p["in"] == "path"),
                "{name}: path parameter {parameter}"
            );
        }
        operations += 1;
    }
    let documented: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(
        documented, operations,
        "the document has operations no route has"
    );
    // Every schema a body refers to is in the document.
    let text = document.to_string();
    let schemas = document["components"]["schemas"].as_object().unwrap();
    for reference in text.split("\"#/components/schemas/").skip(1) {
        let name = reference.split('"').next().unwrap();
        assert!(
            schemas.contains_key(name),
            "{name} is referred to but missing"
        );
    }
}
