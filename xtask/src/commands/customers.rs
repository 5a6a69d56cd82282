//! `cargo xtask customers list|add|remove`: the AWS accounts allowed to launch ReadySet
//! AMIs, kept in `customer_account_ids` of the Packer locals. (`customers sync`, which
//! applies the list to existing AMIs, talks to AWS and lives in `xtask-aws`.)

use anyhow::Result;

use crate::{
    adapters::{files::write_atomically, workspace::Workspace},
    domain::{diff, images::accounts::AccountId, images::customers, images::packer::LOCALS_FILE},
};

pub fn list(workspace: &Workspace) -> Result<()> {
    let list = customers::customers(&workspace.read(LOCALS_FILE)?)?;
    println!("{} customer account(s) in {LOCALS_FILE}:", list.len());
    for customer in list {
        println!("  {}  {}", customer.id, customer.note);
    }
    Ok(())
}

pub fn add(workspace: &Workspace, id: &AccountId, note: &str, dry_run: bool) -> Result<()> {
    let text = workspace.read(LOCALS_FILE)?;
    edit(workspace, &text, &customers::add(&text, id, note)?, dry_run)
}

pub fn remove(workspace: &Workspace, id: &AccountId, dry_run: bool) -> Result<()> {
    let text = workspace.read(LOCALS_FILE)?;
    edit(workspace, &text, &customers::remove(&text, id)?, dry_run)
}

fn edit(workspace: &Workspace, text: &str, edited: &str, dry_run: bool) -> Result<()> {
    print!("{}", diff::unified(text, edited, &format!("a/{LOCALS_FILE}"), &format!("b/{LOCALS_FILE}")));
    if dry_run {
        println!("Dry run: {LOCALS_FILE} was not changed.");
        return Ok(());
    }
    write_atomically(&workspace.root.join(LOCALS_FILE), edited.as_bytes())?;
    println!(
        "Updated {LOCALS_FILE}. Commit it, then apply it to the alpha and release AMIs that exist: \
         `cargo xtask customers sync --dry-run`, then without --dry-run. AMIs promoted from now on get the new list."
    );
    Ok(())
}
