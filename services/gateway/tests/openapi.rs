//! `GET /openapi.json` describes the route table exactly: every route with its
//! method, path parameters and security, and the one error shape.
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

    let paths = document["paths"].as_object().unwrap();
    let mut operations = 0;
    for route in &gateway.routes {
        let method = route.method.as_str().to_lowercase();
        let operation = &paths[route.path][&method];
        let name = format!("{method} {}", route.path);
        assert!(operation.is_object(), "{name} missing from the document");
        let secured = operation["security"][0].get("bearer").is_some();
        assert_eq!(
            secured,
            !matches!(route.need, Need::Public),
            "{name}: security does not follow the guard"
        );
        assert_eq!(
            operation["responses"]["default"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/ErrorBody",
            "{name}: the error shape"
        );
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
