//! `inferledger synth`: writes a synthetic request log in OpenAI's response shape, with
//! realistic distributions (multi-turn interactions with growing prompts, prefix cache
//! hits, lognormal output lengths, a few failures, duplicates and malformed lines), for
//! `make bench` and demos. Deterministic for a given seed.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use clap::Args;

use crate::common::error::{Error, Result};
use crate::common::progress::Progress;

/// Options of `synth`.
#[derive(Debug, Clone, Args)]
pub struct SynthArgs {
    /// Number of log lines to write.
    #[arg(long, default_value_t = 1_000_000)]
    pub requests: u64,
    /// File to write (JSONL).
    #[arg(long)]
    pub out: PathBuf,
    /// Random seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Days the log spans, ending at --end.
    #[arg(long, default_value_t = 7)]
    pub days: u32,
    /// Last day of the log (YYYY-MM-DD, UTC).
    #[arg(long, default_value = "2026-11-22", value_parser = super::parse_date)]
    pub end: chrono::NaiveDate,
}

const TEAMS: [&str; 6] = ["search", "support", "growth", "platform", "docs", "sales"];
const FEATURES: [&str; 12] = [
    "qa",
    "chat",
    "summarise",
    "classify",
    "extract",
    "draft",
    "translate",
    "agent",
    "rerank",
    "title",
    "moderate",
    "nightly-digest",
];
const MODELS: [(&str, u32); 5] = [
    ("gpt-4o-mini", 45),
    ("gpt-4o", 20),
    ("gpt-4.1", 15),
    ("gpt-5-mini", 15),
    ("o3", 5),
];

fn lognormal(rng: &mut fastrand::Rng, median: f64, sigma: f64) -> f64 {
    // Box–Muller.
    let u1 = rng.f64().max(1e-12);
    let u2 = rng.f64();
    let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
    median * (sigma * z).exp()
}

fn pick_model(rng: &mut fastrand::Rng) -> &'static str {
    let total: u32 = MODELS.iter().map(|m| m.1).sum();
    let mut roll = rng.u32(0..total);
    for (model, weight) in MODELS {
        if roll < weight {
            return model;
        }
        roll -= weight;
    }
    MODELS[0].0
}

impl SynthArgs {
    /// Writes the log.
    pub fn run(self, progress: &Progress) -> Result<()> {
        let file = std::fs::File::create(&self.out).map_err(|e| Error::io(&self.out, e))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let io = |e| Error::io(&self.out, e);
        let mut rng = fastrand::Rng::with_seed(self.seed);
        let end = self.end.succ_opt().unwrap_or(self.end);
        let end_s = end
            .and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc()
            .timestamp();
        let span_s = i64::from(self.days) * 86_400;
        let start_s = end_s - span_s;
        let bar = progress.step("writing synthetic log");
        let mut written = 0u64;
        let mut interaction = 0u64;
        // Interactions start evenly spread over the span, in time order.
        let expected_interactions = (self.requests / 3).max(1);
        while written < self.requests {
            interaction += 1;
            let mut ts = start_s + (interaction as i64 * span_s) / expected_interactions as i64;
            ts = ts.min(end_s - 3600);
            let team_index = rng.usize(0..TEAMS.len());
            let feature = FEATURES[(team_index * 2 + rng.usize(0..2)) % FEATURES.len()];
            let model = pick_model(&mut rng);
            let user = rng.u32(0..20_000);
            let system_prompt = lognormal(&mut rng, 1200.0, 0.6) as i64 + 50;
            let turns = 1 + (lognormal(&mut rng, 2.0, 0.8) as u64).min(12);
            let mut history = 0i64;
            for turn in 0..turns {
                if written >= self.requests {
                    break;
                }
                let user_message = lognormal(&mut rng, 150.0, 0.9) as i64 + 5;
                let input = system_prompt + history + user_message;
                let cached = if turn == 0 {
                    if rng.f64() < 0.3 {
                        (system_prompt / 128) * 128
                    } else {
                        0
                    }
                } else if rng.f64() < 0.75 {
                    ((system_prompt + history) / 128) * 128
                } else {
                    0
                };
                let output = (lognormal(&mut rng, 250.0, 0.8) as i64).clamp(1, 16_000);
                let reasoning = if model == "o3" { output / 2 } else { 0 };
                let failed = rng.f64() < 0.02;
                let id = format!("chatcmpl-syn{interaction:09}t{turn:02}");
                let line = if failed {
                    format!(
                        r#"{{"id":"{id}","object":"chat.completion","created":{ts},"model":"{model}","status":"error","error":{{"message":"The server had an error"}},"duration_ms":{},"metadata":{{"team":"{}","feature":"{feature}","user_id":"u{user}","session_id":"s{interaction}"}}}}"#,
                        rng.u32(50..3000),
                        TEAMS[team_index]
                    )
                } else {
                    format!(
                        r#"{{"id":"{id}","object":"chat.completion","created":{ts},"model":"{model}","usage":{{"prompt_tokens":{input},"completion_tokens":{output},"total_tokens":{},"prompt_tokens_details":{{"cached_tokens":{cached}}},"completion_tokens_details":{{"reasoning_tokens":{reasoning}}}}},"duration_ms":{},"metadata":{{"team":"{}","feature":"{feature}","user_id":"u{user}","session_id":"s{interaction}"}}}}"#,
                        input + output,
                        200 + output * 12,
                        TEAMS[team_index]
                    )
                };
                let roll = rng.f64();
                if roll < 0.0002 {
                    // A line cut short, as a crashed log writer leaves it.
                    writeln!(out, "{}", &line[..line.len() / 2]).map_err(io)?;
                } else {
                    writeln!(out, "{line}").map_err(io)?;
                }
                written += 1;
                if roll > 0.999 && written < self.requests {
                    writeln!(out, "{line}").map_err(io)?;
                    written += 1;
                }
                history = input + output - system_prompt;
                ts += 5 + rng.i64(0..240);
            }
            if interaction.is_multiple_of(10_000) {
                bar.set_message(format!("writing synthetic log: {written} lines"));
            }
        }
        out.flush().map_err(io)?;
        bar.finish_and_clear();
        Ok(())
    }
}
