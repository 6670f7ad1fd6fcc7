//! Rendering: aligned tables, `key: value` blocks, and the server's JSON re-indented.

use serde_json::Value;

/// A cell: `-` for null or empty, `yes`/`no` for booleans, lists joined with commas.
pub fn cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "-".into(),
        Some(Value::String(s)) if s.is_empty() => "-".into(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => if *b { "yes" } else { "no" }.into(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Array(a)) if a.is_empty() => "-".into(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| cell(Some(v)))
            .collect::<Vec<_>>()
            .join(", "),
        Some(v @ Value::Object(_)) => v.to_string(),
    }
}

/// A field of an object as a cell.
pub fn field(obj: &Value, key: &str) -> String {
    cell(obj.get(key))
}

/// Rows aligned under upper-case headers, two spaces between columns.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, c) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut out = String::new();
        for (i, c) in cells.enumerate() {
            if i > 0 {
                out.push_str("  ");
            }
            out.push_str(c);
            if i + 1 < widths.len() {
                let pad = widths[i].saturating_sub(c.chars().count());
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.trim_end().to_string()
    };
    let mut out = line(&mut headers.iter().copied());
    out.push('\n');
    for row in rows {
        out.push_str(&line(&mut row.iter().map(String::as_str)));
        out.push('\n');
    }
    out
}

/// A table of `items`, one column per `(header, key)`.
pub fn object_table(columns: &[(&str, &str)], items: &[Value]) -> String {
    let headers: Vec<&str> = columns.iter().map(|(h, _)| *h).collect();
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|it| columns.iter().map(|(_, k)| field(it, k)).collect())
        .collect();
    table(&headers, &rows)
}

/// `key: value` lines: the keys of `order` first (those present), then every other key
/// except those in `skip`, alphabetically. Values align after the longest key.
pub fn key_values(obj: &Value, order: &[&str], skip: &[&str]) -> String {
    let Some(map) = obj.as_object() else {
        return format!("{}\n", cell(Some(obj)));
    };
    let mut keys: Vec<&str> = order
        .iter()
        .copied()
        .filter(|k| map.contains_key(*k))
        .collect();
    let mut rest: Vec<&str> = map
        .keys()
        .map(String::as_str)
        .filter(|k| !order.contains(k) && !skip.contains(k))
        .collect();
    rest.sort_unstable();
    keys.extend(rest);
    pairs(&keys.iter().map(|k| (*k, field(obj, k))).collect::<Vec<_>>())
}

/// Aligned `key: value` lines.
pub fn pairs(list: &[(&str, String)]) -> String {
    let width = list.iter().map(|(k, _)| k.len() + 1).max().unwrap_or(0);
    let mut out = String::new();
    for (k, v) in list {
        let key = format!("{k}:");
        out.push_str(&format!("{key:<width$} {v}\n"));
    }
    out
}

/// The server's JSON, re-indented with two spaces. Keys keep the server's order and numbers
/// their exact text (parsing into a map would sort the keys). Text that is not JSON is
/// returned as is.
pub fn pretty_json(raw: &str) -> String {
    if serde_json::from_str::<serde::de::IgnoredAny>(raw).is_err() {
        return raw.to_string();
    }
    let chars: Vec<char> = raw.chars().collect();
    let mut out = String::with_capacity(raw.len() * 2);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.extend(std::iter::repeat_n(' ', depth * 2));
    };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                let close = if c == '{' { '}' } else { ']' };
                let mut j = i;
                while j < chars.len() && chars[j].is_whitespace() {
                    j += 1;
                }
                if j < chars.len() && chars[j] == close {
                    out.push(c);
                    out.push(close);
                    i = j + 1;
                } else {
                    out.push(c);
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pretty_keeps_order_and_strings() {
        let raw = r#"{"b":1,"a":[1,2,{}],"s":"x, {y}: \"z\"","e":[],"n":null}"#;
        let p = pretty_json(raw);
        assert_eq!(
            p,
            "{\n  \"b\": 1,\n  \"a\": [\n    1,\n    2,\n    {}\n  ],\n  \"s\": \"x, {y}: \\\"z\\\"\",\n  \"e\": [],\n  \"n\": null\n}"
        );
        let back: Value = serde_json::from_str(&p).unwrap_or(Value::Null);
        assert_eq!(
            back,
            serde_json::from_str::<Value>(raw).unwrap_or(Value::Bool(false))
        );
        assert_eq!(pretty_json("not json"), "not json");
    }

    #[test]
    fn tables_align() {
        let t = table(
            &["NAME", "ID"],
            &[
                vec!["a".into(), "1".into()],
                vec!["long".into(), "2".into()],
            ],
        );
        assert_eq!(t, "NAME  ID\na     1\nlong  2\n");
    }

    #[test]
    fn cells() {
        assert_eq!(cell(Some(&Value::Null)), "-");
        assert_eq!(cell(None), "-");
        assert_eq!(cell(Some(&json!(true))), "yes");
        assert_eq!(cell(Some(&json!(["a", "b"]))), "a, b");
        assert_eq!(cell(Some(&json!([]))), "-");
    }

    #[test]
    fn key_values_order() {
        let v = json!({"z": 1, "name": "n", "id": "i", "secret": "s"});
        assert_eq!(
            key_values(&v, &["name", "id"], &["secret"]),
            "name: n\nid:   i\nz:    1\n"
        );
    }
}
