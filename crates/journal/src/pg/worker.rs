//! A PostgreSQL session on a thread of its own.
//!
//! The synchronous `postgres` client drives each call with a runtime of its own, which
//! panics when it is entered from a thread already running the engine's async runtime (and
//! `Journal` is called from there). So each session lives on a plain thread, calls are sent
//! to it as jobs and their answers waited for: blocking the caller like an SQLite write does,
//! never nesting runtimes. Dropping the worker closes the session on its own thread.

use postgres::Client;
use std::sync::mpsc;
use std::sync::Mutex;
use std::thread::JoinHandle;

type Job = Box<dyn FnOnce(&mut Client) + Send>;

/// One PostgreSQL session, used through [`Worker::run`].
#[derive(Debug)]
pub(crate) struct Worker {
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    thread: Option<JoinHandle<()>>,
}

impl Worker {
    /// Opens a session with `connect` on a new thread; its error is returned here.
    pub(crate) fn start(
        name: &str,
        connect: impl FnOnce() -> Result<Client, String> + Send + 'static,
    ) -> Result<Worker, String> {
        let (jobs, inbox) = mpsc::channel::<Job>();
        let (ready, opened) = mpsc::channel::<Result<(), String>>();
        let thread = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                let mut client = match connect() {
                    Ok(client) => client,
                    Err(e) => {
                        let _ = ready.send(Err(e));
                        return;
                    }
                };
                let _ = ready.send(Ok(()));
                for job in inbox {
                    job(&mut client);
                }
                // The client drops here, on this thread: the session ends.
            })
            .map_err(|e| format!("cannot start a thread for the journal's session: {e}"))?;
        match opened.recv() {
            Ok(Ok(())) => Ok(Worker {
                jobs: Mutex::new(Some(jobs)),
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err("the journal's session thread stopped while connecting".into())
            }
        }
    }

    /// Runs `job` with the session and returns its answer.
    pub(crate) fn run<R: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Client) -> R + Send + 'static,
    ) -> Result<R, String> {
        let (reply, answer) = mpsc::channel();
        let boxed: Job = Box::new(move |client| {
            let _ = reply.send(job(client));
        });
        {
            let jobs = self
                .jobs
                .lock()
                .map_err(|_| "the journal's session is poisoned".to_string())?;
            let sender = jobs.as_ref().ok_or("the journal's session is closed")?;
            sender
                .send(boxed)
                .map_err(|_| "the journal's session thread has stopped".to_string())?;
        }
        answer
            .recv()
            .map_err(|_| "the journal's session thread stopped during a call".to_string())
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Closing the queue ends the thread's loop; joining it means the session is closed
        // (and a lock it held released) once the drop returns.
        if let Ok(mut jobs) = self.jobs.lock() {
            jobs.take();
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
