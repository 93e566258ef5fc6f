//! Faults (tested below) live here.
