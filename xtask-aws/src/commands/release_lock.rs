//! `cargo xtask release-lock acquire|release|takeover|show`: one release at a time
//! (`domain/publishing/release_lock.rs` decides; this reads and writes the object).
//! Every write is conditional on what was read, so two builds racing for a free lock
//! cannot both win: the loser reads again and is refused, naming the winner.

use std::time::SystemTime;

use anyhow::{bail, Result};
use xtask::{
    adapters::{git, workspace::Workspace},
    cli::{ReleaseLockCommand, ReleaseLockTakeoverArgs},
    domain::{
        names::build::BuildId,
        publishing::release_lock::{self, Acquire, Holder, LockRecord},
    },
};

use crate::adapters::{
    release_lock::{LockRead, LockStore},
    site::with_site,
};

pub fn run(workspace: &Workspace, command: ReleaseLockCommand, dry_run: bool) -> Result<()> {
    with_site(workspace, async |site| {
        let lock = Lock { store: LockStore::of(site), workspace, dry_run };
        match command {
            ReleaseLockCommand::Acquire(args) => lock.acquire(&args.build).await,
            ReleaseLockCommand::Release(args) => lock.release(&args.build).await,
            ReleaseLockCommand::Takeover(args) => lock.takeover(&args).await,
            ReleaseLockCommand::Show => lock.show().await,
        }
    })
}

struct Lock<'a> {
    store: LockStore,
    workspace: &'a Workspace,
    dry_run: bool,
}

impl Lock<'_> {
    fn location(&self) -> String {
        self.store.location()
    }

    async fn read(&self) -> Result<LockRead> {
        self.store.read().await
    }

    fn holder(&self, build: &BuildId) -> Result<Holder> {
        let commit = git::head_commit(&self.workspace.sh)?;
        let url = self.workspace.env.buildkite.as_ref().and_then(|b| b.build_url.clone());
        Ok(Holder::new(build.clone(), commit, url, SystemTime::now()))
    }

    /// Writes `record` if the lock is still as read; `false` when another writer was first.
    async fn write(&self, record: &LockRecord, read: &LockRead, what: &str) -> Result<bool> {
        if self.dry_run {
            let text = serde_json::to_string_pretty(record)? + "\n";
            println!("Would write {} ({what}):\n{text}Dry run: nothing was written.", self.location());
            return Ok(true);
        }
        self.store.write(record, read, git::head_commit(&self.workspace.sh)?).await
    }

    async fn acquire(&self, build: &BuildId) -> Result<()> {
        // Twice at most: a write that lost a race reads the winner and is refused by name.
        for _ in 0..2 {
            let read = self.read().await?;
            let me = self.holder(build)?;
            match release_lock::acquire(read.record.as_ref(), &me, SystemTime::now())? {
                Acquire::Held => {
                    println!("Build {build} holds the release lock already ({}).", self.location());
                    return Ok(());
                }
                Acquire::Write(record) => {
                    if self.write(&record, &read, "acquire").await? {
                        if !self.dry_run {
                            println!("Build {build} holds the release lock ({}).", self.location());
                        }
                        return Ok(());
                    }
                }
            }
        }
        bail!("the release lock changed twice while build {build} tried to take it; retry the step")
    }

    async fn release(&self, build: &BuildId) -> Result<()> {
        let read = self.read().await?;
        let Some(record) = release_lock::release(read.record.as_ref(), build, SystemTime::now())? else {
            println!("The release lock is free already ({}).", self.location());
            return Ok(());
        };
        if !self.write(&record, &read, "release").await? {
            bail!("the release lock changed while build {build} released it; run `cargo xtask release-lock show`");
        }
        if !self.dry_run {
            println!("Build {build} released the release lock ({}).", self.location());
        }
        Ok(())
    }

    async fn takeover(&self, args: &ReleaseLockTakeoverArgs) -> Result<()> {
        let read = self.read().await?;
        let me = self.holder(&args.build)?;
        let record = release_lock::takeover(read.record.as_ref(), &me, &args.reason, SystemTime::now())?;
        eprintln!("TAKEOVER: {}", record.history.last().map(String::as_str).unwrap_or_default());
        if !self.write(&record, &read, "takeover").await? {
            bail!("the release lock changed while it was being taken over; run `cargo xtask release-lock show` and decide again");
        }
        if !self.dry_run {
            println!("Build {} holds the release lock ({}).", args.build, self.location());
        }
        Ok(())
    }

    async fn show(&self) -> Result<()> {
        let read = self.read().await?;
        let record = read.record.unwrap_or_default();
        match &record.holder {
            Some(holder) => println!(
                "The release lock is held by build {} of commit {} since {}.",
                holder.build, holder.commit, holder.since
            ),
            None => println!("The release lock is free."),
        }
        for event in &record.history {
            println!("  {event}");
        }
        Ok(())
    }
}
