//! `cargo xtask amis list`: every image the release made, what uses it, what it costs.
//! Reads only (`adapters/image_inventory.rs`); `domain/images/lifecycle.rs` relates the
//! images to the templates and copies that use them.

use std::time::SystemTime;

use anyhow::Result;
use serde::Serialize;
use xtask::{
    adapters::workspace::Workspace,
    cli::AmisListArgs,
    domain::images::lifecycle::{self, OwnedImage, References},
};

use crate::adapters::{ec2::Ec2, image_inventory, sigv4_http::SignedClient, site::with_site};

#[derive(Serialize)]
struct Row<'a> {
    #[serde(flatten)]
    image: &'a OwnedImage,
    age_days: Option<u64>,
    gib: u64,
    monthly_dollars: f64,
    references: References,
}

pub fn run(workspace: &Workspace, args: AmisListArgs) -> Result<()> {
    let regions = workspace.ami_regions()?;
    let cents = workspace.config.snapshot_cents_per_gib_month;
    with_site(workspace, async |site| {
        let client = SignedClient::new(&site.sdk);
        let inventory = image_inventory::read(site, &Ec2 { client: &client }, &regions).await?;
        let references = lifecycle::references(&inventory.images, &inventory.templates);
        let now = SystemTime::now();
        let rows: Vec<Row> = inventory
            .images
            .iter()
            .filter(|image| args.stage.is_none_or(|stage| image.stage == stage))
            .map(|image| Row {
                image,
                age_days: image.age(now).map(|age| age.as_secs() / 86_400),
                gib: image.gib(),
                monthly_dollars: lifecycle::monthly_dollars(image.gib(), cents),
                references: references.get(&image.id).cloned().unwrap_or_default(),
            })
            .collect();
        if args.json {
            println!("{}", serde_json::to_string_pretty(&rows)?);
        } else {
            print!("{}", table(&rows, inventory.requests, cents));
        }
        Ok(())
    })
}

fn table(rows: &[Row], requests: usize, cents: u32) -> String {
    let mut text = format!(
        "{:<10} {:<22} {:<9} {:<22} {:>6} {:>5} {:>9}  used by\n",
        "region", "image", "stage", "commit / release", "age", "GiB", "$/month"
    );
    for row in rows {
        let image = row.image;
        let label = image
            .release
            .clone()
            .or_else(|| image.commit.as_ref().map(|c| c.chars().take(8).collect()))
            .unwrap_or_default();
        let age = row.age_days.map(|days| format!("{days}d")).unwrap_or_else(|| "?".into());
        let mut used: Vec<String> = row.references.templates.clone();
        used.extend(row.references.copies.iter().map(|copy| format!("copy {copy}")));
        if image.deprecation.is_some() {
            used.push(format!("deprecated from {}", image.deprecation.as_deref().unwrap_or_default()));
        }
        let used = if used.is_empty() { "nothing".to_owned() } else { used.join(", ") };
        text += &format!(
            "{:<10} {:<22} {:<9} {:<22} {:>6} {:>5} {:>9.2}  {used}\n",
            image.region, image.id, image.stage, label, age, row.gib, row.monthly_dollars
        );
    }
    let gib: u64 = rows.iter().map(|row| row.gib).sum();
    text += &format!(
        "{} image(s), {gib} GiB of snapshots, about ${:.2} a month at {cents} cents per GiB-month ({requests} requests)\n",
        rows.len(),
        lifecycle::monthly_dollars(gib, cents)
    );
    text
}
