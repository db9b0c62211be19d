//! ECS's answers as its JSON API sends them, with the fields the commands
//! read; anything else in an answer is ignored. (Requests are built with
//! `serde_json::json!` from `infra/`'s types, which are ECS's own shapes.)

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use xtask::infra;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Service {
    pub service_name: String,
    pub service_arn: String,
    pub status: String,
    pub task_definition: String,
    pub desired_count: i32,
    pub running_count: i32,
    pub pending_count: i32,
    pub launch_type: Option<String>,
    pub platform_version: Option<String>,
    pub network_configuration: Option<Value>,
    pub capacity_provider_strategy: Vec<Value>,
    pub load_balancers: Vec<LoadBalancer>,
    pub deployments: Vec<Deployment>,
    pub events: Vec<Event>,
    /// The whole answer, for comparing with `infra/` (see `infra_shape`).
    #[serde(skip)]
    pub raw: Value,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LoadBalancer {
    pub target_group_arn: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Deployment {
    pub id: String,
    pub status: String,
    pub task_definition: String,
    pub desired_count: i32,
    pub running_count: i32,
    pub pending_count: i32,
    pub failed_tasks: i32,
    pub rollout_state: Option<String>,
    pub rollout_state_reason: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Event {
    pub id: String,
    /// Seconds since the epoch (ECS's JSON timestamps).
    pub created_at: f64,
    pub message: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Task {
    pub task_arn: String,
    pub task_definition_arn: String,
    pub last_status: String,
    pub desired_status: String,
    pub health_status: Option<String>,
    pub stop_code: Option<String>,
    pub stopped_reason: Option<String>,
    pub created_at: Option<f64>,
    pub stopped_at: Option<f64>,
    pub containers: Vec<Container>,
    pub attachments: Vec<Attachment>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Container {
    pub name: String,
    pub exit_code: Option<i32>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Attachment {
    pub details: Vec<NameValue>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NameValue {
    pub name: String,
    pub value: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// A registered task definition.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TaskDefinition {
    pub task_definition_arn: String,
    pub container_definitions: Vec<ContainerDefinition>,
    #[serde(skip)]
    pub raw: Value,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ContainerDefinition {
    pub name: String,
    pub image: String,
    pub health_check: Option<Value>,
    pub log_configuration: Option<LogConfiguration>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LogConfiguration {
    pub log_driver: String,
    pub options: std::collections::BTreeMap<String, String>,
}

impl Service {
    /// The live settings in the service file's shape (for comparing with it).
    /// ECS reports Service Connect per deployment, not here: it is not compared.
    pub fn file_shape(&self) -> anyhow::Result<infra::ServiceDefinition> {
        let mut s: infra::ServiceDefinition = infra_shape(self.raw.clone())?;
        s.cluster = None;
        s.service_connect_configuration = None;
        Ok(s)
    }
}

impl TaskDefinition {
    /// The registered definition in the file's shape (ECS reports an unset
    /// container cpu as 0).
    pub fn file_shape(&self) -> anyhow::Result<infra::TaskDefinition> {
        let mut td: infra::TaskDefinition = infra_shape(self.raw.clone())?;
        for c in &mut td.container_definitions {
            c.cpu = c.cpu.filter(|&cpu| cpu != 0);
        }
        Ok(td)
    }
}

/// Reads `value` into one of `infra/`'s types, which refuse unknown fields:
/// what ECS answers with beyond the file's fields (ARNs, revision, defaults
/// such as `mountPoints: []`) is dropped first, one field at a time, as the
/// strict parse names them.
pub fn infra_shape<T: DeserializeOwned>(mut value: Value) -> anyhow::Result<T> {
    loop {
        let err = match serde_path_to_error::deserialize::<_, T>(&value) {
            Ok(t) => return Ok(t),
            Err(err) => err,
        };
        let unknown = err.inner().to_string().starts_with("unknown field");
        let mut at = &mut value;
        let mut segments = err.path().iter().peekable();
        let mut removed = false;
        while let Some(segment) = segments.next() {
            use serde_path_to_error::Segment;
            let last = segments.peek().is_none();
            match (segment, at) {
                (Segment::Map { key }, Value::Object(map)) if last && unknown => {
                    removed = map.remove(key).is_some();
                    break;
                }
                (Segment::Map { key }, Value::Object(map)) => match map.get_mut(key) {
                    Some(next) => at = next,
                    None => break,
                },
                (Segment::Seq { index }, Value::Array(items)) => match items.get_mut(*index) {
                    Some(next) => at = next,
                    None => break,
                },
                _ => break,
            }
        }
        if !removed {
            anyhow::bail!("ECS's answer does not read as infra/'s shape: {err}");
        }
    }
}

/// An ECS timestamp (seconds since the epoch) as `2026-11-26T14:05:09Z`.
pub fn utc(secs: f64) -> String {
    let secs = secs.floor() as i64;
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Days to a civil date (Howard Hinnant's algorithm), in the proleptic Gregorian calendar.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Reads an answer's `field` as `T`, keeping the whole answer for `raw`.
pub fn read<T: DeserializeOwned>(answer: &Value, what: &str) -> anyhow::Result<T> {
    serde_path_to_error::deserialize(answer)
        .map_err(|e| anyhow::anyhow!("ECS's {what} does not read as expected: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use xtask::infra::TaskDefinition as FileTaskDefinition;

    #[test]
    fn timestamps_print_as_utc() {
        assert_eq!(utc(0.0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(1_795_701_909.7), "2026-11-26T14:05:09Z");
        assert_eq!(utc(951_782_400.0), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn an_answer_reads_into_the_files_shape_without_its_extra_fields() {
        let answer = json!({
            "taskDefinitionArn": "arn:aws:ecs:us-east-1:1:task-definition/backend-flask:3",
            "family": "backend-flask",
            "revision": 3,
            "status": "ACTIVE",
            "cpu": "256",
            "containerDefinitions": [{
                "name": "backend-flask",
                "image": "img",
                "cpu": 0,
                "mountPoints": [],
                "volumesFrom": [],
                "portMappings": [{"containerPort": 4567, "hostPort": 4567, "protocol": "tcp"}],
                "logConfiguration": {"logDriver": "awslogs", "options": {"a": "b"}, "secretOptions": []}
            }]
        });
        let td: FileTaskDefinition = infra_shape(answer).unwrap();
        assert_eq!(td.family, "backend-flask");
        assert_eq!(td.cpu.as_deref(), Some("256"));
        let c = &td.container_definitions[0];
        assert_eq!((c.cpu, c.port_mappings[0].host_port), (Some(0), Some(4567)));
        assert_eq!(c.log_configuration.as_ref().unwrap().options["a"], "b");
        let bad = json!({"family": 3, "containerDefinitions": []});
        assert!(infra_shape::<FileTaskDefinition>(bad).is_err());
    }
}
