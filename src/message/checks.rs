//! Checks a published message must pass, whatever the protocol it came by: the
//! `expiration` property and the `CC`/`BCC` routing headers, read as RabbitMQ reads them.

use amq_protocol::types::{AMQPValue, FieldTable};

/// The `expiration` property as RabbitMQ reads it (Erlang's `string:to_integer`, then at
/// most ten years).
pub(crate) fn check_expiration(s: &str) -> Result<u64, String> {
    let digits_start = usize::from(s.starts_with(['+', '-']));
    let digits = s[digits_start..]
        .find(|c: char| !c.is_ascii_digit())
        .map_or(s.len(), |i| i + digits_start);
    if digits == digits_start {
        return Err("no_integer".into());
    }
    if digits < s.len() {
        return Err(format!("{{leftover_string,\"{}\"}}", &s[digits..]));
    }
    let too_large = || format!("{{value_too_large,{}}}", &s[..digits]);
    let n: i128 = s[..digits].parse().map_err(|_| too_large())?;
    if n < 0 {
        return Err(format!("{{value_negative,{n}}}"));
    }
    if n > i128::from(crate::queue::args::MAX_EXPIRY_MS) {
        return Err(too_large());
    }
    Ok(n as u64)
}

/// `CC` and `BCC`, if present, must be arrays (RabbitMQ 3.10 refuses even a string).
pub(crate) fn check_routing_headers(h: &FieldTable) -> Result<(), String> {
    for key in ["CC", "BCC"] {
        match h.inner().get(key) {
            None | Some(AMQPValue::FieldArray(_)) => {}
            Some(v) => {
                let kind = crate::erlang::type_name(v);
                return Err(format!(
                    "invalid message: {{unacceptable_type_in_header,\"{key}\",{kind}}}"
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_expiration;

    /// Rows observed on RabbitMQ 3.10.8.
    #[test]
    fn expiration_is_read_like_rabbitmq() {
        assert_eq!(check_expiration("0"), Ok(0));
        assert_eq!(check_expiration("+5"), Ok(5));
        assert_eq!(check_expiration("soon").unwrap_err(), "no_integer");
        assert_eq!(check_expiration(" 5").unwrap_err(), "no_integer");
        assert_eq!(check_expiration("").unwrap_err(), "no_integer");
        assert_eq!(check_expiration("-1").unwrap_err(), "{value_negative,-1}");
        assert_eq!(
            check_expiration("1.5").unwrap_err(),
            "{leftover_string,\".5\"}"
        );
        assert_eq!(check_expiration("315360000000"), Ok(315_360_000_000));
        assert!(check_expiration("315360000001").is_err());
        let text = |v: &str| {
            let prefix = format!("invalid expiration '{v}': ");
            let d = check_expiration(v).unwrap_err();
            format!("{prefix}{}", crate::erlang::pretty_tuple(prefix.len(), &d))
        };
        assert_eq!(
            text("999999999999999999"),
            "invalid expiration '999999999999999999': {value_too_large,999999999999999999}"
        );
        assert_eq!(
            text("9999999999999999999"),
            format!(
                "invalid expiration '9999999999999999999': {{value_too_large,\n{}9999999999999999999}}",
                " ".repeat(43)
            )
        );
        assert!(check_expiration("99999999999999999999")
            .unwrap_err()
            .starts_with("{value_too_large,"));
    }
}
