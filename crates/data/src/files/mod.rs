//! Files: sync media and uploads between hosts, and prove every byte arrived (issue 4).
