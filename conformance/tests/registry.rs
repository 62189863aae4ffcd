//! Checks that need no broker: case names, the expected-skips files, options.

use std::collections::HashSet;

use warren_conformance::runner::{select, ExpectedSkips};
use warren_conformance::{all_cases, Report};

const GROUPS: &[&str] = &[
    "connection",
    "channel",
    "exchange",
    "queue",
    "basic",
    "confirm",
    "tx",
    "routing",
    "errors",
    "limits",
    "extensions",
    "clients",
    "input",
    "mgmt",
];

#[test]
fn case_names_are_unique_and_well_formed() {
    let re = regex::Regex::new(r"^[a-z]+(\.[a-z0-9_]+)+$").unwrap();
    let mut seen = HashSet::new();
    for c in all_cases() {
        assert!(re.is_match(c.name), "bad case name {}", c.name);
        assert!(seen.insert(c.name), "duplicate case name {}", c.name);
        let group = c.name.split('.').next().unwrap();
        assert!(GROUPS.contains(&group), "unknown group in {}", c.name);
    }
    assert!(seen.len() >= 200, "only {} cases", seen.len());
}

#[test]
fn every_group_has_cases() {
    let cases = all_cases();
    for g in GROUPS {
        assert!(
            cases.iter().any(|c| c.name.starts_with(&format!("{g}."))),
            "group {g} is empty"
        );
    }
}

#[test]
fn expected_skips_files_parse_and_name_real_cases() {
    let names: HashSet<&str> = all_cases().iter().map(|c| c.name).collect();
    for broker in ["rabbitmq", "warren"] {
        let path = format!("{}/expected-skips/{broker}.txt", env!("CARGO_MANIFEST_DIR"));
        let skips = ExpectedSkips::load(&path).unwrap();
        for name in skips.entries.keys() {
            assert!(names.contains(name.as_str()), "{path}: unknown case {name}");
        }
    }
}

#[test]
fn expected_skips_need_a_reason() {
    assert!(ExpectedSkips::parse("a.b").is_err());
    let s = ExpectedSkips::parse("# c\n\na.b  no cluster here\n").unwrap();
    assert_eq!(
        s.entries.get("a.b").map(String::as_str),
        Some("no cluster here")
    );
}

#[test]
fn filter_is_a_regex_or_a_substring() {
    let all = all_cases();
    let topic = select(all.clone(), Some("^routing\\.topic\\."));
    assert!(!topic.is_empty());
    assert!(topic.iter().all(|c| c.name.starts_with("routing.topic.")));
    // Not a valid regex: falls back to a substring match.
    assert!(select(all, Some("(")).is_empty());
}

#[test]
fn empty_report_summary() {
    let r = Report::default();
    assert_eq!(r.summary_line(), "0 passed, 0 failed, 0 skipped");
    assert!(r.success());
}
