//! What ECS refuses of a Fargate task definition, checked on this machine
//! before anything is built or pushed: the cpu/memory pair (Fargate's
//! task-size table), `awsvpc`, an execution role wherever the task needs
//! one, the health-check ranges, the awslogs stream prefix. The numbers are
//! data shared with the sandbox's ECS API (`sandbox/cruddur_sandbox/
//! fargate_limits.json`, with their sources), so both refuse the same files;
//! each message quotes the one ECS gives.

use std::sync::OnceLock;

use serde::Deserialize;

use super::{ServiceDefinition, TaskDefinition};

const LIMITS_JSON: &str = include_str!("../../../sandbox/cruddur_sandbox/fargate_limits.json");

#[derive(Deserialize)]
struct Limits {
    task_sizes: Vec<TaskSize>,
    health_check: HealthCheckLimits,
}

/// One task cpu value and the memory values Fargate takes with it.
#[derive(Deserialize)]
struct TaskSize {
    cpu: u32,
    #[serde(default)]
    memory: Vec<u32>,
    /// `[from, to, step]`, both ends included.
    #[serde(default)]
    memory_range: Option<[u32; 3]>,
}

impl TaskSize {
    fn takes(&self, memory: u32) -> bool {
        self.memory.contains(&memory)
            || self.memory_range.is_some_and(|[from, to, step]| {
                (from..=to).contains(&memory) && (memory - from).is_multiple_of(step)
            })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HealthCheckLimits {
    interval: [i32; 2],
    timeout: [i32; 2],
    retries: [i32; 2],
    start_period: [i32; 2],
}

fn limits() -> &'static Limits {
    static LIMITS: OnceLock<Limits> = OnceLock::new();
    LIMITS.get_or_init(|| serde_json::from_str(LIMITS_JSON).expect("fargate_limits.json parses"))
}

/// Whether Fargate's rules apply: the file says FARGATE, or the service
/// launches it on Fargate.
fn on_fargate(td: &TaskDefinition, service: Option<&ServiceDefinition>) -> bool {
    td.requires_compatibilities.iter().any(|c| c == "FARGATE")
        || service.is_some_and(|s| s.launch_type.as_deref() == Some("FARGATE"))
}

/// Every rule `td` breaks, as `field: what is wrong (ECS's words)`.
/// `is_ecr_image` says whether an image comes from a private ECR registry.
pub fn problems(
    td: &TaskDefinition,
    service: Option<&ServiceDefinition>,
    is_ecr_image: &dyn Fn(&str) -> bool,
) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(s) = service {
        let compatible = td.requires_compatibilities.is_empty()
            || td.requires_compatibilities.iter().any(|c| c == "FARGATE");
        if s.launch_type.as_deref() == Some("FARGATE") && !compatible {
            out.push(format!(
                "requiresCompatibilities: {:?} has no FARGATE, and the service launches on Fargate \
                 (ECS: \"Task definition does not support launch_type FARGATE.\")",
                td.requires_compatibilities
            ));
        }
    }
    if on_fargate(td, service) {
        fargate_task_rules(td, is_ecr_image, &mut out);
    }
    if td.execution_role_arn.is_none() {
        if let Some((i, _)) = td
            .container_definitions
            .iter()
            .enumerate()
            .find(|(_, c)| !c.secrets.is_empty())
        {
            out.push(format!(
                "containerDefinitions[{i}].secrets: secrets need executionRoleArn (ECS: \"When you are \
                 specifying container secrets, you must also specify a value for 'executionRoleArn'.\")"
            ));
        }
    }
    for (i, c) in td.container_definitions.iter().enumerate() {
        if let Some(hc) = &c.health_check {
            health_check_rules(
                &format!("containerDefinitions[{i}].healthCheck"),
                hc,
                &mut out,
            );
        }
    }
    out
}

fn fargate_task_rules(
    td: &TaskDefinition,
    is_ecr_image: &dyn Fn(&str) -> bool,
    out: &mut Vec<String>,
) {
    if td.network_mode.as_deref() != Some("awsvpc") {
        out.push(format!(
            "networkMode: {} (ECS: \"Fargate only supports network mode ‘awsvpc’.\")",
            td.network_mode.as_deref().unwrap_or("not set")
        ));
    }
    task_size_rules(td, out);
    let no_role = td.execution_role_arn.is_none();
    for (i, c) in td.container_definitions.iter().enumerate() {
        let at = format!("containerDefinitions[{i}]");
        if no_role && is_ecr_image(&c.image) {
            out.push(format!(
                "{at}.image: an ECR image needs executionRoleArn (ECS: \"Fargate requires task definition \
                 to have execution role ARN to support ECR images.\")"
            ));
        }
        let Some(log) = c
            .log_configuration
            .as_ref()
            .filter(|l| l.log_driver == "awslogs")
        else {
            continue;
        };
        if no_role {
            out.push(format!(
                "{at}.logConfiguration: awslogs needs executionRoleArn (ECS: \"Fargate requires task \
                 definition to have execution role ARN to support log driver awslogs.\")"
            ));
        }
        if !log.options.contains_key("awslogs-stream-prefix") {
            out.push(format!(
                "{at}.logConfiguration.options: no awslogs-stream-prefix (ECS: \"Fargate requires log \
                 configuration options to include awslogs-stream-prefix to support log driver awslogs.\")"
            ));
        }
    }
}

fn task_size_rules(td: &TaskDefinition, out: &mut Vec<String>) {
    let (cpu, memory) = (td.cpu.as_deref(), td.memory.as_deref());
    for (field, value) in [("cpu", cpu), ("memory", memory)] {
        if value.is_none() {
            out.push(format!(
                "{field}: not set (ECS: \"Fargate requires that '{field}' be defined at the task level.\")"
            ));
        }
    }
    let (Some(cpu), Some(memory)) = (cpu, memory) else {
        return;
    };
    let (cpu_units, memory_mib) = (cpu_units(cpu), memory_mib(memory));
    let fits = cpu_units
        .zip(memory_mib)
        .is_some_and(|(c, m)| limits().task_sizes.iter().any(|s| s.cpu == c && s.takes(m)));
    if !fits {
        out.push(format!(
            "cpu/memory: {cpu} and {memory} are not a Fargate task size (ECS: \"No Fargate configuration \
             exists for given values: {cpu} CPU, {memory} memory. See the Amazon ECS documentation for the \
             valid values.\")"
        ));
        return;
    }
    let task_memory = memory_mib.unwrap_or(u32::MAX);
    for (i, c) in td.container_definitions.iter().enumerate() {
        for (field, value) in [
            ("memory", c.memory),
            ("memoryReservation", c.memory_reservation),
        ] {
            if value.is_some_and(|v| u32::try_from(v).unwrap_or(0) > task_memory) {
                out.push(format!(
                    "containerDefinitions[{i}].{field}: more than the task's {memory} MiB (ECS: \"The \
                     '{field}' setting for container '{}' is greater than for the task.\")",
                    c.name
                ));
            }
        }
    }
}

/// Task cpu in units: `256`, or `.25 vCPU` / `1 vcpu` as ECS also takes it.
pub fn cpu_units(text: &str) -> Option<u32> {
    let t = text.trim().to_ascii_lowercase();
    match t.strip_suffix("vcpu") {
        Some(v) => v
            .trim()
            .parse::<f64>()
            .ok()
            .map(|v| (v * 1024.0).round() as u32),
        None => t.parse().ok(),
    }
}

/// Task memory in MiB: `512`, or `1 GB` / `2gb` as ECS also takes it.
pub fn memory_mib(text: &str) -> Option<u32> {
    let t = text.trim().to_ascii_lowercase();
    match t.strip_suffix("gb") {
        Some(v) => v
            .trim()
            .parse::<f64>()
            .ok()
            .map(|v| (v * 1024.0).round() as u32),
        None => t.strip_suffix("mib").unwrap_or(&t).trim().parse().ok(),
    }
}

fn health_check_rules(at: &str, hc: &super::HealthCheck, out: &mut Vec<String>) {
    let l = &limits().health_check;
    for (field, value, [lo, hi], unit) in [
        ("interval", hc.interval, l.interval, " seconds"),
        ("timeout", hc.timeout, l.timeout, " seconds"),
        ("retries", hc.retries, l.retries, ""),
        ("startPeriod", hc.start_period, l.start_period, " seconds"),
    ] {
        if let Some(v) = value.filter(|v| !(lo..=hi).contains(v)) {
            out.push(format!(
                "{at}.{field}: {v} is outside what ECS takes ({lo} to {hi}{unit}; ECS refuses the task \
                 definition with a ClientException)"
            ));
        }
    }
}

#[cfg(test)]
#[path = "fargate_tests.rs"]
mod tests;
