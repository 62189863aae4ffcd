//! `warren ctl`: everyday operations on a running broker, through its management API.
//!
//! `warren ctl [--url URL] [--user U] [--password P] [--format table|json] COMMAND ...`,
//! with the commands `rabbitmqctl` has (`add_user`, `list_queues`, `set_policy`, ...).
//! The arguments are in [`args`], the commands in `commands`, what they print in
//! `output`; errors print `Error: <reason>` on stderr and exit 1 (2 for bad usage).

mod api;
mod args;
pub mod client;
mod commands;
mod error;
mod output;

use args::CtlArgs;
use clap::Parser;
use error::CtlError;
use std::ffi::OsString;
use std::process::ExitCode;

/// Runs `warren ctl`; `args` are what follows `warren` (the first one, `ctl`, stands for
/// the program's name).
pub fn main<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args = match CtlArgs::try_parse_from(args) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            // Help and version are not errors.
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&CtlError::other(format!("cannot start the runtime: {e}"))),
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn fail(e: &CtlError) -> ExitCode {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "Error: {e}");
    ExitCode::from(e.exit_code())
}

/// A flag's value, else the environment variable's, else the default.
fn setting(flag: Option<String>, var: &str, default: &str) -> String {
    flag.or_else(|| std::env::var(var).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| default.to_string())
}

async fn run(args: CtlArgs) -> Result<(), CtlError> {
    let url = setting(args.url, "WARREN_CTL_URL", args::DEFAULT_URL);
    let user = setting(args.user, "WARREN_CTL_USER", "guest");
    let password = setting(args.password, "WARREN_CTL_PASSWORD", "guest");
    let mut api = api::Api::new(&url, &user, &password)?;
    let out = output::Output {
        format: args.format,
        quiet: args.quiet,
        no_headers: args.no_table_headers,
    };
    commands::run(&mut api, &out, args.command).await
}

#[cfg(test)]
mod tests {
    use super::args::{Cmd, CtlArgs};
    use clap::Parser;

    fn parse(line: &[&str]) -> Result<CtlArgs, clap::Error> {
        CtlArgs::try_parse_from(std::iter::once("ctl").chain(line.iter().copied()))
    }

    #[test]
    fn commands_parse_as_rabbitmqctl_spells_them() {
        let a = parse(&[
            "--format",
            "json",
            "list_queues",
            "-p",
            "v",
            "name",
            "arguments.x",
        ]);
        match a.map(|a| (a.format, a.command)) {
            Ok((super::output::Format::Json, Cmd::ListQueues { vhost, columns })) => {
                assert_eq!(vhost.vhost, "v");
                assert_eq!(columns, ["name", "arguments.x"]);
            }
            other => panic!("{other:?}"),
        }
        // Global options after the command, vhost defaulting to `/`, hyphenated values.
        let a = parse(&[
            "set_permissions",
            "ann",
            "-x",
            "",
            ".*",
            "--url",
            "http://h:1",
        ]);
        match a.map(|a| (a.url, a.command)) {
            Ok((
                Some(url),
                Cmd::SetPermissions {
                    vhost,
                    configure,
                    write,
                    ..
                },
            )) => {
                assert_eq!(url, "http://h:1");
                assert_eq!(vhost.vhost, "/");
                assert_eq!((configure.as_str(), write.as_str()), ("-x", ""));
            }
            other => panic!("{other:?}"),
        }
        let bad = [
            &["set_policy", "p", ".*", "not json"][..],
            &["set_policy", "p", ".*", "[1]"],
            &["set_policy", "--apply-to", "bindings", "p", ".*", "{}"],
            &["await_startup", "--timeout", "-1"],
            &["add_user", "only-a-name"],
            &["no_such_command"],
        ];
        for line in bad {
            let e = parse(line).err();
            assert!(
                e.is_some_and(|e| e.use_stderr()),
                "{line:?} should be refused"
            );
        }
        assert!(parse(&["set_policy", "--priority", "-3", "p", ".*", "{}"]).is_ok());
        assert!(parse(&["set_policy", "--apply-to", "queues", "p", ".*", "{}"]).is_ok());
        assert!(parse(&["delete_queue", "--if-empty", "--if-unused", "q"]).is_ok());
    }

    #[test]
    fn positional_users_and_passwords_are_not_the_login() {
        let a = parse(&["add_user", "ann", "pw"]).ok();
        assert!(a.is_some_and(|a| a.user.is_none() && a.password.is_none()));
        let a = parse(&["--user", "admin", "set_permissions", "ann", "a", "b", "c"]).ok();
        match a.map(|a| (a.user, a.command)) {
            Some((Some(login), Cmd::SetPermissions { username, .. })) => {
                assert_eq!((login.as_str(), username.as_str()), ("admin", "ann"));
            }
            other => panic!("{other:?}"),
        }
        let a = parse(&["change_password", "ann", "pw", "--password", "admin-pw"]).ok();
        match a.map(|a| (a.password, a.command)) {
            Some((Some(login), Cmd::ChangePassword { new_password, .. })) => {
                assert_eq!((login.as_str(), new_password.as_str()), ("admin-pw", "pw"));
            }
            other => panic!("{other:?}"),
        }
    }
}
