//! A small HTTP client for the node's API, over `curl` (blocking, like the rest of the kit,
//! and the same tool a person would use).

use std::process::Command;

use serde_json::Value;

/// A node's API with an admin token.
#[derive(Debug, Clone)]
pub struct Api {
    /// `http://host:port`.
    pub base: String,
    pub token: String,
}

/// An answer: status and body (JSON when it parses, else a string).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Api {
    /// `method` on `/api/v1{path}` with an optional JSON body.
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Answer {
        self.call_with(method, path, body, &[])
    }

    /// [`Api::call`] with extra request headers (`Idempotency-Key`, …); status 0 when no
    /// answer came (refused, reset, timed out).
    pub fn call_with(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let url = format!("{}/api/v1{path}", self.base);
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "-m", "20", "-X", method, &url])
            .args(["-H", &format!("Authorization: Bearer {}", self.token)])
            .args(["-w", "\n%{http_code}"]);
        for (name, value) in headers {
            cmd.args(["-H", &format!("{name}: {value}")]);
        }
        if let Some(b) = body {
            cmd.args(["-H", "Content-Type: application/json", "-d", &b.to_string()]);
        }
        let out = cmd.output().expect("curl runs");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        Answer {
            status: code.trim().parse().unwrap_or(0),
            body: serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_string())),
        }
    }

    pub fn get(&self, path: &str) -> Answer {
        self.call("GET", path, None)
    }

    /// POSTs and asserts a 201; the created object.
    #[track_caller]
    pub fn create(&self, path: &str, body: Value) -> Value {
        let a = self.call("POST", path, Some(&body));
        assert_eq!(
            a.status, 201,
            "POST {path} {body} → {} {}",
            a.status, a.body
        );
        a.body
    }

    /// PATCHes and asserts a 200; the object as it now is.
    #[track_caller]
    pub fn update(&self, path: &str, body: Value) -> Value {
        let a = self.call("PATCH", path, Some(&body));
        assert_eq!(
            a.status, 200,
            "PATCH {path} {body} → {} {}",
            a.status, a.body
        );
        a.body
    }

    /// DELETEs and asserts a 204.
    #[track_caller]
    pub fn delete(&self, path: &str) {
        let a = self.call("DELETE", path, None);
        assert_eq!(a.status, 204, "DELETE {path} → {} {}", a.status, a.body);
    }

    /// Whether the node answers `/readyz` with 200.
    pub fn ready(&self) -> bool {
        Command::new("curl")
            .args(["-sf", "-m", "2", &format!("{}/readyz", self.base)])
            .status()
            .is_ok_and(|s| s.success())
    }
}

/// The `"id"` of a JSON object.
#[track_caller]
pub fn id_of(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_string()
}
