//! `verify`: the proof that a copy is whole.

pub mod digest;
