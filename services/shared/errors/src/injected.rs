//! Seeded chances, for the faults tests inject (into the store, into the bus): the
//! same seed draws the same sequence, so a failure names what replays it.

/// SplitMix64: a seeded sequence that needs no dependency. The order in which
/// concurrent tasks draw from it varies, so a seed replays a single-task run
/// exactly and a concurrent one closely.
pub struct Dice(std::sync::Mutex<u64>);

impl Dice {
    pub fn new(seed: u64) -> Dice {
        Dice(std::sync::Mutex::new(seed))
    }

    pub fn next(&self) -> u64 {
        let mut state = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// True with probability `p`.
    pub fn chance(&self, p: f64) -> bool {
        p > 0.0 && (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

/// Parses `spec`, a comma-separated `name=value` list such as `seed=7,unknown=0.1`,
/// into its pairs; a seed is required, so that a failure can be replayed.
pub fn parse_spec(spec: &str) -> Result<(u64, Vec<(String, String)>), String> {
    let mut seed = None;
    let mut pairs = Vec::new();
    for part in spec.split(',').filter(|p| !p.trim().is_empty()) {
        let (name, value) = part
            .split_once('=')
            .ok_or_else(|| format!("{part:?} is not name=value"))?;
        let (name, value) = (name.trim(), value.trim());
        if name == "seed" {
            seed = Some(
                value
                    .parse()
                    .map_err(|_| "seed must be a whole number".to_string())?,
            );
        } else {
            pairs.push((name.to_string(), value.to_string()));
        }
    }
    let seed = seed.ok_or("a seed is required, so that a failure can be replayed")?;
    Ok((seed, pairs))
}

/// A chance as a spec gives it: a number from 0 to 0.5 (more would starve the work).
pub fn parse_chance(name: &str, value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(p) if (0.0..=0.5).contains(&p) => Ok(p),
        _ => Err(format!("{name} must be a chance from 0 to 0.5")),
    }
}
