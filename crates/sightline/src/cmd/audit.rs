//! `sightline audit ...`: check the audit chain offline, or read the trail from a
//! running server.

use anyhow::bail;
use reqwest::Method;
use sightline_server::api::AuditEntryView;
use sightline_store::audit::ChainCheck;

use super::offline::DataArg;
use crate::client::ServerArg;

#[derive(clap::Subcommand, Debug)]
pub enum AuditCommand {
    /// Check every entry of the chain; exits non-zero naming the first broken entry.
    Verify {
        #[command(flatten)]
        data: DataArg,
        /// An anchor printed by an earlier verify (SEQ:SHA256), kept somewhere else: it
        /// must still be in the chain, unchanged.
        #[arg(long, value_parser = parse_anchor)]
        expect_head: Option<(i64, Vec<u8>)>,
    },
    /// Read the audit trail from a running server (auditors).
    List {
        /// Only entries by this user.
        #[arg(long)]
        user: Option<String>,
        /// Only entries about this camera.
        #[arg(long)]
        camera: Option<i64>,
        /// From this time (RFC 3339).
        #[arg(long)]
        from: Option<String>,
        /// Until this time (RFC 3339).
        #[arg(long)]
        to: Option<String>,
        /// Print CSV instead of a table.
        #[arg(long)]
        csv: bool,
        #[command(flatten)]
        server: ServerArg,
    },
}

pub async fn run(command: AuditCommand) -> anyhow::Result<()> {
    match command {
        AuditCommand::Verify { data, expect_head } => {
            let store = data.open().await?;
            match store.verify_audit(expect_head).await? {
                ChainCheck::Intact { entries, head } => {
                    println!("audit chain intact: {entries} entries");
                    println!("anchor (record it elsewhere; check later with --expect-head):");
                    println!("{entries}:{}", hex::encode(&head));
                }
                ChainCheck::Broken { seq, reason } => {
                    bail!("audit chain broken at entry {seq}: {reason}")
                }
            }
        }
        AuditCommand::List {
            user,
            camera,
            from,
            to,
            csv,
            server,
        } => {
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            let camera = camera.map(|c| c.to_string());
            for (key, value) in [
                ("user", user),
                ("camera", camera),
                ("from", from),
                ("to", to),
            ] {
                if let Some(v) = value {
                    query.append_pair(key, &v);
                }
            }
            let query = query.finish();
            let client = server.client()?;
            if csv {
                let text = client
                    .send(Method::GET, &format!("/api/audit.csv?{query}"), None)
                    .await?
                    .text()
                    .await?;
                print!("{text}");
            } else {
                let entries: Vec<AuditEntryView> = client
                    .json(Method::GET, &format!("/api/audit?{query}"), None)
                    .await?;
                for e in entries {
                    println!(
                        "{}  {:<16} {:<15} {:<20} {:<14} {:<9} {}",
                        e.at, e.actor, e.source, e.action, e.target, e.outcome, e.detail
                    );
                }
            }
        }
    }
    Ok(())
}

/// `SEQ:SHA256`, the hash as 64 hex digits.
fn parse_anchor(s: &str) -> Result<(i64, Vec<u8>), String> {
    let bad = || format!("{s:?} is not SEQ:SHA256 (as `audit verify` prints it)");
    let (seq, hash) = s.split_once(':').ok_or_else(bad)?;
    let seq: i64 = seq.parse().map_err(|_| bad())?;
    let hash = hex::decode(hash).map_err(|_| bad())?;
    if hash.len() != 32 {
        return Err(bad());
    }
    Ok((seq, hash))
}
