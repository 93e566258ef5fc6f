//! The one runner of every store's proof step (`postgres.verify`, `redis.verify`,
//! `mysql.verify`): it journals the command, runs the store's verifier, records the whole
//! proof for `cutover report`, journals its figures, and fails with the verification class
//! (exit code 9) listing the differences, so a proof behaves the same for every store and a
//! new store writes only what it compares and how ([`Prover`]).

use crate::context::{StepCtx, Values};
use crate::error::EngineError;
use crate::step::{Applied, StepRunner, Verified};
use async_trait::async_trait;
use cutover_data::proof::{failure_text, DataProof, Place};

/// Differences listed in the step's failure (all of them are in the journaled proof).
const LISTED: usize = 20;

/// One store's side of a proof step.
#[async_trait]
pub(crate) trait Prover: Send + Sync {
    /// The store's proof.
    type Proof: DataProof;

    /// For `cutover plan`: the two servers compared, and what the proof covers.
    fn compares(&self, values: &Values<'_>) -> Result<Vec<String>, EngineError>;

    /// The store's name in the journaled command ("verify redis ...").
    const STORE: &'static str;

    /// A server of the store.
    type Side: Place + Send;

    /// The two servers, source first (async: a server in a container is looked up on its
    /// host).
    async fn sides(&self, ctx: &StepCtx<'_>) -> Result<[Self::Side; 2], EngineError>;

    /// Runs the store's verifier (its errors already classified), saying progress through
    /// `ctx.detail`.
    async fn prove(&self, ctx: &StepCtx<'_>) -> Result<Self::Proof, EngineError>;
}

/// A proof step of the store `P`.
pub(crate) struct StoreVerify<P>(pub P);

#[async_trait]
impl<P: Prover> StepRunner for StoreVerify<P> {
    fn plan(&self, values: &Values<'_>) -> Result<Vec<String>, EngineError> {
        let mut lines = self.0.compares(values)?;
        lines.push("any difference fails the step (exit code 9) before traffic moves".into());
        Ok(lines)
    }

    /// A proof is only worth its latest run: always verify again.
    async fn verify(&self, _ctx: &StepCtx<'_>) -> Result<Verified, EngineError> {
        Ok(Verified::NotInPlace)
    }

    async fn apply(&self, ctx: &StepCtx<'_>) -> Result<Applied, EngineError> {
        let [source, target] = self.0.sides(ctx).await?;
        let host = format!("{} + {}", source.host(), target.host());
        let command = format!(
            "verify {} {} against {}",
            P::STORE,
            source.describe(),
            target.describe()
        );
        ctx.command_started(&host, command)?;
        let proof = self.0.prove(ctx).await?;
        conclude(ctx, &host, &proof)
    }

    async fn rollback(&self, _ctx: &StepCtx<'_>) -> Result<Option<String>, EngineError> {
        Ok(None)
    }
}

/// Journals a finished proof (its end, the whole proof, its figures) and turns a mismatch
/// into the step's failure.
fn conclude<P: DataProof>(
    ctx: &StepCtx<'_>,
    host: &str,
    proof: &P,
) -> Result<Applied, EngineError> {
    let summary = proof.summary();
    ctx.command_finished(
        host,
        if proof.matches() { 0 } else { 1 },
        (proof.seconds() * 1000.0) as u64,
        summary.clone(),
    )?;
    ctx.record_proof(host, proof.matches(), proof.render(), proof)?;
    for f in proof.figures() {
        ctx.measure(f.name, f.value, f.unit)?;
    }
    ctx.measure("seconds", proof.seconds(), "s")?;
    let (_, differences) = proof.failures(0);
    ctx.measure("differences", differences as f64, "differences")?;
    for note in proof.notes() {
        ctx.detail(format!("note: {note}"));
    }
    if !proof.matches() {
        return Err(ctx.verify_failed(failure_text(proof, LISTED)));
    }
    Ok(Applied::Done { summary })
}
