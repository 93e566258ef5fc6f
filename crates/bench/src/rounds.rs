//! Like-for-like rounds: every contender runs the same number of times, the order rotates
//! round by round (so that no tool always runs first, or always on a cache another just
//! warmed), dirty pages are flushed before every run (so that no tool pays for another's
//! writeback), and the page cache is treated the same before every run.

use std::path::PathBuf;
use std::process::Command;

/// The figures of one contender, one per round.
#[derive(Debug, Clone, Default)]
pub struct Samples(pub Vec<f64>);

impl Samples {
    /// The median (the mean of the middle two for an even count; NaN for none).
    pub fn median(&self) -> f64 {
        let mut v = self.0.clone();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        match n {
            0 => f64::NAN,
            _ if n % 2 == 1 => v[n / 2],
            _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        }
    }

    /// The smallest figure.
    pub fn min(&self) -> f64 {
        self.0.iter().copied().fold(f64::INFINITY, f64::min)
    }

    /// The largest figure.
    pub fn max(&self) -> f64 {
        self.0.iter().copied().fold(f64::NEG_INFINITY, f64::max)
    }
}

/// How the page cache is treated before each run.
pub enum Cache {
    /// `sync` then `echo 3 > /proc/sys/vm/drop_caches`: every run reads from disk.
    Dropped,
    /// Every file under these directories is read before each run: every run reads from
    /// memory.
    Warm(Vec<PathBuf>),
    /// Nothing to cache (network, CPU): only dirty pages are flushed.
    NotRelevant,
}

impl Cache {
    /// The table's wording.
    pub fn label(&self) -> &'static str {
        match self {
            Cache::Dropped => "dropped before each run",
            Cache::Warm(_) => "warm: trees read before each run",
            Cache::NotRelevant => "-",
        }
    }

    /// Prepares the cache for the next run.
    pub fn prepare(&self) -> anyhow::Result<()> {
        sh("sync")?;
        match self {
            Cache::Dropped => std::fs::write("/proc/sys/vm/drop_caches", "3").map_err(|e| {
                anyhow::anyhow!("cannot drop the page cache (/proc/sys/vm/drop_caches): {e}; the bench runs as root")
            }),
            Cache::Warm(dirs) => {
                for d in dirs {
                    sh(&format!(
                        "find '{}' -type f -exec cat {{}} + > /dev/null",
                        d.display()
                    ))?;
                }
                Ok(())
            }
            Cache::NotRelevant => Ok(()),
        }
    }
}

/// Runs `sh -c cmd` and returns its standard output; fails with its standard error.
pub fn sh(cmd: &str) -> anyhow::Result<String> {
    let out = Command::new("sh").arg("-c").arg(cmd).output()?;
    anyhow::ensure!(
        out.status.success(),
        "`{cmd}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A contender: its name and one timed run returning its figure.
pub struct Contender<'a> {
    /// Shown in the progress lines.
    pub name: &'a str,
    /// One run.
    pub run: Box<dyn FnMut() -> anyhow::Result<f64> + 'a>,
}

impl<'a> Contender<'a> {
    /// A contender.
    pub fn new(name: &'a str, run: impl FnMut() -> anyhow::Result<f64> + 'a) -> Self {
        Contender {
            name,
            run: Box::new(run),
        }
    }
}

/// The order of round `round` for `n` contenders: rotated by one each round, so that each
/// contender runs first (and last) in turn; two contenders alternate.
pub fn order(round: usize, n: usize) -> Vec<usize> {
    (0..n).map(|i| (i + round) % n).collect()
}

/// Runs `rounds` rounds of every contender (`between` runs untimed after each round, e.g.
/// to change the data for the next one) and returns their samples, in the contenders'
/// order.
pub fn run(
    rounds: usize,
    cache: &Cache,
    contenders: &mut [Contender],
    mut between: impl FnMut(usize) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<Samples>> {
    let mut samples = vec![Samples::default(); contenders.len()];
    for round in 0..rounds {
        let mut line = format!("     round {}:", round + 1);
        for i in order(round, contenders.len()) {
            cache.prepare()?;
            let c = &mut contenders[i];
            let v = (c.run)()?;
            line.push_str(&format!(" {} {v:.3};", c.name));
            samples[i].0.push(v);
        }
        eprintln!("{line}");
        between(round)?;
    }
    Ok(samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_even_and_no_values() {
        assert_eq!(Samples(vec![3.0, 1.0, 2.0]).median(), 2.0);
        assert_eq!(Samples(vec![4.0, 1.0, 2.0, 3.0]).median(), 2.5);
        assert!(Samples(Vec::new()).median().is_nan());
    }

    #[test]
    fn each_contender_runs_first_and_last_in_turn() {
        assert_eq!(order(0, 2), [0, 1]);
        assert_eq!(order(1, 2), [1, 0]);
        assert_eq!(order(2, 2), [0, 1]);
        assert_eq!(order(0, 3), [0, 1, 2]);
        assert_eq!(order(1, 3), [1, 2, 0]);
        assert_eq!(order(2, 3), [2, 0, 1]);
        for n in 1..5 {
            for round in 0..6 {
                let mut o = order(round, n);
                o.sort();
                assert_eq!(o, (0..n).collect::<Vec<_>>(), "round {round} of {n}");
            }
        }
    }

    #[test]
    fn every_contender_gets_the_same_number_of_rounds() {
        let mut a = 0;
        let mut b = 0;
        let mut contenders = [
            Contender::new("a", || {
                a += 1;
                Ok(1.0)
            }),
            Contender::new("b", || {
                b += 1;
                Ok(2.0)
            }),
        ];
        let s = run(3, &Cache::NotRelevant, &mut contenders, |_| Ok(())).unwrap();
        drop(contenders);
        assert_eq!((a, b), (3, 3));
        assert_eq!(s[0].0, [1.0; 3]);
        assert_eq!(s[1].0, [2.0; 3]);
    }
}
