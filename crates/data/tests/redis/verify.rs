//! The mutation suite (tested below) lives here.
