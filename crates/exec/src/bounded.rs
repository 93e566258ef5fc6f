//! Reading what a host sends back without trusting its size. A compromised host (or a
//! command gone wrong) may print without end; the controller keeps a bounded amount of it:
//! output that is parsed is refused past a limit ([`read_limited`]), output that is only
//! shown keeps its beginning and its end ([`read_head_tail`]), where a tool's error usually is.

use tokio::io::{AsyncRead, AsyncReadExt};

/// The most a command's standard output may hold unless the command says otherwise
/// ([`crate::Command::max_stdout`]): far above any query result or listing cutover parses.
pub const DEFAULT_MAX_STDOUT: usize = 64 * 1024 * 1024;

/// How much of a standard error stream is kept from its beginning.
pub const STDERR_HEAD: usize = 16 * 1024;

/// How much of a standard error stream is kept from its end.
pub const STDERR_TAIL: usize = 48 * 1024;

/// Reads `reader` to its end, or until it has sent more than `limit` bytes: then `Err`
/// carries how much was read (`limit + 1`), and the rest is left unread.
pub async fn read_limited<R: AsyncRead + Unpin>(
    reader: R,
    limit: usize,
) -> std::io::Result<Result<Vec<u8>, usize>> {
    let mut out = Vec::new();
    reader.take(limit as u64 + 1).read_to_end(&mut out).await?;
    Ok(if out.len() > limit {
        Err(out.len())
    } else {
        Ok(out)
    })
}

/// Reads `reader` to its end (so that its writer never blocks on a full pipe), keeping its
/// first `head` and last `tail` bytes; what lies between is replaced by a line saying how many
/// bytes were left out.
pub async fn read_head_tail<R: AsyncRead + Unpin>(
    mut reader: R,
    head: usize,
    tail: usize,
) -> std::io::Result<Vec<u8>> {
    let mut first = Vec::new();
    let mut last: Vec<u8> = Vec::new();
    let mut dropped: u64 = 0;
    let mut buf = vec![0u8; 8192];
    loop {
        let n = reader.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        let mut chunk = &buf[..n];
        if first.len() < head {
            let take = chunk.len().min(head - first.len());
            first.extend_from_slice(&chunk[..take]);
            chunk = &chunk[take..];
        }
        last.extend_from_slice(chunk);
        // Trimmed in batches (at twice the tail), so that keeping the end stays linear.
        if last.len() > 2 * tail.max(1) {
            let cut = last.len() - tail;
            dropped += cut as u64;
            last.drain(..cut);
        }
    }
    if last.len() > tail {
        let cut = last.len() - tail;
        dropped += cut as u64;
        last.drain(..cut);
    }
    if dropped > 0 {
        first.extend_from_slice(format!("\n[… {dropped} bytes left out …]\n").as_bytes());
    }
    first.extend_from_slice(&last);
    Ok(first)
}

/// A command's standard error as kept for showing: its first [`STDERR_HEAD`] and last
/// [`STDERR_TAIL`] bytes (see [`read_head_tail`]).
pub async fn read_stderr<R: AsyncRead + Unpin>(reader: R) -> std::io::Result<Vec<u8>> {
    read_head_tail(reader, STDERR_HEAD, STDERR_TAIL).await
}

/// `work`'s result, or `instead` at once when `cut` turns true first: once an output passed
/// its limit, nothing else of the command is waited for (a process it started may hold its
/// pipes open).
pub(crate) async fn unless_cut<T>(
    work: impl std::future::Future<Output = std::io::Result<T>>,
    mut cut: tokio::sync::watch::Receiver<bool>,
    instead: T,
) -> std::io::Result<T> {
    tokio::select! {
        r = work => r,
        _ = cut.wait_for(|c| *c) => Ok(instead),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn output_within_the_limit_is_whole_and_past_it_is_refused() {
        let ten = vec![b'x'; 10];
        assert_eq!(read_limited(&ten[..], 10).await.unwrap(), Ok(ten.clone()));
        assert_eq!(read_limited(&ten[..], 9).await.unwrap(), Err(10));
        assert_eq!(read_limited(&b""[..], 0).await.unwrap(), Ok(Vec::new()));
    }

    #[tokio::test]
    async fn short_output_is_kept_whole() {
        let text = b"ERROR: relation does not exist\n".to_vec();
        assert_eq!(read_head_tail(&text[..], 16, 64).await.unwrap(), text);
    }

    #[tokio::test]
    async fn long_output_keeps_its_beginning_and_end_and_counts_the_middle() {
        let mut text = b"BEGIN".to_vec();
        text.extend(std::iter::repeat_n(b'.', 1_000_000));
        text.extend_from_slice(b"the real error");
        let kept = read_head_tail(&text[..], 5, 14).await.unwrap();
        let kept = String::from_utf8(kept).unwrap();
        assert_eq!(kept, "BEGIN\n[… 1000000 bytes left out …]\nthe real error");
    }

    #[tokio::test]
    async fn memory_stays_bounded_while_an_endless_stream_is_drained() {
        // 64 MiB through a reader that yields small chunks: what is kept stays at the bound.
        let stream = tokio::io::repeat(b'y').take(64 * 1024 * 1024);
        let kept = read_head_tail(stream, STDERR_HEAD, STDERR_TAIL)
            .await
            .unwrap();
        assert!(
            kept.len() < STDERR_HEAD + STDERR_TAIL + 64,
            "{}",
            kept.len()
        );
    }
}
