//! One module per subcommand.

pub mod camera;
pub mod demo;
pub mod export;
pub mod serve;
pub mod sim;
