//! Bad input: every kind of bad row is quarantined with file, line and reason and the
//! counts reconcile; too many bad rows, a missing path or a bad config fail cleanly.

use std::io::Write;

use crate::helpers::*;

const T0: i64 = 1_794_823_200; // 2026-11-16T10:00:00Z

fn good_lines(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| openai_line(&format!("ok-{i}"), T0 + i as i64 * 60, 1000, 512, 100))
        .collect()
}

#[test]
fn each_kind_of_bad_row_is_quarantined_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = good_lines(300);
    let bad = [
        (r#"{"id":"x1","created":17948"#, "invalid JSON"),
        (
            r#"{"id":"x2","model":"gpt-4o-mini","usage":{"prompt_tokens":1,"completion_tokens":1}}"#,
            "missing ts",
        ),
        (
            r#"{"id":"x3","created":1794823200,"model":"gpt-4o-mini","usage":{"prompt_tokens":-5,"completion_tokens":1}}"#,
            "negative token count -5",
        ),
        (
            r#"{"id":"x4","created":1794823200,"model":"gpt-4o-mini","usage":{"prompt_tokens":"lots","completion_tokens":1}}"#,
            "expected a whole number of tokens",
        ),
        (
            r#"{"id":"x5","created":"last tuesday","model":"gpt-4o-mini","usage":{"prompt_tokens":1,"completion_tokens":1}}"#,
            "timestamp 'last tuesday' not understood",
        ),
        (
            r#"{"id":"x6","created":1794823200,"model":"gpt-4o-mini","usage":{"prompt_tokens":10,"completion_tokens":1,"prompt_tokens_details":{"cached_tokens":20}}}"#,
            "exceed input_tokens",
        ),
        (r#"[1, 2, 3]"#, "expected a JSON object"),
        (
            r#"{"id":"x8","created":1794823200,"model":"gpt-4o-mini","status":"maybe","usage":{"prompt_tokens":1,"completion_tokens":1}}"#,
            "status 'maybe' not understood",
        ),
    ];
    // Bad rows go at known lines: 11, 22, 33, …
    let mut expected = Vec::new();
    for (i, (line, reason)) in bad.iter().enumerate() {
        let at = (i + 1) * 11 - 1;
        lines.insert(at, line.to_string());
        expected.push(((at + 1).to_string(), *reason));
    }
    std::fs::write(dir.path().join("log.jsonl"), lines.join("\n") + "\n").unwrap();
    let config = write_config(
        dir.path(),
        "[[requests]]\nname = \"api\"\npath = \"log.jsonl\"\nformat = \"openai\"\nmax_bad_fraction = 0.05\n",
    );
    let out = dir.path().join("out");
    assert_ok(&run(&config, &out, &[]));

    let rows = query(
        &out,
        "SELECT CAST(line AS VARCHAR) AS line_text, reason, raw, source_file FROM quarantine ORDER BY line",
    );
    assert_eq!(rows.len(), bad.len());
    for (row, ((line, reason), (raw, _))) in rows.iter().zip(expected.iter().zip(bad.iter())) {
        assert_eq!(&row[0], line);
        assert!(
            row[1].contains(reason),
            "line {line}: {} lacks {reason}",
            row[1]
        );
        assert_eq!(&row[2], raw);
        assert!(row[3].ends_with("log.jsonl"));
    }
    let t = &summary(&out)["totals"];
    assert_eq!(
        (
            t["rows_read"].as_u64(),
            t["rows_kept"].as_u64(),
            t["rows_quarantined"].as_u64()
        ),
        (Some(308), Some(300), Some(8))
    );
}

#[test]
fn too_many_bad_rows_fail_with_exit_code_2_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = good_lines(50);
    lines.push("garbage".into());
    std::fs::write(dir.path().join("log.jsonl"), lines.join("\n")).unwrap();
    // 1 of 51 = 1.96%, above the default 1%.
    let config = write_config(
        dir.path(),
        "[[requests]]\npath = \"log.jsonl\"\nformat = \"openai\"\n",
    );
    let out = dir.path().join("out");
    let output = run(&config, &out, &[]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.contains("1 of 51 rows quarantined (1.96%), above max_bad_fraction 1.00%"),
        "{message}"
    );
    assert!(message.contains("invalid JSON"), "{message}");
    assert!(!out.join("requests").exists());
    assert!(!out.join("run_summary.json").exists());
    // Nothing but the lock file (the OS lock itself went with the process).
    let left: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, [".inferledger.lock"], "no staging left behind");
}

#[test]
fn truncated_compressed_and_empty_files() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let text = good_lines(3000).join("\n") + "\n";
    // A zstd copy reads exactly like the plain text.
    let zst = zstd::encode_all(text.as_bytes(), 3).unwrap();
    std::fs::write(logs.join("a.jsonl.zst"), zst).unwrap();
    // A gzip file cut in half: the rows before the cut are kept, the cut is quarantined.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(text.replace("ok-", "gz-").as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    std::fs::write(logs.join("b.jsonl.gz"), &gz[..gz.len() / 2]).unwrap();
    std::fs::write(logs.join("c.jsonl"), "").unwrap();
    let config = write_config(
        dir.path(),
        "[[requests]]\npath = \"logs\"\nformat = \"openai\"\nmax_bad_fraction = 0.5\n",
    );
    let out = dir.path().join("out");
    assert_ok(&run(&config, &out, &[]));
    let s = summary(&out);
    let files = s["sources"][0]["files"].as_array().unwrap();
    assert_eq!(files.len(), 3);
    assert_eq!(
        (
            files[0]["rows_read"].as_u64(),
            files[0]["rows_staged"].as_u64()
        ),
        (Some(3000), Some(3000))
    );
    let gz_read = files[1]["rows_read"].as_u64().unwrap();
    assert!(gz_read > 100 && gz_read < 3000, "{gz_read}");
    assert_eq!(files[1]["rows_quarantined"].as_u64(), Some(1));
    assert_eq!(files[2]["rows_read"].as_u64(), Some(0));
    let reason = scalar(&out, "SELECT reason FROM quarantine");
    assert!(reason.contains("unreadable from here on"), "{reason}");
    assert_eq!(s["sources"][0]["reconciles"], true);
}

#[test]
fn bad_configs_and_missing_inputs_fail_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let cases = [
        (
            "[[requests]]\npath = \"missing/\"\nformat = \"openai\"\n",
            "no such file or folder",
        ),
        (
            "[[requests]]\npath = \"x\"\nformat = \"cohere\"\n",
            "cohere",
        ),
        (
            "[[requests]]\npath = \"x\"\nformat = \"openai\"\npaht = \"y\"\n",
            "paht",
        ),
        (
            "[[requests]]\npath = \"x\"\nformat = \"openai\"\n[requests.fields]\ntema = \"metadata.team\"\n",
            "unknown field 'tema'",
        ),
    ];
    for (text, expected) in cases {
        let config = write_config(dir.path(), text);
        let output = run(&config, &out, &[]);
        assert_eq!(output.status.code(), Some(1), "{text}");
        assert!(
            stderr(&output).contains(expected),
            "{text}: {}",
            stderr(&output)
        );
        assert!(!out.join("requests").exists());
    }
    let output = run(&dir.path().join("absent.toml"), &out, &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("absent.toml not found"));
}

#[test]
fn bad_billing_rows_are_quarantined_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read_to_string(root().join("tests/fixtures/focus_1.0_sample_slice60.csv"))
        .unwrap();
    let mut reader = csv::Reader::from_reader(good.as_bytes());
    let header = reader.headers().unwrap().clone();
    let first = reader.records().next().unwrap().unwrap();
    let row_with = |column: &str, value: &str| {
        let i = header.iter().position(|n| n == column).unwrap();
        let cells: Vec<&str> = first
            .iter()
            .enumerate()
            .map(|(j, c)| if j == i { value } else { c })
            .collect();
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.write_record(&cells).unwrap();
        String::from_utf8(writer.into_inner().unwrap()).unwrap()
    };
    let text = format!(
        "{good}{}{}{}\n",
        row_with("ChargePeriodStart", "sometime in September"),
        row_with("EffectiveCost", "twelve dollars"),
        "\"only\",\"three\",\"cells\""
    );
    std::fs::write(dir.path().join("focus.csv"), text).unwrap();
    let config = write_config(
        dir.path(),
        "[[billing]]\nname = \"aws\"\npath = \"focus.csv\"\nformat = \"focus\"\nmax_bad_fraction = 0.1\n",
    );
    let out = dir.path().join("out");
    assert_ok(&run(&config, &out, &[]));
    let reasons = query(
        &out,
        "SELECT source, CAST(line AS VARCHAR) AS l, reason FROM quarantine ORDER BY line",
    );
    assert_eq!(reasons.len(), 3);
    assert_eq!(reasons[0][..2], ["aws".to_string(), "62".to_string()]);
    assert!(
        reasons[0][2].contains("start: timestamp 'sometime in September' not understood"),
        "{reasons:?}"
    );
    assert!(
        reasons[1][2].contains("cost: expected a number"),
        "{reasons:?}"
    );
    assert!(reasons[2][2].contains("expected"), "{reasons:?}");
    let b = &summary(&out)["billing"][0];
    let counts = ["rows_read", "rows_gpu", "rows_non_gpu", "rows_quarantined"]
        .map(|k| b[k].as_u64().unwrap());
    assert_eq!(counts, [63, 8, 52, 3]);
    assert_eq!(b["reconciles"], true);
}

/// Files an input folder holds that no format reads (a `.log`, a `.jsonl.bz2`, a named
/// pipe, which would block a reader for ever) are skipped, each named in the run summary's
/// warnings and by `validate`; the readable file is read as usual.
#[test]
fn files_that_are_not_read_are_named_not_silently_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    std::fs::write(logs.join("good.jsonl"), good_lines(3).join("\n")).unwrap();
    std::fs::write(logs.join("app.log"), "not a log we read\n").unwrap();
    std::fs::write(logs.join("old.jsonl.bz2"), b"BZh9").unwrap();
    let fifo = logs.join("stuck.jsonl");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let config = write_config(
        dir.path(),
        "[[requests]]\npath = \"logs\"\nformat = \"openai\"\n",
    );
    let out = dir.path().join("out");
    assert_ok(&run(&config, &out, &[]));
    let summary = summary(&out);
    assert_eq!(summary["totals"]["rows_kept"], 3);
    let warnings: Vec<String> = summary["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap().to_string())
        .collect();
    for (name, why) in [
        ("app.log", "not an input format"),
        ("old.jsonl.bz2", "not an input format"),
        ("stuck.jsonl", "not a regular file"),
    ] {
        assert!(
            warnings.iter().any(|w| w.contains(name) && w.contains(why)),
            "{name}: {warnings:?}"
        );
    }
    assert_eq!(warnings.len(), 3, "{warnings:?}");
    let validate = inferledger(&["validate", "--config", config.to_str().unwrap()]);
    assert_ok(&validate);
    let text = stdout(&validate);
    for name in ["app.log", "old.jsonl.bz2", "stuck.jsonl"] {
        assert!(text.contains(name), "{text}");
    }
}

#[test]
fn a_typo_in_a_pool_s_hosts_is_named_not_silently_measured_another_way() {
    // The sample's DCGM samples come from gpu-chat-1 and gpu-chat-2 (sample-data/metrics/
    // dcgm_chat_prod.csv), which chat-prod's `hosts = ["gpu-chat-*"]` claims. Misspelt as
    // "gpu-chta-*", no sample belongs to the pool: the run says so, naming the hosts the
    // samples have, and chat-prod's utilisation is no longer DCGM's.
    let dir = tempfile::tempdir().unwrap();
    let good = sample_config_with_absolute_paths();
    assert!(good.contains("hosts = [\"gpu-chat-*\"]"));
    let config = write_config(
        dir.path(),
        &good.replace("hosts = [\"gpu-chat-*\"]", "hosts = [\"gpu-chta-*\"]"),
    );
    // `validate` says so before any run.
    let validate = inferledger(&["validate", "--config", config.to_str().unwrap()]);
    assert_ok(&validate);
    let listed = stdout(&validate);
    assert!(
        listed.contains("hosts gpu-chat-1, gpu-chat-2 match no pool's `hosts`")
            && listed.contains("warning: pool chat-prod: its hosts [\"gpu-chta-*\"] match no GPU metrics sample checked"),
        "{listed}"
    );
    let out = dir.path().join("out");
    let output = run(&config, &out, &["--quiet"]);
    assert_ok(&output);
    let warnings = stderr(&output);
    assert!(
        warnings.contains("pool chat-prod: its hosts [\"gpu-chta-*\"] match no GPU metrics sample")
            && warnings.contains("gpu-chat-1, gpu-chat-2"),
        "{warnings}"
    );
    assert!(
        warnings.contains("[[gpu_metrics]] dcgm: none of its"),
        "{warnings}"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run_summary.json")).unwrap())
            .unwrap();
    let listed = summary["warnings"].as_array().unwrap();
    assert!(
        listed
            .iter()
            .any(|w| w.as_str().unwrap().starts_with("pool chat-prod: its hosts")),
        "{listed:?}"
    );
    let methods = query(
        &out,
        "SELECT DISTINCT method FROM hourly_utilization WHERE pool = 'chat-prod'",
    );
    assert!(!methods.iter().any(|m| m[0] == "dcgm"), "{methods:?}");
    // Spelt right: no such warning, and DCGM measures the pool.
    let right = dir.path().join("right");
    std::fs::create_dir_all(&right).unwrap();
    let config = write_config(&right, &good);
    let output = run(&config, &right.join("out"), &["--quiet"]);
    assert_ok(&output);
    assert!(!stderr(&output).contains("match no GPU metrics sample"));
    assert!(!stderr(&output).contains("none of its"));
    let methods = query(
        &right.join("out"),
        "SELECT DISTINCT method FROM hourly_utilization WHERE pool = 'chat-prod'",
    );
    assert!(methods.iter().any(|m| m[0] == "dcgm"), "{methods:?}");
}
