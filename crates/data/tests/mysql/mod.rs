mod copy;
mod fixture;
mod verify;
