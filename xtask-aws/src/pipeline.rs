//! `.buildkite/pipeline.yml` as the xtask understands it: the steps, what each runs,
//! uploads, downloads and reads, and the checks that keep it consistent with the
//! xtask (a renamed flag breaks a test, not a release). Pure, like the domain; it lives
//! here because only the rehearsal and the tests read the YAML, and the lean `xtask`
//! should not compile a YAML parser.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result};
use serde::Deserialize;
pub use xtask::domain::pipeline::buildkite::{
    AwsUse, XtaskUse, PIPELINE_PATH, RELEASE_BLOCK_LABEL, RELEASE_CONCURRENCY_GROUP, RELEASE_NAME_FIELD,
};
use xtask::domain::{
    names::{stage::Stage, tag},
    pipeline::queues::Queue,
};

/// How a pipeline command reaches the xtask: through cargo, or the prebuilt binary.
const CARGO_XTASK: &[&str] = &["cargo", "xtask"];
const PREBUILT_XTASK: &[&str] = &[".buildkite/xtask.sh"];

/// Main's list of the steps the hooked agents run (`Pipeline::trusted_steps`).
pub const TRUSTED_STEPS_PATH: &str = ".buildkite/trusted-steps.json";

/// The step that builds the xtask binary that `.buildkite/xtask.sh` runs.
pub const XTASK_BUILD_STEP: &str = "xtask";

/// One value or a list, as Buildkite accepts for most step attributes.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(untagged)]
enum OneOrMany {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::None => Vec::new(),
            OneOrMany::One(value) => vec![value],
            OneOrMany::Many(values) => values,
        }
    }
}

#[derive(Deserialize)]
struct PipelineFile {
    steps: Vec<RawStep>,
}

/// The attributes the checks read; Buildkite's others are allowed and ignored here
/// (the schema check covers them).
#[derive(Deserialize)]
struct RawStep {
    label: Option<String>,
    block: Option<String>,
    key: Option<String>,
    #[serde(default)]
    depends_on: OneOrMany,
    #[serde(default, alias = "commands")]
    command: OneOrMany,
    #[serde(default)]
    artifact_paths: OneOrMany,
    #[serde(default)]
    fields: Vec<Field>,
    branches: Option<String>,
    agents: Option<Agents>,
    concurrency: Option<u32>,
    concurrency_group: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Field {
    pub key: String,
    pub format: Option<String>,
}

#[derive(Deserialize)]
struct Agents {
    queue: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepKind {
    Command,
    Block,
}

#[derive(Debug, Clone)]
pub struct Step {
    pub key: String,
    pub label: String,
    pub kind: StepKind,
    pub depends_on: Vec<String>,
    pub commands: Vec<String>,
    pub artifact_paths: Vec<String>,
    /// A block step's fields (their keys become meta-data).
    pub fields: Vec<Field>,
    /// Buildkite branch filter, such as `main` or `!main`.
    pub branches: Option<String>,
    pub queue: Option<String>,
    pub concurrency: Option<u32>,
    pub concurrency_group: Option<String>,
    /// The step's own environment variables (`env:`).
    pub env: BTreeMap<String, String>,
}

/// One line of a step's command, as the checks see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandLine {
    /// Arguments after `cargo xtask` or `.buildkite/xtask.sh` (placeholders for
    /// environment variables filled); `prebuilt` for the latter.
    Xtask {
        args: Vec<String>,
        prebuilt: bool,
    },
    /// `buildkite-agent artifact download <path> <dir> [--step <key>]`.
    ArtifactDownload {
        path: String,
        step: Option<String>,
    },
    MetaDataGet(String),
    Other(Vec<String>),
}

/// Values that stand in for the variables Buildkite sets, so a command line can be
/// parsed as the agent would run it.
fn substitute(word: &str) -> String {
    word.replace("$BUILDKITE_COMMIT", &"0".repeat(40))
        .replace("$BUILDKITE_BUILD_NUMBER", "1")
        .replace("$BUILDKITE_BUILD_ID", "0190a3c2-7e1b-4f7a-9c55-2b7f7e0d9a11")
}

impl Step {
    fn from_raw(index: usize, raw: RawStep) -> Result<Step> {
        let (kind, label) = match (raw.block, raw.label) {
            (Some(label), _) => (StepKind::Block, label),
            (None, Some(label)) => (StepKind::Command, label),
            _ => anyhow::bail!("{PIPELINE_PATH}: step {} has neither a label nor a block", index + 1),
        };
        let key = raw.key.with_context(|| {
            format!("{PIPELINE_PATH}: step {label:?} has no key; every step needs one so others can depend on it")
        })?;
        Ok(Step {
            key,
            label,
            kind,
            depends_on: raw.depends_on.into_vec(),
            commands: raw.command.into_vec(),
            artifact_paths: raw.artifact_paths.into_vec(),
            fields: raw.fields,
            branches: raw.branches,
            queue: raw.agents.and_then(|agents| agents.queue),
            concurrency: raw.concurrency,
            concurrency_group: raw.concurrency_group,
            env: raw.env,
        })
    }

    pub fn field_keys(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|field| field.key.as_str())
    }

    pub fn command_lines(&self) -> Result<Vec<CommandLine>> {
        self.commands.iter().map(|line| self.command_line(line)).collect()
    }

    fn command_line(&self, line: &str) -> Result<CommandLine> {
        let words =
            shlex::split(line).with_context(|| format!("step {}: cannot split {line:?} into words", self.key))?;
        let words: Vec<String> = words.iter().map(|w| substitute(w)).collect();
        for (prefix, prebuilt) in [(CARGO_XTASK, false), (PREBUILT_XTASK, true)] {
            if words.len() >= prefix.len() && words.iter().zip(prefix).all(|(w, p)| w == p) {
                return Ok(CommandLine::Xtask { args: words[prefix.len()..].to_vec(), prebuilt });
            }
        }
        let text: Vec<&str> = words.iter().map(String::as_str).collect();
        Ok(match text.as_slice() {
            ["buildkite-agent", "artifact", "download", path, rest @ ..] => CommandLine::ArtifactDownload {
                path: path.to_string(),
                step: rest.iter().position(|w| *w == "--step").and_then(|at| rest.get(at + 1)).map(|s| s.to_string()),
            },
            ["buildkite-agent", "meta-data", "get", key, ..] => CommandLine::MetaDataGet(key.to_string()),
            _ => CommandLine::Other(words),
        })
    }
}

pub struct Pipeline {
    pub steps: Vec<Step>,
}

impl Pipeline {
    pub fn parse(yaml: &str) -> Result<Pipeline> {
        let file: PipelineFile = serde_yaml_ng::from_str(yaml)
            .with_context(|| format!("{PIPELINE_PATH} is not a pipeline the xtask reads"))?;
        let steps = file.steps.into_iter().enumerate().map(|(index, raw)| Step::from_raw(index, raw));
        Ok(Pipeline { steps: steps.collect::<Result<_>>()? })
    }

    pub fn step(&self, key: &str) -> Option<&Step> {
        self.steps.iter().find(|step| step.key == key)
    }

    /// Every step a step waits for, directly or through others.
    pub fn ancestors(&self, key: &str) -> BTreeSet<String> {
        let mut found = BTreeSet::new();
        let mut queue: Vec<String> = self.step(key).map(|s| s.depends_on.clone()).unwrap_or_default();
        while let Some(next) = queue.pop() {
            if found.insert(next.clone()) {
                queue.extend(self.step(&next).map(|s| s.depends_on.clone()).unwrap_or_default());
            }
        }
        found
    }

    /// The steps in an order that respects `depends_on`.
    pub fn in_dependency_order(&self) -> Vec<&Step> {
        let mut done: BTreeSet<&str> = BTreeSet::new();
        let mut order = Vec::new();
        while order.len() < self.steps.len() {
            let before = order.len();
            for step in &self.steps {
                if !done.contains(step.key.as_str()) && step.depends_on.iter().all(|d| done.contains(d.as_str())) {
                    done.insert(&step.key);
                    order.push(step);
                }
            }
            if order.len() == before {
                break; // a cycle; `check` reports it
            }
        }
        order
    }

    /// What the agent hook of the ops, release and mac agents admits
    /// (`ops/buildkite-agent/hooks/pre-bootstrap` reads main's copy of this, committed as
    /// `TRUSTED_STEPS_PATH`): each step those queues run, with its command as Buildkite
    /// hands it to the job (`BUILDKITE_COMMAND`: the lines joined by newlines), its
    /// branch filter, its own variables, and whether a person must have unblocked the
    /// build before it (a block step among its ancestors).
    pub fn trusted_steps(&self) -> serde_json::Value {
        let steps: Vec<serde_json::Value> = self
            .steps
            .iter()
            .filter(|step| step.kind == StepKind::Command)
            .filter(|step| {
                matches!(step.queue.as_deref().and_then(Queue::parse), Some(Queue::Ops | Queue::Release | Queue::Mac))
            })
            .map(|step| {
                let after_block = self
                    .ancestors(&step.key)
                    .iter()
                    .any(|key| self.step(key).is_some_and(|s| s.kind == StepKind::Block));
                serde_json::json!({
                    "key": step.key,
                    "queue": step.queue,
                    "branches": step.branches,
                    "command": step.commands.join("\n"),
                    "env": step.env,
                    "after-block": after_block,
                })
            })
            .collect();
        serde_json::json!({
            "generated-from": PIPELINE_PATH,
            "how": "cargo test -p xtask-aws --test it -- trusted_steps, with UPDATE_EXPECT=1 to rewrite it",
            "steps": steps,
        })
    }

    /// Every inconsistency, as messages naming the step. `xtask` parses the arguments of
    /// an xtask command line with the real CLI and says what it does.
    pub fn check(&self, xtask: &dyn Fn(&[String]) -> Result<XtaskUse>) -> Vec<String> {
        let mut problems = self.structure_problems();
        for step in &self.steps {
            problems.extend(placement_problems(step));
            match step.command_lines() {
                Ok(lines) => problems.extend(self.step_problems(step, &lines, xtask)),
                Err(error) => problems.push(error.to_string()),
            }
        }
        let mut seen = BTreeSet::new();
        problems.retain(|problem| seen.insert(problem.clone()));
        problems
    }

    fn structure_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut keys = BTreeSet::new();
        for step in &self.steps {
            if !keys.insert(step.key.as_str()) {
                problems.push(format!("step key {} is used twice", step.key));
            }
            for dependency in &step.depends_on {
                if self.step(dependency).is_none() {
                    problems.push(format!("step {} depends on {dependency}, which no step has as its key", step.key));
                }
            }
        }
        if problems.is_empty() && self.in_dependency_order().len() < self.steps.len() {
            problems.push("the steps' depends_on form a cycle".to_owned());
        }
        problems
    }

    fn step_problems(
        &self,
        step: &Step,
        lines: &[CommandLine],
        xtask: &dyn Fn(&[String]) -> Result<XtaskUse>,
    ) -> Vec<String> {
        let ancestors = self.ancestors(&step.key);
        let fields: BTreeSet<&str> =
            ancestors.iter().filter_map(|k| self.step(k)).flat_map(|s| s.field_keys()).collect();
        let mut problems = Vec::new();
        let mut needs_release_name = false;
        for line in lines {
            match line {
                CommandLine::Xtask { args, prebuilt } => match xtask(args) {
                    Ok(used) => {
                        needs_release_name |= used.reads_release_name;
                        problems.extend(xtask_problems(step, args, *prebuilt, used, &ancestors));
                    }
                    Err(error) => problems.push(format!(
                        "step {}: `cargo xtask {}` does not parse with the xtask's command line: {}",
                        step.key,
                        args.join(" "),
                        error.to_string().lines().next().unwrap_or_default()
                    )),
                },
                CommandLine::ArtifactDownload { path, step: None } => problems.push(format!(
                    "step {} downloads {path} without --step <key>: any job of the build can upload that path, so \
                     name the step whose upload it trusts",
                    step.key
                )),
                CommandLine::ArtifactDownload { path, step: Some(from) }
                    if !ancestors.contains(from) || !self.uploads(from, path) =>
                {
                    problems.push(format!(
                        "step {} downloads {path} from step {from}, which is not a step it depends on that uploads it",
                        step.key
                    ))
                }
                CommandLine::MetaDataGet(key) if !fields.contains(key.as_str()) => problems
                    .push(format!("step {} reads meta-data {key}, which no block step before it asks for", step.key)),
                _ => {}
            }
        }
        problems.extend(lock_problems(step, lines, xtask));
        if needs_release_name && !fields.contains(RELEASE_NAME_FIELD) {
            problems.push(format!(
                "step {} takes the release name from meta-data {RELEASE_NAME_FIELD}, which no block step before it asks for",
                step.key
            ));
        }
        problems
    }

    fn uploads(&self, key: &str, path: &str) -> bool {
        self.step(key)
            .into_iter()
            .flat_map(|s| &s.artifact_paths)
            .any(|upload| upload == path || glob::Pattern::new(upload).is_ok_and(|pattern| pattern.matches(path)))
    }
}

fn xtask_problems(
    step: &Step,
    args: &[String],
    prebuilt: bool,
    used: XtaskUse,
    ancestors: &BTreeSet<String>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let queue = step.queue.as_deref().and_then(Queue::parse);
    if prebuilt && queue == Some(Queue::Release) {
        problems.push(format!(
            "step {} runs .buildkite/xtask.sh on the release queue: that binary was built on the build queue, where \
             any branch's code runs; release steps build their own with `cargo xtask`",
            step.key
        ));
    }
    if prebuilt && !ancestors.contains(XTASK_BUILD_STEP) {
        problems.push(format!(
            "step {} runs .buildkite/xtask.sh but does not depend on step {XTASK_BUILD_STEP}, which builds it",
            step.key
        ));
    }
    let on = step.queue.as_deref().unwrap_or("the default queue");
    match used.aws {
        AwsUse::Writes(stage) if queue != Some(Queue::writing(stage)) => problems.push(format!(
            "step {} runs `cargo xtask {}`, which writes {stage} artifacts, on {on}; only the {} queue holds \
             credentials for them",
            step.key,
            args.join(" "),
            Queue::writing(stage)
        )),
        AwsUse::Reads if !queue.is_some_and(Queue::has_credentials) => problems.push(format!(
            "step {} runs `cargo xtask {}`, which reads AWS with credentials, on {on}, which holds none",
            step.key,
            args.join(" ")
        )),
        _ => {}
    }
    problems
}

/// A step that writes what customers get takes the release lock before anything else
/// (`release-lock acquire`): Buildkite's concurrency group orders jobs, not builds.
fn lock_problems(step: &Step, lines: &[CommandLine], xtask: &dyn Fn(&[String]) -> Result<XtaskUse>) -> Vec<String> {
    let xtask_lines: Vec<&Vec<String>> = lines
        .iter()
        .filter_map(|line| match line {
            CommandLine::Xtask { args, .. } => Some(args),
            _ => None,
        })
        .collect();
    let is_lock = |args: &[String]| args.first().is_some_and(|w| w == "release-lock");
    let writes_release = xtask_lines
        .iter()
        .any(|args| !is_lock(args) && xtask(args).is_ok_and(|used| used.aws == AwsUse::Writes(Stage::Release)));
    let first = lines.first().and_then(|line| match line {
        CommandLine::Xtask { args, .. } => Some(args),
        _ => None,
    });
    let acquires_first = first.is_some_and(|args| args.starts_with(&["release-lock".into(), "acquire".into()]));
    if writes_release && !acquires_first {
        return vec![format!(
            "step {} writes release artifacts but does not start with `cargo xtask release-lock acquire --build \
             \"$BUILDKITE_BUILD_ID\"`, so two release builds could interleave",
            step.key
        )];
    }
    Vec::new()
}

/// Where a step runs and who can start it: every command step names a queue of
/// `Queue`, steps of the release queue run on main one at a time, and the release
/// name is checked by the block step's field as the xtask checks it.
fn placement_problems(step: &Step) -> Vec<String> {
    let mut problems = Vec::new();
    let queue = step.queue.as_deref().map(|name| (name, Queue::parse(name)));
    match queue {
        _ if step.kind == StepKind::Block => {}
        None => problems.push(format!(
            "step {} names no queue (agents: queue:), so it would run on whatever agent the default queue has; \
             name one of build, mac, ops, release",
            step.key
        )),
        Some((name, None)) => problems
            .push(format!("step {} runs on queue {name}, which is not one of build, mac, ops, release", step.key)),
        Some((_, Some(Queue::Release))) => {
            if step.branches.as_deref() != Some("main") {
                problems
                    .push(format!("step {} runs on the release queue but not only on main (branches: main)", step.key));
            }
            if step.concurrency_group.as_deref() != Some(RELEASE_CONCURRENCY_GROUP) || step.concurrency != Some(1) {
                problems.push(format!(
                    "step {} runs on the release queue outside concurrency_group {RELEASE_CONCURRENCY_GROUP} \
                     with concurrency 1, so two releases could write at once",
                    step.key
                ));
            }
        }
        Some(_) => {}
    }
    for field in step.fields.iter().filter(|field| field.key == RELEASE_NAME_FIELD) {
        if field.format.as_deref() != Some(tag::PATTERN) {
            problems.push(format!(
                "step {}: field {RELEASE_NAME_FIELD} must have format: the release-name rule of \
                 xtask/src/domain/tag.rs (tag::PATTERN), so a name the xtask refuses cannot be typed",
                step.key
            ));
        }
    }
    problems
}
