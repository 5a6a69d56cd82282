//! `.buildkite/pipeline.yml` as the xtask understands it: the steps, what each runs,
//! uploads, downloads and reads, and the checks that keep it consistent with the
//! xtask (a renamed flag breaks a test, not a release).

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Context, Result};
use serde_yaml_ng::Value;

pub const PIPELINE_PATH: &str = ".buildkite/pipeline.yml";

/// The block step on main that asks for the release name and starts the release.
pub const RELEASE_BLOCK_LABEL: &str =
    ":rocket: Deploy :amazon-ec2: AMIs and :aws-cloudformation: CloudFormation release";

/// The field of that block step that holds the release name (a Buildkite meta-data key).
pub const RELEASE_NAME_FIELD: &str = "release-name";

/// How a pipeline command reaches the xtask: through cargo, or the prebuilt binary.
const CARGO_XTASK: &[&str] = &["cargo", "xtask"];
const PREBUILT_XTASK: &[&str] = &[".buildkite/xtask.sh"];

/// The step that builds the xtask binary that `.buildkite/xtask.sh` runs.
pub const XTASK_BUILD_STEP: &str = "xtask";

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
    /// Keys of a block step's fields (they become meta-data).
    pub fields: Vec<String>,
    /// Buildkite branch filter, such as `main` or `!main`.
    pub branches: Option<String>,
    pub queue: Option<String>,
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
    ArtifactDownload(String),
    MetaDataGet(String),
    Other(Vec<String>),
}

/// Values that stand in for the variables Buildkite sets, so a command line can be
/// parsed as the agent would run it.
fn substitute(word: &str) -> String {
    word.replace("$BUILDKITE_COMMIT", &"0".repeat(40)).replace("$BUILDKITE_BUILD_NUMBER", "1")
}

impl Step {
    pub fn command_lines(&self) -> Result<Vec<CommandLine>> {
        self.commands
            .iter()
            .map(|line| {
                let words = shlex::split(line)
                    .with_context(|| format!("step {}: cannot split {line:?} into words", self.key))?;
                let words: Vec<String> = words.iter().map(|w| substitute(w)).collect();
                for (prefix, prebuilt) in [(CARGO_XTASK, false), (PREBUILT_XTASK, true)] {
                    if words.len() >= prefix.len() && words.iter().zip(prefix).all(|(w, p)| w == p) {
                        return Ok(CommandLine::Xtask { args: words[prefix.len()..].to_vec(), prebuilt });
                    }
                }
                let text: Vec<&str> = words.iter().map(String::as_str).collect();
                Ok(match text.as_slice() {
                    ["buildkite-agent", "artifact", "download", path, ..] => {
                        CommandLine::ArtifactDownload(path.to_string())
                    }
                    ["buildkite-agent", "meta-data", "get", key, ..] => CommandLine::MetaDataGet(key.to_string()),
                    _ => CommandLine::Other(words),
                })
            })
            .collect()
    }
}

pub struct Pipeline {
    pub steps: Vec<Step>,
}

fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(text)) => vec![text.clone()],
        Some(Value::Sequence(items)) => items.iter().filter_map(|v| v.as_str().map(String::from)).collect(),
        _ => Vec::new(),
    }
}

impl Pipeline {
    pub fn parse(yaml: &str) -> Result<Pipeline> {
        let document: Value =
            serde_yaml_ng::from_str(yaml).with_context(|| format!("{PIPELINE_PATH} is not valid YAML"))?;
        let Some(Value::Sequence(raw_steps)) = document.get("steps") else {
            bail!("{PIPELINE_PATH} has no list of steps");
        };
        let mut steps = Vec::new();
        for (index, raw) in raw_steps.iter().enumerate() {
            let text = |name: &str| raw.get(name).and_then(Value::as_str).map(String::from);
            let (kind, label) = match (text("block"), text("label")) {
                (Some(label), _) => (StepKind::Block, label),
                (None, Some(label)) => (StepKind::Command, label),
                _ => bail!("{PIPELINE_PATH}: step {} has neither a label nor a block", index + 1),
            };
            let key = text("key").with_context(|| {
                format!("{PIPELINE_PATH}: step {label:?} has no key; every step needs one so others can depend on it")
            })?;
            let fields = match raw.get("fields") {
                Some(Value::Sequence(fields)) => {
                    fields.iter().filter_map(|f| f.get("key").and_then(Value::as_str).map(String::from)).collect()
                }
                _ => Vec::new(),
            };
            steps.push(Step {
                key,
                label,
                kind,
                depends_on: strings(raw.get("depends_on")),
                commands: strings(raw.get("command").or_else(|| raw.get("commands"))),
                artifact_paths: strings(raw.get("artifact_paths")),
                fields,
                branches: text("branches"),
                queue: raw.get("agents").and_then(|a| a.get("queue")).and_then(Value::as_str).map(String::from),
            });
        }
        Ok(Pipeline { steps })
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

    /// Every inconsistency, as messages naming the step. `xtask` parses the arguments of
    /// an xtask command line with the real CLI and says whether it reads the release
    /// name from meta-data.
    pub fn check(&self, xtask: &dyn Fn(&[String]) -> Result<XtaskUse>) -> Vec<String> {
        let mut problems = Vec::new();
        let mut keys = BTreeSet::new();
        for step in &self.steps {
            if !keys.insert(step.key.as_str()) {
                problems.push(format!("step key {} is used twice", step.key));
            }
        }
        if self.in_dependency_order().len() < self.steps.len() {
            problems.push("the steps' depends_on form a cycle".to_owned());
        }
        let uploads: BTreeMap<&str, &Vec<String>> =
            self.steps.iter().map(|s| (s.key.as_str(), &s.artifact_paths)).collect();
        for step in &self.steps {
            for dependency in &step.depends_on {
                if self.step(dependency).is_none() {
                    problems.push(format!("step {} depends on {dependency}, which no step has as its key", step.key));
                }
            }
            let ancestors = self.ancestors(&step.key);
            let fields: BTreeSet<&str> = ancestors
                .iter()
                .filter_map(|k| self.step(k))
                .flat_map(|s| s.fields.iter().map(String::as_str))
                .collect();
            let lines = match step.command_lines() {
                Ok(lines) => lines,
                Err(error) => {
                    problems.push(error.to_string());
                    continue;
                }
            };
            let mut needs_release_name = false;
            for line in lines {
                match line {
                    CommandLine::Xtask { args, prebuilt } => match xtask(&args) {
                        Ok(used) => {
                            if prebuilt && !ancestors.contains(XTASK_BUILD_STEP) {
                                problems.push(format!(
                                    "step {} runs .buildkite/xtask.sh but does not depend on step {XTASK_BUILD_STEP}, which builds it",
                                    step.key
                                ));
                            }
                            needs_release_name |= used.reads_release_name;
                            if used.writes_to_aws && step.queue.as_deref() != Some("ops") {
                                problems.push(format!(
                                    "step {} runs `cargo xtask {}`, which writes to AWS, outside the ops queue",
                                    step.key,
                                    args.join(" ")
                                ));
                            }
                        }
                        Err(error) => problems.push(format!(
                            "step {}: `cargo xtask {}` does not parse with the xtask's command line: {}",
                            step.key,
                            args.join(" "),
                            error.to_string().lines().next().unwrap_or_default()
                        )),
                    },
                    CommandLine::ArtifactDownload(path) => {
                        let uploaded = ancestors.iter().filter_map(|k| uploads.get(k.as_str())).any(|paths| {
                            paths.iter().any(|upload| {
                                upload == &path || glob::Pattern::new(upload).is_ok_and(|p| p.matches(&path))
                            })
                        });
                        if !uploaded {
                            problems.push(format!(
                                "step {} downloads {path}, which no step it depends on uploads",
                                step.key
                            ));
                        }
                    }
                    CommandLine::MetaDataGet(key) => {
                        if !fields.contains(key.as_str()) {
                            problems.push(format!(
                                "step {} reads meta-data {key}, which no block step before it asks for",
                                step.key
                            ));
                        }
                    }
                    CommandLine::Other(_) => {}
                }
            }
            if needs_release_name && !fields.contains(RELEASE_NAME_FIELD) {
                problems.push(format!(
                    "step {} takes the release name from meta-data {RELEASE_NAME_FIELD}, which no block step before it asks for",
                    step.key
                ));
            }
        }
        problems
    }
}

/// What a parsed xtask command line does, as far as the pipeline checks care.
#[derive(Debug, Clone, Copy, Default)]
pub struct XtaskUse {
    /// It takes the release name from Buildkite meta-data (none was given).
    pub reads_release_name: bool,
    /// It writes to S3, CloudFront or EC2.
    pub writes_to_aws: bool,
}
