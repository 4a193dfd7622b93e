//! The OpenAPI document as tests check answers against it: every object schema that lists its
//! properties is closed (`additionalProperties: false`), so an answer must carry every required
//! key, no key the document does not name, and each value of its documented type.

use serde_json::{json, Map, Value};

pub struct Document {
    pub doc: Value,
    /// The document's components, closed.
    components: Value,
}

/// Closes every object schema that lists its properties and says nothing of others.
fn close(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if map.contains_key("properties") && !map.contains_key("additionalProperties") {
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            map.values_mut().for_each(close);
        }
        Value::Array(items) => items.iter_mut().for_each(close),
        _ => {}
    }
}

impl Document {
    /// The document the server serves.
    pub fn new() -> Document {
        let doc = snspmt_http::openapi::document();
        let mut components = doc["components"].clone();
        close(&mut components);
        Document { doc, components }
    }

    /// What in `instance` does not fit `schema` (closed; its `$ref`s point into the components).
    pub fn misfits(&self, schema: &Value, instance: &Value) -> Vec<String> {
        let mut schema = schema.clone();
        close(&mut schema);
        let mut root = Map::new();
        root.insert("$schema".into(), json!("https://json-schema.org/draft/2020-12/schema"));
        root.insert("components".into(), self.components.clone());
        root.insert("allOf".into(), json!([schema]));
        let validator = jsonschema::draft202012::new(&Value::Object(root))
            .unwrap_or_else(|e| panic!("the schema {schema} does not compile: {e}"));
        validator.iter_errors(instance).map(|e| format!("{} at {}", e, e.instance_path)).collect()
    }

    /// The JSON schema of the answer `status` of `method pattern`, if the document gives one.
    pub fn answer(&self, method: &str, pattern: &str, status: u16) -> Option<&Value> {
        let op = &self.doc["paths"][pattern][method.to_lowercase()];
        let schema = &op["responses"][status.to_string()]["content"]["application/json"]["schema"];
        schema.is_object().then_some(schema)
    }

    /// What in `body`, answered with `status` by `method pattern`, differs from the document.
    pub fn problems(&self, method: &str, pattern: &str, status: u16, body: &Value) -> Vec<String> {
        match self.answer(method, pattern, status) {
            Some(schema) => self.misfits(schema, body),
            None => vec![format!("{method} {pattern}: no {status} JSON answer documented")],
        }
    }

    /// Asserts that `body` is the documented answer `status` of `method pattern`.
    pub fn check(&self, method: &str, pattern: &str, status: u16, body: &Value) {
        let problems = self.problems(method, pattern, status, body);
        assert!(problems.is_empty(), "{method} {pattern} answered {body}\nnot as documented: {problems:#?}");
    }

    /// Asserts that `body` is the documented successful answer of `method pattern`.
    pub fn check_success(&self, method: &str, pattern: &str, body: &Value) {
        let op = &self.doc["paths"][pattern][method.to_lowercase()];
        let status = op["responses"]
            .as_object()
            .and_then(|r| r.keys().find(|code| code.starts_with('2')))
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("{method} {pattern}: a success answer documented"));
        self.check(method, pattern, status, body);
    }

    /// The names of the documented query parameters of `method pattern`.
    pub fn query_names(&self, method: &str, pattern: &str) -> Vec<String> {
        let params = &self.doc["paths"][pattern][method.to_lowercase()]["parameters"];
        params
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "query")
            .filter_map(|p| p["name"].as_str().map(str::to_owned))
            .collect()
    }
}
