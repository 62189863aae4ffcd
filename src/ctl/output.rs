//! What `warren ctl` prints. Data goes to stdout: with `--format table` (the default) a
//! header line of column names, then one line per object, the cells separated by tabs (as
//! `rabbitmqctl` prints them, so `cut -f` and `awk -F'\t'` read them); with
//! `--format json` the API's JSON, pretty-printed. Progress lines ("Adding user ...") go
//! to stderr, and `--quiet` leaves them out, so stdout holds only the data.

use super::error::{CtlError, CtlResult};
use serde_json::Value;
use std::io::Write;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// Tab-separated columns with a header line.
    Table,
    /// The API's JSON.
    Json,
}

pub(crate) struct Output {
    pub format: Format,
    /// No progress lines.
    pub quiet: bool,
    /// Tables without their header line.
    pub no_headers: bool,
}

impl Output {
    /// A progress line, on stderr.
    pub(crate) fn info(&self, line: &str) {
        if !self.quiet {
            let _ = writeln!(std::io::stderr().lock(), "{line}");
        }
    }

    /// A list answered by the API: the JSON as it came, or the columns as a table.
    pub(crate) fn list(&self, answer: &Value, columns: &[String]) -> CtlResult<()> {
        match self.format {
            Format::Json => self.json(answer),
            Format::Table => {
                let rows = match answer {
                    Value::Array(items) => items.as_slice(),
                    // A paginated answer.
                    Value::Object(o) => match o.get("items") {
                        Some(Value::Array(items)) => items.as_slice(),
                        _ => std::slice::from_ref(answer),
                    },
                    _ => return Err(CtlError::other("the API answered something not a list")),
                };
                write_stdout(&table(rows, columns, !self.no_headers))
            }
        }
    }

    /// A JSON document, pretty-printed.
    pub(crate) fn json(&self, v: &Value) -> CtlResult<()> {
        let mut text = serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string());
        text.push('\n');
        write_stdout(&text)
    }
}

/// Writes to stdout; a reader that went away (`| head`) is not an error.
pub(crate) fn write_stdout(text: &str) -> CtlResult<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(CtlError::other(format!("cannot write to stdout: {e}")))
        }
        _ => Ok(()),
    }
}

/// The rows' `columns` (dotted for nested fields), tab-separated, with a header line.
pub(crate) fn table(rows: &[Value], columns: &[String], header: bool) -> String {
    let mut out = String::new();
    if header {
        out.push_str(&columns.join("\t"));
        out.push('\n');
    }
    for row in rows {
        let cells: Vec<String> = columns.iter().map(|c| cell(lookup(row, c))).collect();
        out.push_str(&cells.join("\t"));
        out.push('\n');
    }
    out
}

/// A dotted field (`arguments.x-max-length`), if present.
pub(crate) fn lookup<'a>(v: &'a Value, dotted: &str) -> Option<&'a Value> {
    // A field whose own name has a dot (`x-dead-letter.exchange`) is found first.
    if let Some(found) = v.get(dotted) {
        return Some(found);
    }
    dotted.split('.').try_fold(v, |v, k| v.get(k))
}

/// One cell: strings as they are, null or missing as nothing, lists of strings as
/// `[a, b]` (as rabbitmqctl shows tags), anything else as compact JSON. Tabs and line
/// breaks are written `\t`, `\n`, `\r`, so a row stays one line.
pub(crate) fn cell(v: Option<&Value>) -> String {
    let text = match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => {
            let items: Vec<&str> = a.iter().filter_map(Value::as_str).collect();
            format!("[{}]", items.join(", "))
        }
        Some(other) => other.to_string(),
    };
    text.replace('\t', "\\t")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_are_tab_separated_with_a_header() {
        let rows = vec![
            json!({"name": "a", "messages": 3, "arguments": {"x-max-length": 5}}),
            json!({"name": "b\tc", "messages": 0, "tags": ["x", "y"], "policy": null}),
        ];
        let cols: Vec<String> = [
            "name",
            "messages",
            "arguments.x-max-length",
            "tags",
            "policy",
        ]
        .iter()
        .map(|c| c.to_string())
        .collect();
        assert_eq!(
            table(&rows, &cols, true),
            "name\tmessages\targuments.x-max-length\ttags\tpolicy\n\
             a\t3\t5\t\t\n\
             b\\tc\t0\t\t[x, y]\t\n"
        );
        assert_eq!(table(&rows[..1], &cols[..1], false), "a\n");
        assert_eq!(cell(Some(&json!({"a": [1]}))), r#"{"a":[1]}"#);
        assert_eq!(cell(Some(&json!("two\nlines"))), "two\\nlines");
        assert_eq!(
            lookup(&json!({"a.b": 1, "a": {"b": 2}}), "a.b"),
            Some(&json!(1))
        );
    }
}
