//! `sightline user ...`: accounts, administered offline on the data directory.

use sightline_core::camera::DEFAULT_ORG;
use sightline_core::{Classification, Clearance, Role};
use sightline_store::users::NewUser;

use super::offline::{audit, read_stdin_secret, DataArg};

#[derive(clap::Subcommand, Debug)]
pub enum UserCommand {
    /// Create an account (creating the data directory if needed, so that automation can
    /// provision the first administrator before the first start).
    Add {
        #[command(flatten)]
        data: DataArg,
        #[arg(long)]
        name: String,
        /// operator, supervisor, evidence-officer, disclosure-officer, auditor or administrator.
        #[arg(long)]
        role: Role,
        /// Organisation slug, e.g. a force unit or a partner council.
        #[arg(long, default_value = DEFAULT_ORG)]
        org: String,
        /// OFFICIAL, OFFICIAL-SENSITIVE or SECRET.
        #[arg(long, default_value = "OFFICIAL")]
        clearance: Classification,
        /// Cleared for covert capability.
        #[arg(long)]
        covert: bool,
        /// Read the password from standard input (required: no password on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
        /// Make the person choose a new password at first sign-in.
        #[arg(long)]
        temporary: bool,
    },
    /// List accounts.
    List {
        #[command(flatten)]
        data: DataArg,
    },
    /// Set a new temporary password (read from standard input), to be changed at next sign-in.
    ResetPassword {
        #[command(flatten)]
        data: DataArg,
        #[arg(long)]
        name: String,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

pub async fn run(command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add {
            data,
            name,
            role,
            org,
            clearance,
            covert,
            password_stdin: _,
            temporary,
        } => {
            let password = read_stdin_secret("password")?;
            let store = data.open_or_create().await?;
            let user = store
                .add_user(NewUser {
                    name,
                    org,
                    role,
                    clearance: Clearance {
                        level: clearance,
                        covert,
                    },
                    password,
                    must_change_password: temporary,
                })
                .await?;
            audit(
                &store,
                "user.add",
                &format!("user:{}", user.name),
                format!(
                    "role={} org={} clearance={} covert={}",
                    user.role, user.org, user.clearance.level, user.clearance.covert
                ),
            )
            .await?;
            println!(
                "added user {:?} ({}, {}, {}{})",
                user.name,
                user.role,
                user.org,
                user.clearance.level,
                if user.clearance.covert {
                    ", covert"
                } else {
                    ""
                }
            );
        }
        UserCommand::List { data } => {
            let store = data.open().await?;
            println!(
                "{:<20} {:<12} {:<19} {:<19} STATE",
                "NAME", "ORG", "ROLE", "CLEARANCE"
            );
            for u in store.users().await? {
                let clearance = format!(
                    "{}{}",
                    u.clearance.level,
                    if u.clearance.covert { "+covert" } else { "" }
                );
                let state = match (u.disabled, u.must_change_password) {
                    (true, _) => "disabled",
                    (false, true) => "must change password",
                    _ => "active",
                };
                println!(
                    "{:<20} {:<12} {:<19} {:<19} {state}",
                    u.name, u.org, u.role, clearance
                );
            }
        }
        UserCommand::ResetPassword {
            data,
            name,
            password_stdin: _,
        } => {
            let password = read_stdin_secret("password")?;
            let store = data.open().await?;
            let user = store.user(&name).await?;
            store.set_password(user.id, &password, true, None).await?;
            audit(
                &store,
                "user.reset-password",
                &format!("user:{name}"),
                String::new(),
            )
            .await?;
            println!("password of {name:?} reset; it must be changed at next sign-in");
        }
    }
    Ok(())
}
