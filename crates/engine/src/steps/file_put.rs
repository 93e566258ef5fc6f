//! `file.put`: a file written on a host from a template. The content travels on standard
//! input; the host writes it to a temporary file in the target's directory (created with
//! `mktemp`, so never through a link) and renames it over the target (`mv -T`: a rename
//! replaces a link rather than following it). Before the first write of a run, the host
//! keeps the previous content under `~/.cache/cutover/files/RUN/STEP.prev` (mode 0600, in a
//! 0700 directory) and its mode and owner, or that there was no file: the undo puts them
//! back. Nothing of the previous content leaves the host, so a secret in it reaches neither
//! the controller nor the journal.

use super::{describe_failure, show};
use crate::context::{StepCtx, Values};
use crate::error::EngineError;
use crate::step::{Applied, StepRunner, Verified};
use async_trait::async_trait;
use cutover_exec::{Command, Stdin};
use cutover_plan::steps::FilePutStep;
use sha2::Digest;

pub(crate) struct FilePut<'a>(pub &'a FilePutStep);

/// Writes standard input to `$1` with mode `$2` and owner `$3` (may be empty), keeping the
/// previous file of run `$4`, step `$5` first. Prints where it keeps it and what it kept.
const PUT: &str = r#"set -eu
umask 077
p=$1; mode=$2; owner=$3
keep="${HOME:-/root}/.cache/cutover/files/$4/$5"
dir=$(dirname -- "$p")
if [ -L "$p" ]; then echo "cutover: $p is a symbolic link; file.put does not write through links: remove it, or name its target" >&2; exit 3; fi
if [ -e "$p" ] && [ ! -f "$p" ]; then echo "cutover: $p exists and is not a regular file" >&2; exit 3; fi
if [ ! -d "$dir" ]; then echo "cutover: directory $dir does not exist on this host; create it first" >&2; exit 3; fi
mkdir -p -- "${keep%/*}"
if [ ! -e "$keep.state" ]; then
  if [ -f "$p" ]; then
    cat -- "$p" > "$keep.prev.tmp"
    mv -f -- "$keep.prev.tmp" "$keep.prev"
    stat -c 'file %a %u:%g' -- "$p" > "$keep.state.tmp"
  else
    echo absent > "$keep.state.tmp"
  fi
  mv -f -- "$keep.state.tmp" "$keep.state"
fi
tmp=$(mktemp -- "$dir/.cutover-put.XXXXXX")
trap 'rm -f -- "$tmp"' EXIT
cat > "$tmp"
chmod -- "$mode" "$tmp"
if [ -n "$owner" ]; then chown -- "$owner" "$tmp"; fi
mv -fT -- "$tmp" "$p"
trap - EXIT
echo "kept: $(cat -- "$keep.state")""#;

/// What is at `$1` now: `started` when run `$2`'s step `$3` already kept a previous file
/// (an attempt was cut off: apply again), `absent`, or `file MODE OWNER SHA256`.
const INSPECT: &str = r#"set -eu
p=$1; keep="${HOME:-/root}/.cache/cutover/files/$2/$3"
if [ -e "$keep.state" ]; then echo started; exit 0; fi
if [ -L "$p" ] || [ ! -f "$p" ]; then echo absent; exit 0; fi
echo "file $(stat -c '%a %U:%G' -- "$p") $(sha256sum < "$p" | cut -d' ' -f1)""#;

/// Puts back what run `$2`'s step `$3` kept of `$1`, or removes `$1` when there was none.
const RESTORE: &str = r#"set -eu
umask 077
p=$1; keep="${HOME:-/root}/.cache/cutover/files/$2/$3"
if [ ! -e "$keep.state" ]; then echo "nothing kept: the file was never written"; exit 0; fi
read -r what mode owner < "$keep.state"
if [ -L "$p" ]; then echo "cutover: $p is now a symbolic link; not restoring through it" >&2; exit 3; fi
if [ "$what" = absent ]; then
  rm -f -- "$p"
  echo "removed (there was no file before)"
else
  tmp=$(mktemp -- "$(dirname -- "$p")/.cutover-put.XXXXXX")
  trap 'rm -f -- "$tmp"' EXIT
  cat -- "$keep.prev" > "$tmp"
  chmod -- "$mode" "$tmp"
  if ! chown -- "$owner" "$tmp" 2>/dev/null; then echo "cutover: could not give $p back to $owner" >&2; fi
  mv -fT -- "$tmp" "$p"
  trap - EXIT
  echo "restored the previous content (mode $mode)"
fi
rm -f -- "$keep.prev" "$keep.state""#;

impl FilePut<'_> {
    fn sudo(&self, ctx: &StepCtx<'_>) -> bool {
        let host = &self.0.host.value;
        self.0
            .sudo
            .unwrap_or_else(|| ctx.plan.host(host).is_some_and(|h| h.sudo))
    }

    fn script(&self, ctx: &StepCtx<'_>, script: &str, args: Vec<String>) -> Command {
        let mut argv = vec![
            "sh".into(),
            "-c".into(),
            script.into(),
            "cutover-file-put".into(),
        ];
        argv.extend(args);
        Command::new(&self.0.host.value, argv)
            .sudo(self.sudo(ctx))
            .timeout(Some(std::time::Duration::from_secs(120)))
    }

    fn path(&self, ctx: &StepCtx<'_>) -> Result<String, EngineError> {
        let path = ctx.render(&self.0.path)?;
        if !path.starts_with('/') {
            return Err(ctx.failed(format!("`path` renders to `{path}`, which is not absolute")));
        }
        Ok(path)
    }

    fn secret(&self, ctx: &StepCtx<'_>) -> bool {
        ctx.uses_secrets(&self.0.content)
    }

    fn mode(&self, ctx: &StepCtx<'_>) -> String {
        format!("{:04o}", self.0.mode_bits(self.secret(ctx)))
    }
}

#[async_trait]
impl StepRunner for FilePut<'_> {
    fn plan(&self, values: &Values<'_>) -> Result<Vec<String>, EngineError> {
        let secret = self
            .0
            .content
            .uses_secrets_in(&|step, name| values.plan.is_secret_output(step, name));
        let path = show(&self.0.path, values)?;
        let mode = format!("{:04o}", self.0.mode_bits(secret));
        let owner = self
            .0
            .owner
            .as_ref()
            .map(|o| format!(", owner {}", o.value))
            .unwrap_or_default();
        let mut lines = vec![
            format!(
                "{}: write {path} (mode {mode}{owner}), atomically; the previous file is kept on the host for undo",
                self.0.host.value
            ),
            format!("--- {path} (as it is on the host)"),
            format!("+++ {path}"),
        ];
        // Secrets show as `***`; step outputs as their references, known once their step ran.
        let content = show(&self.0.content, values)?;
        lines.extend(content.lines().map(|l| format!("+{l}")));
        Ok(lines)
    }

    async fn verify(&self, ctx: &StepCtx<'_>) -> Result<Verified, EngineError> {
        let path = self.path(ctx)?;
        let content = ctx.render(&self.0.content)?;
        let cmd = self.script(
            ctx,
            INSPECT,
            vec![path, ctx.run_id.to_string(), ctx.id().to_string()],
        );
        let out = ctx.run(&cmd).await?;
        if !out.success() {
            return Err(ctx.failed(describe_failure(&out)));
        }
        let want_sha = hex::encode(sha2::Sha256::digest(content.as_bytes()));
        let want_mode = format!("{:o}", self.0.mode_bits(self.secret(ctx)));
        let fields: Vec<&str> = out.stdout.split_whitespace().collect();
        let in_place = match fields.as_slice() {
            ["file", mode, owner, sha] => {
                *sha == want_sha
                    && *mode == want_mode
                    && self.0.owner.as_ref().is_none_or(|o| {
                        *owner == o.value || owner.split(':').next() == Some(o.value.as_str())
                    })
            }
            _ => false,
        };
        Ok(if in_place {
            Verified::InPlace
        } else {
            Verified::NotInPlace
        })
    }

    async fn apply(&self, ctx: &StepCtx<'_>) -> Result<Applied, EngineError> {
        let path = self.path(ctx)?;
        let content = ctx.render(&self.0.content)?;
        let owner = self.0.owner.as_ref().map(|o| o.value.clone());
        let cmd = self
            .script(
                ctx,
                PUT,
                vec![
                    path.clone(),
                    self.mode(ctx),
                    owner.unwrap_or_default(),
                    ctx.run_id.to_string(),
                    ctx.id().to_string(),
                ],
            )
            .stdin(Stdin::Bytes(content.into_bytes()));
        let out = ctx.run(&cmd).await?;
        if !out.success() {
            return Err(ctx.failed(describe_failure(&out)));
        }
        let before = if out.stdout.contains("kept: absent") {
            "created"
        } else {
            "replaced (previous content kept on the host)"
        };
        Ok(Applied::Done {
            summary: format!("{path} on {} {before}", self.0.host.value),
        })
    }

    fn undoes_failed(&self) -> bool {
        // The undo acts on what the host kept before writing, and on nothing otherwise.
        true
    }

    async fn rollback(&self, ctx: &StepCtx<'_>) -> Result<Option<String>, EngineError> {
        let path = self.path(ctx)?;
        let cmd = self.script(
            ctx,
            RESTORE,
            vec![path.clone(), ctx.run_id.to_string(), ctx.id().to_string()],
        );
        let out = ctx.run(&cmd).await?;
        if !out.success() {
            return Err(ctx.failed(describe_failure(&out)));
        }
        Ok(Some(format!(
            "{path} on {}: {}",
            self.0.host.value,
            out.stdout.trim()
        )))
    }
}
