mod copy;
mod fixture;
mod sync;
mod verify;
