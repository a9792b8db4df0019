//! Session buckets: a run that splits its requests by session key and runs the session
//! steps one bucket at a time must give exactly the tables of a run in one pass.

use std::path::Path;

use inferledger::common::session_buckets::bucket_of_key;

use crate::helpers::*;

/// Runs `config_text` with `[run] session_buckets = buckets` into `dir/out-<buckets>`.
fn run_in_buckets(dir: &Path, config_text: &str, buckets: u32) -> std::path::PathBuf {
    let setting = format!("[run]\nsession_buckets = {buckets}\n");
    let text = if config_text.contains("[run]\n") {
        config_text.replace("[run]\n", &setting)
    } else {
        format!("{config_text}\n{setting}")
    };
    let config = dir.join(format!("buckets-{buckets}.toml"));
    std::fs::write(&config, text).unwrap();
    let out = dir.join(format!("out-{buckets}"));
    assert_ok(&run(&config, &out, &["--quiet"]));
    out
}

#[test]
fn the_sample_in_four_session_buckets_gives_the_tables_of_one_pass() {
    let dir = tempfile::tempdir().unwrap();
    let text = sample_config_with_absolute_paths();
    let one = run_in_buckets(dir.path(), &text, 1);
    let four = run_in_buckets(dir.path(), &text, 4);
    let (one_tables, four_tables) = (tables(&one), tables(&four));
    assert_eq!(
        one_tables.keys().collect::<Vec<_>>(),
        four_tables.keys().collect::<Vec<_>>()
    );
    assert_same_tables(&four_tables, &one_tables, "four buckets against one");
    // The sample's figures (sample-data/README.md): 4,615 requests kept, $2,164.86982658 of API spend.
    assert_eq!(one_tables["requests"].len(), 4_615);
    assert_eq!(summary(&four)["totals"]["cost_usd"], "2164.86982658");
    // The passes' working folders are not published.
    assert!(!four.join("requests").join(".buckets").exists());
    assert!(
        std::fs::read_dir(&four)
            .unwrap()
            .all(|e| { !e.unwrap().file_name().to_string_lossy().contains("bucket") })
    );
}

#[test]
fn a_request_logged_under_two_sessions_in_two_buckets_is_kept_once() {
    // Two users whose sessions fall in different buckets of two.
    let users: Vec<String> = (0..20).map(|n| format!("u{n}")).collect();
    let first = &users[0];
    let second = users
        .iter()
        .find(|u| {
            bucket_of_key(&format!("user:{u}"), 2) != bucket_of_key(&format!("user:{first}"), 2)
        })
        .expect("20 users do not all share one bucket");
    let line = |id: &str, ts: i64, user: &str, completion: i64| {
        format!(
            r#"{{"id":"{id}","created":{ts},"model":"gpt-4o-mini","usage":{{"prompt_tokens":1000,"completion_tokens":{completion}}},"metadata":{{"team":"t","feature":"f","user_id":"{user}"}}}}"#
        )
    };
    // 2026-11-02T10:00:00Z. Request "dup" is logged by both users' sessions; the copy with
    // more output tokens (the second user's, 50 > 10) is the one kept.
    let t0 = 1_794_564_000;
    let log = [
        line("a1", t0, first, 5),
        line("dup", t0 + 60, first, 10),
        line("b1", t0 + 30, second, 7),
        line("dup", t0 + 60, second, 50),
        line("b2", t0 + 120, second, 9),
    ]
    .join("\n");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("logs")).unwrap();
    std::fs::write(dir.path().join("logs/requests.jsonl"), log + "\n").unwrap();
    let text = "[[requests]]\npath = \"logs\"\nformat = \"openai\"\n";
    let one = run_in_buckets(dir.path(), text, 1);
    let two = run_in_buckets(dir.path(), text, 2);
    let (one_tables, two_tables) = (tables(&one), tables(&two));
    for (table, rows) in &one_tables {
        assert_eq!(
            rows, &two_tables[table],
            "{table}: two buckets differ from one"
        );
    }
    // Worked by hand: four distinct ids; "dup" once, as the second user's 50-token copy;
    // the first user's interaction holds a1 alone, the second's b1, dup and b2.
    assert_eq!(
        query(
            &two,
            "SELECT request_id, user_id, output_tokens FROM requests ORDER BY request_id"
        ),
        vec![
            vec!["a1".to_string(), first.clone(), "5".to_string()],
            vec!["b1".to_string(), second.clone(), "7".to_string()],
            vec!["b2".to_string(), second.clone(), "9".to_string()],
            vec!["dup".to_string(), second.clone(), "50".to_string()],
        ]
    );
    assert_eq!(
        query(
            &two,
            "SELECT user_id, requests FROM interactions ORDER BY user_id"
        ),
        vec![
            vec![first.clone(), "1".to_string()],
            vec![second.clone(), "3".to_string()],
        ]
    );
    assert_eq!(summary(&two)["totals"]["duplicates"], 1);
}
