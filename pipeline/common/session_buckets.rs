//! Session buckets: how a large run splits its requests so that memory does not grow with
//! the log. A request's session key (the key `queries/requests.sql` sessionises by: its
//! log's interaction id, else its user, else its team and feature) decides its bucket,
//! so every interaction lies in one bucket and the session steps (`requests`,
//! `interactions`) can run bucket by bucket, each pass holding only its share of the rows. Ingest files each staged row under its bucket with [`bucket_of_request`]; the
//! SQL finds the bucket of a key it computed itself with the `session_bucket(key, buckets)`
//! function, which is [`bucket_of_key`]: the two agree because they hash the same text.

/// Input per bucket: about half a million requests of typical JSON lines, which the
/// session steps hold in well under a GiB.
pub const INPUT_BYTES_PER_BUCKET: u64 = 200 * 1024 * 1024;

/// How much larger than its size a compressed log is estimated to be once read.
pub const COMPRESSED_EXPANSION: u64 = 8;

/// The buckets for a run reading `input_bytes` (compressed files counted expanded): one
/// per [`INPUT_BYTES_PER_BUCKET`], at least one.
pub fn buckets_for_input(input_bytes: u64) -> u32 {
    u32::try_from(input_bytes.div_ceil(INPUT_BYTES_PER_BUCKET))
        .unwrap_or(u32::MAX)
        .max(1)
}

/// 64-bit FNV-1a over pieces of text, as if they were one string.
#[derive(Debug, Clone, Copy)]
struct Fnv1a(u64);

impl Fnv1a {
    fn new() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }

    fn add(mut self, text: &str) -> Self {
        for byte in text.bytes() {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
        self
    }

    fn bucket(self, buckets: u32) -> u32 {
        // `buckets` ≥ 1, so the remainder fits in u32.
        (self.0 % u64::from(buckets.max(1))) as u32
    }
}

/// The bucket of a session key among `buckets`.
pub fn bucket_of_key(session_key: &str, buckets: u32) -> u32 {
    Fnv1a::new().add(session_key).bucket(buckets)
}

/// The bucket of a request, from the columns its session key is made of, without building
/// the key: the same as [`bucket_of_key`] of `'interaction:' || interaction_id`, else
/// `'user:' || user_id`, else `'team:' || COALESCE(team, '-') || '/' || COALESCE(feature, '-')`.
pub fn bucket_of_request(
    interaction_id: Option<&str>,
    user_id: Option<&str>,
    team: Option<&str>,
    feature: Option<&str>,
    buckets: u32,
) -> u32 {
    if buckets <= 1 {
        return 0;
    }
    let hash = match (interaction_id, user_id) {
        (Some(id), _) => Fnv1a::new().add("interaction:").add(id),
        (None, Some(user)) => Fnv1a::new().add("user:").add(user),
        (None, None) => Fnv1a::new()
            .add("team:")
            .add(team.unwrap_or("-"))
            .add("/")
            .add(feature.unwrap_or("-")),
    };
    hash.bucket(buckets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_and_its_key_fall_in_the_same_bucket() {
        // The keys are built here by hand, as requests.sql builds them.
        let cases = [
            (
                Some("conv-7"),
                Some("u1"),
                Some("t"),
                None,
                "interaction:conv-7",
            ),
            (None, Some("u1"), Some("t"), Some("f"), "user:u1"),
            (None, None, Some("search"), None, "team:search/-"),
            (None, None, None, Some("chat"), "team:-/chat"),
        ];
        for buckets in [1, 2, 3, 7, 64] {
            for (interaction, user, team, feature, key) in cases {
                assert_eq!(
                    bucket_of_request(interaction, user, team, feature, buckets),
                    bucket_of_key(key, buckets),
                    "{key} in {buckets} buckets"
                );
                assert!(bucket_of_key(key, buckets) < buckets);
            }
        }
    }

    #[test]
    fn fnv1a_matches_its_published_test_vectors() {
        // FNV-1a 64 of "" and "a" from the reference test suite (isthe.com/chongo/tech/comp/fnv).
        assert_eq!(Fnv1a::new().0, 0xcbf2_9ce4_8422_2325);
        assert_eq!(Fnv1a::new().add("a").0, 0xaf63_dc4c_8601_ec8c);
        assert_eq!(Fnv1a::new().add("foo").0, 0xdcb2_7518_fed9_d577);
    }

    #[test]
    fn keys_spread_over_the_buckets() {
        // 10,000 users over 4 buckets: each gets a share within 10% of a quarter.
        let mut counts = [0u32; 4];
        for n in 0..10_000 {
            counts[bucket_of_key(&format!("user:u{n}"), 4) as usize] += 1;
        }
        assert!(
            counts.iter().all(|c| (2250..=2750).contains(c)),
            "{counts:?}"
        );
    }

    #[test]
    fn one_bucket_per_200_mib_of_input() {
        assert_eq!(buckets_for_input(0), 1);
        assert_eq!(buckets_for_input(200 * 1024 * 1024), 1);
        assert_eq!(buckets_for_input(200 * 1024 * 1024 + 1), 2);
        // The benchmark's 1M and 3M request logs: 380 MB and 1,141 MB.
        assert_eq!(buckets_for_input(380_192_695), 2);
        assert_eq!(buckets_for_input(1_141_300_000), 6);
    }
}
