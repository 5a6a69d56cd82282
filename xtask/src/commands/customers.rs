//! `cargo xtask customers`: the AWS accounts allowed to launch ReadySet AMIs, kept in
//! `customer_account_ids` of the Packer locals.

use anyhow::{Context, Result};

use crate::{
    adapters::{files::write_atomically, workspace::Workspace},
    domain::{
        customers::{self, AccountId},
        packer::LOCALS_FILE,
    },
};

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// List the customer accounts with their notes.
    List,
    /// Allow an account to launch the AMIs built from now on.
    ///
    /// Example: cargo xtask customers add 123456789012 --note "Initech (trial)"
    Add {
        /// The 12-digit AWS account ID.
        id: AccountId,
        /// Who the account belongs to; kept as a comment beside the ID.
        #[arg(long)]
        note: String,
    },
    /// Stop granting an account launch permission on AMIs built from now on.
    ///
    /// Example: cargo xtask customers remove 123456789012
    Remove {
        /// The 12-digit AWS account ID.
        id: AccountId,
    },
}

pub fn run(workspace: &Workspace, command: Command, dry_run: bool) -> Result<()> {
    let path = workspace.root.join(LOCALS_FILE);
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {LOCALS_FILE}"))?;
    let edited = match &command {
        Command::List => {
            let list = customers::customers(&text)?;
            println!("{} customer account(s) in {LOCALS_FILE}:", list.len());
            for customer in list {
                println!("  {}  {}", customer.id, customer.note);
            }
            return Ok(());
        }
        Command::Add { id, note } => customers::add(&text, id, note)?,
        Command::Remove { id } => customers::remove(&text, id)?,
    };
    let diff = similar::TextDiff::from_lines(&text, &edited)
        .unified_diff()
        .context_radius(1)
        .header(&format!("a/{LOCALS_FILE}"), &format!("b/{LOCALS_FILE}"))
        .to_string();
    print!("{diff}");
    if dry_run {
        println!("Dry run: {LOCALS_FILE} was not changed.");
        return Ok(());
    }
    write_atomically(&path, edited.as_bytes())?;
    println!(
        "Updated {LOCALS_FILE}. Launch permissions are set when AMIs are built: commit this, \
         and the next AMI build (a pipeline run) applies it; AMIs already built keep their permissions."
    );
    Ok(())
}
