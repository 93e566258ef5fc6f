//! Streams one host's command output into another host's command through the controller's
//! memory, never its disk: the basis of `dump | restore` between hosts.

use crate::bounded::{read_limited, read_stderr, unless_cut};
use crate::command::{Command, Stdin};
use crate::error::ExecError;
use crate::executor::{Executor, Output};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What a finished pipe moved.
#[derive(Debug, Clone)]
pub struct PipeReport {
    /// Bytes that went from producer to consumer.
    pub bytes: u64,
    /// Wall-clock time of the whole pipe.
    pub duration: Duration,
    /// The producer's outcome.
    pub from: Output,
    /// The consumer's outcome.
    pub to: Output,
}

impl PipeReport {
    /// True when both ends exited with status 0.
    pub fn success(&self) -> bool {
        self.from.success() && self.to.success()
    }
}

const CHUNK: usize = 256 * 1024;

impl Executor {
    /// Runs `from` and `to` at once, copying `from`'s standard output into `to`'s standard
    /// input. `progress` is called with the running byte count after each chunk.
    pub async fn pipe(
        &self,
        from: &Command,
        to: &Command,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<PipeReport, ExecError> {
        let started = Instant::now();
        let mut producer = self.spawn(&from.clone().stdin(Stdin::Null)).await?;
        let mut consumer = self.spawn(&to.clone().stdin(Stdin::Piped)).await?;
        let mut sink = consumer.stdin.take();
        let mut bytes = 0u64;
        let source = producer.stdout;
        let copy = async {
            // Owned here so that it is closed when copying stops: a producer whose consumer
            // quit then sees a broken pipe instead of blocking forever.
            let mut source = source;
            let mut buf = vec![0u8; CHUNK];
            loop {
                let n = source.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                let Some(input) = sink.as_mut() else { break };
                if input.write_all(&buf[..n]).await.is_err() {
                    // The consumer stopped reading; its own status tells why.
                    break;
                }
                bytes += n as u64;
                progress(bytes);
            }
            // Closing the consumer's input is its end-of-file.
            drop(sink.take());
            Ok::<(), std::io::Error>(())
        };
        let (to_child, to_stdout) = (&mut consumer.child, &mut consumer.stdout);
        // Set when the consumer's output passes its limit: nothing else is waited for then
        // (processes the commands started may hold their pipes open).
        let (cut, cut_seen) = tokio::sync::watch::channel(false);
        let read_to_out = async {
            let out = read_limited(to_stdout, to.max_stdout).await?;
            if out.is_err() {
                let _ = to_child.start_kill();
                let _ = cut.send(true);
            }
            Ok::<_, std::io::Error>(out)
        };
        let (copied, e1, e2, e3) = tokio::join!(
            unless_cut(copy, cut_seen.clone(), ()),
            unless_cut(
                read_stderr(&mut producer.stderr),
                cut_seen.clone(),
                Vec::new()
            ),
            read_to_out,
            unless_cut(read_stderr(&mut consumer.stderr), cut_seen, Vec::new()),
        );
        if matches!(e2, Ok(Err(_))) {
            let _ = producer.child.start_kill();
            return Err(ExecError::OutputTooLarge {
                host: to.host.clone(),
                limit: to.max_stdout,
            });
        }
        let io_from = |source| ExecError::Io {
            host: from.host.clone(),
            source,
        };
        let io_to = |source| ExecError::Io {
            host: to.host.clone(),
            source,
        };
        copied.map_err(io_from)?;
        let from_err = e1.map_err(io_from)?;
        let to_out = e2.map_err(io_to)?;
        let to_err = e3.map_err(io_to)?;
        let from_status = producer.child.wait().await.map_err(io_from)?;
        let to_status = consumer.child.wait().await.map_err(io_to)?;
        let to_out = to_out.unwrap_or_default();
        let r = self.redactor();
        let duration = started.elapsed();
        Ok(PipeReport {
            bytes,
            duration,
            from: Output {
                host: from.host.clone(),
                code: from_status.code(),
                stdout: String::new(),
                stderr: r.redact_bytes(&from_err),
                duration,
            },
            to: Output {
                host: to.host.clone(),
                code: to_status.code(),
                stdout: r.redact_bytes(&to_out),
                stderr: r.redact_bytes(&to_err),
                duration,
            },
        })
    }
}
