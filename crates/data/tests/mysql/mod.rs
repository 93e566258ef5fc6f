mod copy;
mod fixture;
