//! `/api/definitions`: export to a file or stdout, import from a file or stdin.

use crate::ctl::api::Api;
use crate::ctl::error::{CtlError, CtlResult};
use crate::ctl::output::{write_stdout, Output};
use bytes::Bytes;
use std::io::Read;

pub(super) async fn export(api: &Api, out: &Output, file: &str) -> CtlResult<()> {
    if file != "-" {
        out.info(&format!(
            "Exporting definitions in JSON to a file at \"{file}\" ..."
        ));
    }
    let defs = api.get_json(&Api::path(&["definitions"])?).await?;
    let mut text = serde_json::to_string_pretty(&defs).unwrap_or_else(|_| defs.to_string());
    text.push('\n');
    if file == "-" {
        return write_stdout(&text);
    }
    std::fs::write(file, text).map_err(|e| CtlError::other(format!("cannot write {file}: {e}")))
}

pub(super) async fn import(api: &Api, out: &Output, file: &str) -> CtlResult<()> {
    let body = if file == "-" {
        out.info("Importing definitions in JSON from standard input ...");
        let mut buf = Vec::new();
        std::io::stdin()
            .lock()
            .read_to_end(&mut buf)
            .map_err(|e| CtlError::other(format!("cannot read standard input: {e}")))?;
        buf
    } else {
        out.info(&format!(
            "Importing definitions in JSON from a file at \"{file}\" ..."
        ));
        std::fs::read(file).map_err(|e| CtlError::other(format!("cannot read {file}: {e}")))?
    };
    let source = if file == "-" { "standard input" } else { file };
    match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(serde_json::Value::Object(_)) => {}
        Ok(_) => {
            return Err(CtlError::other(format!(
                "{source} does not hold a JSON object"
            )))
        }
        Err(e) => return Err(CtlError::other(format!("{source} is not JSON: {e}"))),
    }
    api.post_raw(&Api::path(&["definitions"])?, Bytes::from(body))
        .await
}
