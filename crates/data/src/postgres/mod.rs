//! PostgreSQL: copy across major versions, keep in sync by logical replication, prove the copy (issue 3).
