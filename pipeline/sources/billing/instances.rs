//! The GPU instance-type table (`instance_types.csv`, compiled in, extended by
//! `[[instance_types]]`): instance type → GPU model and GPUs per instance, and the search
//! for an instance type inside a bill's text (a usage type, a charge description).

use std::collections::HashMap;

use crate::config::InstanceTypeConfig;

const BUILTIN: &str = include_str!("instance_types.csv");

/// Instance types by lower-cased name.
#[derive(Debug, Clone)]
pub struct InstanceTable {
    types: HashMap<String, (String, i64)>,
}

impl InstanceTable {
    /// The built-in table plus the config's entries (which win).
    pub fn with_config(extra: &[InstanceTypeConfig]) -> Self {
        let mut types = HashMap::new();
        for line in BUILTIN.lines().skip(1) {
            let mut cells = line.split(',');
            if let (Some(name), Some(model), Some(gpus)) =
                (cells.next(), cells.next(), cells.next())
                && let Ok(gpus) = gpus.trim().parse::<i64>()
            {
                types.insert(name.to_ascii_lowercase(), (model.to_string(), gpus));
            }
        }
        for t in extra {
            types.insert(t.name.to_ascii_lowercase(), (t.gpu_model.clone(), t.gpus));
        }
        InstanceTable { types }
    }

    /// The first known instance type among the words of `text` (split on spaces and
    /// `: , ; / ( ) " '`), as (instance type, GPU model, GPUs per instance).
    pub fn find_in_text(&self, text: &str) -> Option<(String, String, i64)> {
        text.split(|c: char| c.is_whitespace() || ":,;/()\"'".contains(c))
            .filter(|w| !w.is_empty())
            .find_map(|word| {
                let key = word.to_ascii_lowercase();
                self.types
                    .get(&key)
                    .map(|(model, gpus)| (key.clone(), model.clone(), *gpus))
            })
    }
}

/// GCP bills attached GPUs as their own SKU ("Nvidia Tesla A100 GPU running in
/// Americas"): the GPU model, with instance type `gpu-sku` and one GPU per unit of usage.
pub fn gcp_gpu_sku(description: &str) -> Option<(String, String, i64)> {
    let lower = description.to_ascii_lowercase();
    if !lower.contains("gpu") || !lower.contains("nvidia") {
        return None;
    }
    let models = [
        ("h200", "H200"),
        ("h100", "H100"),
        ("a100 80gb", "A100-80GB"),
        ("a100", "A100"),
        ("l4", "L4"),
        ("t4", "T4"),
        ("v100", "V100"),
        ("p100", "P100"),
        ("a10g", "A10G"),
    ];
    let words: Vec<&str> = lower.split(|c: char| !c.is_ascii_alphanumeric()).collect();
    models
        .iter()
        .find(|(name, _)| {
            if name.contains(' ') {
                lower.contains(name)
            } else {
                words.contains(name)
            }
        })
        .map(|(_, model)| ("gpu-sku".to_string(), model.to_string(), 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_instance_types_in_bill_text() {
        let table = InstanceTable::with_config(&[InstanceTypeConfig {
            name: "gpu-8x-b200".into(),
            gpu_model: "B200".into(),
            gpus: 8,
        }]);
        assert_eq!(
            table.find_in_text("$1.624 per On Demand Linux g5.4xlarge Instance Hour"),
            Some(("g5.4xlarge".into(), "A10G".into(), 1))
        );
        assert_eq!(
            table.find_in_text("USE2-SpotUsage:p5.48xlarge"),
            Some(("p5.48xlarge".into(), "H100".into(), 8))
        );
        assert_eq!(table.find_in_text("Standard_ND96isr_H100_v5").unwrap().2, 8);
        assert_eq!(table.find_in_text("GPU-8X-B200 node").unwrap().1, "B200");
        assert_eq!(table.find_in_text("$0.023 per GB-month of storage"), None);
    }

    #[test]
    fn gcp_gpu_skus() {
        assert_eq!(
            gcp_gpu_sku("Nvidia L4 GPU running in Americas").unwrap().1,
            "L4"
        );
        assert_eq!(
            gcp_gpu_sku("Nvidia Tesla A100 80GB GPU running in EMEA")
                .unwrap()
                .1,
            "A100-80GB"
        );
        assert_eq!(gcp_gpu_sku("N2 Instance Core running in Americas"), None);
    }
}
