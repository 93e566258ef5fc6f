//! Which side of a comparison won, judged so that a second run names the same winner: paired
//! rounds round by round, separate series by their spreads, and in both cases only by a lead
//! larger than what this machine's noise moves from one run to the next.

use crate::report::Row;
use crate::rounds::Samples;

/// The smallest median lead (the other side's figure over the winner's, per round) that
/// names a winner. On this 2-core machine the same two commands' per-round ratio moved by up
/// to 40% within one run (PostgreSQL copy on new against `pgcopydb`: 0.87x to 1.29x), and a
/// 3-round median of a 1.1-1.25x contest moved across any finer bound between two whole runs
/// (four runs of the PostgreSQL copy rows: medians 1.08x to 1.26x), so a smaller lead is
/// called no clear winner. The ratio column still shows the figure.
pub const MARGIN: f64 = 1.30;

/// The share of paired rounds the winner must have led (by any amount): with 3 rounds, every
/// one; with 10, one or two odd rounds (a baseline's rare stall) do not hide a clear result.
pub const MAJORITY: (usize, usize) = (4, 5);

/// The side a row names, with the figures behind it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    /// `Some(true)`: cutover; `Some(false)`: the baseline; `None`: no clear winner.
    pub cutover_won: Option<bool>,
    /// cutover's lead: the median of the per-round ratios baseline / cutover (separate
    /// series: the ratio of the medians); below 1 the baseline leads.
    pub lead: f64,
    /// Rounds cutover led (paired rows only).
    pub ours: usize,
    /// Rounds the baseline led (paired rows only).
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

    /// The table's cell: the category and the figures behind it.
    pub fn cell(&self, time: bool) -> String {
        let (leader, lead) = if self.lead >= 1.0 {
            ("cutover", self.lead)
        } else {
            ("baseline", 1.0 / self.lead)
        };
        let lead = times(lead);
        let margin = times(MARGIN);
        if self.rounds == 0 {
            return match self.cutover_won {
                Some(_) => format!(
                    "{} by {lead} (separate series: spreads apart)",
                    self.category(time)
                ),
                None => format!(
                    "no clear winner (separate series: {leader} by {lead}; spreads apart and {margin} needed)"
                ),
            };
        }
        let n = self.rounds;
        match self.cutover_won {
            Some(true) => format!(
                "cutover {} by {lead} (median of rounds), ahead in {} of {n}",
                verb(time),
                self.ours
            ),
            Some(false) => format!(
                "baseline {} by {lead} (median of rounds), ahead in {} of {n}",
                verb(time),
                self.theirs
            ),
            None => format!(
                "no clear winner: {leader} by {lead} (median of rounds; {margin} needed), rounds led: cutover {} of {n}, baseline {}",
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

/// `1.3` as `1.30x`, `123.4` as `123x`.
pub(crate) fn times(v: f64) -> String {
    if v.is_infinite() {
        "all (the other side 0)".into()
    } else {
        crate::report::figure(v, "x")
    }
}

/// `theirs / ours`, lower being better: how far ahead cutover is. A zero against a zero is a
/// tie; a zero against a positive figure an infinite lead.
fn lead(ours: f64, theirs: f64) -> f64 {
    match (ours == 0.0, theirs == 0.0) {
        (true, true) => 1.0,
        (true, false) => f64::INFINITY,
        _ => theirs / ours,
    }
}

impl Row {
    /// Which side won. Paired rounds are judged round by round, since the two runs of a round
    /// shared the machine's state and drift between rounds (a busy minute) affects both: a
    /// side wins when it led in at least [`MAJORITY`] of the rounds and the median of the
    /// per-round leads is at least [`MARGIN`]. Separate series need every figure of the
    /// winner below every figure of the other, and their medians [`MARGIN`] apart.
    pub fn verdict(&self) -> Verdict {
        let (ours, theirs) = (&self.ours.0, &self.theirs.0);
        let paired = self.paired && ours.len() == theirs.len() && !ours.is_empty();
        if !paired {
            let lead = lead(self.ours.median(), self.theirs.median());
            let cutover_won = if self.ours.max() < self.theirs.min() && lead >= MARGIN {
                Some(true)
            } else if self.theirs.max() < self.ours.min() && lead <= 1.0 / MARGIN {
                Some(false)
            } else {
                None
            };
            return Verdict {
                cutover_won,
                lead,
                ours: 0,
                theirs: 0,
                rounds: 0,
            };
        }
        let rounds = ours.len();
        let o = ours.iter().zip(theirs).filter(|(x, y)| x < y).count();
        let t = ours.iter().zip(theirs).filter(|(x, y)| y < x).count();
        // An infinite lead (a zero against failures) stays infinite through the median's mean.
        let lead = Samples(ours.iter().zip(theirs).map(|(x, y)| lead(*x, *y)).collect()).median();
        let needed = (MAJORITY.0 * rounds).div_ceil(MAJORITY.1);
        let cutover_won = if o >= needed && lead >= MARGIN {
            Some(true)
        } else if t >= needed && lead <= 1.0 / MARGIN {
            Some(false)
        } else {
            None
        };
        Verdict {
            cutover_won,
            lead,
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

    fn row(paired: bool, ours: &[f64], theirs: &[f64]) -> Row {
        Row {
            what: "m".into(),
            cache: "-",
            unit: "s",
            ours: Samples(ours.to_vec()),
            baseline: "b".into(),
            theirs: Samples(theirs.to_vec()),
            paired,
        }
    }

    /// The category of a paired row in each of several runs: (cutover's, baseline's) figures.
    fn runs(r: &[(&[f64], &[f64])]) -> Vec<&'static str> {
        r.iter().map(|(o, t)| row(true, o, t).category()).collect()
    }

    #[test]
    fn close_contests_measured_in_four_whole_runs_get_one_verdict() {
        // The PostgreSQL copy rows of four whole runs (2026-12-06 and 12-07), per round. Under
        // a 10% bound per round, two of these rows changed their verdict between runs.
        let on_new: [&[f64]; 4] = [
            &[9.533, 8.925, 9.026],
            &[10.645, 9.036, 9.679],
            &[9.796, 9.857, 9.675],
            &[13.345, 10.599, 10.147],
        ];
        let pgcopydb: [&[f64]; 4] = [
            &[10.147, 10.498, 10.002],
            &[10.023, 11.079, 10.788],
            &[11.398, 10.357, 11.245],
            &[11.570, 13.650, 11.542],
        ];
        let dump_dir: [&[f64]; 4] = [
            &[10.377, 10.864, 10.704],
            &[10.794, 10.680, 10.638],
            &[12.853, 10.778, 12.220],
            &[14.845, 12.094, 11.873],
        ];
        let via: [&[f64]; 4] = [
            &[13.157, 13.565, 12.644],
            &[13.079, 13.833, 12.844],
            &[15.265, 18.711, 15.378],
            &[15.254, 16.014, 13.697],
        ];
        let dump_z0: [&[f64]; 4] = [
            &[15.338, 16.420, 17.315],
            &[15.522, 15.740, 15.460],
            &[16.425, 17.802, 17.261],
            &[18.463, 18.057, 17.545],
        ];
        let pair = |a: [&'static [f64]; 4], b: [&'static [f64]; 4]| {
            runs(&[(a[0], b[0]), (a[1], b[1]), (a[2], b[2]), (a[3], b[3])])
        };
        let none = vec!["no clear winner"; 4];
        assert_eq!(pair(on_new, pgcopydb), none);
        assert_eq!(pair(on_new, dump_dir), none);
        assert_eq!(pair(via, dump_z0), none);
        // Clear results stay clear: file verify against parallel b3sum (1.40x to 1.60x).
        let b3sum = runs(&[
            (&[2.902, 3.032, 2.926], &[4.661, 5.048, 4.641]),
            (&[3.537, 3.672, 3.886], &[5.550, 5.361, 5.661]),
            (&[3.468, 3.332, 4.240], &[5.517, 5.532, 6.928]),
            (&[4.649, 3.746, 4.118], &[6.519, 6.448, 5.692]),
        ]);
        assert_eq!(b3sum, vec!["cutover faster"; 4]);
        // The PostgreSQL journal's apply against SQLite's: within a few percent.
        let journal = runs(&[
            (&[0.941, 0.820, 0.817], &[0.815, 0.756, 0.732]),
            (&[0.769, 0.771, 0.773], &[0.770, 0.769, 0.739]),
            (&[0.900, 0.814, 0.907], &[0.794, 0.789, 0.830]),
        ]);
        assert_eq!(journal, vec!["no clear winner"; 3]);
    }

    #[test]
    fn a_lead_needs_the_rounds_and_the_margin() {
        let paired = |o: &[f64], t: &[f64]| row(true, o, t).category();
        // Every round led, by 1.2x: no clear winner.
        assert_eq!(
            paired(&[1.0, 1.0, 1.0], &[1.2, 1.2, 1.2]),
            "no clear winner"
        );
        // A slow round slows both sides: cutover led each round, by 2x at the median.
        assert_eq!(
            paired(&[0.437, 0.219, 0.196], &[0.476, 0.433, 0.441]),
            "cutover faster"
        );
        // A large median lead with a round lost is no win.
        assert_eq!(
            paired(&[1.0, 1.0, 3.1], &[2.0, 3.0, 3.0]),
            "no clear winner"
        );
        assert_eq!(
            paired(&[2.0, 3.0, 3.0], &[1.0, 2.0, 2.0]),
            "baseline faster"
        );
        // Zeros: a tie wins nothing, a zero beats any failure.
        assert_eq!(paired(&[0.0, 0.0], &[0.0, 0.0]), "no clear winner");
        assert_eq!(
            paired(&[0.0, 0.0, 0.0], &[6.0, 9.0, 0.0]),
            "no clear winner"
        );
        assert_eq!(paired(&[0.0, 0.0], &[6.0, 9.0]), "cutover faster");
        // Unequal series cannot be paired: judged by their spreads.
        assert_eq!(
            row(true, &[1.0, 2.0, 3.0], &[2.5, 4.0]).category(),
            "no clear winner"
        );
    }

    #[test]
    fn one_or_two_odd_rounds_in_ten_do_not_hide_a_clear_winner() {
        // The two-step switch's window: 0.14 s against 0.65 s, but 1.18 s once in ten.
        let mut theirs = vec![0.14; 10];
        theirs[4] = 1.18;
        let r = row(true, &[0.65; 10], &theirs);
        assert_eq!(r.category(), "baseline faster");
        assert_eq!(
            r.verdict().cell(true),
            "baseline faster by 4.64x (median of rounds), ahead in 9 of 10"
        );
        theirs[6] = 1.18;
        assert_eq!(
            row(true, &[0.65; 10], &theirs).category(),
            "baseline faster"
        );
        // Three are too many.
        theirs[8] = 1.18;
        let r = row(true, &[0.65; 10], &theirs);
        assert_eq!(r.category(), "no clear winner");
        assert_eq!(
            r.verdict().cell(true),
            "no clear winner: baseline by 4.64x (median of rounds; 1.30x needed), rounds led: cutover 3 of 10, baseline 7"
        );
    }

    #[test]
    fn separate_series_need_their_spreads_and_medians_apart() {
        let apart = |o: &[f64], t: &[f64]| row(false, o, t).category();
        assert_eq!(apart(&[1.0, 2.0], &[2.5, 3.0]), "cutover faster");
        assert_eq!(apart(&[1.0, 2.6], &[2.5, 3.0]), "no clear winner");
        // Apart, but the medians only 1.2x apart.
        assert_eq!(apart(&[2.2, 2.4], &[2.5, 3.2]), "no clear winner");
        assert_eq!(apart(&[4.0, 5.0], &[2.5, 3.0]), "baseline faster");
        assert_eq!(
            row(false, &[1.0, 2.0], &[2.5, 3.0]).verdict().cell(true),
            "cutover faster by 1.83x (separate series: spreads apart)"
        );
    }
}
