//! One module per subcommand, plus what the offline administration commands share.

pub mod audit;
pub mod bench;
pub mod camera;
pub mod demo;
pub mod export;
mod offline;
pub mod serve;
pub mod sim;
pub mod token;
pub mod user;
