//! Failure classes: what kind of failure an error is, decided where the error is made (from
//! typed facts: an ssh failure's kind, a server's error code), never from its message. Exit
//! codes and retries are chosen by class, so the same failure exits the same way whichever
//! command met it (`cutover verify postgres` and a `postgres.verify` step, say).

/// What kind of failure an error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureClass {
    /// Credentials were refused (a password, a key, a token).
    Auth,
    /// A host or server could not be reached (connection refused, timeout, no route, name
    /// not resolved), or a host key is unknown or changed.
    Unreachable,
    /// Something the work needs does not exist (a database, a table, a file, a tool).
    MissingObject,
    /// The work is not allowed (a privilege, a file mode, a read-only file system).
    Permission,
    /// A condition the work needs does not hold (a server setting, a non-empty target).
    Precondition,
    /// A proof found a difference.
    VerificationFailed,
    /// The plan or the request is not valid.
    PlanInvalid,
    /// The work itself failed (a command's non-zero exit, a lost connection mid-way).
    Failed,
}

impl FailureClass {
    /// True when the failure is about reaching or logging in to something: it says nothing
    /// of the work, and the operator fixes access, not the plan.
    pub fn is_access(self) -> bool {
        matches!(self, FailureClass::Auth | FailureClass::Unreachable)
    }
}
