//! `sightline token ...`: API tokens for the CLI and scripts, administered offline.

use sightline_core::Timestamp;

use super::offline::{audit, DataArg};

#[derive(clap::Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a token acting as a user; prints the token alone on the last line.
    Create {
        #[command(flatten)]
        data: DataArg,
        #[arg(long)]
        user: String,
        /// What the token is for.
        #[arg(long, default_value = "cli")]
        label: String,
        /// Days until it expires (default: until revoked).
        #[arg(long)]
        expires_days: Option<u32>,
    },
    /// List tokens (never their secrets).
    List {
        #[command(flatten)]
        data: DataArg,
    },
    /// Revoke a token; its next use is refused.
    Revoke {
        #[command(flatten)]
        data: DataArg,
        #[arg(long)]
        id: i64,
    },
}

pub async fn run(command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create {
            data,
            user,
            label,
            expires_days,
        } => {
            let store = data.open().await?;
            let user = store.user(&user).await?;
            let expires = expires_days
                .map(|d| Timestamp::now().add_micros(i64::from(d) * 86_400 * 1_000_000));
            let (token, secret) = store.create_token(&user, &label, expires).await?;
            audit(
                &store,
                "token.create",
                &format!("token:{}", token.id),
                format!("user={} label={label:?}", user.name),
            )
            .await?;
            println!(
                "created token {} for {:?}; it is shown once, store it safely:",
                token.id, user.name
            );
            println!("{secret}");
        }
        TokenCommand::List { data } => {
            let store = data.open().await?;
            println!(
                "{:>4}  {:<20} {:<24} {:<25} STATE",
                "ID", "USER", "LABEL", "LAST USED"
            );
            for t in store.tokens(None).await? {
                let state = match (t.revoked, t.expires) {
                    (Some(_), _) => "revoked".to_owned(),
                    (None, Some(e)) if e <= Timestamp::now() => "expired".to_owned(),
                    (None, Some(e)) => format!("expires {}", e.to_rfc3339()),
                    (None, None) => "active".to_owned(),
                };
                println!(
                    "{:>4}  {:<20} {:<24} {:<25} {state}",
                    t.id,
                    t.user,
                    t.label,
                    t.last_used.map_or("-".into(), |t| t.to_rfc3339())
                );
            }
        }
        TokenCommand::Revoke { data, id } => {
            let store = data.open().await?;
            let token = store.revoke_token(id).await?;
            audit(
                &store,
                "token.revoke",
                &format!("token:{id}"),
                format!("user={}", token.user),
            )
            .await?;
            println!("revoked token {id} of {:?}", token.user);
        }
    }
    Ok(())
}
