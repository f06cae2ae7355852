//! Sharding: which of an experiment's runs one process runs, when a scheduler starts several
//! (a Slurm job array, a Kubernetes indexed job, GNU parallel, Ray).
//!
//! Shard `I/N` runs the runs whose stable hash ([`stable_hash`] of `"<experiment>/<run>"`) is
//! `I` modulo `N`. The hash depends on the names alone, so adding a run to a sweep never moves
//! another run to another shard, and every process computes the same assignment.

use std::fmt;
use std::str::FromStr;

use anyhow::{Context, Result, bail};

/// Share `index` of `count` of an experiment's runs (`0 ≤ index < count`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    index: usize,
    count: usize,
}

impl Shard {
    /// Every run: shard `0/1`.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Shard `index` of `count`.
    pub fn new(index: usize, count: usize) -> Result<Self> {
        if count == 0 {
            bail!("the number of shards must be at least 1");
        }
        if index >= count {
            bail!("shard {index}/{count}: the index must be below the number of shards (0-based)");
        }
        Ok(Self { index, count })
    }

    /// The shard's index, from 0.
    pub fn index(self) -> usize {
        self.index
    }

    /// The number of shards.
    pub fn count(self) -> usize {
        self.count
    }

    /// Whether this is the only shard.
    pub fn is_all(self) -> bool {
        self.count == 1
    }

    /// Whether the run `run` of `experiment` belongs to this shard.
    pub fn contains(self, experiment: &str, run: &str) -> bool {
        stable_hash(&format!("{experiment}/{run}")) % self.count as u64 == self.index as u64
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = anyhow::Error;

    /// `I/N`, e.g. `0/4` … `3/4`.
    fn from_str(s: &str) -> Result<Self> {
        let (index, count) = s
            .split_once('/')
            .with_context(|| format!("`{s}`: a shard is I/N, e.g. 0/4 (I from 0 to N − 1)"))?;
        let number = |part: &str, what: &str| {
            part.trim()
                .parse::<usize>()
                .with_context(|| format!("`{s}`: the {what} `{part}` is not a whole number"))
        };
        Self::new(number(index, "index")?, number(count, "count")?)
    }
}

/// 64-bit FNV-1a of the bytes of `s`, finished with splitmix64's mixer so that the low bits
/// (which `% N` reads) depend on every byte. Fixed by this code, not by the Rust version or
/// the platform (unlike `std`'s `DefaultHasher`).
pub fn stable_hash(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in s.bytes() {
        h ^= u64::from(byte);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// Where a process's shard came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardSource {
    /// `--shard I/N`.
    Flag,
    /// A Slurm job array: `SLURM_ARRAY_TASK_ID` − `SLURM_ARRAY_TASK_MIN` (divided by
    /// `SLURM_ARRAY_TASK_STEP`) of `SLURM_ARRAY_TASK_COUNT`.
    Slurm,
    /// A Kubernetes indexed job: `JOB_COMPLETION_INDEX` of `--shards N`.
    Kubernetes,
    /// None of them: every run.
    Unsharded,
}

impl fmt::Display for ShardSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Flag => "--shard",
            Self::Slurm => "SLURM_ARRAY_TASK_ID",
            Self::Kubernetes => "JOB_COMPLETION_INDEX",
            Self::Unsharded => "unsharded",
        })
    }
}

/// The shard of this process: `--shard I/N` when given; otherwise a Slurm array task's index
/// and count; otherwise Kubernetes' `JOB_COMPLETION_INDEX` with `--shards N` as the count;
/// otherwise every run. `env` looks up an environment variable (`std::env::var` in the
/// binaries; a table in the tests).
pub fn resolve(
    flag: Option<Shard>,
    shards: Option<usize>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(Shard, ShardSource)> {
    if let Some(shard) = flag {
        if shards.is_some_and(|n| n != shard.count) {
            bail!(
                "--shard {shard} and --shards {} disagree",
                shards.unwrap_or(0)
            );
        }
        return Ok((shard, ShardSource::Flag));
    }
    let number = |name: &str| -> Result<Option<usize>> {
        env(name)
            .filter(|v| !v.trim().is_empty())
            .map(|v| {
                v.trim()
                    .parse::<usize>()
                    .with_context(|| format!("{name}={v} is not a whole number"))
            })
            .transpose()
    };
    if let Some(id) = number("SLURM_ARRAY_TASK_ID")? {
        let count = number("SLURM_ARRAY_TASK_COUNT")?
            .context("SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not")?;
        let min = number("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
        let step = number("SLURM_ARRAY_TASK_STEP")?.unwrap_or(1).max(1);
        let offset = id
            .checked_sub(min)
            .context("SLURM_ARRAY_TASK_ID is below SLURM_ARRAY_TASK_MIN")?;
        let shard = Shard::new(offset / step, count)
            .ok()
            .filter(|_| offset % step == 0)
            .with_context(|| {
                format!(
                    "Slurm array task {id} (min {min}, step {step}, {count} tasks) is not in a \
                     contiguous range: submit --array=0-{} (optionally with %K), or pass \
                     --shard I/N",
                    count.saturating_sub(1)
                )
            })?;
        if shards.is_some_and(|n| n != count) {
            bail!(
                "--shards {} disagrees with SLURM_ARRAY_TASK_COUNT={count}",
                shards.unwrap_or(0)
            );
        }
        return Ok((shard, ShardSource::Slurm));
    }
    if let Some(index) = number("JOB_COMPLETION_INDEX")? {
        let count = shards.context(
            "JOB_COMPLETION_INDEX is set: give the number of shards (the job's completions) \
             with --shards N",
        )?;
        return Ok((Shard::new(index, count)?, ShardSource::Kubernetes));
    }
    if let Some(n) = shards {
        bail!(
            "--shards {n} needs the shard's index: from JOB_COMPLETION_INDEX or a Slurm array \
             task, or give --shard I/{n} instead"
        );
    }
    Ok((Shard::ALL, ShardSource::Unsharded))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    /// `I/N` parses to shard I of N; a bad index, count or shape is refused with a message.
    #[test]
    fn parses_i_of_n() {
        let shard: Shard = "2/5".parse().expect("2/5");
        assert_eq!((shard.index(), shard.count()), (2, 5));
        assert_eq!(shard.to_string(), "2/5");
        for bad in ["5/5", "1/0", "3", "a/2", "1/b", "-1/3"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    /// The shards of N partition the runs: every run is in exactly one; adding runs leaves
    /// the shard of every earlier run unchanged (the hash depends on the name alone); and on
    /// 1000 runs over 4 shards each shard gets a fair share (200–300).
    #[test]
    fn shards_partition_the_runs_stably() {
        let names: Vec<String> = (0..1000).map(|i| format!("noise_{i}_seed_{i}")).collect();
        let count = 4;
        let shards: Vec<Shard> = (0..count)
            .map(|i| Shard::new(i, count).expect("shard"))
            .collect();
        let owner = |name: &str| -> Vec<usize> {
            shards
                .iter()
                .filter(|s| s.contains("sweep", name))
                .map(|s| s.index())
                .collect()
        };
        let mut sizes = vec![0; count];
        let before: Vec<Vec<usize>> = names.iter().map(|n| owner(n)).collect();
        for o in &before {
            assert_eq!(o.len(), 1);
            sizes[o[0]] += 1;
        }
        assert!(sizes.iter().all(|&s| (200..=300).contains(&s)), "{sizes:?}");
        // The same names, asked again after "adding" more runs: nothing moves.
        let _more: Vec<Vec<usize>> = (1000..1100).map(|i| owner(&format!("extra_{i}"))).collect();
        let after: Vec<Vec<usize>> = names.iter().map(|n| owner(n)).collect();
        assert_eq!(before, after);
        assert!(Shard::ALL.contains("sweep", "anything"));
    }

    /// The hash is fixed by the code: these values (computed independently, in Python, from
    /// the definition) must never change, or shards started by different builds would
    /// disagree about which runs are whose.
    #[test]
    fn hash_is_pinned() {
        assert_eq!(stable_hash(""), 0xf52a_15e9_a9b5_e89b);
        assert_eq!(
            stable_hash("rotation/damped_rotation"),
            0x08e0_0392_3ed4_4a02
        );
        assert_eq!(
            stable_hash("noise_and_data/noise_1e-4_seed_0"),
            0xe341_c59f_dfa3_4772
        );
    }

    /// The flag wins; a Slurm array task maps (id − min) / step of count; Kubernetes'
    /// index needs --shards; no variable means every run; inconsistent inputs are refused.
    #[test]
    fn resolves_flag_slurm_and_kubernetes() {
        let none = env_of(&[]);
        assert_eq!(
            resolve(None, None, &none).expect("none"),
            (Shard::ALL, ShardSource::Unsharded)
        );
        let flag = Shard::new(1, 3).expect("1/3");
        let slurm = env_of(&[
            ("SLURM_ARRAY_TASK_ID", "7"),
            ("SLURM_ARRAY_TASK_MIN", "5"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
        ]);
        assert_eq!(
            resolve(Some(flag), None, &slurm).expect("flag"),
            (flag, ShardSource::Flag)
        );
        assert_eq!(
            resolve(None, None, &slurm).expect("slurm"),
            (Shard::new(2, 4).expect("2/4"), ShardSource::Slurm)
        );
        let stepped = env_of(&[
            ("SLURM_ARRAY_TASK_ID", "6"),
            ("SLURM_ARRAY_TASK_MIN", "0"),
            ("SLURM_ARRAY_TASK_STEP", "2"),
            ("SLURM_ARRAY_TASK_COUNT", "5"),
        ]);
        assert_eq!(
            resolve(None, None, &stepped).expect("stepped").0,
            Shard::new(3, 5).expect("3/5")
        );
        // --array=0,1,7: task 7 of 3 is outside a contiguous range.
        let listed = env_of(&[
            ("SLURM_ARRAY_TASK_ID", "7"),
            ("SLURM_ARRAY_TASK_MIN", "0"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ]);
        assert!(resolve(None, None, &listed).is_err());
        assert!(resolve(None, Some(5), &slurm).is_err());
        let k8s = env_of(&[("JOB_COMPLETION_INDEX", "3")]);
        assert_eq!(
            resolve(None, Some(8), &k8s).expect("k8s"),
            (Shard::new(3, 8).expect("3/8"), ShardSource::Kubernetes)
        );
        assert!(resolve(None, None, &k8s).is_err());
        assert!(resolve(None, Some(2), &k8s).is_err(), "index 3 of 2");
        assert!(resolve(None, Some(2), &none).is_err());
    }
}
