//! `cargo xtask customers list|add|remove`: the AWS accounts allowed to launch ReadySet
//! AMIs, kept in `customer_account_ids` of the Packer locals.

use anyhow::Result;

use crate::{
    adapters::{files::write_atomically, workspace::Workspace},
    cli::CustomersCommand,
    domain::{customers, diff, packer::LOCALS_FILE},
};

pub fn run(workspace: &Workspace, command: CustomersCommand, dry_run: bool) -> Result<()> {
    let text = workspace.read(LOCALS_FILE)?;
    let edited = match &command {
        CustomersCommand::List => {
            let list = customers::customers(&text)?;
            println!("{} customer account(s) in {LOCALS_FILE}:", list.len());
            for customer in list {
                println!("  {}  {}", customer.id, customer.note);
            }
            return Ok(());
        }
        CustomersCommand::Add { id, note } => customers::add(&text, id, note)?,
        CustomersCommand::Remove { id } => customers::remove(&text, id)?,
    };
    print!("{}", diff::unified(&text, &edited, &format!("a/{LOCALS_FILE}"), &format!("b/{LOCALS_FILE}")));
    if dry_run {
        println!("Dry run: {LOCALS_FILE} was not changed.");
        return Ok(());
    }
    write_atomically(&workspace.root.join(LOCALS_FILE), edited.as_bytes())?;
    println!(
        "Updated {LOCALS_FILE}. Launch permissions are set when AMIs are built: commit this, \
         and the next AMI build (a pipeline run) applies it; AMIs already built keep their permissions."
    );
    Ok(())
}
