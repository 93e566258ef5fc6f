//! Which side of a comparison won: round by round for paired rounds, by the spreads for
//! separate series, and only by a lead larger than this machine's run-to-run noise, so that
//! a second run names the same winner.

use crate::report::Row;

/// A round (or a spread) counts as won only when the winner's figure is this many times
/// lower: on this 2-core machine the same two commands' per-round ratio moves by about 10%
/// from run to run (PostgreSQL copy against `pgcopydb`: 1.06-1.18 in one run, 0.94-1.23 in
/// the next), so a smaller lead is not a result a second run repeats.
pub const MARGIN: f64 = 1.10;

/// The share of paired rounds a side must win by [`MARGIN`] to be named the winner: with 3
/// rounds, every one; with 10, one or two odd rounds (a baseline's rare stall) do not turn a
/// clear result into none, and the table says how many rounds went the other way.
pub const MAJORITY: (usize, usize) = (4, 5);

/// The side a row names, with the rounds behind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// `Some(true)`: cutover; `Some(false)`: the baseline; `None`: no clear winner.
    pub cutover_won: Option<bool>,
    /// Rounds cutover won by the margin (paired rows only).
    pub ours: usize,
    /// Rounds the baseline won by the margin (paired rows only).
    pub theirs: usize,
    /// Rounds compared (0: separate series, judged by their spreads).
    pub rounds: usize,
}

impl Verdict {
    /// The bare verdict, which runs are compared by: `cutover faster`, `baseline lower`,
    /// `no clear winner`.
    pub fn category(&self, time: bool) -> &'static str {
        match (self.cutover_won, time) {
            (Some(true), true) => "cutover faster",
            (Some(true), false) => "cutover lower",
            (Some(false), true) => "baseline faster",
            (Some(false), false) => "baseline lower",
            (None, _) => "no clear winner",
        }
    }

    /// The table's cell: the category and the rounds (or spreads) behind it.
    pub fn cell(&self, time: bool) -> String {
        let by = percent(MARGIN);
        if self.rounds == 0 {
            return match self.cutover_won {
                Some(_) => format!(
                    "{} (separate series: spreads over {by} apart)",
                    self.category(time)
                ),
                None => format!("no clear winner (separate series: spreads not {by} apart)"),
            };
        }
        let n = self.rounds;
        match self.cutover_won {
            Some(true) => format!(
                "cutover {}: {} of {n} rounds by over {by}",
                verb(time),
                self.ours
            ),
            Some(false) => format!(
                "baseline {}: {} of {n} rounds by over {by}",
                verb(time),
                self.theirs
            ),
            None => format!(
                "no clear winner: over {by} ahead in {} of {n} rounds (cutover), {} (baseline)",
                self.ours, self.theirs
            ),
        }
    }
}

fn verb(time: bool) -> &'static str {
    if time {
        "faster"
    } else {
        "lower"
    }
}

/// `1.10` as `10%`.
pub(crate) fn percent(factor: f64) -> String {
    format!("{:.0}%", (factor - 1.0) * 100.0)
}

/// Whether `a` beats `b` by the margin (lower is better; a zero beats any positive figure).
fn beats(a: f64, b: f64) -> bool {
    a * MARGIN < b
}

impl Row {
    /// Which side won. Paired rounds are judged round by round, since the two runs of a round
    /// shared the machine's state and drift between rounds (a busy minute) affects both: a
    /// side wins when it won at least [`MAJORITY`] of the rounds by [`MARGIN`]. Separate series
    /// are judged by their spreads: every figure of one side below every figure of the other,
    /// by the margin.
    pub fn verdict(&self) -> Verdict {
        let (ours, theirs) = (&self.ours.0, &self.theirs.0);
        let paired = self.paired && ours.len() == theirs.len() && !ours.is_empty();
        if !paired {
            let cutover_won = if beats(self.ours.max(), self.theirs.min()) {
                Some(true)
            } else if beats(self.theirs.max(), self.ours.min()) {
                Some(false)
            } else {
                None
            };
            return Verdict {
                cutover_won,
                ours: 0,
                theirs: 0,
                rounds: 0,
            };
        }
        let rounds = ours.len();
        let won = |a: &[f64], b: &[f64]| a.iter().zip(b).filter(|(x, y)| beats(**x, **y)).count();
        let (o, t) = (won(ours, theirs), won(theirs, ours));
        let needed = (MAJORITY.0 * rounds).div_ceil(MAJORITY.1);
        let cutover_won = if o >= needed {
            Some(true)
        } else if t >= needed {
            Some(false)
        } else {
            None
        };
        Verdict {
            cutover_won,
            ours: o,
            theirs: t,
            rounds,
        }
    }

    /// The verdict's bare category (see [`Verdict::category`]).
    pub fn category(&self) -> &'static str {
        self.verdict().category(self.unit == "s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rounds::Samples;

    fn row(paired: bool, ours: Vec<f64>, theirs: Vec<f64>) -> Row {
        Row {
            what: "m".into(),
            cache: "-",
            unit: "s",
            ours: Samples(ours),
            baseline: "b".into(),
            theirs: Samples(theirs),
            paired,
        }
    }

    #[test]
    fn separate_series_need_their_spreads_apart_by_the_margin() {
        let apart = |o, t| row(false, o, t).category();
        assert_eq!(apart(vec![1.0, 2.0], vec![2.5, 3.0]), "cutover faster");
        assert_eq!(apart(vec![1.0, 2.6], vec![2.5, 3.0]), "no clear winner");
        // Apart, but by under 10%.
        assert_eq!(apart(vec![1.0, 2.4], vec![2.5, 3.0]), "no clear winner");
        assert_eq!(apart(vec![4.0, 5.0], vec![2.5, 3.0]), "baseline faster");
    }

    #[test]
    fn paired_rounds_are_judged_round_by_round_beyond_the_margin() {
        let paired = |o, t| row(true, o, t).category();
        // A slow round slows both sides: cutover still won each round by over 10%, though
        // its slow round is slower than the baseline's fastest.
        assert_eq!(
            paired(vec![0.437, 0.219, 0.196], vec![0.486, 0.433, 0.441]),
            "cutover faster"
        );
        // A close contest (PostgreSQL copy against pgcopydb, two runs): every round won,
        // one by 6%; then one round lost. Both are no clear winner, so the runs agree.
        assert_eq!(
            paired(vec![9.533, 8.925, 9.026], vec![10.147, 10.498, 10.002]),
            "no clear winner"
        );
        assert_eq!(
            paired(vec![10.645, 9.036, 9.679], vec![10.023, 11.079, 10.788]),
            "no clear winner"
        );
        assert_eq!(
            paired(vec![2.0, 3.0, 3.0], vec![1.0, 2.0, 2.5]),
            "baseline faster"
        );
        // A tie, or a zero against a zero, wins nothing; a zero beats any failure.
        assert_eq!(paired(vec![1.0, 2.0], vec![1.0, 3.0]), "no clear winner");
        assert_eq!(paired(vec![0.0, 0.0], vec![0.0, 0.0]), "no clear winner");
        assert_eq!(paired(vec![0.0, 0.0], vec![6.0, 9.0]), "cutover faster");
        // Unequal series cannot be paired: judged by their spreads.
        assert_eq!(
            paired(vec![1.0, 2.0, 3.0], vec![2.5, 4.0]),
            "no clear winner"
        );
    }

    #[test]
    fn one_odd_round_in_ten_does_not_hide_a_clear_winner() {
        // The two-step switch's window: 0.14 s against 0.65 s, but 1.18 s once in ten.
        let mut theirs = vec![0.14; 10];
        theirs[4] = 1.18;
        let r = row(true, vec![0.65; 10], theirs.clone());
        assert_eq!(r.category(), "baseline faster");
        assert_eq!(
            r.verdict().cell(true),
            "baseline faster: 9 of 10 rounds by over 10%"
        );
        // Three odd rounds in ten are too many.
        theirs[6] = 1.18;
        theirs[8] = 1.18;
        let r = row(true, vec![0.65; 10], theirs);
        assert_eq!(r.category(), "no clear winner");
        assert_eq!(
            r.verdict().cell(true),
            "no clear winner: over 10% ahead in 3 of 10 rounds (cutover), 7 (baseline)"
        );
    }
}
